"""Scaling schedules on a real clickplane over a real ClickHouse service: an entry in force changes the memory
limit the service's own server applies (read back from it), recorded as the system's activities; replacing the
schedule with one whose window does not hold now, or deleting it, puts the base configuration back.

Time is not simulated: an entry covering every hour of every day is in force on the reconciler's next pass, and
one covering only a day three days away is not."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from clickplane.kit import weekly
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until

pytestmark = [pytest.mark.integration, needs_clickhouse]

GIB = 1 << 30
ALWAYS = {"name": "always", "weekdays": list(range(7)), "startHourUtc": 0, "endHourUtc": 24,
          "minReplicaMemoryGb": 16.0, "maxReplicaMemoryGb": 16.0, "numReplicas": 2}


def far_day() -> int:
    return (weekly.weekday_of(datetime.now(UTC)) + 3) % 7


class Scheduled:
    def __init__(self, server: ClickplaneServer, client: httpx.Client, service: dict[str, Any], password: str) -> None:
        self.server, self.client, self.service, self.password = server, client, service, password
        self.path = server.org_path(f"/services/{service['id']}/scalingSchedule")
        self.port = int(next(e["port"] for e in service["endpoints"] if e["protocol"] == "http"))

    def memory_limit(self) -> int:
        answer = httpx.post(f"http://127.0.0.1:{self.port}/", auth=("default", self.password), timeout=10,
                            params={"query": "SELECT value FROM system.settings WHERE name = 'max_memory_usage'"})
        assert answer.status_code == 200, answer.text
        return int(answer.text)

    def wait_for_limit(self, gib: int) -> None:
        wait_until(lambda: self.memory_limit() == gib * GIB, what=f"ClickHouse to apply a {gib} GiB memory limit")

    def post(self, *entries: dict[str, Any]) -> httpx.Response:
        return self.client.post(self.path, json={"entries": list(entries)})

    def refused(self, response: httpx.Response, status: int, *words: str) -> None:
        assert response.status_code == status, response.text
        for word in words:
            assert word in response.json()["error"], response.text


@pytest.fixture(scope="module")
def scheduled(server: ClickplaneServer) -> Iterator[Scheduled]:
    created = server.create_service(name="scheduled", idleScaling=False)
    service = server.wait_for_state(created["service"]["id"], "running")
    try:
        with server.client() as client:
            yield Scheduled(server, client, service, created["password"])
    finally:
        delete_services(server)


def test_an_entry_in_force_sets_the_servers_memory_limit_and_leaving_it_restores_the_base(scheduled: Scheduled
                                                                                          ) -> None:
    scheduled.wait_for_limit(8)
    posted = scheduled.post(ALWAYS)
    assert posted.status_code == 200, posted.text
    entry = posted.json()["result"]["entries"][0]
    assert (entry["weekdays"], entry["startHourUtc"], entry["endHourUtc"]) == (list(range(7)), 0, 24)
    assert (entry["minReplicas"], entry["maxReplicas"], entry["autoscalingMode"]) == (2, 2, "vertical")
    scheduled.wait_for_limit(16)
    got = scheduled.client.get(scheduled.path).json()["result"]
    assert got["activeEntryId"] == entry["id"]
    assert got["entries"][0]["isActiveNow"] is True
    assert got["baseConfig"]["maxReplicaMemoryGb"] == 8
    assert got["baseConfig"]["minReplicas"] == 1
    # The service shows the base at its top level, what runs (the entry's) in currentScaling, and its schedule.
    service = scheduled.server.service(scheduled.service["id"])
    assert (service["maxReplicaMemoryGb"], service["numReplicas"]) == (8, 1)
    current = service["currentScaling"]
    assert (current["effectiveMaxReplicaMemoryGb"], current["effectiveMinReplicas"]) == (16, 2)
    assert current["activeEntryId"] == entry["id"]
    assert service["scalingSchedule"] == got
    listed = scheduled.client.get(scheduled.server.org_path("/services")).json()["result"]
    assert [s["currentScaling"] for s in listed if s["id"] == scheduled.service["id"]] == [current]
    activities = scheduled.client.get(scheduled.server.org_path("/activities")).json()["result"]
    applied = [a for a in activities if a.get("serviceId") == scheduled.service["id"] and a["actorType"] == "system"]
    assert {"service_update_autoscaling_memory", "service_update_autoscaling_replicas"} <= {a["type"] for a in applied}

    elsewhere = {**ALWAYS, "name": "elsewhere", "weekdays": [far_day()]}
    assert scheduled.post(elsewhere).status_code == 200
    scheduled.wait_for_limit(8)
    got = scheduled.client.get(scheduled.path).json()["result"]
    assert "activeEntryId" not in got
    assert got["entries"][0]["isActiveNow"] is False
    service = scheduled.server.service(scheduled.service["id"])
    assert (service["numReplicas"], service["currentScaling"]["effectiveMinReplicas"]) == (1, 1)
    assert "activeEntryId" not in service["currentScaling"]


def test_deleting_a_schedule_in_force_puts_the_base_back_at_once(scheduled: Scheduled) -> None:
    assert scheduled.post(ALWAYS).status_code == 200
    scheduled.wait_for_limit(16)
    deleted = scheduled.client.delete(scheduled.path)
    assert deleted.status_code == 200, deleted.text
    service = scheduled.server.service(scheduled.service["id"])
    assert (service["maxReplicaMemoryGb"], service["currentScaling"]["effectiveMaxReplicaMemoryGb"]) == (8, 8)
    assert "scalingSchedule" not in service
    scheduled.wait_for_limit(8)
    scheduled.refused(scheduled.client.get(scheduled.path), 404, "no scaling schedule")
    scheduled.refused(scheduled.client.delete(scheduled.path), 404, "no scaling schedule")


def test_bad_schedules_are_refused_with_what_to_change(scheduled: Scheduled) -> None:
    overlapping = {**ALWAYS, "name": "again"}
    scheduled.refused(scheduled.post(ALWAYS, overlapping), 400, "overlap", "'always'", "'again'")
    scheduled.refused(scheduled.post({**ALWAYS, "endHourUtc": 25}), 400, "endHourUtc")
    scheduled.refused(scheduled.post({**ALWAYS, "maxReplicaMemoryGb": 10.0}), 400, "maxReplicaMemoryGb")
    scheduled.refused(scheduled.post({**ALWAYS, "startHourUtc": 3, "endHourUtc": 3}), 400, "must differ")
    scheduled.refused(scheduled.client.post(scheduled.path, json={}), 400, "entries")
    cleared = scheduled.post()
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["result"] == {"entries": [], "baseConfig": {}}
    scheduled.refused(scheduled.client.get(scheduled.path), 404)
    missing = scheduled.server.org_path("/services/00000000-0000-4000-8000-000000000000/scalingSchedule")
    scheduled.refused(scheduled.client.get(missing), 404)


def test_a_manual_scaling_during_an_entry_becomes_the_base_that_comes_back_after_it(scheduled: Scheduled) -> None:
    assert scheduled.post(ALWAYS).status_code == 200
    scheduled.wait_for_limit(16)
    path = scheduled.server.org_path(f"/services/{scheduled.service['id']}/replicaScaling")
    assert scheduled.client.patch(path, json={"maxReplicaMemoryGb": 24}).status_code == 200

    def base_max() -> float:
        return float(scheduled.client.get(scheduled.path).json()["result"]["baseConfig"]["maxReplicaMemoryGb"])

    wait_until(lambda: base_max() == 24, what="the manual scaling to become the base")
    wait_until(lambda: scheduled.server.service(scheduled.service["id"])["currentScaling"]
               ["effectiveMaxReplicaMemoryGb"] == 16, what="the entry to govern again")
    assert scheduled.server.service(scheduled.service["id"])["maxReplicaMemoryGb"] == 24  # the base
    scheduled.wait_for_limit(16)
    assert scheduled.client.delete(scheduled.path).status_code == 200
    scheduled.wait_for_limit(24)
    assert scheduled.client.patch(path, json={"maxReplicaMemoryGb": 8}).status_code == 200
    scheduled.wait_for_limit(8)
