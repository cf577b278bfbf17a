"""Postgres services as Prometheus text: the Cloud's family names and labels, counters and gauges from the latest
sample, an info sample alone for a service without one, and escaping."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from clickplane.postgres.telemetry.prometheus import SERVICE_INFO, ServiceTelemetry, render
from clickplane.postgres.telemetry.readings import Reading

READING = Reading(
    counters={"xact_commit": 120, "xact_rollback": 3, "tup_fetched": 900, "tup_inserted": 40, "tup_updated": 5,
              "tup_deleted": 1, "blks_hit": 990, "blks_read": 10, "deadlocks": 0},
    connections={"active": 1, "idle": 4}, database_sizes={"postgres": 7_500_000, "shop": 9_000_000})
LABELS = {"clickhouse_org": "org", "postgres_service": "pg-1", "postgres_service_name": "one"}


def service(service_id: str = "pg-1", name: str = "one", state: str = "running",
            latest: Reading | None = READING) -> ServiceTelemetry:
    return ServiceTelemetry(organization_id="org", service_id=service_id, service_name=name, state=state,
                            version="18", latest=latest)


def parsed(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_a_sampled_service_has_the_clouds_families_with_their_types() -> None:
    families = parsed(render([service()]))

    assert {name: family.type for name, family in families.items()} == {
        SERVICE_INFO: "gauge", "PostgresServer_ActiveConnections": "gauge", "PostgresServer_CacheHitRatio": "gauge",
        "PostgresServer_TuplesFetched_Total": "counter", "PostgresServer_TuplesInserted_Total": "counter",
        "PostgresServer_TuplesUpdated_Total": "counter", "PostgresServer_TuplesDeleted_Total": "counter",
        "PostgresServer_TransactionsCommitted_Total": "counter",
        "PostgresServer_TransactionsRolledBack_Total": "counter", "PostgresServer_Deadlocks_Total": "counter",
        "PostgresServer_DatabaseSizeBytes": "gauge"}


def test_every_sample_carries_the_service_labels_and_the_values_of_the_latest_reading() -> None:
    text = render([service()])
    families = parsed(text)

    [info] = families[SERVICE_INFO].samples
    assert info.labels == {**LABELS, "postgres_status": "running", "postgres_version": "18"}
    assert info.value == 1
    [committed] = families["PostgresServer_TransactionsCommitted_Total"].samples
    assert (committed.labels, committed.value) == (LABELS, 120)
    assert ('PostgresServer_TransactionsCommitted_Total{clickhouse_org="org",postgres_service="pg-1",'
            'postgres_service_name="one"} 120') in text.splitlines()
    assert {sample.labels["state"]: sample.value for sample in families["PostgresServer_ActiveConnections"].samples
            } == {"active": 1, "idle": 4}
    assert families["PostgresServer_CacheHitRatio"].samples[0].value == 99
    assert {sample.labels["database"]: sample.value for sample in families["PostgresServer_DatabaseSizeBytes"].samples
            } == {"postgres": 7_500_000, "shop": 9_000_000}
    assert all(sample.labels.items() >= LABELS.items() for family in families.values() for sample in family.samples)


def test_a_service_without_a_recent_sample_has_its_info_line_only_and_families_are_shared() -> None:
    text = render([service(), service("pg-2", "stopped one", "stopped", latest=None)])
    families = parsed(text)

    assert [(sample.labels["postgres_service"], sample.labels["postgres_status"])
            for sample in families[SERVICE_INFO].samples] == [("pg-1", "running"), ("pg-2", "stopped")]
    assert {sample.labels["postgres_service"] for sample in families["PostgresServer_TuplesFetched_Total"].samples} == {
        "pg-1"}
    assert text.count("# TYPE PostgresServer_TuplesFetched_Total counter") == 1


def test_no_services_is_the_info_family_alone_and_an_idle_server_has_no_ratio_but_its_connection_states() -> None:
    assert parsed(render([]))[SERVICE_INFO].samples == []
    untouched = parsed(render([service(latest=Reading(counters={"blks_hit": 0, "blks_read": 0}))]))
    assert "PostgresServer_CacheHitRatio" not in untouched
    assert {sample.labels["state"]: sample.value for sample in untouched["PostgresServer_ActiveConnections"].samples
            } == {"active": 0, "idle": 0}  # shown without connections: the series do not come and go


def test_names_and_databases_are_escaped() -> None:
    awkward = 'quote " backslash \\ newline \n end'
    text = render([service(name=awkward, latest=Reading(database_sizes={awkward: 1}))])

    families = parsed(text)
    assert families[SERVICE_INFO].samples[0].labels["postgres_service_name"] == awkward
    assert families["PostgresServer_DatabaseSizeBytes"].samples[0].labels["database"] == awkward
