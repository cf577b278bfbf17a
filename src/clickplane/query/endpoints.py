"""The Query API: `POST /service/{serviceId}/run?format=F` runs SQL on a service's ClickHouse and streams
the output back as ClickHouse produces it.

It answers on the API server itself (clickhousectl reaches it through CLICKHOUSE_CLOUD_QUERY_HOST). The
caller's roles must allow `sql-console:query-endpoints:use` on the service, and its API key must be bound to
the service's query endpoint; query/service.py says as which ClickHouse user its SQL runs. An idle service is
woken when the request says `wake-service: true` (else 206 `Confirm wake service`); a stopped one answers 206
`Service is stopped`. If the client goes away before the output ends, the query is killed on the server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

from blacksheep import Content, Request, Response, Router, StreamedContent
from pydantic import ValidationError
from pydantic_core import from_json, to_json

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit.binders import describe_validation_error
from clickplane.kit.context import AppContext
from clickplane.kit.docs import CloudApiDocs
from clickplane.kit.errors import BadRequest
from clickplane.kit.routes import authorize
from clickplane.query.schemas import QueryRun
from clickplane.query.service import NotRunning, QueryService, Ready

PATH = "/service/{serviceId}/run"


def _partial(data: str) -> Response:
    """What clickhousectl expects for an idle or stopped service: 206 and a `data` message."""
    return Response(206, None, Content(b"application/json", to_json({"data": data})))


def parse_run(body: bytes) -> QueryRun:
    try:
        return QueryRun.model_validate(from_json(body or b"{}"))
    except ValidationError as error:
        raise BadRequest(describe_validation_error(error)) from None
    except ValueError as error:
        raise BadRequest(f"the request body is not valid JSON ({error}); send {{\"sql\": \"...\"}}") from None


def add_query_route(router: Router, docs: CloudApiDocs, context: AppContext) -> None:
    queries = QueryService(context)

    @docs.ignore()  # type: ignore[untyped-decorator]
    async def run_query(caller: Caller, serviceId: UUID, request: Request) -> Response:
        run = parse_run(await request.read() or b"")
        authorize(caller, permissions.QUERY_ENDPOINTS, "POST", None, serviceId)
        wake_confirmed = (request.get_first_header(b"wake-service") or b"").lower() == b"true"
        ready = await queries.prepare(caller, serviceId, wake_confirmed)
        if isinstance(ready, NotRunning):
            return _partial(ready.data)
        return await stream(request, ready, run, request.query.get("format", [None])[0])

    router.add("POST", PATH, run_query)

    async def stream(request: Request, ready: Ready, run: QueryRun, output_format: str | None) -> Response:
        query_id = run.runId or str(uuid.uuid4())
        # The server does not tell a streaming handler that its client left, so watch for it: when it does,
        # kill the query, which also ends the stream we are relaying.
        watcher = asyncio.get_running_loop().create_task(kill_when_gone(request, ready, query_id))
        try:
            upstream = await queries.send(ready, run, query_id, output_format)
        except BaseException:
            watcher.cancel()
            raise
        if upstream.status_code != 200:
            watcher.cancel()
            text = await upstream.aread()
            await upstream.aclose()
            # ClickHouse answers 404 for an unknown table or column: a mistake in the SQL, not a missing API
            # resource, which is what clients take a 404 from this API to mean.
            status = 400 if upstream.status_code == 404 else upstream.status_code
            return Response(status, None, Content(b"text/plain; charset=utf-8", text))

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                watcher.cancel()
                await upstream.aclose()

        content_type = upstream.headers.get("content-type", "text/plain; charset=UTF-8").encode()
        return Response(200, [(b"x-clickhouse-query-id", query_id.encode())], StreamedContent(content_type, chunks))

    async def kill_when_gone(request: Request, ready: Ready, query_id: str) -> None:
        receive = getattr(request.content, "receive", None)
        if receive is None:
            return
        while (await receive()).get("type") != "http.disconnect":
            pass
        await queries.kill(ready, query_id)
