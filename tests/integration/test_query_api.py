"""The Query API end to end (`POST /service/{id}/run`, reference §9): clickhousectl's `service query` binds its
key by itself and runs SQL; plain HTTP gets the documented refusals, the read-only role, the 206 answers of a
stopped or idle service, the wake on request; output is streamed, not buffered; a query whose client went away
is killed. Every effect is checked on the service's ClickHouse itself, not only in the API's answers."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, Credentials, wait_until
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli
from tests.integration.test_lifecycle import http_port, sql

pytestmark = needs_clickhouse
needs_clickhousectl = pytest.mark.skipif(CLICKHOUSECTL is None,
                                         reason="clickhousectl is not installed (pip install clickhousectl)")

TEXT_PLAIN = "text/plain;charset=UTF-8"  # what clickhousectl sends, with a JSON body
STREAM_ROWS = 10_000_000
STREAM_SQL = "SELECT number FROM system.numbers LIMIT 10000000"
# The streamed body is ~79 MB of TabSeparated; a server holding the whole result would grow by at least that.
# Half of it is the bound: far above what streaming costs (well under 1 MB here), far below buffering.
RSS_GROWTH_BOUND = 32 << 20
CANCEL_DEADLINE_SECONDS = 15.0
QUERY_TIMEOUT = httpx.Timeout(150.0, connect=10.0)  # a wake may take up to the Query API's own 120 s



# --- helpers -------------------------------------------------------------------------------------------------

def run_path(service_id: str) -> str:
    return f"/service/{service_id}/run"


def endpoint_path(server: ClickplaneServer, service_id: str) -> str:
    return server.org_path(f"/services/{service_id}/serviceQueryEndpoint")


def query(server: ClickplaneServer, service_id: str, text: str, *, output_format: str | None = None,
          database: str | None = None, run_id: str | None = None, credentials: Credentials | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    """POST {"sql", ...} to the Query API as clickhousectl does: a JSON body sent as text/plain."""
    body: dict[str, str] = {"sql": text}
    if database is not None:
        body["database"] = database
    if run_id is not None:
        body["runId"] = run_id
    with server.client(credentials) as client:
        return client.post(run_path(service_id), params={"format": output_format} if output_format else None,
                           content=json.dumps(body), timeout=QUERY_TIMEOUT,
                           headers={"content-type": TEXT_PLAIN, **(headers or {})})


def succeeds(server: ClickplaneServer, service_id: str, text: str, **options: Any) -> str:
    response = query(server, service_id, text, **options)
    assert response.status_code == 200, response.text
    return response.text


def answer(service: dict[str, Any], password: str, text: str) -> str:
    """Straight from the service's ClickHouse, bypassing the Query API."""
    response = sql(http_port(service), password, text)
    assert response.status_code == 200, response.text
    return response.text.strip()


def key_uuid(server: ClickplaneServer, credentials: Credentials | None = None) -> str:
    """The key's id (not its Basic-auth user name), as `GET /v1/whoami` gives it."""
    with server.client(credentials) as client:
        whoami = client.get("/v1/whoami")
    assert whoami.status_code == 200, whoami.text
    return str(whoami.json()["result"]["keyId"])


