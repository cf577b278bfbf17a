"""Security through a running `clickplane serve` and the ClickHouse servers it starts:

* hostile text (markup, quotes, shell, paths, NUL, very long) in service fields and ClickHouse settings is
  refused with a 400 that names the field, or kept as inert text: it never changes a config file's structure,
  adds a user, runs a command or writes outside the service's directory;
* key secrets and service passwords appear in the response that creates them and nowhere else: not in other
  answers, the activity log, metrics, errors, the serve log, any file of the data dir or the store;
* no route answers data without valid credentials, however its path is spelled or whatever the method;
* request limits: bodies, heads, JSON nesting, and slow clients that must not stop the server answering;
* a service's ClickHouse listens on loopback only, wants the service's password from everyone, and applies
  the service's IP access list.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clickhouse_driver import Client as NativeClient

from clickplane.auth.secrets import SecretHasher, load_or_create_secret_key
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, Credentials, store_contents, wait_until
from tests.integration.test_lifecycle import clickhouse_pid, http_port, patch, service_dir, sql
from tests.integration.test_permission_matrix import PATH_PARAMETER, QUERY_VALUES, served_operations

pytestmark = needs_clickhouse

ADMIN_ROLE = "00000000-0000-4000-8000-000000000001"
# Far above what each wait takes here: deadlines, not expectations (users.xml reloads take 3 to 6 s).
DEADLINE_SECONDS = 30.0


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    text: str = response.json()["error"]
    return text


# --- Injection ----------------------------------------------------------------------------------------------

SHELL = "$(touch {marker})`touch {marker}`"
MARKUP = "</ip></networks></default><evil><password></password></evil><x>&amp;]]>"

SERVICE = {"name": "hostile", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}
REFUSED_SERVICES: dict[str, tuple[dict[str, Any], str]] = {
    "name with NUL": ({"name": "a\x00b"}, "NUL"),
    "name with a newline": ({"name": "a\nb"}, "name"),
    "very long name": ({"name": "n" * 100_000}, "name"),
    "markup in a tag key": ({"tags": [{"key": MARKUP, "value": "v"}]}, "tags[0].key"),
    "a path in a tag value": ({"tags": [{"key": "k", "value": "../../etc/passwd"}]}, "tags[0].value"),
    "shell in a tag value": ({"tags": [{"key": "k", "value": "$(id)"}]}, "tags[0].value"),
    "NUL in a description": ({"ipAccessList": [{"source": "127.0.0.1", "description": "a\x00b"}]}, "NUL"),
    "very long description": ({"ipAccessList": [{"source": "127.0.0.1", "description": "d" * 100_000}]},
                              "ipAccessList[0].description"),
    "markup in a source": ({"ipAccessList": [{"source": "127.0.0.1</ip><ip>::/0"}]}, "ipAccessList"),
    "two sources in one": ({"ipAccessList": [{"source": "127.0.0.1\n::/0"}]}, "ipAccessList[0].source"),
    "a zone index in a source": ({"ipAccessList": [{"source": "fe80::1%<a>&"}]}, "zone index"),
    "shell in a source": ({"ipAccessList": [{"source": "$(id)"}]}, "ipAccessList[0].source"),
    "a path in a source": ({"ipAccessList": [{"source": "../../etc/passwd"}]}, "ipAccessList[0].source"),
}


@pytest.mark.parametrize("case", REFUSED_SERVICES)
def test_hostile_service_fields_are_refused_naming_the_field(server: ClickplaneServer, case: str) -> None:
    fields, named = REFUSED_SERVICES[case]
    with server.client() as client:
        before = len(client.get(server.org_path("/services")).json()["result"])
        response = client.post(server.org_path("/services"), json={**SERVICE, **fields})
        assert named in error_of(response, 400)
        assert len(client.get(server.org_path("/services")).json()["result"]) == before


def service_files(server: ClickplaneServer, service_id: str) -> tuple[ET.Element, ET.Element]:
    directory = service_dir(server, service_id)
    return (ET.fromstring((directory / "config.xml").read_bytes()),  # noqa: S314 - our own files, checked here
            ET.fromstring((directory / "users.xml").read_bytes()))  # noqa: S314


def assert_only_our_users(users: ET.Element) -> None:
    assert [user.tag for user in users.find("users") or []] == ["default", "clickplane"]
    assert [profile.tag for profile in users.find("profiles") or []] == ["default", "service", "service_read_only"]


def test_hostile_text_that_is_accepted_stays_text(server: ClickplaneServer, tmp_path: Path) -> None:
    marker = tmp_path / "injected"
    hostile = f"{MARKUP}{SHELL.format(marker=marker)}'\"\\ ../../x"
    created = server.create_service(name=f"<&'\"$(touch {marker.name})", tags=[{"key": "k", "value": "..-_"}],
                                    ipAccessList=[{"source": " 127.0.0.1 ", "description": hostile[:255]}])
    service_id = created["service"]["id"]
    service = server.wait_for_state(service_id, "running")
    assert service["ipAccessList"][0]["description"] == hostile[:255]

    config, users = service_files(server, service_id)
    assert_only_our_users(users)
    assert [ip.text for ip in users.findall("users/default/networks/ip")] == ["127.0.0.1"]
    assert config.findtext("listen_host") == "127.0.0.1"
    for document in (config, users):
        assert "touch" not in ET.tostring(document, encoding="unicode")
    assert not marker.exists()
    # Nothing was made outside the services' own directories, named by their ids.
    assert all(uuid.UUID(entry.name) for entry in (server.data_dir / "services").iterdir())
    assert not [path for path in server.data_dir.rglob("*") if "touch" in path.name or "<" in path.name]
    assert sql(http_port(service), created["password"], "SELECT 1").text == "1\n"


CLICKHOUSE_SETTING = "format_schema"  # a string setting of every server: takes any text
REFUSED_SETTINGS: dict[str, tuple[dict[str, Any], str]] = {
    "markup in a name": ({"a<b>": "1"}, "is not a ClickHouse setting name"),
    "a path as a name": ({"../../users": "1"}, "is not a ClickHouse setting name"),
    "shell in a name": ({"$(id)": "1"}, "is not a ClickHouse setting name"),
    "a very long name": ({"n" * 10_000: "1"}, "is not a ClickHouse setting name"),
    "an unknown name": ({"no_such_setting": "1"}, "ClickHouse has no setting 'no_such_setting'"),
    "NUL in a value": ({CLICKHOUSE_SETTING: "a\x00b"}, "NUL"),
    "a newline in a value": ({CLICKHOUSE_SETTING: "a\nb"}, "printable characters"),
    "a very long value": ({CLICKHOUSE_SETTING: "v" * 10_000}, "printable characters"),
    "a config substitution in a value": ({CLICKHOUSE_SETTING: "${users.clickplane.password_sha256_hex}"},
                                         "may not contain '${'"),
    "a number setting given text": ({"max_block_size": "1; DROP TABLE t"}, "is not a"),
}


@pytest.fixture(scope="module")
def settings_service(server: ClickplaneServer) -> Iterator[tuple[str, str]]:
    """A running service to change the ClickHouse settings of: (its id, its password)."""
    created = server.create_service(name="settings-target")
    server.wait_for_state(created["service"]["id"], "running")
    yield created["service"]["id"], created["password"]
    patch(server, created["service"]["id"], "/state", {"command": "stop"})


@pytest.mark.parametrize("case", REFUSED_SETTINGS)
def test_hostile_clickhouse_settings_are_refused(server: ClickplaneServer, settings_service: tuple[str, str],
                                                 case: str) -> None:
    settings, message = REFUSED_SETTINGS[case]
    response = patch(server, settings_service[0], "/clickhouseSettings", {"settings": settings})
    assert message in error_of(response, 400)


def test_a_hostile_setting_value_reaches_the_server_as_that_text_only(
        server: ClickplaneServer, settings_service: tuple[str, str], tmp_path: Path) -> None:
    service_id, password = settings_service
    value = f"{MARKUP}{SHELL.format(marker=tmp_path / 'injected')}'\"\\"
    response = patch(server, service_id, "/clickhouseSettings", {"settings": {CLICKHOUSE_SETTING: value}})
    assert response.status_code == 200, response.text
    port = http_port(server.service(service_id))
    setting_sql = "SELECT value FROM system.settings WHERE name = 'format_schema' FORMAT JSONEachRow"

    def applied() -> bool:
        answer = sql(port, password, setting_sql)
        return answer.status_code == 200 and answer.json()["value"] == value

    wait_until(applied, DEADLINE_SECONDS, "the setting to reach the default user")
    _, users = service_files(server, service_id)
    assert_only_our_users(users)
    assert users.findtext(f"profiles/service/{CLICKHOUSE_SETTING}") == value
    evil = httpx.post(f"http://127.0.0.1:{port}/", content="SELECT 1", auth=("evil", ""), timeout=10)
    assert evil.status_code != 200
    assert not (tmp_path / "injected").exists()


# --- Secrets ------------------------------------------------------------------------------------------------

def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class SecretsWitness:
    """A throwaway organization whose secrets are made, then looked for everywhere they must not be."""

    def __init__(self, server: ClickplaneServer) -> None:
        self.server = server
        self.owner = server.create_organization(f"secrets-{uuid.uuid4().hex[:8]}")
        self.client = server.client(self.owner)
        self.answers: list[tuple[str, str]] = []  # (what was asked, what was answered) after the creations

    def path(self, suffix: str = "") -> str:
        return f"/v1/organizations/{self.owner.organization_id}{suffix}"

    def make_secrets(self) -> dict[str, str]:
        """Each secret with the one answer allowed to hold it: a key, a service, a new password."""
        key = self.client.post(self.path("/keys"), json={"name": "witness", "assignedRoleIds": [ADMIN_ROLE]}).json()
        service = self.client.post(self.path("/services"), json=SERVICE).json()
        self.service_id = service["result"]["service"]["id"]
        self.server.wait_for_state_in(self.owner, self.service_id, "running")
        changed = self.client.patch(self.path(f"/services/{self.service_id}/password"), json={}).json()
        self.key = Credentials(self.owner.organization_id, key["result"]["keyId"], key["result"]["keySecret"])
        secret_key = load_or_create_secret_key(self.server.data_dir / "secret.key")
        internal = SecretHasher(secret_key).derive(f"clickhouse-internal-user:{self.service_id}")
        return {"key secret": self.key.key_secret, "first password": service["result"]["password"],
                "second password": changed["result"]["password"], "internal password": internal,
                "organization key secret": self.owner.key_secret}

    def ask_everything(self) -> None:
        """Every read the organization offers, a refused write, errors, and credentials sent wrongly."""
        with self.server.client(self.key) as client:
            for suffix in ("", "/services", f"/services/{self.service_id}", "/keys", "/activities", "/members",
                           "/roles", "/quotas", "/prometheus", f"/services/{self.service_id}/prometheus",
                           f"/services/{self.service_id}/clickhouseSettings", f"/services/{self.service_id}/backups",
                           f"/services/{self.service_id}/nothing-here", "/services/not-a-uuid"):
                self.ask(client, "GET", self.path(suffix))
            for listing in ("/keys", "/activities"):
                for item in client.get(self.path(listing)).json()["result"]:
                    self.ask(client, "GET", self.path(f"{listing}/{item['id']}"))
            self.ask(client, "PATCH", self.path(f"/services/{self.service_id}"), json={"password": "x"})
            self.ask(client, "GET", "/v1/whoami")
        for user, password in ((self.key.key_secret, "x"), (self.key.key_id, self.key.key_secret[:-1])):
            response = httpx.get(f"{self.server.base_url}/v1/whoami", headers=basic(user, password), timeout=10)
            self.answers.append(("credentials sent wrongly", response.text + str(response.headers)))

    def ask(self, client: httpx.Client, method: str, path: str, **options: Any) -> None:
        response = client.request(method, path, **options)
        self.answers.append((f"{method} {path}", response.text + str(response.headers)))

    def places(self) -> Iterator[tuple[str, str]]:
        """Every answer, every file of the data dir (serve's log, ClickHouse's logs and files), every row."""
        yield from self.answers
        for path in self.server.data_dir.rglob("*"):
            try:
                yield str(path), path.read_bytes().decode(errors="replace")
            except (IsADirectoryError, FileNotFoundError, PermissionError):
                continue  # directories, and files ClickHouse removed meanwhile
        yield "the store", repr(store_contents(self.server.database_url))

    def close(self) -> None:
        self.client.patch(self.path(f"/services/{self.service_id}/state"), json={"command": "stop"})
        self.client.close()


def test_secrets_appear_only_in_the_answer_that_creates_them(server: ClickplaneServer) -> None:
    witness = SecretsWitness(server)
    try:
        secrets = witness.make_secrets()
        witness.ask_everything()
        leaks = [f"{name} in {place}" for place, text in witness.places() for name, secret in secrets.items()
                 if secret in text]
    finally:
        witness.close()
    assert not leaks
    assert len(witness.answers) > 20


# --- Authentication on every route, however spelled --------------------------------------------------------

def path_variants(path: str, organization_id: str) -> list[str]:
    """Spellings of one path a router or a proxy might take for it, or not."""
    head, _, last = path.rpartition("/")
    return [
        path, path + "/", "/" + path, path.replace("/v1/", "/v1//", 1), f"{head}%2F{last}",
        path.replace(organization_id, organization_id.upper()),
        path.replace(organization_id, organization_id.replace("-", "%2D")), path.replace("/v1/", "/v1/./", 1),
    ]


class RawClient:
    """Requests sent exactly as written (httpx would normalize the paths under test)."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        self.connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in {"Content-Length": "2", **headers}.items():
            self.connection.putheader(name, value)
        self.connection.endheaders(b"{}")
        response = self.connection.getresponse()
        return response.status, response.read()


