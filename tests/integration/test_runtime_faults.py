"""What breaks under a service, through a running `clickplane serve`: the ClickHouse binary missing or crashing at
start, a full disk, a port taken by another program, a pid file written over. Each ends in a clear state
(`failed` with the reason in the serve log, or `running` again), other services keep converging, and serve
keeps answering."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from clickplane.runtime import ports as runtime_ports
from clickplane.runtime.clickhouse.config import config_argument
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.clickhouse.setup import ClickHousePorts
from clickplane.runtime.ports import save_ports
from clickplane.runtime.process import search_server
from tests.integration.conftest import CLICKHOUSE, needs_clickhouse
from tests.integration.harness import ClickplaneServer, clickplane, free_port, wait_until
from tests.integration.test_lifecycle import clickhouse_pid, command, http_port, service_dir

pytestmark = needs_clickhouse

# Far above how long a start or a failure takes here (well under a second): a deadline, not an expectation.
DEADLINE_SECONDS = 30.0


def settled(server: ClickplaneServer, service_id: str) -> dict[str, object]:
    """The service once it is `failed` or `running`, whichever comes first."""
    def done() -> dict[str, object] | None:
        service = server.service(service_id)
        return service if service["state"] in ("failed", "running") else None

    return wait_until(done, DEADLINE_SECONDS, f"service {service_id} to be failed or running")  # type: ignore[no-any-return]


def assert_logged(server: ClickplaneServer, pattern: str) -> None:
    """The serve log says it (soon: the log is a file another process writes)."""
    wait_until(lambda: re.search(pattern, server.log()), DEADLINE_SECONDS, f"{pattern!r} in the serve log")


def still_serving(server: ClickplaneServer) -> None:
    assert httpx.get(f"{server.base_url}/v1", timeout=5).status_code == 200
    assert server.process is not None
    assert server.process.poll() is None


def deleted(server: ClickplaneServer, service_id: str) -> None:
    """Delete a service that runs nothing and wait until it is gone: the reconciler is still at work."""
    with server.client() as client:
        assert client.delete(server.org_path(f"/services/{service_id}")).status_code == 200
        wait_until(lambda: client.get(server.org_path(f"/services/{service_id}")).status_code == 404,
                   DEADLINE_SECONDS, f"service {service_id} to be deleted")


def crashing_binary(directory: Path) -> str:
    """A stand-in for ClickHouse that fails at start as a broken install or config makes it."""
    script = directory / "clickhouse-server"
    script.write_text("#!/bin/sh\necho 'simulated crash: cannot load config' >&2\nexit 1\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("binary", ["missing", "crashing"])
def test_a_binary_that_cannot_start_fails_each_service_with_the_reason(fresh_server: ClickplaneServer,
                                                                       binary: str) -> None:
    path = "/nonexistent" if binary == "missing" else crashing_binary(fresh_server.data_dir)
    reason = (r"cannot start ClickHouse \(/nonexistent\): \[Errno 2\]" if binary == "missing"
              else r"ClickHouse exited with status 1 before answering. End of its logs:\\x0asimulated crash")
    fresh_server.settings["CLICKPLANE_CLICKHOUSE_BINARY"] = path
    fresh_server.start()

    service_id = fresh_server.create_service(name="doomed")["service"]["id"]

    assert settled(fresh_server, service_id)["state"] == "failed"
    assert_logged(fresh_server, f"service {service_id} failed: {reason}")
    # Starting again fails again, as clearly; deleting works: nothing is stuck.
    assert command(fresh_server, service_id, "start").status_code == 200
    assert settled(fresh_server, service_id)["state"] == "failed"
    deleted(fresh_server, service_id)
    still_serving(fresh_server)


@pytest.fixture
def services_disk(fresh_server: ClickplaneServer) -> Iterator[Path]:
    """A small file system of its own (tmpfs) where the services' directories go; skipped where it cannot
    be mounted (not root, or no CAP_SYS_ADMIN in a container)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system to fill needs root")
    mount_point = fresh_server.data_dir / "services"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        # Nothing may hold the file system when it is unmounted: serve, then every server it started.
        fresh_server.stop()
        clickplane("stop-all", env=fresh_server.env)
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as file, pytest.raises(OSError, match="No space left on device"):
        write_forever(file)
    return filler


def write_forever(file: BinaryIO) -> None:
    while True:
        file.write(b"\0" * (1 << 16))


