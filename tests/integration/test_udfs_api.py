"""UDFs through the API, on a real clickplane over a real ClickHouse service: archives PUT through the https upload
URL that serve's own listener serves (once each, without credentials, verified against clickplane's CA), the build
of each version, paging as clickhousectl reads it, the delete rules, and attaching: a 424 UDF_DISABLED unless the
operator enabled executable functions (CLICKPLANE_UDF_EXECUTION_ENABLED), and once enabled, on a ClickHouse
without them (18.16) a 424 with the reason its server's version gives; on one that has them (when
CLICKPLANE_TEST_UDF_CLICKHOUSE_BINARY names its binary) the function installed, run in SQL, and removed. Under
--tls the upload listener serves the API's own certificate."""

from __future__ import annotations

import io
import os
import ssl
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, new_server

pytestmark = [pytest.mark.integration, needs_clickhouse]

UPPER = b"import sys\nfor line in sys.stdin:\n    print(line.strip().upper(), flush=True)\n"
DEFINITION = {"runtime": "python3.11", "type": "executable", "arguments": [{"name": "x", "type": "String"}],
              "returnType": "String"}
# A ClickHouse binary with executable user-defined functions (21.11 or later), for the install test.
UDF_CLICKHOUSE = os.environ.get("CLICKPLANE_TEST_UDF_CLICKHOUSE_BINARY")
# What an operator sets to have attaches install executable functions (they run as clickplane's OS user).
ENABLED = {"CLICKPLANE_UDF_EXECUTION_ENABLED": "true"}


def zipped(files: dict[str, bytes]) -> bytes:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return data.getvalue()


class Udfs:
    """The UDF API of one clickplane, as its admin key and an anonymous uploader use it."""

    def __init__(self, server: ClickplaneServer, client: httpx.Client) -> None:
        self.server, self.client = server, client
        self.trust = ssl.create_default_context(cafile=server.data_dir / "ca" / "ca.pem")

    def path(self, suffix: str = "") -> str:
        return self.server.org_path(f"/udfs{suffix}")

    def session(self) -> dict[str, Any]:
        response = self.client.post(self.server.org_path("/udfUploads/url"))
        assert response.status_code == 201, response.text
        return dict(response.json()["result"])

    def put(self, url: str, archive: bytes) -> httpx.Response:
        """The upload as clickhousectl sends it: application/zip, no Authorization."""
        return httpx.put(url, content=archive, headers={"content-type": "application/zip"}, verify=self.trust,
                         timeout=30)

    def upload(self, archive: bytes) -> str:
        session = self.session()
        answer = self.put(session["uploadUrl"], archive)
        assert answer.status_code == 200, answer.text
        return str(session["uploadId"])

    def create(self, name: str, archive: bytes | None = None, **changes: Any) -> httpx.Response:
        upload = self.upload(archive or zipped({"main.py": UPPER}))
        return self.client.post(self.path(), json={**DEFINITION, "functionName": name, "uploadId": upload,
                                                   **changes})

    def version(self, name: str) -> httpx.Response:
        upload = self.upload(zipped({"main.py": UPPER}))
        return self.client.post(self.path(f"/{name}/versions"), json={**DEFINITION, "uploadId": upload})

    def attach(self, name: str, service_id: str, **body: Any) -> httpx.Response:
        return self.client.put(self.path(f"/{name}/attachments/{service_id}"), json=body)


