"""Postgres services' observability: time-series metrics, slow query patterns and Prometheus text, from samples of
each running server's own statistics views (postgres/telemetry/sampler.py)."""

from __future__ import annotations

from typing import get_args
from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import PlainText
from clickplane.kit.envelope import ok
from clickplane.kit.exposition import exposition
from clickplane.kit.routes import Api
from clickplane.postgres.telemetry.patterns import MAX_LIMIT, UNMEASURED, SortBy, SortOrder, pattern_query
from clickplane.postgres.telemetry.schemas import (
    PostgresMetrics,
    PostgresSlowQueryPattern,
    PostgresSlowQueryPatternDetail,
)
from clickplane.postgres.telemetry.series import MAX_POINTS
from clickplane.postgres.telemetry.service import PostgresTelemetry

TAG = "Postgres"
ONE = "/v1/organizations/{organizationId}/postgres/{postgresId}"
DATE_TIME = {"format": "date-time"}
SAMPLED = ("Read from samples of the server's own statistics views, taken while it runs once a sampling interval "
           "(CLICKPLANE_POSTGRES_METRICS_INTERVAL_SECONDS, 60 by default) and kept for a retention "
           "(CLICKPLANE_POSTGRES_METRICS_RETENTION_HOURS, 168).")
PATTERNS = ("Patterns come from pg_stat_statements (calls, execution time, the longest execution, rows, shared "
            f"blocks, WAL bytes); {UNMEASURED}, so errorCount, app, totalCpuTimeUs and the percentiles are omitted, "
            "and sorting or filtering by them is refused.")


def add_routes(api: Api, context: AppContext) -> None:
    telemetry = PostgresTelemetry(context)

    @api.route("GET", ONE + "/metrics", "postgresInstanceMetricsGet", "Get Postgres time-series metrics", TAG,
               "Bucketed time series of the service from from_date up to to_date (RFC 3339; to_date excluded): "
               "connections by state, transactions and rows per second, cache hit ratio, deadlocks per second and "
               "database sizes. Counters are rates from the differences between samples, counted from the first "
               "sample on (a server restart counts from 0), gauges averages. "
               f"At most {MAX_POINTS} buckets: without bucket_size_seconds one is chosen from the window, and one "
               "that makes more is refused. No CPU, memory, disk or network series: clickplane's runtime has no "
               "honest measure of them yet. " + SAMPLED, PostgresMetrics,
               parameters={"from_date": DATE_TIME, "to_date": DATE_TIME, "bucket_size_seconds": {"minimum": 1}})
    async def metrics(caller: Caller, organizationId: UUID, postgresId: UUID, from_date: str, to_date: str,
                      bucket_size_seconds: int | None = None) -> Response:
        return ok(telemetry.metrics(caller, organizationId, postgresId, from_date, to_date, bucket_size_seconds))

    @api.route("GET", ONE + "/slowQueryPatterns", "slowQueryPatternsGetList", "List Postgres slow query patterns",
               TAG, "The query patterns that ran from from_date up to to_date (RFC 3339; to_date excluded), with "
               "what they did in that time, the most total execution time first unless sort_by and sort_order say "
               "otherwise; db_name, db_user and db_operation (SELECT, INSERT, UPDATE, DELETE, UTILITY) filter "
               "them. "
               + PATTERNS + " " + SAMPLED, list[PostgresSlowQueryPattern],
               parameters={"from_date": DATE_TIME, "to_date": DATE_TIME,
                           "sort_by": {"enum": list(get_args(SortBy)), "default": "total_duration"},
                           "sort_order": {"enum": list(get_args(SortOrder)), "default": "desc"},
                           "limit": {"minimum": 1, "maximum": MAX_LIMIT, "default": 20},
                           "offset": {"minimum": 0, "default": 0}})
    async def slow_query_patterns(caller: Caller, organizationId: UUID, postgresId: UUID, from_date: str,
                                  to_date: str, db_name: str | None = None, db_user: str | None = None,
                                  db_operation: str | None = None, app: str | None = None,
                                  sort_by: str = "total_duration", sort_order: str = "desc", limit: int = 20,
                                  offset: int = 0) -> Response:
        query = pattern_query(from_date, to_date, db_name, db_user, db_operation, app, sort_by, sort_order, limit,
                              offset)
        return ok(telemetry.slow_query_patterns(caller, organizationId, postgresId, query))

    @api.route("GET", ONE + "/slowQueryPatterns/{queryId}", "slowQueryPatternGet",
               "Get a Postgres slow query pattern with recent executions", TAG,
               "One pattern (its queryId, run by db_user in db_name as db_operation) with its figures over every "
               "sample kept. recentExecutions is always empty: pg_stat_statements keeps no individual executions "
               "(so timestamp selects none). " + PATTERNS, PostgresSlowQueryPatternDetail,
               parameters={"timestamp": DATE_TIME})
    async def slow_query_pattern(caller: Caller, organizationId: UUID, postgresId: UUID, queryId: str, db_name: str,
                                 db_user: str, db_operation: str, app: str | None = None,
                                 timestamp: str | None = None) -> Response:
        return ok(telemetry.slow_query_pattern(caller, organizationId, postgresId, queryId, db_name, db_user,
                                               db_operation, app, timestamp))

    @api.route("GET", "/v1/organizations/{organizationId}/postgres/prometheus", "postgresOrgPrometheusGet",
               "Get organization PostgreSQL metrics", "Prometheus",
               "Prometheus text (format 0.0.4) of the organization's Postgres services (the first 100, oldest "
               "first), from each one's latest sample: a PostgresServiceInfo sample for each (its state and major "
               "version), and for each running one pg_stat_database's counters (PostgresServer_*_Total), its "
               "connections by state, cache hit ratio (%) and database sizes. No CPU, memory, disk or network "
               "families: clickplane's runtime has no honest measure of them yet. " + SAMPLED,
               PlainText("text/plain"))
    async def organization_prometheus(caller: Caller, organizationId: UUID) -> Response:
        return exposition(telemetry.prometheus_organization(caller, organizationId))

    @api.route("GET", ONE + "/prometheus", "postgresInstancePrometheusGet", "Get PostgreSQL service metrics",
               "Prometheus", "Prometheus text (format 0.0.4) of the service, as in the organization's: its "
               "PostgresServiceInfo sample, and while it runs the families of its latest sample. " + SAMPLED,
               PlainText("text/plain"))
    async def service_prometheus(caller: Caller, organizationId: UUID, postgresId: UUID) -> Response:
        return exposition(telemetry.prometheus_service(caller, organizationId, postgresId))
