"""Services' metrics as Prometheus text: names, types, labels, escaping and the filtered subset."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from clickplane.kit.errors import BadRequest
from clickplane.prometheus.service import (
    ASYNC_METRICS,
    EVENTS,
    METRICS,
    SERVICE_INFO,
    Reading,
    ServiceMetrics,
    parse_filtered,
    parse_readings,
    render,
)

READINGS = (
    Reading(METRICS, "Query", 2, "Number of executing queries", "host-1"),
    Reading(METRICS, "ZooKeeperWatch", 0, "Watches", "host-1"),
    Reading(EVENTS, "Query", 42, "Queries started", "host-1"),
    Reading(ASYNC_METRICS, "jemalloc.active", 1.5e9, "", "host-1"),
    Reading(ASYNC_METRICS, "Uptime", 61.25, "", "host-1"),
)


def service(service_id: str = "s-1", name: str = "one", state: str = "running", **fields: Any) -> ServiceMetrics:
    return ServiceMetrics(organization_id="org", service_id=service_id, service_name=name, state=state,
                          clickhouse_version="18.16.1", **fields)


def parsed(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_each_table_becomes_its_cloud_named_family_with_the_right_type() -> None:
    families = parsed(render([service(readings=READINGS)], filtered=False))

    assert {name: family.type for name, family in families.items()} == {
        SERVICE_INFO: "gauge", "ClickHouseMetrics_Query": "gauge", "ClickHouseMetrics_ZooKeeperWatch": "gauge",
        "ClickHouseProfileEvents_Query": "counter", "ClickHouseAsyncMetrics_jemalloc_active": "gauge",
        "ClickHouseAsyncMetrics_Uptime": "gauge"}
    [events] = families["ClickHouseProfileEvents_Query"].samples
    assert events.value == 42
    assert events.labels == {"clickhouse_org": "org", "clickhouse_service": "s-1", "clickhouse_service_name": "one",
                             "hostname": "host-1", "instance": "host-1", "table": "system.events"}
    assert families["ClickHouseMetrics_Query"].documentation == "Number of executing queries"
    assert families["ClickHouseAsyncMetrics_Uptime"].samples[0].value == 61.25


def test_service_info_reports_state_version_and_scrape_for_every_service() -> None:
    text = render([service(readings=READINGS), service("s-2", "idle one", "idle"),
                   service("s-3", "silent", complete=False)], filtered=False)
    info = parsed(text)[SERVICE_INFO].samples

    assert [(s.labels["clickhouse_service"], s.labels["clickhouse_cluster_status"], s.labels["scrape"], s.value)
            for s in info] == [("s-1", "running", "full", 1), ("s-2", "idle", "full", 1),
                               ("s-3", "running", "partial", 1)]
    assert {s.labels["clickhouse_version"] for s in info} == {"18.16.1"}
    assert text.count(f"# TYPE {SERVICE_INFO} ") == 1


def test_services_share_one_help_and_type_per_family() -> None:
    text = render([service("s-1", readings=READINGS), service("s-2", readings=READINGS)], filtered=False)

    assert text.count("# TYPE ClickHouseProfileEvents_Query counter") == 1
    samples = parsed(text)["ClickHouseProfileEvents_Query"].samples
    assert [sample.labels["clickhouse_service"] for sample in samples] == ["s-1", "s-2"]


def test_label_values_and_help_text_are_escaped() -> None:
    awkward = 'quote " backslash \\ newline \n end'
    readings = (Reading(METRICS, "Query", 1, "help with \\ and\nnewline", "h"),)
    families = parsed(render([service(name=awkward, readings=readings)], filtered=False))

    assert families[SERVICE_INFO].samples[0].labels["clickhouse_service_name"] == awkward
    assert families["ClickHouseMetrics_Query"].documentation == "help with \\ and\nnewline"


def test_filtered_metrics_keep_only_the_curated_subset() -> None:
    families = parsed(render([service(readings=READINGS)], filtered=True))

    assert set(families) == {SERVICE_INFO, "ClickHouseMetrics_Query", "ClickHouseProfileEvents_Query",
                             "ClickHouseAsyncMetrics_Uptime"}


def test_names_alike_once_sanitized_are_kept_once() -> None:
    readings = (Reading(ASYNC_METRICS, "a.b", 1, "", "h"), Reading(ASYNC_METRICS, "a_b", 2, "", "h"))
    [sample] = parsed(render([service(readings=readings)], filtered=False))["ClickHouseAsyncMetrics_a_b"].samples

    assert sample.value == 1


@pytest.mark.parametrize(("value", "text"), [(7.0, "7"), (0.25, "0.25"), (2.0**60, repr(2.0**60)),
                                             (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN")])
def test_values_are_written_as_prometheus_numbers(value: float, text: str) -> None:
    rendered = render([service(readings=(Reading(METRICS, "Query", value, "d", "h"),))], filtered=False)

    assert rendered.splitlines()[-1].endswith(f"}} {text}")


def test_readings_are_parsed_from_the_servers_json_rows() -> None:
    rows = [{"source": METRICS, "name": "Query", "value": 1, "description": "d", "host": "h"},
            {"source": ASYNC_METRICS, "name": "Uptime", "value": 2.5, "description": "", "host": "h"}]

    assert parse_readings("\n".join(json.dumps(row) for row in rows) + "\n") == (
        Reading(METRICS, "Query", 1.0, "d", "h"), Reading(ASYNC_METRICS, "Uptime", 2.5, "", "h"))
    with pytest.raises(ValueError, match="Expecting value"):
        parse_readings("Code: 81, e.displayText() = DB::Exception: Database system doesn't exist")


@pytest.mark.parametrize(("given", "filtered"), [(None, False), ("false", False), ("0", False), ("", False),
                                                 ("true", True), ("TRUE", True), ("1", True)])
def test_filtered_metrics_parameter(given: str | None, filtered: bool) -> None:
    assert parse_filtered(given) is filtered


def test_filtered_metrics_parameter_refuses_anything_else() -> None:
    with pytest.raises(BadRequest, match="filtered_metrics must be true or false"):
        parse_filtered("yes please")
