"""Issue 12's HTTP layer, logs and files, through a running `clickplane serve`:

* no client can forge a log line, and no query string or body value reaches the log;
* a new data dir is private (0700), and so are the store and the secret key in it (0600);
* a request body has a deadline (408, the connection closed); a client that goes away mid-body is a 499, not
  a 500 with a traceback;
* paths match only as the operations spell them; HEAD answers as GET; malformed HTTP, 401 and the document's
  forwarded headers are answered as they should be; envelopes are never stored by caches.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import time
import uuid
from pathlib import Path

import httpx

from tests.integration.harness import ClickplaneServer, clickplane, wait_until
from tests.integration.test_security import basic, error_of

FORGED = "2026-01-01 00:00:00,000 INFO clickplane.access: GET /v1/admin 200 1.0 ms"
# The tests' own deadline for a raw socket's answer, well past the limits under test.
WAIT_SECONDS = 30.0


def exchange(port: int, data: bytes) -> bytes:
    """Send `data` as written on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT_SECONDS) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def envelope_of(answer: bytes, status: int) -> tuple[str, dict[str, object]]:
    """The answer's head (lower-cased) and its JSON envelope, checked for `status`."""
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:300]
    envelope = json.loads(body)
    assert envelope["status"] == status
    return head.decode().lower(), envelope


def new_log(server: ClickplaneServer, offset: int) -> str:
    return server.log()[offset:]


# --- Logs ---------------------------------------------------------------------------------------------------

def test_a_path_cannot_forge_a_log_line_or_reach_the_terminal(server: ClickplaneServer) -> None:
    offset = len(server.log())
    marker = uuid.uuid4().hex
    path = f"/v1/{marker}%0A{FORGED.replace(' ', '%20')}%0D%1B[2J%00%7F"
    answer = exchange(server.port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    envelope_of(answer, 404)
    line = wait_until(lambda: next((line for line in new_log(server, offset).splitlines()
                                    if "clickplane.access" in line and marker in line), None),
                      what="the access line")
    assert FORGED in line
    assert "\\x0a2026-01-01" in line
    assert "\\x0d\\x1b[2J\\x00\\x7f" in line
    assert not [line for line in new_log(server, offset).splitlines() if line.startswith(FORGED)]
    assert not re.search("[\x00\x1b\x7f\r]", new_log(server, offset))


def test_no_query_string_or_body_value_reaches_the_log(server: ClickplaneServer) -> None:
    """A key secret put in openApiKeys by mistake was logged, with the query string, by BlackSheep's line for each
    handled error."""
    offset = len(server.log())
    secret, query_secret, body_secret = (f"{what}-{uuid.uuid4().hex}" for what in ("secret", "query", "body"))
    service_id = server.create_service(name=f"logged-{uuid.uuid4().hex[:8]}")["service"]["id"]
    try:
        with server.client() as client:
            upsert = client.post(server.org_path(f"/services/{service_id}/serviceQueryEndpoint"),
                                 params={"token": query_secret},
                                 json={"openApiKeys": [secret], "roles": ["sql_console_read_only"]})
            assert secret in error_of(upsert, 400)  # the client is told which value was wrong...
            refused = client.post(server.org_path("/keys"), params={"token": query_secret},
                                  json={"name": body_secret, "assignedRoleIds": [body_secret]})
            assert refused.status_code == 400
            request_id = refused.json()["requestId"]
    finally:
        with server.client() as client:
            client.patch(server.org_path(f"/services/{service_id}/state"), json={"command": "stop"})
    wait_until(lambda: request_id in new_log(server, offset), what="the access line of the refused key")
    written = new_log(server, offset)
    assert not [name for name, value in (("openApiKeys secret", secret), ("query string", query_secret),
                                         ("body value", body_secret)) if value in written]  # ...the log is not


# --- Files --------------------------------------------------------------------------------------------------

def test_a_new_data_dir_is_private_and_so_are_the_store_and_the_secret_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "clickplane"
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLICKPLANE_")}
    previous = os.umask(0o022)  # the usual umask, under which files were made 0644 and directories 0755
    try:
        made = clickplane("init", "--data-dir", str(data_dir), env=env)
    finally:
        os.umask(previous)
    assert made.returncode == 0, made.stderr
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in (data_dir, *data_dir.iterdir())}
    assert modes.pop("clickplane") == 0o700
    assert {"clickplane.db", "secret.key"} <= modes.keys()
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


# --- Request bodies -----------------------------------------------------------------------------------------

