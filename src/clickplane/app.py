"""Assembles the ASGI application: routers, binders, error rendering, the OpenAPI document, limits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

from blacksheep import Application, Content, Request, Response, Router
from blacksheep.exceptions import HTTPException, MessageAborted
from prometheus_client.registry import Collector
from rodi import Container
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from clickplane.activities import endpoints as activities
from clickplane.backups import endpoints as backups
from clickplane.byoc import endpoints as byoc
from clickplane.clickpipes import endpoints as clickpipes
from clickplane.clickpipes.private_endpoints import endpoints as reverse_private_endpoints
from clickplane.clickstack import endpoints as clickstack
from clickplane.keys import endpoints as keys
from clickplane.kit.context import AppContext
from clickplane.kit.docs import CloudApiDocs
from clickplane.kit.envelope import JSON, failure
from clickplane.kit.errors import ApiError, NotFound, TooManyRequests
from clickplane.kit.limits import BodyLimits
from clickplane.kit.routes import Api, no_such_operation
from clickplane.members import endpoints as users
from clickplane.observability.metrics import registry_of, scrape_handler
from clickplane.observability.middleware import Observed, RouteRecordingRouter
from clickplane.organizations import endpoints as organizations
from clickplane.postgres import endpoints as postgres
from clickplane.postgres.telemetry import endpoints as postgres_telemetry
from clickplane.prometheus import endpoints as prometheus
from clickplane.query.endpoints import add_query_route
from clickplane.query_api_endpoints import endpoints as query_api_endpoints
from clickplane.query_endpoints import endpoints as query_endpoints
from clickplane.quotas import endpoints as quotas
from clickplane.replica_routing import endpoints as replica_routing
from clickplane.roles import endpoints as roles
from clickplane.saved_queries import endpoints as saved_queries
from clickplane.scaling_schedules import endpoints as scaling_schedules
from clickplane.service_profiles import endpoints as service_profiles
from clickplane.service_settings import endpoints as clickhouse_settings
from clickplane.services import endpoints as services
from clickplane.udfs import endpoints as udfs
from clickplane.upgrade_windows import endpoints as upgrade_windows
from clickplane.usage import endpoints as usage

log = logging.getLogger(__name__)

HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
              405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE"}
# What nginx records for a request whose client went away before it was answered; never sent (nobody is there).
CLIENT_CLOSED_REQUEST = 499


class QuietApplication(Application):
    """BlackSheep, without its own log line for each handled error: that line had the query string and the
    error's text, which may quote what the client sent (a key secret put in `openApiKeys` by mistake), and the
    access line already has the status. An unhandled error is logged with its traceback, naming the path only."""

    async def log_handled_exc(self, request: Request, exc: Exception) -> None:
        return

    async def log_unhandled_exc(self, request: Request, exc: Exception) -> None:
        self.logger.error('Unhandled exception - "%s %s"', request.method, request.path, exc_info=exc)


async def _render_api_error(app: Application, request: Request, error: ApiError) -> Response:
    return failure(error.status, error.wire_text, fields=error.fields)


async def _render_rate_limited(app: Application, request: Request, error: TooManyRequests) -> Response:
    """With the seconds until a request is accepted again and until the whole allowance is back (in
    X-RateLimit-Reset as seconds, as ClickHouse's Terraform provider reads it)."""
    return failure(error.status, error.wire_text, [(b"retry-after", str(error.retry_after_seconds).encode()),
                                                   (b"x-ratelimit-reset", str(error.reset_after_seconds).encode())])


async def _render_http_exception(app: Application, request: Request, error: HTTPException) -> Response:
    """BlackSheep's own errors (path parameters that do not parse, for instance), in our envelope."""
    if error.status >= 500:
        return failure(500, "INTERNAL_ERROR: the server failed to handle this request; retry, and report the "
                            "requestId if it persists")
    status = error.status if error.status in HTTP_CODES else 400
    text = (str(error) or "the request could not be processed").removeprefix("Bad Request: ")
    return failure(status, f"{HTTP_CODES[status]}: {text}")


async def _client_went_away(app: Application, request: Request, error: MessageAborted) -> Response:
    """The client disconnected before its request's body arrived whole (an aborted upload): nothing went wrong
    here, and there is nobody to answer; recorded as 499 in the access line and the metrics, not as a 500."""
    log.info("the client disconnected before its request body arrived whole")
    return Response(CLIENT_CLOSED_REQUEST, None, None)


async def _render_write_conflict(app: Application, request: Request, error: IntegrityError) -> Response:
    """A uniqueness the store enforces, lost to a request that committed first (two keys of one name at once)."""
    return failure(409, "CONFLICT: another request changed the same record at the same moment and was applied "
                        "first; read it again and retry if your change still applies")


def add_health_routes(router: Router, docs: CloudApiDocs, context: AppContext) -> None:
    """Outside /v1, unauthenticated, for load balancers and orchestrators: alive, and ready (the store answers)."""

    @docs.ignore()  # type: ignore[untyped-decorator]
    async def healthz() -> Response:
        return Response(200, None, Content(JSON, b'{"status":"ok"}'))

    @docs.ignore()  # type: ignore[untyped-decorator]
    async def readyz() -> Response:
        try:
            with context.database.reading() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            return failure(503, f"UNAVAILABLE: the metadata store does not answer ({type(error).__name__})")
        return Response(200, None, Content(JSON, b'{"status":"ready"}'))

    router.add("GET", "/healthz", healthz)
    router.add("GET", "/readyz", readyz)


def create_app(context: AppContext, collectors: Iterable[Collector] = ()) -> Any:
    """The ASGI application for `context`; its GET /metrics also exposes `collectors` (the reconciler's)."""
    docs = CloudApiDocs(context.settings.openapi_title)
    router = RouteRecordingRouter()
    router.fallback = no_such_operation(router)
    api = Api(router, docs)
    for resource in (organizations, services, query_endpoints, keys, roles, users, quotas, activities, prometheus,
                     clickhouse_settings, backups, usage, postgres, postgres_telemetry, clickpipes,
                     reverse_private_endpoints, clickstack, saved_queries, query_api_endpoints, service_profiles,
                     replica_routing, udfs, scaling_schedules, upgrade_windows, byoc):
        resource.add_routes(api, context)
    add_query_route(router, docs, context)
    add_health_routes(router, docs, context)
    registry, http_metrics = registry_of(context.database, collectors)
    # Unauthenticated like /healthz: Prometheus scrapes without credentials, and the metrics hold no org data.
    router.add("GET", "/metrics", docs.ignore()(scrape_handler(registry)))
    app = _application(router, context)
    docs.bind_app(app)
    settings = context.settings
    return Observed(BodyLimits(app, settings.max_body_bytes, settings.body_timeout_seconds), http_metrics)


def create_upload_app(context: AppContext) -> Any:
    """The ASGI application of serve's HTTPS upload listener: the PUT of UDF upload URLs alone, with bodies up to
    udf_archive_max_bytes."""
    router = Router()
    udfs.add_upload_route(router, context)

    async def elsewhere(request: Request) -> Response:
        raise NotFound(f"no upload at {request.method} {request.path}: this listener takes the PUT of an uploadUrl "
                       "(POST /v1/organizations/{organizationId}/udfUploads/url hands them out)")

    router.fallback = elsewhere
    settings = context.settings
    return BodyLimits(_application(router, context), settings.udf_archive_max_bytes, settings.body_timeout_seconds)


def _application(router: Router, context: AppContext) -> QuietApplication:
    app = QuietApplication(router=router, show_error_details=False)
    cast(Container, app.services).add_instance(context)
    # Only our own handlers: BlackSheep's default one for pydantic errors would turn a bug into a 400.
    app.exceptions_handlers.clear()
    app.exceptions_handlers[ApiError] = _render_api_error
    app.exceptions_handlers[TooManyRequests] = _render_rate_limited
    app.exceptions_handlers[HTTPException] = _render_http_exception
    app.exceptions_handlers[IntegrityError] = _render_write_conflict
    app.exceptions_handlers[MessageAborted] = _client_went_away
    for status in (400, 404, 405, 500):
        app.exceptions_handlers[status] = _render_http_exception
    return app
