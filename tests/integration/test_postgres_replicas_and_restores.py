"""Read replicas, promotion, backups and point-in-time restores of Postgres services, through the API, on real
PostgreSQL servers: a replica shows the primary's rows, a restore to a moment between two writes holds the first
and not the second."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_postgres_services import (
    ca_file,
    connect,
    create,
    get,
    is_postmaster_of,
    needs_postgres,
    port_of,
    wait_for_state,
)

pytestmark = [pytest.mark.integration, needs_postgres]


def rows(found: dict[str, Any], password: str, ca: Path) -> list[str]:
    with connect(found, password, ca, found["port"]) as connection:
        return [row[0] for row in connection.execute("SELECT note FROM notes ORDER BY note").fetchall()]


def completed_backups(server: ClickplaneServer, postgres_id: str) -> list[dict[str, Any]]:
    with server.client() as client:
        response = client.get(server.org_path(f"/postgres/{postgres_id}/backups"))
    assert response.status_code == 200, response.text
    return [backup for backup in response.json()["result"] if backup["status"] == "completed"]


def test_a_restore_to_a_moment_between_two_writes_holds_the_first_only(postgres_server: ClickplaneServer,
                                                                      tmp_path: Path) -> None:
    server = postgres_server
    created = create(server)
    password = created["password"]
    source = wait_for_state(server, created["id"], "running")
    wait_until(lambda: completed_backups(server, created["id"]), what="the first base backup")
    ca = ca_file(server, created["id"], tmp_path)
    with connect(source, password, ca, port_of(created)) as connection:
        connection.execute("CREATE TABLE notes (note text)")
        connection.execute("INSERT INTO notes VALUES ('first')")
        time.sleep(1.1)  # the target must fall strictly between the two commits' timestamps
        target = datetime.now(UTC)
        time.sleep(1.1)
        connection.execute("INSERT INTO notes VALUES ('second')")
        connection.execute("SELECT pg_switch_wal()")  # archive the WAL holding both now, not in a minute
    assert get(server, created["id"])["earliestRestoreTime"] <= target.strftime("%Y-%m-%dT%H:%M:%SZ")

    with server.client() as client:
        path = server.org_path(f"/postgres/{created['id']}/restoredService")
        too_early = client.post(path, json={"name": "too early", "restoreTarget": "2001-01-01T00:00:00Z"})
        assert too_early.status_code == 400
        assert "outside what the backups" in too_early.json()["error"]

        def restored_once_archived() -> dict[str, Any] | None:
            response = client.post(path, json={"name": "restored", "restoreTarget": target.isoformat()})
            if response.status_code == 400 and "outside" in response.text:
                return None  # the WAL past the target is not archived yet
            assert response.status_code == 200, response.text
            return response.json()["result"]  # type: ignore[no-any-return]

        restored = wait_until(restored_once_archived, what="the WAL past the target to be archived")
    assert restored["state"] in ("creating", "restoring_backup")
    assert "password" not in restored  # it keeps the source's
    running = wait_for_state(server, restored["id"], "running")
    assert rows(running, password, ca_file(server, restored["id"], tmp_path)) == ["first"]
    assert rows(source, password, ca) == ["first", "second"]


def test_a_replica_follows_its_primary_until_promoted(postgres_server: ClickplaneServer, tmp_path: Path) -> None:
    server = postgres_server
    created = create(server)
    password = created["password"]
    primary = wait_for_state(server, created["id"], "running")
    primary_ca = ca_file(server, created["id"], tmp_path)
    with connect(primary, password, primary_ca, primary["port"]) as connection:
        connection.execute("CREATE TABLE notes (note text)")
        connection.execute("INSERT INTO notes VALUES ('before')")

    with server.client() as client:
        made = client.post(server.org_path(f"/postgres/{created['id']}/readReplica"), json={"name": "reader"})
        assert made.status_code == 200, made.text
        replica_id = made.json()["result"]["id"]
        assert made.json()["result"]["isPrimary"] is False
        replica = wait_for_state(server, replica_id, "running")
        replica_ca = ca_file(server, replica_id, tmp_path)
        assert rows(replica, password, replica_ca) == ["before"]

        with connect(primary, password, primary_ca, primary["port"]) as connection:
            connection.execute("INSERT INTO notes VALUES ('after')")
        wait_until(lambda: rows(replica, password, replica_ca) == ["after", "before"], what="the replica to replay")
        with connect(replica, password, replica_ca, replica["port"]) as connection, \
                pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            connection.execute("INSERT INTO notes VALUES ('refused')")

        held = client.delete(server.org_path(f"/postgres/{created['id']}"))
        assert held.status_code == 409
        assert replica_id in held.json()["error"]
        of_a_replica = client.post(server.org_path(f"/postgres/{replica_id}/readReplica"), json={"name": "chain"})
        assert of_a_replica.status_code == 400
        assert "itself a read replica" in of_a_replica.json()["error"]
        resized = client.patch(server.org_path(f"/postgres/{replica_id}"), json={"size": "r6gd.large"})
        assert resized.status_code == 400
        assert "cannot be modified directly" in resized.json()["error"]

        promoted = client.patch(server.org_path(f"/postgres/{replica_id}/state"), json={"command": "promote"})
        assert promoted.status_code == 200, promoted.text
        wait_until(lambda: get(server, replica_id)["isPrimary"], what="the replica to be promoted")
    with connect(replica, password, replica_ca, replica["port"]) as connection:
        connection.execute("INSERT INTO notes VALUES ('own')")
    assert rows(replica, password, replica_ca) == ["after", "before", "own"]


def _server_facts(found: dict[str, Any], password: str, ca: Path) -> tuple[Any, ...]:
    """The server's start time, and which database it serves (a switchover keeps the one, a restart the other)."""
    with connect(found, password, ca, found["port"]) as connection:
        row = connection.execute("SELECT pg_postmaster_start_time(), system_identifier FROM pg_control_system()"
                                 ).fetchone()
    assert row is not None
    return tuple(row)


