"""The official clickhousectl CLI drives a real service's whole life against clickplane: create, stop,
start, wake, update, scale, reset-password and delete --force. Each effect is checked on the ClickHouse
process itself (its port, its data, its access list, its settings, its password), not only in the API."""

from __future__ import annotations

import http.client
import json
import select
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli
from tests.integration.test_lifecycle import accepts, http_port, port_open, refuses, service_dir, sql

pytestmark = [needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

# `delete --force` polls every 5 s with no overall timeout of its own; give it room, but not forever.
FORCE_DELETE_TIMEOUT = 180.0
CLI_POLL_SECONDS = 5.0

class LifecycleCli(Cli):
    """Cli that also runs commands expected to fail, remembers what it created, and cleans it up."""

    def __init__(self, server: ClickplaneServer, workdir: Path) -> None:
        super().__init__(server, workdir)
        self.server = server
        self.created: list[str] = []

    def attempt(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command whatever its exit code; the caller checks it."""
        return subprocess.run([*self.command, *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def create(self, name: str, *flags: str) -> tuple[dict[str, Any], str]:
        """`service create --json`, then wait (polling the API) for running; returns (service, password)."""
        created = self.json("service", "create", "--name", name, *flags)
        service_id = created["service"]["id"]
        self.created.append(service_id)
        assert created["service"]["state"] == "provisioning"
        assert created["password"]
        return self.server.wait_for_state(service_id, "running"), created["password"]

    def clean_up(self) -> None:
        """Stop and delete (through the API) whatever the test created and did not delete itself."""
        with self.server.client() as client:
            for service_id in self.created:
                path = self.server.org_path(f"/services/{service_id}")
                if client.get(path).status_code == 404:
                    continue
                if client.delete(path).status_code == 409:
                    client.patch(f"{path}/state", json={"command": "stop"})
                    self.server.wait_for_state(service_id, "stopped")
                    assert client.delete(path).status_code == 200
                wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                           what=f"service {service_id} to be deleted")


Runner = TypeVar("Runner", bound="LifecycleCli")


def running_cli(make: Callable[[ClickplaneServer, Path], Runner], server: ClickplaneServer, prefix: str
                ) -> Iterator[Runner]:
    """A CLI runner in an empty directory of its own, for a fixture: what it made is cleaned up, then the
    directory removed."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    runner = make(server, workdir)
    try:
        yield runner
    finally:
        try:
            runner.clean_up()
        finally:
            shutil.rmtree(workdir)


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[LifecycleCli]:
    yield from running_cli(LifecycleCli, server, "clickhousectl-")


def answer(port: int, password: str, query: str, source: str = "127.0.0.1") -> str:
    response = sql(port, password, query, source)
    assert response.status_code == 200, response.text
    return response.text.strip()


def api_status(server: ClickplaneServer, service_id: str) -> int:
    with server.client() as client:
        return client.get(server.org_path(f"/services/{service_id}")).status_code


def test_create_then_stop_closes_the_port_and_start_brings_the_data_back(server: ClickplaneServer,
                                                                          cli: LifecycleCli) -> None:
    created = cli.json("service", "create", "--name", "ctl-stop-start", "--ip-allow", "127.0.0.1=local tests")
    service_id, password = created["service"]["id"], created["password"]
    cli.created.append(service_id)
    assert created["service"]["ipAccessList"] == [{"source": "127.0.0.1", "description": "local tests"}]
    service = server.wait_for_state(service_id, "running")
    port = http_port(service)
    assert answer(port, password, "SELECT 1") == "1"
    assert refuses(port, password, "127.0.0.2")  # only the --ip-allow address gets in
    answer(port, password, "CREATE TABLE kept (n UInt32) ENGINE = MergeTree ORDER BY n")
    answer(port, password, "INSERT INTO kept SELECT number FROM system.numbers LIMIT 1000")

    stopping = cli.json("service", "stop", service_id)
    assert stopping["id"] == service_id
    assert stopping["state"] in ("stopping", "stopped")
    server.wait_for_state(service_id, "stopped")
    assert cli.json("service", "get", service_id)["state"] == "stopped"
    assert not port_open(port)
    assert "stopped" in cli.run("service", "get", service_id)

    assert cli.json("service", "start", service_id)["state"] == "starting"
    again = server.wait_for_state(service_id, "running")
    assert answer(http_port(again), password, "SELECT count() FROM kept") == "1000"


def test_wake_is_a_no_op_when_running_and_refused_when_stopped(server: ClickplaneServer, cli: LifecycleCli) -> None:
    service, password = cli.create("ctl-wake", "--ip-allow", "127.0.0.1")
    service_id, port = service["id"], http_port(service)

    woken = cli.attempt("service", "wake", service_id, "--json")
    assert woken.returncode == 0, woken.stderr
    assert json.loads(woken.stdout)["state"] == "running"
    assert accepts(port, password)
    assert "running" in cli.run("service", "wake", service_id)

    cli.run("service", "stop", service_id)
    server.wait_for_state(service_id, "stopped")
    refused = cli.attempt("service", "wake", service_id)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Error: CONFLICT:" in refused.stderr
    assert "start it instead" in refused.stderr
    refused_json = cli.attempt("service", "wake", service_id, "--json")
    assert refused_json.returncode == 1
    error = json.loads(refused_json.stderr)["error"]
    assert error["code"] == "http_4xx"
    assert error["message"].startswith("CONFLICT:")
    assert "Current state: 'stopped'" in error["message"]
    assert server.service(service_id)["state"] == "stopped"  # a refused wake changes nothing
    assert not port_open(port)


def test_update_renames_retags_and_moves_the_access_list_onto_clickhouse(server: ClickplaneServer,
                                                                         cli: LifecycleCli) -> None:
    service, password = cli.create("ctl-before", "--ip-allow", "127.0.0.1", "--tag", "env=dev", "--tag", "team=a")
    service_id, port = service["id"], http_port(service)
    assert service["tags"] == [{"key": "env", "value": "dev"}, {"key": "team", "value": "a"}]
    assert accepts(port, password, "127.0.0.1")

    renamed = cli.json("service", "update", service_id, "--new-name", "ctl-after")
    assert (renamed["id"], renamed["name"]) == (service_id, "ctl-after")
    assert server.service(service_id)["name"] == "ctl-after"
    assert service_id in [s["id"] for s in cli.json("service", "list") if s["name"] == "ctl-after"]

    networks = cli.run("service", "update", service_id, "--add-ip-allow", "127.0.0.2=second loopback",
                       "--remove-ip-allow", "127.0.0.1")
    assert "ctl-after updated" in networks
    assert server.service(service_id)["ipAccessList"] == [{"source": "127.0.0.2", "description": "second loopback"}]
    wait_until(lambda: refuses(port, password, "127.0.0.1"), what="ClickHouse to refuse 127.0.0.1")
    assert answer(port, password, "SELECT 1", source="127.0.0.2") == "1"

    release = f"prod-{uuid.uuid4().hex[:8]}"
    retagged = cli.json("service", "update", service_id, "--add-tag", f"env={release}", "--add-tag", "owner")
    assert retagged["tags"] == [{"key": "env", "value": release}, {"key": "team", "value": "a"},
                                {"key": "owner", "value": ""}]
    untagged = cli.json("service", "update", service_id, "--remove-tag", "team", "--remove-tag", "owner")
    assert untagged["tags"] == [{"key": "env", "value": release}]
    got = cli.json("service", "get", service_id)
    assert got["tags"] == [{"key": "env", "value": release}]
    assert got["ipAccessList"] == [{"source": "127.0.0.2", "description": "second loopback"}]


def test_scale_is_recorded_and_becomes_clickhouses_memory_limit(server: ClickplaneServer, cli: LifecycleCli) -> None:
    service, password = cli.create("ctl-scale", "--ip-allow", "127.0.0.1")
    service_id, port = service["id"], http_port(service)
    scaled = cli.json("service", "scale", service_id, "--min-replica-memory-gb", "16",
                      "--max-replica-memory-gb", "16", "--num-replicas", "2")
    assert (scaled["minReplicaMemoryGb"], scaled["maxReplicaMemoryGb"], scaled["numReplicas"]) == (16, 16, 2)

    got = cli.json("service", "get", service_id)
    assert (got["minReplicaMemoryGb"], got["maxReplicaMemoryGb"], got["numReplicas"]) == (16, 16, 2)
    assert got["currentScaling"]["effectiveMaxReplicaMemoryGb"] == 16
    assert got["currentScaling"]["effectiveMinReplicas"] == got["currentScaling"]["effectiveMaxReplicas"] == 2
    limit = str(16 << 30)
    wait_until(lambda: sql(port, password, "SELECT value FROM system.settings WHERE name = 'max_memory_usage'"
                           ).text.strip() == limit, what="ClickHouse to apply the 16 GiB memory limit")

    refused = cli.attempt("service", "scale", service_id, "--max-replica-memory-gb", "10")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "BAD_REQUEST" in refused.stderr
    assert cli.json("service", "get", service_id)["maxReplicaMemoryGb"] == 16


def test_reset_password_prints_one_that_works_and_retires_the_old(server: ClickplaneServer,
                                                                  cli: LifecycleCli) -> None:
    service, old = cli.create("ctl-password", "--ip-allow", "127.0.0.1")
    service_id, port = service["id"], http_port(service)
    assert accepts(port, old)

    printed = cli.run("service", "reset-password", service_id)
    lines = [line.strip() for line in printed.splitlines() if line.strip().startswith("New password:")]
    assert len(lines) == 1, printed
    new = lines[0].removeprefix("New password:").strip()
    assert new
    assert new != old
    wait_until(lambda: accepts(port, new) and refuses(port, old), what="the printed password to take over")

    newest = cli.json("service", "reset-password", service_id)["password"]
    assert newest not in (old, new)
    wait_until(lambda: accepts(port, newest) and refuses(port, new), what="the --json password to take over")


def test_delete_force_stops_a_running_service_then_deletes_it(server: ClickplaneServer, cli: LifecycleCli) -> None:
    service, password = cli.create("ctl-doomed", "--ip-allow", "127.0.0.1")
    service_id, port = service["id"], http_port(service)
    directory = service_dir(server, service_id)
    assert accepts(port, password)
    assert directory.exists()

    refused = cli.attempt("service", "delete", service_id)  # without --force: the API's 409, and a hint
    assert refused.returncode == 1
    assert "CONFLICT:" in refused.stderr
    assert "--force" in refused.stderr
    assert server.service(service_id)["state"] == "running"

    deleted = cli.attempt("service", "delete", service_id, "--force", "--json", timeout=FORCE_DELETE_TIMEOUT)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert f"Stopping service {service_id}" in deleted.stderr
    assert json.loads(deleted.stdout)["status"] == 200

    wait_until(lambda: api_status(server, service_id) == 404, what="the deleted service to answer 404")
    wait_until(lambda: not directory.exists(), what="the service's directory to be removed")
    assert not port_open(port)
    with pytest.raises(httpx.TransportError):
        sql(port, password, "SELECT 1")
    gone = cli.attempt("service", "get", service_id)
    assert gone.returncode == 1
    assert "NOT_FOUND" in gone.stderr
    assert service_id not in [s["id"] for s in cli.json("service", "list")]


def test_service_list_filters_by_tag(server: ClickplaneServer, cli: LifecycleCli) -> None:
    run = uuid.uuid4().hex[:8]
    tagged = cli.json("service", "create", "--name", "ctl-tagged", "--ip-allow", "127.0.0.1", "--tag", f"run={run}")
    other = cli.json("service", "create", "--name", "ctl-untagged", "--ip-allow", "127.0.0.1")
    cli.created += [tagged["service"]["id"], other["service"]["id"]]
    listed = [s["id"] for s in cli.json("service", "list", "--filter", f"tag:run={run}")]
    assert listed == [tagged["service"]["id"]]


def test_an_idle_api_connection_outlives_the_clis_poll_interval(server: ClickplaneServer) -> None:
    """What `delete --force` needs: a keep-alive connection left idle for the CLI's poll interval (5 s),
    with a margin, is still open and still answers (uvicorn's default keep-alive closed it at 5 s)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/v1")
        assert connection.getresponse().read()
        sock = connection.sock
        assert isinstance(sock, socket.socket)
        deadline = time.monotonic() + 2 * CLI_POLL_SECONDS
        closed_after: float | None = None
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], left)  # wakes when the server closes it
            if readable:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    closed_after = 2 * CLI_POLL_SECONDS - (deadline - time.monotonic())
                break
        assert closed_after is None, f"the server closed an idle connection after {closed_after:.1f} s"
        connection.request("GET", "/v1")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