def refused(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    error = str(response.json()["error"])
    for word in words:
        assert word in error, error
    return error


@pytest.fixture(scope="module")
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    created = server.create_service(name="udfs")
    try:
        yield server.wait_for_state(created["service"]["id"], "running")
    finally:
        delete_services(server)


def udfs_of(server: ClickplaneServer) -> Iterator[Udfs]:
    """The server's Udfs, every function detached and deleted afterwards."""
    with server.client() as client:
        made = Udfs(server, client)
        yield made
        for udf in client.get(made.path()).json()["result"]:
            for attachment in client.get(made.path(f"/{udf['functionName']}/attachments")).json()["result"]:
                client.delete(made.path(f"/{udf['functionName']}/attachments/{attachment['serviceId']}"))
            assert client.delete(made.path(f"/{udf['functionName']}")).status_code == 200


@pytest.fixture
def udfs(server: ClickplaneServer) -> Iterator[Udfs]:
    yield from udfs_of(server)


@pytest.fixture(scope="module")
def enabled_server() -> Iterator[ClickplaneServer]:
    """A clickplane whose operator enabled executable functions."""
    made = new_server()
    made.settings.update(ENABLED)
    try:
        made.start()
        yield made
        delete_services(made)
    finally:
        made.destroy()


@pytest.fixture(scope="module")
def enabled_service(enabled_server: ClickplaneServer) -> dict[str, Any]:
    created = enabled_server.create_service(name="udfs-enabled")
    return enabled_server.wait_for_state(created["service"]["id"], "running")


@pytest.fixture
def enabled_udfs(enabled_server: ClickplaneServer) -> Iterator[Udfs]:
    yield from udfs_of(enabled_server)


def test_an_archive_goes_through_the_https_upload_url_once_and_builds_a_ready_version(udfs: Udfs) -> None:
    session = udfs.session()
    assert session["uploadUrl"].startswith("https://127.0.0.1:")
    assert session["expiresAt"].endswith("Z")
    assert udfs.put(session["uploadUrl"], zipped({"main.py": UPPER})).status_code == 200
    refused(udfs.put(session["uploadUrl"], zipped({"main.py": UPPER})), 410, "used already")
    refused(udfs.put(session["uploadUrl"].rsplit("/", 1)[0] + "/not-a-token", zipped({"main.py": UPPER})), 410,
            "expired or unknown")
    with pytest.raises(httpx.ConnectError):  # only https, with clickplane's certificate
        httpx.put(session["uploadUrl"], content=b"x", timeout=10)
    body = {**DEFINITION, "functionName": "shout", "uploadId": session["uploadId"], "deterministic": True,
            "memoryLimitMib": 256}
    made = udfs.client.post(udfs.path(), json=body)
    assert made.status_code == 201, made.text
    udf = made.json()["result"]
    assert (udf["functionName"], udf["version"], udf["status"]) == ("shout", 1, "ready")
    assert (udf["deterministic"], udf["memoryLimitMib"], udf["commandReadTimeout"]) == (True, 256, 10000)
    assert "uploadId" not in udf
    refused(udfs.client.post(udfs.path(), json={**body, "functionName": "again"}), 410, "already taken")
    assert udfs.client.get(udfs.path("/shout")).json()["result"] == udf


def test_the_upload_listener_takes_only_zips_and_only_its_uploads(udfs: Udfs) -> None:
    session = udfs.session()
    refused(udfs.put(session["uploadUrl"], b"plain text"), 400, "not a ZIP archive")
    base = session["uploadUrl"].split("/udf-uploads/")[0]
    refused(httpx.get(f"{base}/v1", verify=udfs.trust, timeout=10), 404, "uploadUrl")
    assert udfs.put(session["uploadUrl"], zipped({"main.py": UPPER})).status_code == 200  # still unused


def test_archives_that_do_not_build_are_refused_with_the_reason_and_nothing_is_made(udfs: Udfs) -> None:
    refused(udfs.create("shout", zipped({"upper/main.py": UPPER})), 400, "has no main.py", "root")
    refused(udfs.create("shout", zipped({"main.py": b"def broken(:\n"})), 400, "does not compile as Python")
    refused(udfs.create("shout", zipped({"main.py": UPPER, "../escape": b"x"})), 400, "not a relative path")
    refused(udfs.create("shout", zipped({"main": b"\x7fELF"}), runtime="native"), 400, "/main", "native")
    refused(udfs.create("shout", poolSize=3), 400, "poolSize", "executable_pool")
    refused(udfs.create("bad-name"), 400, "functionName")
    refused(udfs.create("shout", returnType="String; DROP"), 400, "returnType")
    refused(udfs.create("shout", sandboxVersion="v9"), 400, "sandboxVersion")
    bzip2 = io.BytesIO()
    with zipfile.ZipFile(bzip2, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("main.py", UPPER)
    refused(udfs.create("shout", bzip2.getvalue()), 400, "compressed with method 12", "stored and deflated")
    refused(udfs.create("shout", zipped({"main.py": UPPER, "lib": b"", "lib/x.py": b""})), 400, "lib is a file")
    refused(udfs.client.post(udfs.path(), json={**DEFINITION, "functionName": "shout"}), 400, "uploadId",
            "required")
    refused(udfs.client.get(udfs.path("/shout")), 404, "no UDF named shout")
    refused(udfs.client.get(udfs.path("/sh%00out")), 404, "no UDF named")  # PostgreSQL takes no NUL in a query


def test_versions_count_up_page_as_clickhousectl_reads_them_and_the_latest_stays(udfs: Udfs) -> None:
    assert udfs.create("shout").status_code == 201
    refused(udfs.create("shout"), 409, "exists", "versions")
    assert [udfs.version("shout").json()["result"]["version"] for _ in range(2)] == [2, 3]
    assert udfs.create("another").status_code == 201
    listed = udfs.client.get(udfs.path()).json()
    assert [(u["functionName"], u["version"]) for u in listed["result"]] == [("another", 1), ("shout", 3)]
    assert "nextCursor" not in listed  # no page asked for: the whole list
    first = udfs.client.get(udfs.path("/shout/versions"), params={"limit": 2}).json()
    assert [v["version"] for v in first["result"]] == [1, 2]
    assert (first["limit"], first["totalCount"], first["nextCursor"]) == (2, 3, "2")
    rest = udfs.client.get(udfs.path("/shout/versions"), params={"limit": 2, "cursor": "2"}).json()
    assert [v["version"] for v in rest["result"]] == [3]
    assert rest.get("nextCursor") is None
    reference = udfs.client.get(udfs.path("/shout/versions"), params={"shape": "reference", "limit": 2}).json()
    assert set(reference) == {"status", "requestId", "result"}  # the reference's page: its paging in the result
    assert [v["version"] for v in reference["result"]["items"]] == [1, 2]
    assert reference["result"]["items"][0]["error"] is None
    assert reference["result"]["pagination"] == {"totalRecords": 3, "currentCursor": None, "nextCursor": "2",
                                                 "limit": 2}
    whole = udfs.client.get(udfs.path(), params={"shape": "reference"}).json()["result"]["pagination"]
    assert (whole["totalRecords"], whole["limit"], whole["nextCursor"]) == (2, 100, None)
    refused(udfs.client.get(udfs.path(), params={"shape": "items"}), 400, "shape", "reference")
    refused(udfs.client.get(udfs.path("/shout/versions"), params={"limit": 101}), 400, "limit")
    refused(udfs.client.get(udfs.path(), params={"cursor": "nobody"}), 400, "cursor")
    refused(udfs.client.delete(udfs.path("/shout/versions/3")), 409, "latest")
    assert udfs.client.delete(udfs.path("/shout/versions/2")).json()["status"] == 200
    refused(udfs.client.delete(udfs.path("/shout/versions/2")), 404, "no version 2")
    refused(udfs.client.delete(udfs.path("/shout/versions/99999999999")), 404, "no version")
    refused(udfs.client.delete(udfs.path("/shout/versions/two")), 400)
    assert udfs.version("shout").json()["result"]["version"] == 4  # a number is never given twice


def test_attaching_is_a_424_until_the_operator_enables_executable_functions(udfs: Udfs,
                                                                            service: dict[str, Any]) -> None:
    assert udfs.create("shout").status_code == 201
    answer = udfs.attach("shout", service["id"])
    refused(answer, 424, "disabled", "clickplane's own OS user", "CLICKPLANE_UDF_EXECUTION_ENABLED=true")
    assert {key: answer.json()[key] for key in ("code", "canWake")} == {"code": "UDF_DISABLED", "canWake": False}
    print(f"\n424 while disabled: {answer.json()['error']}")
    assert udfs.client.get(udfs.path("/shout/attachments")).json()["result"] == []


def test_attaching_on_a_clickhouse_without_executable_functions_is_a_424_with_the_reason(
        enabled_udfs: Udfs, enabled_service: dict[str, Any]) -> None:
    udfs, service = enabled_udfs, enabled_service
    version = service["clickhouseVersion"]
    if int(version.split(".")[0]) > 21:
        pytest.skip(f"the service's ClickHouse ({version}) has executable functions")
    assert udfs.create("shout").status_code == 201
    answer = udfs.attach("shout", service["id"])
    refused(answer, 424, version, "no executable user-defined functions", "21.11")
    assert {key: answer.json()[key] for key in ("code", "serviceState", "canWake")} == {
        "code": "UDF_UNSUPPORTED", "serviceState": "running", "canWake": False}
    print(f"\n424 on ClickHouse {version}: {answer.json()['error']}")
    assert udfs.client.get(udfs.path("/shout/attachments")).json()["result"] == []
    refused(udfs.client.get(udfs.path(f"/shout/attachments/{service['id']}")), 404, "not attached")
    refused(udfs.client.delete(udfs.path(f"/shout/attachments/{service['id']}")), 404, "not attached")
    refused(udfs.attach("shout", service["id"], version=7), 404, "no version 7")
    refused(udfs.attach("nobody", service["id"]), 404, "no UDF named nobody")


def test_attaching_to_a_stopped_service_is_a_424_that_says_to_start_it(enabled_udfs: Udfs,
                                                                       enabled_server: ClickplaneServer) -> None:
    udfs, server = enabled_udfs, enabled_server
    assert udfs.create("shout").status_code == 201
    stopped = server.create_service(name="udfs-stopped")["service"]["id"]
    server.wait_for_state(stopped, "running")
    assert udfs.client.patch(server.org_path(f"/services/{stopped}/state"), json={"command": "stop"}).is_success
    server.wait_for_state(stopped, "stopped")
    answer = udfs.attach("shout", stopped)
    refused(answer, 424, "stopped", '"command": "start"')
    assert {key: answer.json()[key] for key in ("code", "serviceState", "canWake")} == {
        "code": "SERVICE_STOPPED", "serviceState": "stopped", "canWake": False}


@pytest.fixture
def udf_server() -> Iterator[ClickplaneServer]:
    if UDF_CLICKHOUSE is None:
        reason = ("no ClickHouse with executable user-defined functions is configured: set "
                  "CLICKPLANE_TEST_UDF_CLICKHOUSE_BINARY to one (21.11 or later) to test the install")
        print(f"\nskipped: {reason}")
        pytest.skip(reason)
    made = new_server()
    made.settings["CLICKPLANE_CLICKHOUSE_BINARY"] = UDF_CLICKHOUSE
    made.settings.update(ENABLED)
    try:
        made.start()
        yield made
    finally:
        made.destroy()


def test_an_attached_function_runs_in_the_services_sql_until_detached(udf_server: ClickplaneServer) -> None:
    created = udf_server.create_service(name="udf-engine")
    service = udf_server.wait_for_state(created["service"]["id"], "running")
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")

    def sql(query: str) -> httpx.Response:
        return httpx.post(f"http://127.0.0.1:{port}/", content=query.encode(), timeout=30,
                          auth=("default", created["password"]))

    with udf_server.client() as client:
        udfs = Udfs(udf_server, client)
        assert udfs.create("shout").status_code == 201
        attached = udfs.attach("shout", service["id"])
        assert attached.status_code == 200, attached.text
        assert attached.json()["result"] == {"functionName": "shout", "serviceId": service["id"],
                                             "status": "deployed", "version": 1}
        answer = sql("SELECT shout('abc')")
        assert answer.status_code == 200, answer.text
        assert answer.text.strip() == "ABC"
        refused(client.delete(udfs.path("/shout")), 409, "detach it")
        assert client.delete(udfs.path(f"/shout/attachments/{service['id']}")).status_code == 200
        assert "shout" not in sql("SELECT name FROM system.functions WHERE name = 'shout'").text.split()
        assert client.delete(udfs.path("/shout")).status_code == 200


def test_under_tls_the_upload_listener_has_the_apis_certificate(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_TLS"] = "true"
    fresh_server.start()
    with fresh_server.client() as client:
        udfs = Udfs(fresh_server, client)
        session = udfs.session()
        assert session["uploadUrl"].startswith("https://127.0.0.1:")
        assert not session["uploadUrl"].startswith(fresh_server.base_url)  # its own port, beside the API's
        assert udfs.put(session["uploadUrl"], zipped({"main.py": UPPER})).status_code == 200
    api = (fresh_server.data_dir / "api-tls" / "server.crt").read_bytes()
    host, port = session["uploadUrl"].split("/")[2].split(":")
    assert ssl.get_server_certificate((host, int(port))).encode().strip() == api.strip()
