"""Object-storage ClickPipes through the API, end to end on real servers: files in a bucket of a real S3-compatible
server (moto) loaded into a clickplane ClickHouse service, each once, in key order; a continuous pipe loads the
files added later, a malformed file is reported in the pipe's error table and the pipe goes on; a one-shot pipe
ends Completed; stop and start."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.s3 import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_KEY, create_bucket, moto_server, put_objects

pytestmark = [pytest.mark.integration, needs_clickhouse]
COLUMNS = [{"name": "id", "type": "UInt32"}, {"name": "label", "type": "String"}]


@pytest.fixture
def s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    """A running ClickHouse service with its password, deleted (and its pipes with it) after the test."""
    created = server.create_service(name="object pipes")
    running = server.wait_for_state(created["service"]["id"], "running")
    try:
        yield running | {"password": created["password"]}
    finally:
        delete_services(server)


def clickhouse(service: dict[str, Any], sql: str) -> str:
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    response = httpx.post(f"http://127.0.0.1:{port}/", params={"query": sql}, auth=("default", service["password"]),
                          timeout=10)
    assert response.status_code == 200, response.text
    return response.text.strip()


def reads_format(service: dict[str, Any], name: str) -> bool:
    """Whether the server parses `name` (servers without system.formats, such as 18.16, read only text formats)."""
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    response = httpx.post(f"http://127.0.0.1:{port}/", auth=("default", service["password"]), timeout=10,
                          params={"query": "SELECT count() FROM system.formats WHERE is_input AND name = {name:String}",
                                  "param_name": name})
    return response.status_code == 200 and response.text.strip() == "1"


def pipe_body(endpoint: str, table: str, *, continuous: bool, pattern: str = "data/*.csv",
              input_format: str = "CSV") -> dict[str, Any]:
    return {
        "name": f"load {table}",
        "source": {"objectStorage": {
            "type": "s3", "url": f"{endpoint}/events/{pattern}", "format": input_format, "compression": "auto",
            "isContinuous": continuous, "authentication": "IAM_USER",
            "accessKey": {"accessKeyId": DUMMY_ACCESS_KEY_ID, "secretKey": DUMMY_SECRET_KEY}}},
        "destination": {"database": "default", "table": table, "managedTable": True, "columns": COLUMNS,
                        "tableDefinition": {"engine": {"type": "MergeTree"}, "sortingKey": ["id"]}},
        "settings": {"object_storage_polling_interval_ms": 200},
    }


def csv_rows(first: int, count: int) -> bytes:
    return "".join(f"{n},row {n}\n" for n in range(first, first + count)).encode()


class Pipes:
    def __init__(self, server: ClickplaneServer, service: dict[str, Any]) -> None:
        self.server, self.service = server, service

    def path(self, suffix: str = "") -> str:
        return self.server.org_path(f"/services/{self.service['id']}/clickpipes{suffix}")

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.server.client() as client:
            response = client.post(self.path(), json=body)
        assert response.status_code == 200, response.text
        return response.json()["result"]  # type: ignore[no-any-return]

    def get(self, pipe_id: str) -> dict[str, Any]:
        with self.server.client() as client:
            response = client.get(self.path(f"/{pipe_id}"))
        assert response.status_code == 200, response.text
        return response.json()["result"]  # type: ignore[no-any-return]

    def wait_for(self, pipe_id: str, state: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.get(pipe_id)
            if found["state"] == "Failed" and state != "Failed":
                raise AssertionError(f"pipe failed: {found}; {self.server.log_tail()}")
            return found if found["state"] == state else None

        return wait_until(reached, what=f"pipe {pipe_id} to be {state}")  # type: ignore[no-any-return]

    def command(self, pipe_id: str, command: str) -> httpx.Response:
        with self.server.client() as client:
            return client.patch(self.path(f"/{pipe_id}/state"), json={"command": command})


def test_a_continuous_pipe_loads_each_file_once_in_key_order_and_goes_on_past_a_malformed_one(
        server: ClickplaneServer, service: dict[str, Any], s3: str) -> None:
    create_bucket(s3, "events", {"data/001.csv": csv_rows(1, 100), "data/002.csv.gz": gzip.compress(csv_rows(101, 50)),
                                 "other/skipped.csv": csv_rows(900, 5)})
    pipes = Pipes(server, service)
    body = pipe_body(s3, "events", continuous=True, pattern="data/*")
    body["settings"]["object_storage_concurrency"] = 3  # files read three at a time, still loaded in key order
    created = pipes.create(body)
    assert "accessKey" not in created["source"]["objectStorage"]
    assert DUMMY_SECRET_KEY not in str(created)
    pipe_id = created["id"]
    pipes.wait_for(pipe_id, "Running")
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "150",
               what="the first two files to be loaded")

    put_objects(s3, "events", {"data/003.csv": b"not a number,x\n", "data/004.csv": csv_rows(151, 25)})
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "175",
               what="the file after the malformed one to be loaded")
    # The malformed file's error row is written as the file is done, which may be after the next one's rows.
    errors = wait_until(lambda: clickhouse(service, "SELECT file, error FROM default.events_clickpipes_error "
                                                    "FORMAT TSV"), what="the malformed file's error row")
    assert errors.count("\n") == 0, errors  # one malformed file, one row
    assert "data/003.csv" in errors
    assert clickhouse(service, "SELECT count(), uniqExact(id), min(id), max(id) FROM default.events FORMAT TSV") \
        == "175\t175\t1\t175"
    shown = pipes.get(pipe_id)
    assert shown["state"] == "Running"
    assert shown["progress"]["rowsMoved"] == 175  # the malformed file moved nothing
    assert shown["progress"]["bytesMoved"] > 0
    metrics = httpx.get(f"{server.base_url}/metrics", verify=server.verify).text
    assert f'clickplane_clickpipe_rows_total{{clickpipe_id="{pipe_id}",service_id="{service["id"]}",' \
           f'source="objectStorage"}} 175.0' in metrics
    today = datetime.now(UTC).date().isoformat()
    with server.client() as client:
        usage = client.get(server.org_path("/usageCost"), params={"from_date": today, "to_date": today})
    assert usage.status_code == 200, usage.text
    record = next(r for r in usage.json()["result"]["costs"] if r["entityId"] == pipe_id)
    assert record["entityType"] == "clickpipe"
    assert record["serviceId"] == service["id"]
    assert record["metrics"]["dataTransferCHC"] > 0
    assert record["totalCHC"] == record["metrics"]["dataTransferCHC"]  # files: no initial load, no compute

    stopped = pipes.command(pipe_id, "stop")
    assert stopped.status_code == 200, stopped.text
    pipes.wait_for(pipe_id, "Stopped")
    put_objects(s3, "events", {"data/005.csv": csv_rows(176, 5)})
    started = pipes.command(pipe_id, "start")
    assert started.status_code == 200, started.text
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "180",
               what="the file added while stopped to be loaded after the start")
    again = pipes.command(pipe_id, "start")
    assert again.status_code == 400
    assert "ClickPipe is already running" in again.json()["error"]
    resync = pipes.command(pipe_id, "resync")
    assert resync.status_code == 400, resync.text


def test_a_one_shot_pipe_completes_and_bad_requests_are_refused_with_the_reason(
        server: ClickplaneServer, service: dict[str, Any], s3: str) -> None:
    create_bucket(s3, "events", {"data/a.csv": csv_rows(1, 10), "data/b.csv": csv_rows(11, 10)})
    pipes = Pipes(server, service)
    with server.client() as client:
        no_bucket = client.post(pipes.path(), json=pipe_body(s3.replace("events", "x"), "t", continuous=False)
                                | {"source": {"objectStorage": {**pipe_body(s3, "t", continuous=False)["source"][
                                    "objectStorage"], "url": f"{s3}/missing-bucket/*.csv"}}})
        assert no_bucket.status_code == 400, no_bucket.text
        assert "missing-bucket" in no_bucket.json()["error"]
        if not reads_format(service, "Avro"):  # 18.16 reads no Avro: refused at create, not failed later
            avro = client.post(pipes.path(), json=pipe_body(s3, "t", continuous=False, input_format="Avro"))
            assert avro.status_code == 400, avro.text
            assert "cannot read Avro" in avro.json()["error"]
    created = pipes.create(pipe_body(s3, "shot", continuous=False))
    pipes.wait_for(created["id"], "Completed")
    assert clickhouse(service, "SELECT count() FROM default.shot") == "20"
    refused = pipes.command(created["id"], "start")
    assert refused.status_code == 400, refused.text
    with server.client() as client:
        assert client.delete(pipes.path(f"/{created['id']}")).status_code == 200
        wait_until(lambda: client.get(pipes.path(f"/{created['id']}")).status_code == 404, what="the pipe to go")
