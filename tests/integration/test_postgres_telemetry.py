"""Postgres services' observability through the API, on a real PostgreSQL server sampled every second: statements
run over verified TLS show in the metrics (transaction rates, database size), in slowQueryPatterns (normalized with
$1, counted, a password they carried redacted) and in the Prometheus text."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families

from clickplane.store.models import PostgresStatement
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_postgres_services import (
    ca_file,
    connect,
    create,
    needs_postgres,
    port_of,
    wait_for_state,
)

pytestmark = [pytest.mark.integration, needs_postgres]
CALLS = 25
SECRET = "Not-For-The-API-1"


def cli_date(moment: datetime) -> str:
    """As clickhousectl sends dates: UTC with milliseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def sampled_server(fresh_server: ClickplaneServer) -> Iterator[ClickplaneServer]:
    """A clickplane sampling its Postgres servers every second; what a test made is deleted after it."""
    fresh_server.settings["CLICKPLANE_POSTGRES_METRICS_INTERVAL_SECONDS"] = "1"
    fresh_server.start()
    yield fresh_server
    with fresh_server.client() as client:
        for item in client.get(fresh_server.org_path("/postgres")).json()["result"]:
            path = fresh_server.org_path(f"/postgres/{item['id']}")
            client.delete(path)
            wait_until(lambda path=path: client.get(path).status_code == 404,  # type: ignore[misc]
                       what=f"Postgres service {item['id']} to be deleted")


def get(server: ClickplaneServer, path: str, **params: Any) -> Any:
    with server.client() as client:
        response = client.get(server.org_path(path), params=params)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_statements_show_in_metrics_slow_query_patterns_and_prometheus(sampled_server: ClickplaneServer,
                                                                       tmp_path: Path) -> None:
    server = sampled_server
    began = datetime.now(UTC) - timedelta(seconds=5)
    created = create(server, name="sampled")
    postgres_id = created["id"]
    running = wait_for_state(server, postgres_id, "running")
    ca = ca_file(server, postgres_id, tmp_path)
    window = {"from_date": cli_date(began), "to_date": cli_date(datetime.now(UTC) + timedelta(minutes=2))}

    def series_of(metrics: dict[str, Any], key: str, label: str) -> list[dict[str, Any]]:
        """The data points of the metric's series of that label; none while it has no such series."""
        return next((series["dataPoints"] for series in metrics[key]["series"] if series["label"] == label), [])

    def metrics_now() -> dict[str, Any]:
        return {metric["key"]: metric for metric in get(server, f"/postgres/{postgres_id}/metrics", **window,
                                                        bucket_size_seconds=5)["metrics"]}

    # Rates are counted from the first sample on: what the server did before it is its baseline.
    wait_until(lambda: series_of(metrics_now(), "database_size", "postgres"), what="a first sample")
    with connect(running, created["password"], ca, port_of(created)) as connection:
        connection.execute("CREATE TABLE kept (n int)")
        connection.execute(f"CREATE ROLE reader LOGIN PASSWORD '{SECRET}'")
        for n in range(CALLS):
            connection.execute("INSERT INTO kept VALUES (%s)", [n])
            connection.execute(f"SELECT count(*) FROM kept WHERE n > {n}")  # noqa: S608 (a literal, normalized to $1)

    def patterns_seen() -> dict[str, dict[str, Any]] | None:
        listed = get(server, f"/postgres/{postgres_id}/slowQueryPatterns", **window, sort_by="call_count")
        found = {pattern["dbOperation"]: pattern for pattern in listed
                 if pattern["dbUser"] == "postgres" and "kept" in pattern["queryText"]}
        calls = [found[operation]["callCount"] for operation in ("INSERT", "SELECT") if operation in found]
        return found if len(calls) == 2 and min(calls) >= CALLS else None

    patterns = wait_until(patterns_seen, what="the statements to show in slowQueryPatterns")
    insert, select = patterns["INSERT"], patterns["SELECT"]
    assert insert["queryText"] == "INSERT INTO kept VALUES ($1)"
    assert select["queryText"] == "SELECT count(*) FROM kept WHERE n > $1"
    assert (select["dbName"], select["callCount"], select["totalRows"]) == ("postgres", CALLS, CALLS)
    assert 0 <= int(select["queryId"]) < 2**64  # unsigned: a CLI would take a leading - for an option
    assert select["totalDurationUs"] > 0
    assert abs(select["avgDurationUs"] - select["totalDurationUs"] / CALLS) <= 1
    assert select["maxDurationUs"] >= select["avgDurationUs"]
    assert insert["totalWalBytes"] > 0
    assert {"p50DurationUs", "p95DurationUs", "p99DurationUs", "errorCount", "app", "totalCpuTimeUs"}.isdisjoint(select)
    detail = get(server, f"/postgres/{postgres_id}/slowQueryPatterns/{select['queryId']}", db_name="postgres",
                 db_user="postgres", db_operation="SELECT")
    assert detail["aggregate"]["callCount"] >= CALLS
    assert detail["recentExecutions"] == []
    utility = get(server, f"/postgres/{postgres_id}/slowQueryPatterns", **window, db_operation="UTILITY")
    assert "CREATE ROLE reader LOGIN PASSWORD '<redacted>'" in [pattern["queryText"] for pattern in utility]
    assert SECRET not in json.dumps(utility)
    with server.store() as session:
        assert not [kept for kept in session.scalars(sqlalchemy.select(PostgresStatement.query_text)) if SECRET in kept]
    selects_only = get(server, f"/postgres/{postgres_id}/slowQueryPatterns", **window, db_operation="SELECT")
    assert {pattern["dbOperation"] for pattern in selects_only} == {"SELECT"}
    assert all(pattern["dbUser"] != "clickplane" for pattern in selects_only)  # the runtime's own login

    def metrics_seen() -> dict[str, Any] | None:
        metrics = metrics_now()
        inserted = series_of(metrics, "throughput", "Inserted")
        return metrics if any(point["value"] > 0 for point in inserted) else None

    metrics = wait_until(metrics_seen, what="the inserts to show in the metrics")
    commits = series_of(metrics, "transactions", "Commits")
    assert max(point["value"] for point in commits) > 0
    sizes = {series["label"]: series["dataPoints"] for series in metrics["database_size"]["series"]}
    assert sizes["postgres"][-1]["value"] > 1_000_000
    assert "template1" not in sizes
    timestamps = [point["timestamp"] for point in commits]
    assert timestamps == sorted(timestamps)
    assert (timestamps[0] - int(began.timestamp())) % 5 == 0  # buckets start at from_date

    with server.client() as client:
        exposition = client.get(server.org_path(f"/postgres/{postgres_id}/prometheus"))
        organization_text = client.get(server.org_path("/postgres/prometheus")).text
    assert exposition.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {family.name: family for family in text_string_to_metric_families(exposition.text)}
    [info] = families["PostgresServiceInfo"].samples
    assert info.labels == {"clickhouse_org": server.credentials.organization_id, "postgres_service": postgres_id,
                           "postgres_service_name": "sampled", "postgres_status": "running",
                           "postgres_version": running["postgresVersion"]}
    assert families["PostgresServer_TransactionsCommitted_Total"].samples[0].value > CALLS
    assert families["PostgresServer_TuplesInserted_Total"].samples[0].value >= CALLS
    assert {sample.labels["database"] for sample in families["PostgresServer_DatabaseSizeBytes"].samples} >= {
        "postgres"}
    assert 0 < families["PostgresServer_CacheHitRatio"].samples[0].value <= 100
    assert f'postgres_service="{postgres_id}"' in organization_text