def test_a_body_trickled_past_its_deadline_is_answered_408_and_the_connection_closed(
        fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_BODY_TIMEOUT_SECONDS"] = "1"
    fresh_server.start()
    credentials = basic(fresh_server.credentials.key_id, fresh_server.credentials.key_secret)["Authorization"]
    head = (f"POST {fresh_server.org_path('/keys')} HTTP/1.1\r\nHost: x\r\nAuthorization: {credentials}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
    with socket.create_connection(("127.0.0.1", fresh_server.port), timeout=WAIT_SECONDS) as connection:
        connection.sendall(head.encode() + b'{"name": "')
        answer = b""
        connection.settimeout(0.25)
        started = time.monotonic()
        for _ in range(int(WAIT_SECONDS / 0.25)):
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                # A byte now and then, but none close to the deadline: a byte that arrives after the server
                # closed makes its kernel reset the connection, and the 408 with it.
                if time.monotonic() - started < 0.5:
                    connection.sendall(b"a")
                continue
            if not chunk:
                break
            answer += chunk
    answered, envelope = envelope_of(answer, 408)
    assert "connection: close" in answered
    assert str(envelope["error"]).startswith("REQUEST_TIMEOUT: the request body did not arrive whole within 1 s")


def test_an_aborted_upload_is_a_client_disconnect_not_a_500(server: ClickplaneServer) -> None:
    def counts() -> dict[str, float]:
        text = httpx.get(f"{server.base_url}/metrics").text
        found = re.findall(r'clickplane_http_requests_total\{method="POST",route="/v1/organizations/'
                           r'\{organizationId\}/keys",status="(\d+)"\} (\S+)', text)
        return {status: float(value) for status, value in found}

    before, offset = counts(), len(server.log())
    credentials = basic(server.credentials.key_id, server.credentials.key_secret)["Authorization"]
    # Closed once sent: the server reads what arrived before the close, then finds the client gone mid-body.
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT_SECONDS) as connection:
        connection.sendall(f"POST {server.org_path('/keys')} HTTP/1.1\r\nHost: x\r\nAuthorization: {credentials}\r\n"
                           "Content-Length: 100000\r\n\r\n{\"name\": \"".encode())
    wait_until(lambda: counts().get("499", 0) == before.get("499", 0) + 1, what="the aborted upload counted as 499")
    assert counts().get("500", 0) == before.get("500", 0)
    logged = new_log(server, offset)
    assert "the client disconnected before its request body arrived whole" in logged
    assert "Traceback" not in logged
    assert "Unhandled" not in logged


# --- Routing and answers ------------------------------------------------------------------------------------

def test_paths_match_only_as_the_operations_spell_them(server: ClickplaneServer) -> None:
    assert httpx.get(f"{server.base_url}/metrics").status_code == 200
    for spelling in ("/METRICS", "/Metrics", "/metrics/", "/HEALTHZ", "/V1"):
        assert httpx.get(f"{server.base_url}{spelling}").status_code == 404, spelling
    with server.client() as client:
        assert client.get("/v1/organizations").status_code == 200
        assert client.get(server.org_path("/services")).status_code == 200
        # A path parameter keeps any case: a UUID in capitals is the same organization.
        assert client.get(server.org_path().upper().replace("/V1/ORGANIZATIONS/", "/v1/organizations/")
                          ).status_code == 200
        for spelling in ("/v1/WHOAMI", "/v1/Organizations", "/v1/organizations/", server.org_path("/SERVICES")):
            assert "NOT_FOUND" in error_of(client.get(spelling), 404), spelling


def test_head_answers_as_get_without_a_body_and_allow_lists_it(server: ClickplaneServer) -> None:
    with server.client() as client:
        got, head = client.get(server.org_path("/keys")), client.head(server.org_path("/keys"))
        assert (head.status_code, head.content) == (200, b"")
        assert head.headers["content-length"] == got.headers["content-length"]
        assert client.head("/v1").status_code == 200
        refused = client.delete("/v1/whoami")
        assert "use GET, HEAD" in error_of(refused, 405)
        assert refused.headers["allow"] == "GET, HEAD"
    assert httpx.head(f"{server.base_url}{server.org_path('/keys')}").status_code == 401


def test_a_401_says_how_to_authenticate(server: ClickplaneServer) -> None:
    for response in (httpx.get(f"{server.base_url}/v1/organizations"),
                     httpx.get(f"{server.base_url}/v1/organizations", auth=(server.credentials.key_id, "wrong"))):
        error_of(response, 401)
        assert response.headers["www-authenticate"] == 'Basic realm="clickplane"'


def test_malformed_http_is_answered_400_in_the_envelope(server: ClickplaneServer) -> None:
    for request in (b"NOT HTTP\r\n\r\n", b"GET /v1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
                    b"POST /v1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        head, envelope = envelope_of(exchange(server.port, request), 400)
        assert str(envelope["error"]).startswith("BAD_REQUEST: the request is not valid HTTP/1.1"), request
        assert "application/json" in head
    assert httpx.get(f"{server.base_url}/healthz").status_code == 200  # and the server goes on


def test_answers_with_secrets_are_never_stored_by_caches(server: ClickplaneServer) -> None:
    with server.client() as client:
        created = client.post(server.org_path("/keys"), json={"name": f"cached-{uuid.uuid4().hex[:8]}",
                                                              "roles": ["developer"]})
        assert created.status_code == 200
        assert created.json()["result"]["keySecret"]
        assert created.headers["cache-control"] == "no-store"
        client.delete(server.org_path(f"/keys/{created.json()['result']['key']['id']}"))
        assert client.get(server.org_path()).headers["cache-control"] == "no-store"


def test_the_document_names_only_a_valid_forwarded_scheme_and_host(server: ClickplaneServer) -> None:
    def servers_url(headers: dict[str, str]) -> tuple[str, str]:
        response = httpx.get(f"{server.base_url}/v1", headers=headers)
        assert response.status_code == 200
        return response.json()["servers"][0]["url"], response.headers["vary"]

    own = f"http://127.0.0.1:{server.port}"
    hostile = [{"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": 'evil"><script>alert(1)</script>'},
               {"X-Forwarded-Proto": "javascript://evil\"><script>", "X-Forwarded-Host": "a b"},
               {"X-Forwarded-Host": "evil.example/path"}, {"X-Forwarded-Host": "evil.example:99999999"}]
    for headers in hostile:
        assert servers_url(headers) == (own, "X-Forwarded-Proto, X-Forwarded-Host"), headers
    assert servers_url({"X-Forwarded-Proto": "HTTPS", "X-Forwarded-Host": "api.example.com:8443"})[0] == \
        "https://api.example.com:8443"
    assert servers_url({"X-Forwarded-Host": "[::1]:8000"})[0] == "http://[::1]:8000"

