"""Postgres CDC ClickPipes through the API, end to end on real servers: a clickplane Postgres service as the source,
a clickplane ClickHouse service as the destination. The snapshot, then inserts, updates and deletes arrive in the
ClickHouse table (`FINAL`, `_peerdb_is_deleted = 0`); stop pauses (changes wait in the slot), start resumes, an edit
needs a pause, resync rebuilds, and delete drops the slot."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.integration.test_postgres_services import ca_file, connect, create, port_of, wait_for_state

pytestmark = [pytest.mark.integration, needs_clickhouse]
TABLE = "orders"  # the mapped table, named literally in the SQL below


@pytest.fixture
def pipes_server(postgres_server: ClickplaneServer) -> Iterator[ClickplaneServer]:
    """The session's clickplane, its ClickHouse services (and so their pipes) deleted after the test."""
    yield postgres_server
    delete_services(postgres_server)


class Setup:
    """A running ClickHouse service and a running Postgres service holding the `orders` table."""

    def __init__(self, server: ClickplaneServer, directory: Path) -> None:
        self.server = server
        created = server.create_service(name="pipes")
        self.service = server.wait_for_state(created["service"]["id"], "running")
        self.password = created["password"]
        self.http = next(e["port"] for e in self.service["endpoints"] if e["protocol"] == "http")
        made = create(server, name="pipe source")
        self.postgres = wait_for_state(server, made["id"], "running")
        self.pg_password, self.pg_port = made["password"], port_of(made)
        self.ca = ca_file(server, made["id"], directory)

    def source(self) -> psycopg.Connection[Any]:
        connection = connect(self.postgres, self.pg_password, self.ca, self.pg_port)
        connection.autocommit = True
        return connection

    def clickhouse(self, sql: str) -> str:
        response = httpx.post(f"http://127.0.0.1:{self.http}/", params={"query": sql},
                              auth=("default", self.password), timeout=10)
        assert response.status_code == 200, response.text
        return response.text

    def pipes_path(self, suffix: str = "") -> str:
        return self.server.org_path(f"/services/{self.service['id']}/clickpipes{suffix}")

    def create_body(self, **settings: Any) -> dict[str, Any]:
        return {"name": "orders cdc", "destination": {"database": "default"}, "source": {"postgres": {
            "host": self.postgres["hostname"], "port": self.pg_port, "database": "postgres",
            "authentication": "basic", "credentials": {"username": "postgres", "password": self.pg_password},
            "caCertificate": self.ca.read_text(), "disableTls": False, "skipCertVerification": False,
            "settings": {"replicationMode": "cdc", "syncIntervalSeconds": 1, **settings},
            "tableMappings": [{"sourceSchemaName": "public", "sourceTable": TABLE, "targetTable": TABLE,
                               "tableEngine": "ReplacingMergeTree"}]}}}

    def pipe(self, pipe_id: str) -> dict[str, Any]:
        with self.server.client() as client:
            response = client.get(self.pipes_path(f"/{pipe_id}"))
        assert response.status_code == 200, response.text
        return response.json()["result"]  # type: ignore[no-any-return]

    def wait_for(self, pipe_id: str, *states: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.pipe(pipe_id)
            if found["state"] == "Failed" and "Failed" not in states:
                raise AssertionError(f"pipe failed: {found}; {self.server.log_tail()}")
            return found if found["state"] in states else None

        return wait_until(reached, what=f"pipe {pipe_id} to be {' or '.join(states)}")  # type: ignore[no-any-return]

    def destination_rows(self) -> list[tuple[str, ...]]:
        text = self.clickhouse("SELECT id, name, amount FROM default.orders FINAL WHERE _peerdb_is_deleted = 0 "
                               "ORDER BY id FORMAT TSV")
        return [tuple(line.split("\t")) for line in text.splitlines()]

    def source_rows(self) -> list[tuple[str, ...]]:
        with self.source() as connection:
            rows = connection.execute("SELECT id::text, name, amount::text FROM orders ORDER BY orders.id").fetchall()
        return [tuple(row) for row in rows]

    def until_in_step(self) -> None:
        try:
            wait_until(lambda: self.destination_rows() == self.source_rows(),
                       what="the destination to hold what the source does")
        except AssertionError as error:
            missing = sorted(set(self.source_rows()) ^ set(self.destination_rows()))[:10]
            raise AssertionError(f"{error}; rows in one but not the other: {missing}; source {self.source_rows()[:5]}, "
                                 f"destination {self.destination_rows()[:5]}; "
                                 f"{self.server.log_tail()}") from None


def test_a_postgres_pipe_copies_then_streams_pauses_resumes_resyncs_and_drops_its_slot(
        pipes_server: ClickplaneServer, tmp_path: Path) -> None:
    setup = Setup(pipes_server, tmp_path)
    with setup.source() as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(10,2), "
                           "at timestamptz DEFAULT now())")
        connection.execute("INSERT INTO orders (id, name, amount) SELECT n, 'order ' || n, n * 1.5 "
                           "FROM generate_series(1, 50) n")
    with pipes_server.client() as client:
        missing = client.post(setup.pipes_path(), json=setup.create_body() | {"source": {"postgres": {
            **setup.create_body()["source"]["postgres"], "tableMappings": [
                {"sourceSchemaName": "public", "sourceTable": "no_such_table", "targetTable": "x"}]}}})
        assert missing.status_code == 400, missing.text
        assert "no_such_table" in missing.json()["error"]
        kafka = client.post(setup.pipes_path(), json={"name": "k", "destination": {"database": "default"},
                                                      "source": {"kafka": {"brokers": "b:9092", "topics": "t",
                                                                           "format": "JSONEachRow"}}})
        assert kafka.status_code == 400, kafka.text
        assert "postgres and objectStorage" in kafka.json()["error"]
        created = client.post(setup.pipes_path(), json=setup.create_body())
        assert created.status_code == 200, created.text
        pipe = created.json()["result"]
        assert "credentials" not in pipe["source"]["postgres"]
        assert setup.pg_password not in created.text
        pipe_id = pipe["id"]
        setup.wait_for(pipe_id, "Running")
        setup.until_in_step()
        assert len(setup.destination_rows()) == 50
        streaming = setup.pipe(pipe_id)
        assert streaming["progress"]["rowsMoved"] == 50
        assert "stateReason" not in streaming  # nothing wrong, nothing waited on
        wait_until(lambda: setup.pipe(pipe_id)["progress"]["lagBytes"] is not None, what="the slot's lag to be seen")

        with setup.source() as connection:
            connection.execute("INSERT INTO orders (id, name, amount) VALUES (51, 'new', 9.99)")
            connection.execute("UPDATE orders SET name = 'changed', amount = 0.5 WHERE id = 7")
            connection.execute("DELETE FROM orders WHERE id IN (3, 4)")
            # A value big and random enough to be stored out of line (TOAST), which an update of another column
            # leaves out of the change: the destination's own copy fills it in.
            connection.execute("INSERT INTO orders (id, name, amount) SELECT 60, string_agg(md5(n::text || "
                               "random()::text), ''), 1 FROM generate_series(1, 300) n")
        setup.until_in_step()
        with setup.source() as connection:
            connection.execute("UPDATE orders SET amount = 2 WHERE id = 60")
            connection.execute("UPDATE orders SET id = 100 WHERE id = 1")  # a new key: the old row goes
        setup.until_in_step()

        running = client.patch(setup.pipes_path(f"/{pipe_id}/state"), json={"command": "start"})
        assert running.status_code == 400
        assert "ClickPipe is already running" in running.json()["error"]
        edit = {"source": {"postgres": {"settings": {"pullBatchSize": 500}}}}
        refused = client.patch(setup.pipes_path(f"/{pipe_id}"), json=edit)
        assert refused.status_code == 400
        assert "must be paused to edit" in refused.json()["error"]

        stopped = client.patch(setup.pipes_path(f"/{pipe_id}/state"), json={"command": "stop"})
        assert stopped.status_code == 200, stopped.text
        setup.wait_for(pipe_id, "Paused")
        with setup.source() as connection:
            connection.execute("UPDATE orders SET name = 'while paused' WHERE id = 10")
        edited = client.patch(setup.pipes_path(f"/{pipe_id}"), json=edit)
        assert edited.status_code == 200, edited.text
        setup.wait_for(pipe_id, "Running")  # an edit resumes the pipe, as the real API does
        setup.until_in_step()

        resync = client.patch(setup.pipes_path(f"/{pipe_id}/state"), json={"command": "resync"})
        assert resync.status_code == 200, resync.text
        wait_until(lambda: setup.pipe(pipe_id)["state"] == "Running"
                   and setup.clickhouse("EXISTS TABLE default.orders_resync").strip() == "0",
                   what="the resync to swap the tables in")
        setup.until_in_step()
        assert setup.clickhouse("SELECT count() FROM default.orders").strip() == str(len(setup.source_rows()))

        deleted = client.delete(setup.pipes_path(f"/{pipe_id}"))
        assert deleted.status_code == 200, deleted.text
        wait_until(lambda: client.get(setup.pipes_path(f"/{pipe_id}")).status_code == 404,
                   what="the pipe to be gone")
    with setup.source() as connection:
        slots = connection.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical'")
        assert slots.fetchall() == []
        publications = connection.execute("SELECT pubname FROM pg_publication").fetchall()
        assert publications == []
    assert setup.clickhouse("EXISTS TABLE default.orders").strip() == "1"  # the destination stays


