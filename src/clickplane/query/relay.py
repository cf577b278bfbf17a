"""Relaying a run's output from the service's ClickHouse to the client as it is produced, killing the query on the
server when the client goes away first: what the Query API (query/endpoints.py) and a Query API endpoint's URL
(query_api_endpoints/) answer with."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from blacksheep import Content, Request, Response, StreamedContent

from clickplane.query.schemas import QueryRun
from clickplane.query.service import QueryService, Ready
from clickplane.query.statements import ERROR_CODE, READONLY


async def stream(queries: QueryService, request: Request, ready: Ready, run: QueryRun, output_format: str | None,
                 ) -> Response:
    query_id = run.runId or str(uuid.uuid4())
    # The server does not tell a streaming handler that its client left, so watch for it: when it does,
    # kill the query, which also ends the stream we are relaying.
    watcher = asyncio.get_running_loop().create_task(_kill_when_gone(queries, request, ready, query_id))
    try:
        upstream = await queries.send(ready, run, query_id, output_format)
    except BaseException:
        watcher.cancel()
        raise
    if upstream.status_code != 200:
        watcher.cancel()
        text = await upstream.aread()
        await upstream.aclose()
        return Response(refusal_status(upstream.status_code, text), None, Content(b"text/plain; charset=utf-8", text))

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            watcher.cancel()
            await upstream.aclose()

    content_type = upstream.headers.get("content-type", "text/plain; charset=UTF-8").encode()
    return Response(200, [(b"x-clickhouse-query-id", query_id.encode())], StreamedContent(content_type, chunks))


def refusal_status(status: int, text: bytes) -> int:
    """What the client is answered when ClickHouse refused its SQL. ClickHouse answers 404 for an unknown table or
    column, a mistake in the SQL, not a missing API resource (what clients take a 404 from this API to mean); and
    18.16 answers 500 for most of its errors (`Code: N, ...`), each about the query: a 400, or a 403 for a write a
    read-only user may not make (READONLY). Other answers (a 401, a 503 of an overloaded server) keep their status."""
    code = ERROR_CODE.match(text.decode("utf-8", "replace"))
    if status == 404 or (status >= 500 and code is not None):
        return 403 if code is not None and int(code[1]) == READONLY else 400
    return status


async def _kill_when_gone(queries: QueryService, request: Request, ready: Ready, query_id: str) -> None:
    receive = getattr(request.content, "receive", None)
    if receive is None:
        return
    while (await receive()).get("type") != "http.disconnect":
        pass
    await queries.kill(ready, query_id)
