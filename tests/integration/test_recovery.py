"""The control plane restarts, crashes and idles; services end where they were asked to be."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_lifecycle import clickhouse_pid, command, http_port, service_dir, sql

pytestmark = needs_clickhouse


def alive(pid: int) -> bool:
    """Whether the process runs: an exited one that init has not reaped yet (a zombie) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # the state follows the command name in parentheses


def clickhouse_processes_of(server: ClickplaneServer) -> list[str]:
    found = subprocess.run(["pgrep", "-af", str(server.data_dir)], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "clickhouse" in line and "config" in line]


def test_restarting_the_control_plane_adopts_running_services(fresh_server: ClickplaneServer) -> None:
    fresh_server.start()
    service_id = fresh_server.create_service(name="adopted")["service"]["id"]
    fresh_server.wait_for_state(service_id, "running")
    pid = clickhouse_pid(fresh_server, service_id)
    fresh_server.stop()
    assert alive(pid)  # services outlive clickplane serve
    fresh_server.start()
    assert fresh_server.wait_for_state(service_id, "running")
    assert clickhouse_pid(fresh_server, service_id) == pid


def test_a_killed_control_plane_converges_every_service_on_restart(fresh_server: ClickplaneServer) -> None:
    fresh_server.start()
    to_stop, to_delete, untouched = (fresh_server.create_service(name=n)["service"]["id"]
                                     for n in ("to-stop", "to-delete", "untouched"))
    kept = fresh_server.wait_for_state(to_stop, "running")
    fresh_server.wait_for_state(to_delete, "running")
    fresh_server.wait_for_state(untouched, "running")
    untouched_pid = clickhouse_pid(fresh_server, untouched)
    command(fresh_server, to_delete, "stop")
    fresh_server.wait_for_state(to_delete, "stopped")
    kept_pid = clickhouse_pid(fresh_server, to_stop)

    with fresh_server.client() as client:
        assert client.delete(fresh_server.org_path(f"/services/{to_delete}")).status_code == 200
    command(fresh_server, to_stop, "stop")
    created = fresh_server.create_service(name="created-at-the-crash")["service"]["id"]
    fresh_server.stop(signal.SIGKILL)

    fresh_server.start()
    fresh_server.wait_for_state(to_stop, "stopped")
    fresh_server.wait_for_state(created, "running")
    with fresh_server.client() as client:
        wait_until(lambda: client.get(fresh_server.org_path(f"/services/{to_delete}")).status_code == 404,
                   what="the deleted service to be gone")
    assert not service_dir(fresh_server, to_delete).exists()
    assert not alive(kept_pid)
    assert kept["endpoints"]
    # The running service was adopted, not restarted.
    assert fresh_server.wait_for_state(untouched, "running")
    assert clickhouse_pid(fresh_server, untouched) == untouched_pid
    # Exactly two ClickHouse servers run: the untouched one and the one created at the crash.
    wait_until(lambda: len(clickhouse_processes_of(fresh_server)) == 2,
               what="only the untouched and the created services' servers to run")


def test_an_idle_service_sleeps_and_wakes_with_its_data(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_IDLE_MINUTE_SECONDS"] = "0.4"  # 5 "minutes" pass in 2 seconds
    fresh_server.start()
    created = fresh_server.create_service(name="sleepy", idleScaling=True, idleTimeoutMinutes=5)
    service_id, password = created["service"]["id"], created["password"]
    service = fresh_server.wait_for_state(service_id, "running")
    assert sql(http_port(service), password, "CREATE TABLE dreams (n UInt8) ENGINE = TinyLog").status_code == 200
    assert sql(http_port(service), password, "INSERT INTO dreams VALUES (1)").status_code == 200
    pid = clickhouse_pid(fresh_server, service_id)
    fresh_server.wait_for_state(service_id, "idle", timeout=60)
    assert not alive(pid)
    assert command(fresh_server, service_id, "awake").json()["result"]["state"] == "awaking"
    woken = fresh_server.wait_for_state(service_id, "running")
    assert sql(http_port(woken), password, "SELECT n FROM dreams").text.strip() == "1"