def test_a_postgres_pipe_goes_on_from_where_it_was_after_its_source_and_its_destination_restart(
        pipes_server: ClickplaneServer, tmp_path: Path) -> None:
    setup = Setup(pipes_server, tmp_path)
    with setup.source() as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(10,2))")
        connection.execute("INSERT INTO orders SELECT n, 'order ' || n, n FROM generate_series(1, 20) n")
    with pipes_server.client() as client:
        created = client.post(setup.pipes_path(), json=setup.create_body())
        assert created.status_code == 200, created.text
        pipe_id = created.json()["result"]["id"]
        setup.wait_for(pipe_id, "Running")
        setup.until_in_step()

        restarted = client.patch(pipes_server.org_path(f"/postgres/{setup.postgres['id']}/state"),
                                 json={"command": "restart"})
        assert restarted.status_code == 200, restarted.text
        wait_for_state(pipes_server, setup.postgres["id"], "running")
        with setup.source() as connection:
            connection.execute("INSERT INTO orders SELECT n, 'after the source restarted', n "
                               "FROM generate_series(21, 30) n")
        setup.until_in_step()

        service_state = pipes_server.org_path(f"/services/{setup.service['id']}/state")
        assert client.patch(service_state, json={"command": "stop"}).status_code == 200
        pipes_server.wait_for_state(setup.service["id"], "stopped")
        with setup.source() as connection:  # kept in the slot while the destination is down
            connection.execute("UPDATE orders SET name = 'while ClickHouse was stopped' WHERE id <= 5")
            connection.execute("DELETE FROM orders WHERE id = 30")
        assert client.patch(service_state, json={"command": "start"}).status_code == 200
        pipes_server.wait_for_state(setup.service["id"], "running")
        setup.until_in_step()
        assert setup.clickhouse("SELECT count() = uniqExact(id) FROM default.orders FINAL").strip() == "1"
        assert setup.pipe(pipe_id)["state"] == "Running"
    delete_services(pipes_server)  # the service's pipes go with it, their slots dropped first
    with setup.source() as connection:
        assert connection.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'logical'"
                                  ).fetchall() == []
