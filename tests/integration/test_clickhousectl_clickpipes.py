"""The official clickhousectl CLI drives ClickPipes against clickplane, through its HTTP API, and each effect is
checked on the real servers: rows in the ClickHouse service (its HTTP port), the replication slot on the clickplane
Postgres service (psycopg over verified TLS), and what the store keeps (the API).

Covered, each with its exit code:
- `create postgres` (`--table-mapping`, `--sync-interval-seconds`, `--ca-certificate` from `postgres certs get
  --output`), `list`, `get` (by id and `--name`), `stop`, `start` (and refused while running), `update --file`
  (while paused), `resync`, `scale` (refused on a Postgres pipe), `settings get` (refused by the CLI on a CDC pipe),
  `delete`;
- `create object-storage --continuous` over a moto bucket with access-key auth, `settings get` / `settings update`,
  `scale`, `stop`, `start`, `resync` (refused), `delete`;
- `cdc-scaling get` / `update` (and refused off the 4 GiB per CPU ratio), `context get`, `reverse-private-endpoint
  create` / `list` / `get` / `update` (and `--clear-custom-private-dns-mappings`) / `delete`, `schema-discover
  kafka` and `create kafka` (both refused: clickplane has no Kafka worker).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_clickpipes_object_storage import Pipes, clickhouse, csv_rows
from tests.integration.test_clickpipes_postgres import Setup
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.integration.test_postgres_services import needs_postgres
from tests.s3 import DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_KEY, create_bucket, moto_server, put_objects

pytestmark = [pytest.mark.integration, needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]


class PipesCli(LifecycleCli):
    """LifecycleCli for `cloud clickpipe`: services are made and deleted by the fixtures, not by the CLI."""

    def refused(self, *args: str) -> str:
        """Run a command that must fail; return what it said (stderr and stdout)."""
        done: subprocess.CompletedProcess[str] = self.attempt(*args)
        assert done.returncode != 0, f"clickhousectl {' '.join(args)} succeeded: {done.stdout}"
        return done.stderr + done.stdout

    def clean_up(self) -> None:
        """Nothing: the fixtures delete the services, and the pipes and endpoints with them."""


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[PipesCli]:
    yield from running_cli(PipesCli, server, "clickhousectl-clickpipes-")


@pytest.fixture
def cdc_server(postgres_server: ClickplaneServer) -> Iterator[ClickplaneServer]:
    """The session's clickplane; its ClickHouse services deleted after the test, then (postgres_server) its Postgres
    services."""
    yield postgres_server
    delete_services(postgres_server)


@pytest.fixture
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    """A running ClickHouse service with its password, deleted (with its pipes) after the test."""
    created = server.create_service(name="ctl pipes")
    running = server.wait_for_state(created["service"]["id"], "running")
    try:
        yield running | {"password": created["password"]}
    finally:
        delete_services(server)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory for the test's own files (the source's CA for psycopg), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="clickhousectl-clickpipes-scratch-") as directory:
        yield Path(directory)


@pytest.fixture
def s3() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def pipe_gone(cli: PipesCli, service_id: str, pipe_id: str) -> bool:
    """Whether `get` no longer finds the pipe (a deleted pipe is shown Stopping until its source is cleaned)."""
    done = cli.attempt("clickpipe", "get", service_id, pipe_id)
    return done.returncode != 0 and f"ClickPipe {pipe_id} does not exist" in done.stderr


@needs_postgres
def test_a_postgres_pipe_made_by_the_cli_streams_pauses_resumes_resyncs_and_drops_its_slot(
        cdc_server: ClickplaneServer, cli: PipesCli, scratch: Path) -> None:
    setup = Setup(cdc_server, scratch)
    service_id, postgres_id = setup.service["id"], setup.postgres["id"]
    with setup.source() as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(10,2))")
        connection.execute("INSERT INTO orders (id, name, amount) SELECT n, 'order ' || n, n * 1.5 "
                           "FROM generate_series(1, 40) n")
    assert "Wrote CA certificate" in cli.run("postgres", "certs", "get", postgres_id, "--output", "ca.pem")

    created = cli.json("clickpipe", "create", "postgres", service_id, "--name", "orders-cdc",
                       "--host", setup.postgres["hostname"], "--port", str(setup.pg_port),
                       "--pg-database", "postgres", "--username", "postgres", "--password", setup.pg_password,
                       "--ca-certificate", "ca.pem", "--table-mapping", "public.orders:orders",
                       "--sync-interval-seconds", "1")
    pipe_id = created["id"]
    assert created["name"] == "orders-cdc"
    assert "credentials" not in created["source"]["postgres"]
    assert setup.pg_password not in json.dumps(created)
    [mapping] = created["source"]["postgres"]["tableMappings"]
    assert (mapping["sourceSchemaName"], mapping["sourceTable"], mapping["targetTable"]) == ("public", "orders",
                                                                                          "orders")

    assert [item["id"] for item in cli.json("clickpipe", "list", service_id)] == [pipe_id]
    assert pipe_id in cli.run("clickpipe", "list", service_id)
    assert cli.json("clickpipe", "get", service_id, pipe_id)["name"] == "orders-cdc"
    assert cli.json("clickpipe", "get", service_id, "--name", "orders-cdc")["id"] == pipe_id
    assert "orders-cdc" in cli.run("clickpipe", "get", service_id, pipe_id)

    setup.wait_for(pipe_id, "Running")
    setup.until_in_step()
    assert len(setup.destination_rows()) == 40
    with setup.source() as connection:
        connection.execute("INSERT INTO orders (id, name, amount) VALUES (41, 'new', 9.99)")
        connection.execute("UPDATE orders SET name = 'changed', amount = 0.5 WHERE id = 7")
        connection.execute("DELETE FROM orders WHERE id IN (3, 4)")
    setup.until_in_step()
    assert ("7", "changed", "0.50") in setup.destination_rows()
    assert "3" not in [row[0] for row in setup.destination_rows()]

    # A Postgres pipe runs on the service's CDC compute (the server refuses `scale`) and has no ingestion settings
    # (the CLI refuses `settings get` from the pipe's GET, before asking for them).
    assert "clickpipesCdcScaling" in cli.refused("clickpipe", "scale", service_id, pipe_id, "--replicas", "2")
    assert "is a Postgres CDC pipe" in cli.refused("clickpipe", "settings", "get", service_id, pipe_id)

    assert "returned state: Pausing" in cli.run("clickpipe", "stop", service_id, pipe_id)
    wait_until(lambda: cli.json("clickpipe", "get", service_id, pipe_id)["state"] == "Paused",
               what="the pipe to be Paused")
    with setup.source() as connection:
        connection.execute("UPDATE orders SET name = 'while paused' WHERE id = 10")
    edit = cli.workdir / "edit.json"
    edit.write_text(json.dumps({"source": {"postgres": {"settings": {"pullBatchSize": 500}}}}))
    edited = cli.json("clickpipe", "update", service_id, pipe_id, "--file", edit.name)
    assert edited["source"]["postgres"]["settings"]["pullBatchSize"] == 500
    setup.wait_for(pipe_id, "Running")  # an edit resumes the pipe
    setup.until_in_step()

    assert cli.json("clickpipe", "stop", service_id, pipe_id)["state"] in ("Pausing", "Paused")
    setup.wait_for(pipe_id, "Paused")
    with setup.source() as connection:
        connection.execute("UPDATE orders SET name = 'paused again' WHERE id = 11")
    started = cli.json("clickpipe", "start", service_id, pipe_id)
    assert started["state"] not in ("Paused", "Pausing")
    wait_until(lambda: cli.json("clickpipe", "get", service_id, pipe_id)["state"] == "Running",
               what="the pipe to be Running again")
    setup.until_in_step()
    assert "ClickPipe is already running" in cli.refused("clickpipe", "start", service_id, pipe_id)

    resync = cli.json("clickpipe", "resync", service_id, pipe_id)
    assert resync["state"] == "Resync"
    wait_until(lambda: setup.pipe(pipe_id)["state"] == "Running"
               and setup.clickhouse("EXISTS TABLE default.orders_resync").strip() == "0",
               what="the resync to swap the tables in")
    setup.until_in_step()
    assert setup.clickhouse("SELECT count() FROM default.orders").strip() == str(len(setup.source_rows()))

    assert cli.json("clickpipe", "delete", service_id, pipe_id) == {"deleted": pipe_id}
    wait_until(lambda: pipe_gone(cli, service_id, pipe_id), what="the pipe to be gone")
    assert cli.json("clickpipe", "list", service_id) == []
    assert "No ClickPipes found" in cli.run("clickpipe", "list", service_id)
    with setup.source() as connection:
        slots = connection.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical'")
        assert slots.fetchall() == []
        assert connection.execute("SELECT pubname FROM pg_publication").fetchall() == []
    assert setup.clickhouse("EXISTS TABLE default.orders").strip() == "1"  # the destination stays


def test_a_continuous_object_storage_pipe_made_by_the_cli_loads_each_file_once(
        server: ClickplaneServer, service: dict[str, Any], s3: str, cli: PipesCli) -> None:
    service_id = service["id"]
    create_bucket(s3, "events", {"data/001.csv": csv_rows(1, 100),
                                 "data/002.csv.gz": gzip.compress(csv_rows(101, 50)),
                                 "other/skipped.csv": csv_rows(900, 5)})
    created = cli.json("clickpipe", "create", "object-storage", service_id, "--name", "events-load",
                       "--source-url", f"{s3}/events/data/*", "--format", "CSV", "--continuous",
                       "--access-key-id", DUMMY_ACCESS_KEY_ID, "--secret-key", DUMMY_SECRET_KEY,
                       "--database", "default", "--table", "events", "--column", "id:UInt32",
                       "--column", "label:String", "--object-storage-polling-interval-ms", "200")
    pipe_id = created["id"]
    assert created["source"]["objectStorage"]["isContinuous"] is True
    assert DUMMY_SECRET_KEY not in json.dumps(created)
    assert cli.json("clickpipe", "get", service_id, "--name", "events-load")["id"] == pipe_id
    pipes = Pipes(server, service)
    pipes.wait_for(pipe_id, "Running")
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "150",
               what="the files present to be loaded")

    put_objects(s3, "events", {"data/003.csv": b"not a number,x\n", "data/004.csv": csv_rows(151, 25)})
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "175",
               what="the file added after the malformed one to be loaded")
    errors = clickhouse(service, "SELECT file, error FROM default.events_clickpipes_error FORMAT TSV")
    assert errors.count("\n") == 0, errors  # one malformed file, one row
    assert "data/003.csv" in errors
    assert clickhouse(service, "SELECT count(), uniqExact(id), min(id), max(id) FROM default.events FORMAT TSV") \
        == "175\t175\t1\t175"
    assert cli.json("clickpipe", "get", service_id, pipe_id)["state"] == "Running"

    settings = cli.json("clickpipe", "settings", "get", service_id, pipe_id)
    assert settings["object_storage_polling_interval_ms"] == 200
    updated = cli.json("clickpipe", "settings", "update", service_id, pipe_id,
                       "--object-storage-polling-interval-ms", "300", "--object-storage-max-file-count", "5")
    assert (updated["object_storage_polling_interval_ms"], updated["object_storage_max_file_count"]) == (300, 5)
    again = cli.json("clickpipe", "settings", "get", service_id, pipe_id)
    assert (again["object_storage_polling_interval_ms"], again["object_storage_max_file_count"]) == (300, 5)
    assert pipes.get(pipe_id)["settings"]["object_storage_polling_interval_ms"] == 300
    assert "object_storage_polling_interval_ms: 300" in cli.run("clickpipe", "settings", "get", service_id, pipe_id)
    put_objects(s3, "events", {"data/005.csv": csv_rows(176, 5)})  # the pipe goes on with its new settings
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "180",
               what="a file added after the settings changed to be loaded")

    scaled = cli.json("clickpipe", "scale", service_id, pipe_id, "--replicas", "2", "--cpu-millicores", "500",
                      "--memory-gb", "2")
    assert scaled["scaling"] == {"replicas": 2, "replicaCpuMillicores": 500, "replicaMemoryGb": 2.0}
    shown = cli.run("clickpipe", "scale", service_id, pipe_id, "--replicas", "3")
    assert all(line in shown for line in ("Replicas: 3", "CPU: 500m", "Memory: 2 GB")), shown
    stored = pipes.get(pipe_id)["scaling"]
    assert (stored["replicas"], stored["replicaCpuMillicores"], stored["replicaMemoryGb"]) == (3, 500, 2.0)

    assert "returned state: Stopping" in cli.run("clickpipe", "stop", service_id, pipe_id)
    pipes.wait_for(pipe_id, "Stopped")
    put_objects(s3, "events", {"data/006.csv": csv_rows(181, 5)})
    cli.json("clickpipe", "start", service_id, pipe_id)
    wait_until(lambda: clickhouse(service, "SELECT count() FROM default.events") == "185",
               what="the file added while stopped to be loaded after the start")
    assert "resync is for database ClickPipes" in cli.refused("clickpipe", "resync", service_id, pipe_id)
    assert clickhouse(service, "SELECT count(), uniqExact(id) FROM default.events FORMAT TSV") == "185\t185"

    assert cli.json("clickpipe", "delete", service_id, pipe_id) == {"deleted": pipe_id}
    wait_until(lambda: pipe_gone(cli, service_id, pipe_id), what="the pipe to be gone")


def test_cdc_scaling_context_reverse_private_endpoints_and_the_refused_kafka(
        server: ClickplaneServer, service: dict[str, Any], cli: PipesCli) -> None:
    service_id = service["id"]
    assert cli.json("clickpipe", "cdc-scaling", "get", service_id) == {"replicaCpuMillicores": 2000,
                                                                       "replicaMemoryGb": 8.0}
    assert cli.json("clickpipe", "cdc-scaling", "update", service_id, "--cpu-millicores", "4000",
                    "--memory-gb", "16") == {"replicaCpuMillicores": 4000, "replicaMemoryGb": 16.0}
    assert "4 GiB per CPU" in cli.refused("clickpipe", "cdc-scaling", "update", service_id, "--memory-gb", "4")
    assert cli.json("clickpipe", "cdc-scaling", "get", service_id) == {"replicaCpuMillicores": 4000,
                                                                       "replicaMemoryGb": 16.0}
    with server.client() as client:
        stored = client.get(server.org_path(f"/services/{service_id}/clickpipesCdcScaling")).json()["result"]
    assert stored == {"replicaCpuMillicores": 4000, "replicaMemoryGb": 16.0}
    assert "replicaCpuMillicores: 4000" in cli.run("clickpipe", "cdc-scaling", "get", service_id)

    context = cli.json("clickpipe", "context", "get", service_id)
    assert context["gcpWorkloadIdentity"]["supported"] is False
    assert cli.run("clickpipe", "context", "get", service_id)

    rpe = ("clickpipe", "reverse-private-endpoint")
    created = cli.json(*rpe, "create", service_id, "--type", "VPC_ENDPOINT_SERVICE", "--description", "to the db",
                       "--vpc-endpoint-service-name", "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0",
                       "--custom-private-dns-mapping", "db.internal.example.com")
    endpoint_id = created["id"]
    assert (created["type"], created["description"], created["status"]) == ("VPC_ENDPOINT_SERVICE", "to the db",
                                                                            "Failed")
    assert [m["privateDnsName"] for m in created["customPrivateDnsMappings"]] == ["db.internal.example.com"]
    assert [item["id"] for item in cli.json(*rpe, "list", service_id)] == [endpoint_id]
    assert endpoint_id in cli.run(*rpe, "list", service_id)
    got = cli.json(*rpe, "get", service_id, endpoint_id)
    assert got["vpcEndpointServiceName"] == "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"
    assert endpoint_id in cli.run(*rpe, "get", service_id, endpoint_id)
    assert "--gcp-service-attachment applies to --type GCP_PSC_SERVICE_ATTACHMENT" in cli.refused(
        *rpe, "create", service_id, "--type", "VPC_ENDPOINT_SERVICE", "--description", "x",
        "--gcp-service-attachment", "projects/p/regions/r/serviceAttachments/a")

    updated = cli.json(*rpe, "update", service_id, endpoint_id, "--custom-private-dns-mapping", "a.example.com",
                       "--custom-private-dns-mapping", "*.b.example.com")
    assert [m["privateDnsName"] for m in updated["customPrivateDnsMappings"]] == ["a.example.com", "*.b.example.com"]
    with server.client() as client:
        path = server.org_path(f"/services/{service_id}/clickpipesReversePrivateEndpoints/{endpoint_id}")
        assert [m["privateDnsName"] for m in client.get(path).json()["result"]["customPrivateDnsMappings"]] == [
            "a.example.com", "*.b.example.com"]
    cleared = cli.json(*rpe, "update", service_id, endpoint_id, "--clear-custom-private-dns-mappings")
    assert cleared["customPrivateDnsMappings"] == []
    assert cli.json(*rpe, "delete", service_id, endpoint_id) == {"deleted": endpoint_id}
    assert cli.json(*rpe, "list", service_id) == []
    with server.client() as client:
        assert client.get(path).status_code == 404

    discovery = cli.refused("clickpipe", "schema-discover", "kafka", service_id, "--brokers", "broker:9092",
                            "--topics", "events", "--format", "JSONEachRow")
    assert "no Kafka, Kinesis or Pub/Sub worker" in discovery
    kafka = cli.refused("clickpipe", "create", "kafka", service_id, "--name", "from-kafka", "--brokers",
                        "broker:9092", "--topics", "events", "--format", "JSONEachRow", "--database", "default",
                        "--table", "from_kafka", "--column", "id:UInt32")
    assert "postgres and objectStorage" in kafka
    assert cli.json("clickpipe", "list", service_id) == []