def test_no_spelling_of_any_route_answers_data_without_valid_credentials(server: ClickplaneServer) -> None:
    owner = server.create_organization(f"spellings-{uuid.uuid4().hex[:8]}")
    with server.client(owner) as client:
        organization_name = client.get(f"/v1/organizations/{owner.organization_id}").json()["result"]["name"]
        service = client.post(f"/v1/organizations/{owner.organization_id}/services",
                              json={**SERVICE, "name": f"hidden-{uuid.uuid4().hex[:8]}"}).json()["result"]
    service_id, secrets = service["service"]["id"], (service["service"]["name"], organization_name, owner.key_id)
    values = {"organizationId": owner.organization_id, "serviceId": service_id}
    paths = {(op.method, PATH_PARAMETER.sub(lambda m: values.get(m.group(1), str(uuid.uuid4())), op.path))
             for op in served_operations(server.base_url).values()}
    paths.add(("POST", f"/service/{service_id}/run"))
    callers = {"nobody": {}, "a wrong secret": basic(owner.key_id, "wrong-secret"),
               "another organization": basic(server.credentials.key_id, server.credentials.key_secret)}
    raw, answered = RawClient(server.port), []
    for method, path in sorted(paths):
        query = "?" + "&".join(f"{k}={v}" for k, v in QUERY_VALUES.items())
        for spelling in path_variants(path, owner.organization_id):
            for caller, headers in callers.items():
                if caller == "another organization" and owner.organization_id not in path:
                    continue  # /v1/whoami, /v1/organizations: about the caller itself
                for verb in (method, "HEAD", "OPTIONS") if caller == "nobody" else (method,):
                    status, body = raw.send(verb, spelling + query, headers)
                    answered.append((f"{verb} {spelling} by {caller}", status, body))
    wrong = [(what, status, body[:200]) for what, status, body in answered
             if status not in (400, 401, 403, 404, 405) or any(s.encode() in body for s in secrets)]
    assert not wrong
    assert len(answered) > 1000


