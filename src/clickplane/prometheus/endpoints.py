"""Prometheus: the metrics of one ClickHouse service, or of every service of the organization, read live from their
servers and answered as Prometheus text (prometheus/service.py says what is in it). Postgres services' endpoints
are postgres/telemetry's."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import PlainText
from clickplane.kit.exposition import exposition
from clickplane.kit.routes import Api
from clickplane.prometheus.service import PrometheusService

TAG = "Prometheus"
RESULT = PlainText("text/plain")
FILTERING = ("`filtered_metrics=true` keeps a curated subset: query counts and failures, rows and bytes read and "
             "written, merges, connections, memory, uptime, part counts and replica health.")


def add_routes(api: Api, context: AppContext) -> None:
    metrics = PrometheusService(context)

    @api.route("GET", "/v1/organizations/{organizationId}/prometheus",
               "organizationPrometheusGet", "Get organization metrics", TAG,
               "Prometheus text (format 0.0.4) with the metrics of every service of the organization this API key "
               "may view, read from their ClickHouse servers now. Each service has a ClickHouse_ServiceInfo "
               "sample naming its state, so stopped and idle services are listed (without waking them). "
               + FILTERING, RESULT, errors=(400, 401, 404, 500))
    async def organization_metrics(caller: Caller, organizationId: UUID, filtered_metrics: str | None = None
                                   ) -> Response:
        return exposition(await metrics.organization_metrics(caller, organizationId, filtered_metrics))

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}/prometheus",
               "instancePrometheusGet", "Get service metrics", TAG,
               "Prometheus text (format 0.0.4) with the service's metrics, read from its ClickHouse server now: "
               "system.metrics and system.asynchronous_metrics as gauges, system.events as counters. A stopped or "
               "idle service answers with its ClickHouse_ServiceInfo sample only. " + FILTERING, RESULT)
    async def service_metrics(caller: Caller, organizationId: UUID, serviceId: UUID,
                              filtered_metrics: str | None = None) -> Response:
        return exposition(await metrics.service_metrics(caller, organizationId, serviceId, filtered_metrics))
