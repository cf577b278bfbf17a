"""Prometheus: services' metrics read live from their ClickHouse, as Prometheus text that Prometheus's own
parser reads, for one service or for the organization; clickhousectl prints them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from clickplane.prometheus.service import FILTERED, SERVICE_INFO
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli, running_service
from tests.integration.test_lifecycle import command

FILTERED_NAMES = {SERVICE_INFO} | {
    prefix + name for prefix, names in (("ClickHouseMetrics_", FILTERED["system.metrics"]),
                                        ("ClickHouseProfileEvents_", FILTERED["system.events"]),
                                        ("ClickHouseAsyncMetrics_", FILTERED["system.asynchronous_metrics"]))
    for name in names
}


def families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def metrics_text(server: ClickplaneServer, suffix: str, **params: str) -> str:
    with server.client() as client:
        response = client.get(server.org_path(f"{suffix}/prometheus"), params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return response.text


def samples_of(family: Metric, service_id: str) -> list[Any]:
    return [sample for sample in family.samples if sample.labels["clickhouse_service"] == service_id]


@needs_clickhouse
def test_a_services_metrics_parse_and_carry_the_cloud_names_and_labels(server: ClickplaneServer) -> None:
    service = running_service(server, "metrics")
    found = families(metrics_text(server, f"/services/{service['id']}"))

    [info] = found[SERVICE_INFO].samples
    assert info.value == 1
    assert info.labels["clickhouse_cluster_status"] == "running"
    assert info.labels["clickhouse_version"] == service["clickhouseVersion"]
    assert info.labels["scrape"] == "full"
    queries = found["ClickHouseProfileEvents_Query"]
    assert queries.type == "counter"
    assert found["ClickHouseMetrics_Query"].type == "gauge"
    [sample] = queries.samples
    assert sample.value >= 1
    assert sample.labels["table"] == "system.events"
    assert {key: sample.labels[key] for key in ("clickhouse_org", "clickhouse_service", "clickhouse_service_name")} == {
        "clickhouse_org": server.credentials.organization_id, "clickhouse_service": service["id"],
        "clickhouse_service_name": "metrics"}

    filtered = families(metrics_text(server, f"/services/{service['id']}", filtered_metrics="true"))
    assert set(filtered) <= FILTERED_NAMES
    assert {SERVICE_INFO, "ClickHouseProfileEvents_Query", "ClickHouseMetrics_Query"} <= set(filtered)
    assert len(filtered) < len(found)


@needs_clickhouse
def test_the_organizations_metrics_report_a_stopped_service_as_stopped(server: ClickplaneServer) -> None:
    running = running_service(server, "metrics-running")
    stopped = running_service(server, "metrics-stopped")
    command(server, stopped["id"], "stop")
    server.wait_for_state(stopped["id"], "stopped")

    found = families(metrics_text(server, ""))

    [stopped_info] = samples_of(found[SERVICE_INFO], stopped["id"])
    assert stopped_info.labels["clickhouse_cluster_status"] == "stopped"
    assert stopped_info.labels["clickhouse_service_name"] == "metrics-stopped"
    assert not samples_of(found["ClickHouseMetrics_Query"], stopped["id"])
    [running_info] = samples_of(found[SERVICE_INFO], running["id"])
    assert running_info.labels["clickhouse_cluster_status"] == "running"
    assert samples_of(found["ClickHouseMetrics_Query"], running["id"])
    assert families(metrics_text(server, f"/services/{stopped['id']}")).keys() == {SERVICE_INFO}


@needs_clickhouse
def test_scraping_does_not_keep_a_service_from_idling(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_IDLE_MINUTE_SECONDS"] = "0.4"  # 5 "minutes" pass in 2 seconds
    fresh_server.start()
    service_id = fresh_server.create_service(name="scraped", idleScaling=True, idleTimeoutMinutes=5)["service"]["id"]
    fresh_server.wait_for_state(service_id, "running")

    def scraped_until_idle() -> bool:
        return 'clickhouse_cluster_status="idle"' in metrics_text(fresh_server, f"/services/{service_id}")

    wait_until(scraped_until_idle, what="the service, scraped all along, to go idle")
    assert fresh_server.service(service_id)["state"] == "idle"


def test_errors_are_answered_in_the_json_envelope(server: ClickplaneServer) -> None:
    with server.client() as client:
        bad = client.get(server.org_path("/prometheus"), params={"filtered_metrics": "maybe"})
        missing = client.get(server.org_path("/services/00000000-0000-4000-8000-000000000000/prometheus"))
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("BAD_REQUEST: filtered_metrics")
    assert missing.status_code == 404
    assert missing.json()["error"].startswith("NOT_FOUND:")


@needs_clickhouse
@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed (pip install clickhousectl)")
def test_clickhousectl_prints_the_organizations_and_a_services_metrics(server: ClickplaneServer,
                                                                       tmp_path: Path) -> None:
    service = running_service(server, "metrics-cli")
    cli = Cli(server, tmp_path)

    organization = families(cli.run("org", "prometheus"))
    single = families(cli.run("service", "prometheus", service["id"], "--filtered-metrics", "true"))

    assert samples_of(organization[SERVICE_INFO], service["id"])
    assert set(single) <= FILTERED_NAMES
    assert [sample.labels["clickhouse_service"] for sample in single[SERVICE_INFO].samples] == [service["id"]]
