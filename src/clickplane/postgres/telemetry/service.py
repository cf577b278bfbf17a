"""Postgres services' observability: `PostgresTelemetry`, whose methods are the API's use cases (metrics, slow query
patterns, Prometheus text), each reading the samples the sampler stored, in a read session of its own."""

from __future__ import annotations

import uuid
from datetime import timedelta

from clickplane.activities.service import instant
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.organizations.lookup import visible as visible_organization
from clickplane.organizations.repository import Organizations
from clickplane.postgres.repository import PostgresServices
from clickplane.postgres.service import visible
from clickplane.postgres.telemetry import patterns, prometheus, schemas, series
from clickplane.postgres.telemetry.patterns import PatternQuery
from clickplane.postgres.telemetry.prometheus import ServiceTelemetry
from clickplane.postgres.telemetry.readings import Reading, Sample
from clickplane.postgres.telemetry.repository import PostgresSamples, PostgresStatements
from clickplane.store.models import PostgresSample, PostgresService, utcnow

# The most services the organization's Prometheus text covers, as on the real service.
MAX_PROMETHEUS_SERVICES = 100
# A sample older than this many sampling (or watch) intervals is not shown as the server's present.
STALE_AFTER_INTERVALS = 3


class PostgresTelemetry:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        settings = context.settings
        self.interval_seconds = settings.postgres_metrics_interval_seconds
        self.stale_after = timedelta(seconds=STALE_AFTER_INTERVALS * max(settings.postgres_metrics_interval_seconds,
                                                                          settings.watch_interval_seconds))

    def metrics(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID, from_date: str,
                to_date: str, bucket_size_seconds: int | None) -> schemas.PostgresMetrics:
        start, end = series.sampled_window(from_date, to_date)
        if bucket_size_seconds is not None and bucket_size_seconds < 1:
            raise BadRequest(f"bucket_size_seconds {bucket_size_seconds} must be at least 1")
        buckets = series.buckets(start, end, bucket_size_seconds, self.interval_seconds)
        with self.context.database.looking() as session:
            visible(PostgresServices(session), caller, organization_id, postgres_id)
            found = PostgresSamples(session).between(postgres_id, start, end)
            samples = [Sample(row.taken_at, Reading.from_json(row.readings)) for row in found]
        return series.metrics(samples, buckets)

    def slow_query_patterns(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID,
                            query: PatternQuery) -> list[schemas.PostgresSlowQueryPattern]:
        with self.context.database.looking() as session:
            visible(PostgresServices(session), caller, organization_id, postgres_id)
            totals = PostgresStatements(session).totals(postgres_id, query.since, query.until, db_name=query.db_name,
                                                        db_user=query.db_user, db_operation=query.db_operation)
        return patterns.page([patterns.to_wire(pattern) for pattern in totals if pattern.calls > 0], query)

    def slow_query_pattern(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID, query_id: str,
                           db_name: str, db_user: str, db_operation: str, app: str | None = None,
                           timestamp: str | None = None) -> schemas.PostgresSlowQueryPatternDetail:
        """One pattern's figures over every sample kept; no executions (pg_stat_statements has none, so
        `timestamp`, once checked, selects nothing)."""
        patterns.check_app(app)
        operation = patterns.operation_filter(db_operation)
        if timestamp is not None:
            instant("timestamp", timestamp)
        with self.context.database.looking() as session:
            visible(PostgresServices(session), caller, organization_id, postgres_id)
            totals = PostgresStatements(session).totals(postgres_id, query_id=query_id, db_name=db_name,
                                                        db_user=db_user, db_operation=operation)
        if not totals:
            raise NotFound(f"Postgres service {postgres_id} has no samples of query pattern {query_id} run by "
                           f"{db_user} in {db_name} as {operation}; slowQueryPatterns lists those it has")
        return schemas.PostgresSlowQueryPatternDetail(aggregate=patterns.to_wire(totals[0]), recentExecutions=[])

    def prometheus_service(self, caller: Caller, organization_id: uuid.UUID, postgres_id: uuid.UUID) -> str:
        with self.context.database.looking() as session:
            found = visible(PostgresServices(session), caller, organization_id, postgres_id)
            latest = PostgresSamples(session).latest([found.id])
            return prometheus.render([self._telemetry(found, latest.get(found.id))])

    def prometheus_organization(self, caller: Caller, organization_id: uuid.UUID) -> str:
        """The text of the organization's first MAX_PROMETHEUS_SERVICES services, oldest first."""
        with self.context.database.looking() as session:
            visible_organization(Organizations(session), caller, organization_id)
            services = PostgresServices(session).list(organization_id)[:MAX_PROMETHEUS_SERVICES]
            latest = PostgresSamples(session).latest([found.id for found in services])
            return prometheus.render([self._telemetry(found, latest.get(found.id)) for found in services])

    def _telemetry(self, found: PostgresService, sample: PostgresSample | None) -> ServiceTelemetry:
        """The service as Prometheus shows it: with its latest sample only while it runs and the sample is recent."""
        current = (sample is not None and found.state == "running"
                   and sample.taken_at >= utcnow() - self.stale_after)
        return ServiceTelemetry(
            organization_id=str(found.organization_id), service_id=str(found.id), service_name=found.name,
            state=found.state, version=found.postgres_version,
            latest=Reading.from_json(sample.readings) if current and sample is not None else None)
