"""Upgrade windows on a real clickplane over a real ClickHouse service: a release channel configured with its own
binary moves the service to it only inside the window, restarting it with its data, and the version reported is
the new server's answer to SELECT version().

Only one ClickHouse binary exists here (Debian's 18.16): the channel's binary is another path to it (a symlink), so
the test shows the switch of binary, the restart and the data kept, but not a change of version."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickplane.kit import weekly
from tests.integration.conftest import CLICKHOUSE, needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until

pytestmark = [pytest.mark.integration, needs_clickhouse]


@pytest.fixture
def channel_binary(fresh_server: ClickplaneServer, tmp_path: Path) -> Path:
    """The binary of release channel `fast` (another path to the one ClickHouse here), with clickplane started
    configured with it."""
    assert CLICKHOUSE is not None
    binary = tmp_path / "fast" / Path(CLICKHOUSE).name
    binary.parent.mkdir()
    os.symlink(CLICKHOUSE, binary)
    fresh_server.settings["CLICKPLANE_CLICKHOUSE_RELEASE_CHANNELS"] = f"fast={binary}"
    fresh_server.start()
    return binary


def sql(port: int, password: str, query: str) -> str:
    answer = httpx.post(f"http://127.0.0.1:{port}/", params={"query": query}, auth=("default", password), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.text.strip()


def answers(port: int, password: str) -> bool:
    try:
        return httpx.post(f"http://127.0.0.1:{port}/", params={"query": "SELECT 1"}, auth=("default", password),
                          timeout=10).status_code == 200
    except httpx.TransportError:
        return False


def server_binary(server: ClickplaneServer, service_id: str) -> tuple[int, str]:
    """The pid of the service's ClickHouse and the binary it was started as (its argv[0])."""
    pid = int((server.data_dir / "services" / service_id / "clickhouse.pid").read_text().split()[0])
    return pid, Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()


def window_now() -> dict[str, int]:
    now = datetime.now(UTC)
    return {"weekday": weekly.weekday_of(now), "startHourUtc": now.hour - now.hour % 6}


def maintenance(client: httpx.Client, server: ClickplaneServer, service_id: str) -> list[dict[str, Any]]:
    activities = client.get(server.org_path("/activities")).json()["result"]
    return [a for a in activities if a["type"] == "service_maintenance_start" and a.get("serviceId") == service_id]


def test_a_channels_binary_is_taken_only_inside_the_window_with_a_restart_and_the_data_kept(
        fresh_server: ClickplaneServer, channel_binary: Path) -> None:
    created = fresh_server.create_service(name="upgraded", idleScaling=False)
    service_id, password = created["service"]["id"], created["password"]
    service = fresh_server.wait_for_state(service_id, "running")
    port = int(next(e["port"] for e in service["endpoints"] if e["protocol"] == "http"))
    sql(port, password, "CREATE TABLE kept (n UInt8) ENGINE = MergeTree ORDER BY n")
    sql(port, password, "INSERT INTO kept VALUES (42)")
    before = server_binary(fresh_server, service_id)
    assert before[1] == CLICKHOUSE
    path = fresh_server.org_path(f"/services/{service_id}")
    with fresh_server.client() as client:
        far = {"weekday": (weekly.weekday_of(datetime.now(UTC)) + 3) % 7, "startHourUtc": 0}
        put = client.put(f"{path}/upgradeWindow", json=far)
        assert put.status_code == 200, put.text
        assert '"duration":6}' in put.text or '"duration":6,' in put.text  # a JSON integer, not 6.0
        assert put.json()["result"] == {**far, "duration": 6}
        assert client.patch(path, json={"releaseChannel": "fast"}).status_code == 200
        # A change the reconciler applies on the server, waited for: passes have run since the channel changed.
        assert client.patch(f"{path}/replicaScaling", json={"maxReplicaMemoryGb": 12}).status_code == 200
        wait_until(lambda: sql(port, password, "SELECT value FROM system.settings WHERE name = 'max_memory_usage'")
                   == str(12 << 30), what="the memory limit to be applied")
        assert server_binary(fresh_server, service_id) == before  # outside the window: not upgraded
        assert maintenance(client, fresh_server, service_id) == []

        assert client.put(f"{path}/upgradeWindow", json=window_now()).status_code == 200
        after = wait_until(lambda: (found := server_binary(fresh_server, service_id))[0] != before[0]
                           and found[1] == str(channel_binary) and found, what="the restart on the channel's binary")
        assert after[1] == str(channel_binary)
        wait_until(lambda: answers(port, password), what="the restarted server to answer")
        assert sql(port, password, "SELECT n FROM kept") == "42"
        version = sql(port, password, "SELECT version()")
        wait_until(lambda: fresh_server.service(service_id)["clickhouseVersion"] == version,
                   what="the new server's version to be reported")
        recorded = maintenance(client, fresh_server, service_id)
        assert [a["actorType"] for a in recorded] == ["system"]

        assert client.delete(f"{path}/upgradeWindow").status_code == 200
        assert client.get(f"{path}/upgradeWindow").status_code == 404
        assert client.delete(f"{path}/upgradeWindow").status_code == 404
        for bad in ({"weekday": 7, "startHourUtc": 0}, {"weekday": 1, "startHourUtc": 3}, {"weekday": 1}):
            refused = client.put(f"{path}/upgradeWindow", json=bad)
            assert refused.status_code == 400, refused.text


def test_a_new_service_of_a_channel_starts_on_its_binary_whatever_its_window(
        fresh_server: ClickplaneServer, channel_binary: Path) -> None:
    created = fresh_server.create_service(name="fast-from-the-start", idleScaling=False, releaseChannel="fast")
    service_id = created["service"]["id"]
    fresh_server.wait_for_state(service_id, "running")
    # Its first server is the channel's: no start on the default binary, no upgrade, no maintenance after.
    assert server_binary(fresh_server, service_id)[1] == str(channel_binary)
    with fresh_server.client() as client:
        assert maintenance(client, fresh_server, service_id) == []