def test_a_switchover_moves_a_primary_onto_a_new_server_at_its_address_and_its_replica_follows(
        postgres_server: ClickplaneServer, tmp_path: Path) -> None:
    server = postgres_server
    created = create(server)
    password = created["password"]
    primary = wait_for_state(server, created["id"], "running")
    primary_ca = ca_file(server, created["id"], tmp_path)
    with connect(primary, password, primary_ca, primary["port"]) as connection:
        connection.execute("CREATE TABLE notes (note text)")
        connection.execute("INSERT INTO notes VALUES ('before')")
    started, identity = _server_facts(primary, password, primary_ca)
    cluster = server.data_dir / "postgres" / created["id"] / "cluster"
    old_cluster = cluster.stat().st_ino

    with server.client() as client:
        made = client.post(server.org_path(f"/postgres/{created['id']}/readReplica"), json={"name": "reader"})
        assert made.status_code == 200, made.text
        replica_id = made.json()["result"]["id"]
        replica = wait_for_state(server, replica_id, "running")
        refused = client.patch(server.org_path(f"/postgres/{replica_id}/state"), json={"command": "switchover"})
        assert refused.status_code == 400
        assert "promote it instead" in refused.json()["error"]

        switched = client.patch(server.org_path(f"/postgres/{created['id']}/state"), json={"command": "switchover"})
        assert switched.status_code == 200, switched.text
        assert switched.json()["result"]["state"] == "restarting"
        again = client.patch(server.org_path(f"/postgres/{created['id']}/state"), json={"command": "switchover"})
        assert again.status_code == 409  # one at a time: the service is not running meanwhile
        assert "only while it is running" in again.json()["error"]
    moved = wait_for_state(server, created["id"], "running")

    assert (moved["hostname"], moved["port"]) == (primary["hostname"], primary["port"])
    assert moved["isPrimary"] is True
    assert cluster.stat().st_ino != old_cluster  # a new server's cluster, not the old one restarted
    now_started, now_identity = _server_facts(moved, password, primary_ca)
    assert now_started > started
    assert now_identity == identity
    with connect(moved, password, primary_ca, moved["port"]) as connection:
        connection.execute("INSERT INTO notes VALUES ('after')")
    assert rows(moved, password, primary_ca) == ["after", "before"]
    replica_ca = ca_file(server, replica_id, tmp_path)
    wait_until(lambda: rows(replica, password, replica_ca) == ["after", "before"],
               what="the replica to replay the new server's write")


def test_a_switchover_interrupted_by_a_killed_serve_converges(fresh_server: ClickplaneServer, tmp_path: Path) -> None:
    server = fresh_server
    server.start()
    created = create(server)
    running = wait_for_state(server, created["id"], "running")
    ca = ca_file(server, created["id"], tmp_path)
    with connect(running, created["password"], ca, running["port"]) as connection:
        connection.execute("CREATE TABLE notes (note text)")
        connection.execute("INSERT INTO notes VALUES ('kept')")
    successor = server.data_dir / "postgres" / created["id"] / "successor"
    with server.client() as client:
        switched = client.patch(server.org_path(f"/postgres/{created['id']}/state"), json={"command": "switchover"})
        assert switched.status_code == 200, switched.text
    wait_until(successor.exists, what="the switchover to begin making its new server")
    server.stop(signal.SIGKILL)  # mid-switchover: its new server being copied or started
    server.start()

    moved = wait_for_state(server, created["id"], "running")
    assert rows(moved, created["password"], ca) == ["kept"]
    assert not successor.exists()
    # The new serve found the interrupted switchover's new server (removed, or moved in if it was taking over).
    assert "switchover is removed" in server.log() or "its successor took over" in server.log()
    servers = [pid for pid in os.listdir("/proc") if pid.isdigit() and is_postmaster_of(pid, created["id"])]
    assert len(servers) == 1, servers  # the interrupted switchover's new server was stopped, not left running
    with server.client() as client:
        assert client.delete(server.org_path(f"/postgres/{created['id']}")).status_code == 200
        wait_until(lambda: client.get(server.org_path(f"/postgres/{created['id']}")).status_code == 404,
                   what="the deleted service to be gone")