def test_a_full_disk_fails_a_start_with_the_reason_and_a_start_after_freeing_it_runs(
        fresh_server: ClickplaneServer, services_disk: Path) -> None:
    fresh_server.start()
    filler = fill(services_disk)

    service_id = fresh_server.create_service(name="no-room")["service"]["id"]

    assert settled(fresh_server, service_id)["state"] == "failed"
    assert_logged(fresh_server, f"service {service_id} failed: cannot set up service {service_id} in .*: "
                                r"\[Errno 28\] No space left on device")
    still_serving(fresh_server)
    filler.unlink()
    assert command(fresh_server, service_id, "start").status_code == 200
    fresh_server.wait_for_state(service_id, "running", DEADLINE_SECONDS)
    other = fresh_server.create_service(name="after")["service"]["id"]
    fresh_server.wait_for_state(other, "running", DEADLINE_SECONDS)


def test_a_port_taken_while_the_service_was_stopped_moves_it_to_a_free_one(server: ClickplaneServer) -> None:
    service_id = server.create_service(name="moved")["service"]["id"]
    taken = http_port(server.wait_for_state(service_id, "running"))
    command(server, service_id, "stop")
    server.wait_for_state(service_id, "stopped")

    with socket.create_server(("127.0.0.1", taken)):  # another program takes the service's port meanwhile
        command(server, service_id, "start")
        moved = http_port(server.wait_for_state(service_id, "running", DEADLINE_SECONDS))
        assert moved != taken
        assert_logged(server, f"service {service_id}: port {taken} can no longer be used")
        assert httpx.get(f"http://127.0.0.1:{moved}/ping", timeout=5).text == "Ok.\n"
    command(server, service_id, "stop")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalClickHouseRuntime]:
    assert CLICKHOUSE is not None
    local = LocalClickHouseRuntime(tmp_path / "data", CLICKHOUSE,
                                   internal_password=lambda service_id: f"internal-{service_id}")
    try:
        yield local
    finally:
        asyncio.run(local.stop_all())


def test_a_port_taken_between_its_choice_and_the_start_is_chosen_again(
        runtime: LocalClickHouseRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The moment between the runtime's check that a port is free and ClickHouse binding it cannot be hit on
    purpose from outside, so the check is made to miss the squatter once: as if it bound the port just after."""
    spec = ServiceSpec("svc-1", hashlib.sha256(b"pw").hexdigest(), ip_access_list=("127.0.0.1",))
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        squatted = squatter.getsockname()[1]
        recorded = runtime.data_dir / "services" / spec.service_id / "ports.json"
        recorded.parent.mkdir(parents=True)
        # As an earlier start left them.
        save_ports(recorded, ClickHousePorts(squatted, free_port(), free_port(), free_port()))
        really_free, missed = runtime_ports.port_is_free, []

        def racing(host: str, port: int) -> bool:
            if port != squatted or missed:
                return really_free(host, port)
            missed.append(port)
            return True

        monkeypatch.setattr(runtime_ports, "port_is_free", racing)
        observation = asyncio.run(runtime.ensure_running(spec))

    assert missed == [squatted]
    assert observation.running
    assert squatted not in {endpoint.port for endpoint in observation.endpoints}


def test_a_pid_file_written_over_neither_restarts_the_server_nor_touches_the_named_process(
        server: ClickplaneServer) -> None:
    service_id = server.create_service(name="tracked")["service"]["id"]
    server.wait_for_state(service_id, "running")
    pid, pid_file = clickhouse_pid(server, service_id), service_dir(server, service_id) / "clickhouse.pid"
    with subprocess.Popen(["sleep", "600"]) as bystander:
        try:
            for garbage in ("\x00not a pid\n", f"{bystander.pid}\n"):
                pid_file.write_text(garbage)
                wait_until(lambda: pid_file.read_text() == f"{pid}\n", DEADLINE_SECONDS, "the pid file repaired")
                assert server.service(service_id)["state"] == "running"
                assert bystander.poll() is None
            assert_logged(server, f"the pid file of service {service_id} did not name its running server, pid {pid}")
            # A server that died under a garbage pid file is restarted as any dead one is.
            os.kill(pid, signal.SIGKILL)
            pid_file.write_text("garbage\n")
            wait_until(lambda: pid_file.read_text().strip().isdigit() and clickhouse_pid(server, service_id)
                       != pid and server.service(service_id)["state"] == "running", DEADLINE_SECONDS,
                       "the dead server restarted")
            other = server.create_service(name="neighbour")["service"]["id"]
            server.wait_for_state(other, "running", DEADLINE_SECONDS)
            for done in (other, service_id):
                command(server, done, "stop")
                server.wait_for_state(done, "stopped")
            assert bystander.poll() is None
            assert search_server(config_argument(service_dir(server, service_id).resolve() / "config.xml")) is None
        finally:
            bystander.kill()
