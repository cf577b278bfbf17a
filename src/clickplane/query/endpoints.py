"""The Query API: `POST /service/{serviceId}/run?format=F` runs SQL on a service's ClickHouse and streams
the output back as ClickHouse produces it.

It answers on the API server itself (clickhousectl reaches it through CLICKHOUSE_CLOUD_QUERY_HOST). The
caller's roles must allow `sql-console:query-endpoints:use` on the service, and its API key must be bound to
the service's query endpoint; query/service.py says as which ClickHouse user its SQL runs. An idle service is
woken when the request says `wake-service: true` (else 206 `Confirm wake service`); a stopped one answers 206
`Service is stopped`. If the client goes away before the output ends, the query is killed on the server.
"""

from __future__ import annotations

from functools import partial
from uuid import UUID

from blacksheep import Content, Request, Response, Router
from pydantic_core import to_json

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit import cors
from clickplane.kit.binders import parsed_model
from clickplane.kit.context import AppContext
from clickplane.kit.docs import CloudApiDocs
from clickplane.kit.routes import authorize
from clickplane.query.relay import stream
from clickplane.query.schemas import QueryRun
from clickplane.query.service import NotRunning, QueryService

PATH = "/service/{serviceId}/run"


def _partial(data: str) -> Response:
    """What clickhousectl expects for an idle or stopped service: 206 and a `data` message."""
    return Response(206, None, Content(b"application/json", to_json({"data": data})))


def add_query_route(router: Router, docs: CloudApiDocs, context: AppContext) -> None:
    queries = QueryService(context)

    @docs.ignore()  # type: ignore[untyped-decorator]
    async def run_query(caller: Caller, serviceId: UUID, request: Request) -> Response:
        run = parsed_model(await request.read() or b"", QueryRun)
        authorize(caller, permissions.QUERY_ENDPOINTS, "POST", None, serviceId)
        wake_confirmed = (request.get_first_header(b"wake-service") or b"").lower() == b"true"
        origin = cors.origin_of(request)
        ready = await queries.prepare(caller, serviceId, wake_confirmed, origin)
        response = _partial(ready.data) if isinstance(ready, NotRunning) else await stream(
            queries, request, ready, run, request.query.get("format", [None])[0])
        return response if origin is None else cors.allow(response, origin)

    @docs.ignore()  # type: ignore[untyped-decorator]
    async def preflight(serviceId: UUID, request: Request) -> Response:
        """A browser's CORS preflight of a run: what its service's query endpoint allows."""
        return cors.preflight(request, partial(queries.admits_origin, serviceId),
                              "this service's query endpoint takes no queries from that origin (or there is no such "
                              "service); add the origin to its allowedOrigins (POST .../serviceQueryEndpoint)")

    router.add("POST", PATH, run_query)
    router.add("OPTIONS", PATH, preflight)