def bind(server: ClickplaneServer, service_id: str, *key_ids: str, roles: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"openApiKeys": list(key_ids), "allowedOrigins": "*"}
    if roles is not None:
        body["roles"] = roles
    with server.client() as client:
        response = client.post(endpoint_path(server, service_id), json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def assert_envelope(response: httpx.Response, status: int, prefix: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert body["requestId"]
    assert body["error"].startswith(prefix), body


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class PeakRss:
    """Samples a process's resident set every few milliseconds while the block runs."""

    def __init__(self, pid: int, interval: float = 0.005) -> None:
        self.pid, self.interval = pid, interval
        self.before = self.peak = self.after = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.after = rss_bytes(self.pid)
        self.peak = max(self.peak, self.after)


def running_queries(service: dict[str, Any], password: str, query_id: str) -> list[str]:
    """Lines of system.processes for `query_id`, read straight from the service's ClickHouse."""
    where = f"WHERE query_id = '{query_id}'"
    text = answer(service, password, f"SELECT query_id, elapsed, read_rows FROM system.processes {where}")  # noqa: S608
    return text.splitlines()


def kill_directly(service: dict[str, Any], password: str, query_id: str) -> None:
    """Whatever the Query API did, end the query (and so the stream serve may still be pumping)."""
    sql(http_port(service), password, f"KILL QUERY WHERE query_id = '{query_id}' SYNC")
    wait_until(lambda: not running_queries(service, password, query_id), what=f"query {query_id} to be killed")


class ServiceKeeper:
    """Creates services on a server and removes them all (stop, then delete) afterwards."""

    def __init__(self, server: ClickplaneServer) -> None:
        self.server = server
        self.ids: list[str] = []

    def running(self, name: str, **fields: Any) -> tuple[dict[str, Any], str]:
        created = self.server.create_service(name=name, **fields)
        service_id = created["service"]["id"]
        self.ids.append(service_id)
        return self.server.wait_for_state(service_id, "running"), created["password"]

    def remove_all(self) -> None:
        with self.server.client() as client:
            for service_id in self.ids:
                path = self.server.org_path(f"/services/{service_id}")
                if client.delete(path).status_code == 409:  # still up: stop it first
                    client.patch(f"{path}/state", json={"command": "stop"})
                    self.server.wait_for_state(service_id, "stopped")
                    assert client.delete(path).status_code in (200, 404)
                wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                           what=f"service {service_id} to be deleted")
        self.ids.clear()


class QueryCli(Cli):
    """clickhousectl from an empty directory, its query host pointed at clickplane (reference §9)."""

    def __init__(self, server: ClickplaneServer, workdir: Path) -> None:
        super().__init__(server, workdir)
        self.env["CLICKHOUSE_CLOUD_QUERY_HOST"] = server.base_url

    def query(self, service_id: str, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
        """`service query` whatever its exit code; the caller checks it."""
        return subprocess.run([*self.command, "service", "query", service_id, "--query", text, *flags],
                              cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=180,
                              check=False)

    def ok(self, service_id: str, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
        done = self.query(service_id, text, *flags)
        assert done.returncode == 0, f"service query {text!r} {flags}: {done.stdout}{done.stderr}"
        return done


# --- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture
def keeper(server: ClickplaneServer) -> Iterator[ServiceKeeper]:
    kept = ServiceKeeper(server)
    try:
        yield kept
    finally:
        kept.remove_all()


@pytest.fixture(scope="module")
def shared(server: ClickplaneServer) -> Iterator[tuple[dict[str, Any], str]]:
    """One running service, the server's key bound to its query endpoint, for tests that leave it as it was."""
    kept = ServiceKeeper(server)
    try:
        service, password = kept.running("query-shared")
        bind(server, service["id"], key_uuid(server))
        yield service, password
    finally:
        kept.remove_all()


@pytest.fixture
def workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="clickhousectl-query-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


@pytest.fixture
def other_key(server: ClickplaneServer) -> Iterator[tuple[Credentials, str]]:
    """A second key of the organization, bound to nothing: (its credentials, its id)."""
    with server.client() as client:
        created = client.post(server.org_path("/keys"), json={"name": f"query-{uuid.uuid4().hex[:8]}"})
        assert created.status_code == 200, created.text
        result = created.json()["result"]
        key_id = str(result["key"]["id"])
        try:
            yield Credentials(server.credentials.organization_id, result["keyId"], result["keySecret"]), key_id
        finally:
            assert client.delete(server.org_path(f"/keys/{key_id}")).status_code == 200


# --- clickhousectl -------------------------------------------------------------------------------------------

@needs_clickhousectl
def test_clickhousectl_binds_its_key_then_creates_inserts_and_selects(server: ClickplaneServer,
                                                                      keeper: ServiceKeeper, workdir: Path) -> None:
    service, password = keeper.running("ctl-query")
    service_id = service["id"]
    with server.client() as client:
        assert client.get(endpoint_path(server, service_id)).status_code == 404  # nothing bound yet
    cli = QueryCli(server, workdir)

    created = cli.ok(service_id, "CREATE TABLE pets (n UInt32, name String) ENGINE = MergeTree ORDER BY n")
    assert "Binding" in created.stderr, created.stderr  # the first call bound the key by itself
    with server.client() as client:
        endpoint = client.get(endpoint_path(server, service_id))
    assert endpoint.status_code == 200, endpoint.text
    assert endpoint.json()["result"]["openApiKeys"] == [key_uuid(server)]
    assert endpoint.json()["result"]["roles"] == ["sql_console_admin"]

    inserted = cli.ok(service_id, "INSERT INTO pets VALUES (1, 'cat'), (2, 'dog')")
    assert "Binding" not in inserted.stderr  # bound already: straight to the query
    assert answer(service, password, "SELECT count() FROM pets") == "2"  # it reached ClickHouse

    selecting = "SELECT n, name FROM pets ORDER BY n"
    assert cli.ok(service_id, selecting).stdout == "1\tcat\n2\tdog\n"  # TabSeparated: stdout is no TTY
    lines = cli.ok(service_id, selecting, "--json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"n": 1, "name": "cat"}, {"n": 2, "name": "dog"}]
    assert cli.ok(service_id, selecting, "--format", "CSV").stdout == '1,"cat"\n2,"dog"\n'
    assert cli.ok(service_id, "SELECT currentDatabase()", "--database", "system").stdout == "system\n"

    bad = cli.query(service_id, "SELEC 1")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Code: 62" in bad.stderr, bad.stderr  # ClickHouse's own text
    assert "Syntax error" in bad.stderr
    missing = cli.query(service_id, "SELECT * FROM no_such_table")
    assert missing.returncode == 1
    assert "Table default.no_such_table doesn't exist" in missing.stderr, missing.stderr


# --- plain HTTP ----------------------------------------------------------------------------------------------

def test_keys_not_bound_and_unknown_services_are_refused(server: ClickplaneServer, shared: tuple[dict[str, Any], str],
                                                         other_key: tuple[Credentials, str]) -> None:
    service, _ = shared
    credentials, _ = other_key
    assert_envelope(query(server, service["id"], "SELECT 1", credentials=credentials), 403, "FORBIDDEN: ")
    assert_envelope(query(server, str(uuid.uuid4()), "SELECT 1"), 404, "NOT_FOUND: ")
    wrong = Credentials(server.credentials.organization_id, server.credentials.key_id, "not-the-secret")
    assert_envelope(query(server, service["id"], "SELECT 1", credentials=wrong), 401, "UNAUTHORIZED: ")
    with server.client() as client:
        for body in ("{}", '{"sql": ""}', "SELECT 1"):
            refused = client.post(run_path(service["id"]), content=body, headers={"content-type": TEXT_PLAIN})
            assert_envelope(refused, 400, "BAD_REQUEST: ")


def test_sql_runs_with_its_database_format_and_run_id(server: ClickplaneServer,
                                                      shared: tuple[dict[str, Any], str]) -> None:
    service, password = shared
    service_id = service["id"]
    assert succeeds(server, service_id, "SELECT 1") == "1\n"  # a JSON body sent as text/plain
    with server.client() as client:  # and as application/json
        assert client.post(run_path(service_id), json={"sql": "SELECT 2"}).text == "2\n"

    succeeds(server, service_id, "CREATE DATABASE IF NOT EXISTS qa_db")
    succeeds(server, service_id, "CREATE TABLE qa_db.things (n UInt8) ENGINE = TinyLog")
    succeeds(server, service_id, "INSERT INTO things VALUES (7)", database="qa_db")
    assert answer(service, password, "SELECT n FROM qa_db.things") == "7"
    assert succeeds(server, service_id, "SELECT currentDatabase(), n FROM things", database="qa_db") == "qa_db\t7\n"
    unqualified = query(server, service_id, "SELECT n FROM things")  # the default database has no such table
    assert unqualified.status_code == 400, unqualified.text  # ClickHouse's 404 for a table: a SQL mistake
    assert "Table default.things doesn't exist" in unqualified.text, unqualified.text

    as_json = query(server, service_id, "SELECT n FROM qa_db.things", output_format="JSONEachRow")
    assert json.loads(as_json.text) == {"n": 7}
    run_id = str(uuid.uuid4())
    identified = query(server, service_id, "SELECT 1", run_id=run_id)
    assert identified.headers["x-clickhouse-query-id"] == run_id
    succeeds(server, service_id, "DROP DATABASE qa_db")


def test_a_browsers_origin_must_be_one_the_query_endpoint_allows(server: ClickplaneServer,
                                                                  shared: tuple[dict[str, Any], str]) -> None:
    service, _ = shared
    service_id, key = service["id"], key_uuid(server)
    with server.client() as client:
        bound = client.post(endpoint_path(server, service_id), json={
            "openApiKeys": [key], "allowedOrigins": "https://app.example.com, https://other.example.com"})
        assert bound.status_code == 200, bound.text
    try:
        allowed = query(server, service_id, "SELECT 1", headers={"origin": "https://other.example.com"})
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == "https://other.example.com"
        assert_envelope(query(server, service_id, "SELECT 1", headers={"origin": "https://evil.example.com"}), 403,
                        "FORBIDDEN: origin 'https://evil.example.com' is not among the allowedOrigins")
        assert succeeds(server, service_id, "SELECT 3") == "3\n"  # a client that is no browser sends no Origin

        def preflight(path: str, origin: str) -> httpx.Response:  # a browser's, with no credentials
            return httpx.options(f"{server.base_url}{path}", timeout=10, verify=server.verify, headers={
                "origin": origin, "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type"})

        answered = preflight(run_path(service_id), "https://app.example.com")
        assert answered.status_code == 204, answered.text
        assert (answered.headers["access-control-allow-origin"], answered.headers["access-control-allow-methods"]
                ) == ("https://app.example.com", "POST")
        for path, origin in ((run_path(service_id), "https://evil.example.com"),
                             (run_path(str(uuid.uuid4())), "https://app.example.com")):
            refused = preflight(path, origin)
            assert_envelope(refused, 403, "FORBIDDEN: ")
            assert "access-control-allow-origin" not in refused.headers
    finally:
        bind(server, service_id, key)  # as the module's tests expect it: any origin


def test_a_read_only_endpoint_refuses_writes_and_allows_selects(server: ClickplaneServer,
                                                                keeper: ServiceKeeper) -> None:
    service, password = keeper.running("query-read-only")
    service_id = service["id"]
    answer(service, password, "CREATE TABLE kept (n UInt8) ENGINE = TinyLog")
    answer(service, password, "INSERT INTO kept VALUES (1)")
    endpoint = bind(server, service_id, key_uuid(server), roles=["sql_console_read_only"])
    assert endpoint["roles"] == ["sql_console_read_only"]

    assert succeeds(server, service_id, "SELECT n FROM kept") == "1\n"
    assert succeeds(server, service_id, "SELECT n FROM kept", output_format="JSONEachRow") == '{"n":1}\n'
    for refused_sql in ("INSERT INTO kept VALUES (2)", "CREATE TABLE sneaky (n UInt8) ENGINE = TinyLog",
                        "DROP TABLE kept"):
        refused = query(server, service_id, refused_sql)
        # ClickHouse 18.16 answers 500 for its READONLY error (code 164); the Query API answers 403.
        assert refused.status_code == 403, (refused_sql, refused.text)
        assert "readonly mode" in refused.text, refused.text
    assert answer(service, password, "SELECT count() FROM kept") == "1"
    assert answer(service, password, "EXISTS TABLE sneaky") == "0"

    bind(server, service_id, key_uuid(server))  # admin again (the default role): writes go through
    succeeds(server, service_id, "INSERT INTO kept VALUES (2)")
    assert answer(service, password, "SELECT count() FROM kept") == "2"


@needs_clickhousectl
def test_a_stopped_service_answers_206_service_is_stopped(server: ClickplaneServer, keeper: ServiceKeeper,
                                                          workdir: Path) -> None:
    service, _ = keeper.running("query-stopped")
    service_id = service["id"]
    bind(server, service_id, key_uuid(server))
    with server.client() as client:
        assert client.patch(server.org_path(f"/services/{service_id}/state"), json={"command": "stop"}).is_success
    server.wait_for_state(service_id, "stopped")

    stopped = query(server, service_id, "SELECT 1")
    assert stopped.status_code == 206, stopped.text
    assert stopped.json() == {"data": "Service is stopped"}
    woken = query(server, service_id, "SELECT 1", headers={"wake-service": "true"})
    assert (woken.status_code, woken.json()) == (206, {"data": "Service is stopped"})  # only idle ones wake
    assert server.service(service_id)["state"] == "stopped"

    done = QueryCli(server, workdir).query(service_id, "SELECT 1")
    assert done.returncode == 1
    assert "is stopped" in done.stderr, done.stderr
    assert f"service start {service_id}" in done.stderr


@needs_clickhousectl
def test_an_idle_service_asks_for_confirmation_then_wakes_with_its_data(fresh_server: ClickplaneServer,
                                                                         workdir: Path) -> None:
    fresh_server.settings["CLICKPLANE_IDLE_MINUTE_SECONDS"] = "0.4"  # 5 "minutes" pass in 2 seconds
    fresh_server.start()
    created = fresh_server.create_service(name="query-sleepy", idleScaling=True, idleTimeoutMinutes=5)
    service_id, password = created["service"]["id"], created["password"]
    fresh_server.wait_for_state(service_id, "running")
    bind(fresh_server, service_id, key_uuid(fresh_server))
    succeeds(fresh_server, service_id, "CREATE TABLE dreams (n UInt8) ENGINE = TinyLog")
    succeeds(fresh_server, service_id, "INSERT INTO dreams VALUES (42)")
    fresh_server.wait_for_state(service_id, "idle")

    asked = query(fresh_server, service_id, "SELECT n FROM dreams")
    assert asked.status_code == 206, asked.text
    assert asked.json() == {"data": "Confirm wake service"}
    assert fresh_server.service(service_id)["state"] == "idle"  # not woken without the header
    woken = query(fresh_server, service_id, "SELECT n FROM dreams", headers={"wake-service": "true"})
    assert (woken.status_code, woken.text) == (200, "42\n")
    woken_service = fresh_server.service(service_id)
    assert woken_service["state"] == "running"
    assert answer(woken_service, password, "SELECT n FROM dreams") == "42"

    # clickhousectl takes the 206 as its cue to resend with `wake-service: true`.
    fresh_server.wait_for_state(service_id, "idle")
    done = QueryCli(fresh_server, workdir).ok(service_id, "SELECT n * 2 FROM dreams")
    assert done.stdout == "84\n"
    assert "waking" in done.stderr, done.stderr
    assert fresh_server.service(service_id)["state"] == "running"


# --- streaming -----------------------------------------------------------------------------------------------

def test_large_results_stream_without_being_held_in_memory(server: ClickplaneServer,
                                                           shared: tuple[dict[str, Any], str]) -> None:
    service, _ = shared
    assert server.process is not None
    rows = size = 0
    last_line = b""
    started = time.monotonic()
    with server.client() as client, PeakRss(server.process.pid) as rss, client.stream(
            "POST", run_path(service["id"]), params={"format": "TabSeparated"}, timeout=QUERY_TIMEOUT,
            content=json.dumps({"sql": STREAM_SQL}),
            headers={"content-type": TEXT_PLAIN}) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        tail = b""
        for chunk in response.iter_raw():
            rows += chunk.count(b"\n")
            size += len(chunk)
            tail = (tail + chunk)[-32:]
        last_line = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    seconds = time.monotonic() - started
    mib = 1 << 20
    print(f"\nstreamed {rows:,} rows, {size:,} bytes in {seconds:.2f} s ({size / seconds / 1e6:.1f} MB/s); "
          f"serve RSS before {rss.before / mib:.1f} MiB, peak {rss.peak / mib:.1f} MiB "
          f"(+{(rss.peak - rss.before) / mib:.1f}), after {rss.after / mib:.1f} MiB")
    assert rows == STREAM_ROWS
    assert last_line == str(STREAM_ROWS - 1).encode()
    assert size > 2 * RSS_GROWTH_BOUND  # so that holding the result would break the bound, twice over
    assert rss.peak - rss.before < RSS_GROWTH_BOUND, (rss.before, rss.peak)


# --- cancellation --------------------------------------------------------------------------------------------

def test_a_streaming_query_is_killed_when_its_client_goes_away(server: ClickplaneServer,
                                                               shared: tuple[dict[str, Any], str]) -> None:
    service, password = shared
    run_id = str(uuid.uuid4())
    try:
        with server.client() as client, client.stream(
                "POST", run_path(service["id"]), timeout=QUERY_TIMEOUT, headers={"content-type": TEXT_PLAIN},
                content=json.dumps({"sql": "SELECT number FROM system.numbers", "runId": run_id})) as response:
            assert response.status_code == 200
            assert response.headers["x-clickhouse-query-id"] == run_id
            # Keep the iterator: a dropped one is collected at once, and closing it closes the connection.
            chunks = response.iter_raw()
            assert next(chunks)  # the first bytes arrived
            assert running_queries(service, password, run_id)  # and ClickHouse is at it
        # The connection is closed: the query must go.
        wait_until(lambda: not running_queries(service, password, run_id), CANCEL_DEADLINE_SECONDS,
                   f"query {run_id} to be killed after its client closed the connection")
    finally:
        kill_directly(service, password, run_id)


def test_a_query_is_killed_when_its_client_goes_away_before_any_output(server: ClickplaneServer,
                                                                       shared: tuple[dict[str, Any], str]) -> None:
    service, password = shared
    run_id = str(uuid.uuid4())
    body = json.dumps({"sql": "SELECT count() FROM system.numbers", "runId": run_id})  # no output, ever
    basic = base64.b64encode(f"{server.credentials.key_id}:{server.credentials.key_secret}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", run_path(service["id"]), body=body,
                           headers={"content-type": TEXT_PLAIN, "authorization": f"Basic {basic}"})
        wait_until(lambda: running_queries(service, password, run_id), what=f"query {run_id} to start")
        connection.close()  # gone before the first byte of the answer
        wait_until(lambda: not running_queries(service, password, run_id), CANCEL_DEADLINE_SECONDS,
                   f"query {run_id} to be killed after its client closed the connection")
    finally:
        connection.close()
        kill_directly(service, password, run_id)