# --- Request limits -----------------------------------------------------------------------------------------

def test_a_body_over_the_limit_is_refused_even_without_a_declared_length(server: ClickplaneServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"a" * 65536  # 2.5 MiB in all, past the 1 MiB default
        yield b'"}'

    with server.client() as client:
        response = client.post(server.org_path("/services"), content=chunks())
    assert "PAYLOAD_TOO_LARGE" in error_of(response, 413)


def test_a_head_over_the_limit_is_refused_and_the_server_goes_on(server: ClickplaneServer) -> None:
    with server.client() as client:
        response = client.get("/v1/whoami", headers={"X-Big": "a" * 1_000_000})
        assert "REQUEST_HEADER_FIELDS_TOO_LARGE" in error_of(response, 431)
        assert client.get("/v1/whoami").status_code == 200


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"tags": [{"key": {"a": ' * 2_000 + b"1" + b"}}]" * 2_000 + b"}",
])
def test_deeply_nested_json_is_a_bad_request(server: ClickplaneServer, body: bytes) -> None:
    with server.client() as client:
        response = client.post(server.org_path("/services"), content=body)
        assert "not valid JSON" in error_of(response, 400)
        run = client.post(f"/service/{uuid.uuid4()}/run", content=body)
        assert "not valid JSON" in error_of(run, 400)


def test_slow_clients_do_not_stop_the_server_answering_others(server: ClickplaneServer) -> None:
    """200 connections each sending a request's head a few bytes at a time, as slowloris does."""
    slow: list[socket.socket] = []
    try:
        for _ in range(200):
            connection = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            connection.sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: x\r\n")
            slow.append(connection)
        with server.client() as client:
            for round_ in range(5):
                for connection in slow:
                    connection.sendall(b"X-Slow-%d: 1\r\n" % round_)
                started = time.monotonic()
                assert client.get("/v1/whoami").status_code == 200
                assert time.monotonic() - started < 5.0, "a normal request waited behind the slow clients"
                time.sleep(0.2)
    finally:
        for connection in slow:
            connection.close()


# --- The services' ClickHouse ---------------------------------------------------------------------------------

def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket process `pid` listens on, from /proc."""
    inodes = {link.removeprefix("socket:[").rstrip("]") for fd in Path(f"/proc/{pid}/fd").iterdir()
              if (link := _readlink(fd)).startswith("socket:[")}
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                assert len(address) == width
                found.add((_address(address), int(port, 16)))
    return found


def _readlink(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return ""


def _address(hex_address: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host byte order (little-endian here)."""
    raw = b"".join(bytes.fromhex(hex_address[i:i + 8])[::-1] for i in range(0, len(hex_address), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def test_a_service_listens_on_loopback_only_and_lets_in_only_its_password_from_its_networks(
        server: ClickplaneServer) -> None:
    created = server.create_service(name="locked", ipAccessList=[{"source": "127.0.0.2/32"}])
    service_id, password = created["service"]["id"], created["password"]
    service = server.wait_for_state(service_id, "running")
    ports = {endpoint["protocol"]: endpoint["port"] for endpoint in service["endpoints"]}

    assert listening_addresses(clickhouse_pid(server, service_id)) == {("127.0.0.1", p) for p in ports.values()}
    port = ports["http"]
    assert sql(port, password, "SELECT 1", source="127.0.0.2").text == "1\n"
    refused = {"its password from outside its networks": sql(port, password, "SELECT 1", source="127.0.0.1")}
    for user, secret in (("default", ""), ("default", "wrong"), ("clickplane", ""), ("readonly", ""), ("", ""),
                         ("web", ""), ("default", password[:-1])):
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(transport=transport, timeout=10) as client:
            refused[f"{user!r} with {secret!r}"] = client.post(f"http://127.0.0.1:{port}/", content="SELECT 1",
                                                                auth=(user, secret))
    refused["no credentials"] = httpx.post(f"http://127.0.0.1:{port}/", content="SELECT 1", timeout=10)
    assert {what: answer.status_code for what, answer in refused.items() if answer.status_code == 200} == {}
    with pytest.raises(Exception, match=re.compile("password|Authentication|not allowed", re.IGNORECASE)):
        NativeClient("127.0.0.1", port=ports["native"], user="default", password="").execute("SELECT 1")
    patch(server, service_id, "/state", {"command": "stop"})
