"""Query API endpoints of a service: clickhousectl's `query-api-endpoint` commands (absent from the reference
document; the served document describes them as clickplane serves them), and each endpoint's URL, which runs its
SQL for the API keys it lists."""

from __future__ import annotations

from functools import partial
from uuid import UUID

from blacksheep import Request, Response

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit import cors
from clickplane.kit.binders import JsonBody, parsed_model
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces, base_url
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import Conflict
from clickplane.kit.paging import MAX_PAGE
from clickplane.kit.routes import Api, authorize
from clickplane.query.relay import stream
from clickplane.query.service import NotRunning, QueryService
from clickplane.query_api_endpoints.schemas import (
    QueryApiEndpoint,
    QueryApiEndpointListItem,
    QueryApiEndpointRequest,
    QueryApiEndpointRun,
)
from clickplane.query_api_endpoints.service import RUN_PATH, QueryApiEndpointService, to_list_item, to_wire

TAG = "Query API endpoint"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/query-api-endpoints"
ONE = PATH + "/{queryApiEndpointId}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)
DEFAULT_FORMAT = "JSONEachRow"
WRITTEN = ("The SQL is checked on the service's ClickHouse when the service is running (its placeholders filled "
           "with `parameters`), as a saved query's is. apiKeyIds must be keys of the organization; the SQL runs "
           "read-only unless `roles` has sql_console_admin. An endpoint owned by a user (ownerType user) cannot be "
           "changed through the API (403).")


def add_routes(api: Api, context: AppContext) -> None:
    endpoints = QueryApiEndpointService(context)
    queries = QueryService(context)

    @api.route("GET", PATH, "queryApiEndpointGetList", "List Query API endpoints", TAG,
               "The service's Query API endpoints, oldest first; a page at a time with `limit` (1 to 100) and "
               "`cursor` (the `nextCursor` of the page before). Absent from the reference; clickhousectl's "
               "`query-api-endpoint list`.", list[QueryApiEndpointListItem], paged=True,
               parameters={"limit": {"minimum": 1, "maximum": MAX_PAGE}},
               produces=Produces("queryApiEndpointId", "/result/0/id"))
    async def list_endpoints(caller: Caller, organizationId: UUID, serviceId: UUID, request: Request,
                             limit: int | None = None, cursor: str | None = None) -> Response:
        page, paging = endpoints.list(caller, organizationId, serviceId, limit, cursor)
        return ok([to_list_item(row, base_url(request)) for row in page], page=paging)

    @api.route("POST", PATH, "queryApiEndpointCreate", "Create a Query API endpoint", TAG,
               f"Makes an endpoint whose `url` runs the SQL. {WRITTEN}", QueryApiEndpoint, errors=CHANGE_ERRORS,
               produces=Produces("queryApiEndpointId", "/result/id"))
    async def create_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID, request: Request,
                              body: JsonBody[QueryApiEndpointRequest]) -> Response:
        made = await endpoints.create(caller, organizationId, serviceId, body.value)
        return ok(to_wire(made, base_url(request)))

    @api.route("GET", ONE, "queryApiEndpointGet", "Get a Query API endpoint", TAG, "One endpoint, with its SQL.",
               QueryApiEndpoint)
    async def get_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID, queryApiEndpointId: UUID,
                           request: Request) -> Response:
        return ok(to_wire(endpoints.get(caller, organizationId, serviceId, queryApiEndpointId), base_url(request)))

    @api.route("PUT", ONE, "queryApiEndpointUpdate", "Replace a Query API endpoint", TAG,
               f"A full replacement: what the body leaves out is not kept. {WRITTEN}", QueryApiEndpoint,
               errors=CHANGE_ERRORS)
    async def update_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID, queryApiEndpointId: UUID,
                              request: Request, body: JsonBody[QueryApiEndpointRequest]) -> Response:
        replaced = await endpoints.replace(caller, organizationId, serviceId, queryApiEndpointId, body.value)
        return ok(to_wire(replaced, base_url(request)))

    @api.route("DELETE", ONE, "queryApiEndpointDelete", "Delete a Query API endpoint", TAG,
               "Removes the endpoint; its URL answers 404 from then on. A user's endpoint cannot be deleted through "
               "the API (403).", None, errors=CHANGE_ERRORS)
    async def delete_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                              queryApiEndpointId: UUID) -> Response:
        endpoints.delete(caller, organizationId, serviceId, queryApiEndpointId)
        return acknowledged()

    @api.docs.ignore()  # type: ignore[untyped-decorator]
    async def run_endpoint(caller: Caller, endpointId: UUID, request: Request) -> Response:
        """An endpoint's `url`: its SQL run on its service as the Query API runs SQL (query/relay.py), an idle
        service woken first."""
        body = parsed_model(await request.read() or b"", QueryApiEndpointRun)
        origin = cors.origin_of(request)
        runnable = endpoints.runnable(caller, endpointId, origin, body)
        authorize(caller, permissions.QUERY_ENDPOINTS, "POST", None, runnable.service_id)
        ready = await queries.ready(caller, runnable.service_id, runnable.state, runnable.read_only,
                                    wake_confirmed=True)
        if isinstance(ready, NotRunning):
            raise Conflict(f"service {runnable.service_id} is stopped; start it to run this endpoint. Current "
                           "state: 'stopped'")
        output_format = request.query.get("format", [None])[0] or body.format or DEFAULT_FORMAT
        response = await stream(queries, request, ready, runnable.run, output_format)
        return response if origin is None else cors.allow(response, origin)

    @api.docs.ignore()  # type: ignore[untyped-decorator]
    async def preflight(endpointId: UUID, request: Request) -> Response:
        """A browser's CORS preflight of a run: what the endpoint's allowedOrigins allow."""
        return cors.preflight(request, partial(endpoints.admits_origin, endpointId),
                              "this Query API endpoint takes no runs from that origin (or does not exist); add the "
                              "origin to its allowedOrigins")

    api.router.add("POST", RUN_PATH, run_endpoint)
    api.router.add("OPTIONS", RUN_PATH, preflight)
