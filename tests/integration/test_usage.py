"""Usage costs end to end: a real service metered while it runs and after it stops, the report's checks,
and clickhousectl's `org usage`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli
from tests.integration.test_lifecycle import http_port, sql


def usage_cost(server: ClickplaneServer, **params: str) -> httpx.Response:
    with server.client() as client:
        return client.get(server.org_path("/usageCost"), params=params)


def todays_record(server: ClickplaneServer, service_id: str, **params: str) -> dict[str, Any] | None:
    today = datetime.now(UTC).date().isoformat()
    response = usage_cost(server, from_date=today, to_date=today, **params)
    assert response.status_code == 200, response.text
    return next((record for record in response.json()["result"]["costs"] if record["serviceId"] == service_id), None)


@needs_clickhouse
@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed (pip install clickhousectl)")
def test_a_running_service_accrues_compute_and_storage_and_once_stopped_only_storage(
        fresh_server: ClickplaneServer, tmp_path: Path) -> None:
    fresh_server.settings["CLICKPLANE_METERING_INTERVAL_SECONDS"] = "0.2"
    fresh_server.start()
    created = fresh_server.create_service(name="metered", tags=[{"key": "team", "value": "billing"}])
    service_id, password = created["service"]["id"], created["password"]
    port = http_port(fresh_server.wait_for_state(service_id, "running"))
    for statement in ("CREATE TABLE kept (n UInt64) ENGINE = MergeTree ORDER BY n",
                      "INSERT INTO kept SELECT number FROM numbers(100000)"):
        assert sql(port, password, statement).status_code == 200

    def accrued() -> dict[str, Any] | None:
        record = todays_record(fresh_server, service_id)
        metrics = record["metrics"] if record else {}
        return record if metrics and metrics["computeCHC"] > 0 and metrics["storageCHC"] > 0 else None

    record = wait_until(accrued, what="today's record to show compute and storage")
    assert (record["entityType"], record["entityId"], record["entityName"], record["locked"]) == (
        "service", service_id, "metered", False)
    assert record["dataWarehouseId"] == created["service"]["dataWarehouseId"]
    assert record["totalCHC"] == pytest.approx(sum(record["metrics"].values()))
    assert todays_record(fresh_server, service_id, filter="tag:team=billing") is not None
    assert todays_record(fresh_server, service_id, filter="tag:team=other") is None

    with fresh_server.client() as client:
        stopping = client.patch(fresh_server.org_path(f"/services/{service_id}/state"), json={"command": "stop"})
    assert stopping.status_code == 200, stopping.text
    fresh_server.wait_for_state(service_id, "stopped")

    def stored_more_than(before: dict[str, Any]) -> dict[str, Any] | None:
        record = todays_record(fresh_server, service_id)
        return record if record and record["metrics"]["storageCHC"] > before["metrics"]["storageCHC"] else None

    # A look that began before the stop may still land; the one after it began once the service was stopped.
    after_stop = wait_until(lambda: stored_more_than(record), what="storage to accrue after the stop")
    later = wait_until(lambda: stored_more_than(after_stop), what="storage to go on accruing")
    assert later["metrics"]["computeCHC"] == after_stop["metrics"]["computeCHC"]

    today = datetime.now(UTC).date().isoformat()
    report = Cli(fresh_server, tmp_path).json("org", "usage", "--from-date", today, "--to-date", today)
    assert report["grandTotalCHC"] > 0
    assert service_id in [record["serviceId"] for record in report["costs"]]


def test_a_period_without_usage_has_no_records(server: ClickplaneServer) -> None:
    response = usage_cost(server, from_date="2020-01-01", to_date="2020-01-31")
    assert response.status_code == 200, response.text
    assert response.json()["result"] == {"grandTotalCHC": 0, "costs": []}


@pytest.mark.parametrize(("params", "named"), [
    ({"from_date": "2026-01-01", "to_date": "2026-02-01"}, "to_date"),  # 32 days
    ({"from_date": "2026-01-02", "to_date": "2026-01-01"}, "from_date"),
    ({"from_date": "2026-13-01", "to_date": "2026-01-01"}, "from_date"),
    ({"from_date": "2026-01-01", "to_date": "2026-01-01T00:00:00Z"}, "to_date"),
    ({"from_date": "2026-01-01"}, "to_date"),
    ({"to_date": "2026-01-01"}, "from_date"),
    ({"from_date": "2026-01-01", "to_date": "2026-01-01", "filter": "team=billing"}, "filter"),
])
def test_a_bad_period_or_filter_is_refused_naming_the_parameter(server: ClickplaneServer, params: dict[str, str],
                                                                 named: str) -> None:
    response = usage_cost(server, **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith("BAD_REQUEST: ")
    assert named in error
