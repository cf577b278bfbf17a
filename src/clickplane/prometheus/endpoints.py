"""Prometheus: the metrics of one service, or of every service of the organization, read live from their
servers and answered as Prometheus text (prometheus/service.py says what is in it)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

from blacksheep import Content, Response

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import PlainText
from clickplane.kit.errors import NotFound
from clickplane.kit.routes import Api
from clickplane.organizations import service as organization_rules
from clickplane.organizations.repository import Organizations
from clickplane.prometheus import service as prometheus
from clickplane.services import engine
from clickplane.services import service as service_rules
from clickplane.services.repository import Services
from clickplane.store import models

TAG = "Prometheus"
RESULT = PlainText("text/plain")
FILTERING = ("`filtered_metrics=true` keeps a curated subset: query counts and failures, rows and bytes read and "
             "written, merges, connections, memory, uptime, part counts and replica health.")


def add_routes(api: Api, context: AppContext) -> None:

    async def read(service: models.Service) -> prometheus.ServiceMetrics:
        """The service's metrics: read from its server when it runs, else only what the store knows."""
        metrics = prometheus.ServiceMetrics(
            organization_id=str(service.organization_id), service_id=str(service.id), service_name=service.name,
            state=service.state, clickhouse_version=service.clickhouse_version)
        if service.state != "running":
            return metrics
        answer = await engine.ask(context, service.id, prometheus.READINGS_SQL)
        try:
            readings = prometheus.parse_readings(answer.text) if answer is not None and answer.ok else None
        except (ValueError, KeyError):
            readings = None
        return replace(metrics, complete=False) if readings is None else replace(metrics, readings=readings)

    async def exposition(services: Sequence[models.Service], filtered_metrics: str | None) -> Response:
        filtered = prometheus.parse_filtered(filtered_metrics)
        metrics = await asyncio.gather(*(read(service) for service in services))
        text = prometheus.render(metrics, filtered)
        return Response(200, None, Content(prometheus.CONTENT_TYPE.encode(), text.encode()))

    @api.route("GET", "/v1/organizations/{organizationId}/prometheus",
               "organizationPrometheusGet", "Get organization metrics", TAG,
               "Prometheus text (format 0.0.4) with the metrics of every service of the organization this API key "
               "may view, read from their ClickHouse servers now. Each service has a ClickHouse_ServiceInfo "
               "sample naming its state, so stopped and idle services are listed (without waking them). "
               + FILTERING, RESULT, errors=(400, 401, 404, 500))
    async def organization_metrics(caller: Caller, organizationId: UUID, filtered_metrics: str | None = None
                                   ) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            services = [service for service in Services(session).list(organizationId)
                        if permissions.allows(caller.policies, permissions.SERVICE_VIEW, f"instance/{service.id}")]
        return await exposition(services, filtered_metrics)

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}/prometheus",
               "instancePrometheusGet", "Get service metrics", TAG,
               "Prometheus text (format 0.0.4) with the service's metrics, read from its ClickHouse server now: "
               "system.metrics and system.asynchronous_metrics as gauges, system.events as counters. A stopped or "
               "idle service answers with its ClickHouse_ServiceInfo sample only. " + FILTERING, RESULT)
    async def service_metrics(caller: Caller, organizationId: UUID, serviceId: UUID,
                              filtered_metrics: str | None = None) -> Response:
        with context.database.transaction() as session:
            service = service_rules.visible(Services(session), caller, organizationId, serviceId)
        return await exposition([service], filtered_metrics)

    @api.route("GET", "/v1/organizations/{organizationId}/postgres/prometheus",
               "postgresOrgPrometheusGet", "Get organization PostgreSQL metrics", TAG,
               "clickplane runs no PostgreSQL services, so the exposition holds no samples.", RESULT,
               errors=(400, 401, 404, 500))
    async def organization_postgres_metrics(caller: Caller, organizationId: UUID,
                                            filtered_metrics: str | None = None) -> Response:
        prometheus.parse_filtered(filtered_metrics)
        return Response(200, None, Content(prometheus.CONTENT_TYPE.encode(), b""))

    @api.route("GET", "/v1/organizations/{organizationId}/postgres/{postgresId}/prometheus",
               "postgresInstancePrometheusGet", "Get PostgreSQL service metrics", TAG,
               "clickplane runs no PostgreSQL services: every id answers 404.", RESULT)
    async def postgres_metrics(caller: Caller, organizationId: UUID, postgresId: str) -> Response:
        raise NotFound(f"PostgreSQL service {postgresId} does not exist: clickplane runs no PostgreSQL services")
