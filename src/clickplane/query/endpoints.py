"""The Query API: `POST /service/{serviceId}/run?format=F` runs SQL on a service's ClickHouse and streams
the output back as ClickHouse produces it.

It answers on the API server itself (clickhousectl reaches it through CLICKHOUSE_CLOUD_QUERY_HOST). The
caller's roles must allow `sql-console:query-endpoints:use` on the service, and its API key must be bound to
the service's query endpoint. Its SQL runs as a ClickHouse user of that key alone, read-only unless the
endpoint has the `sql_console_admin` role, under the service's own settings (never as the control plane's
internal user, whose profile no setting of the service reaches). An idle service is woken when the
request says `wake-service: true` (else 206 `Confirm wake service`); a stopped one answers 206
`Service is stopped`. If the client goes away before the output ends, the query is killed on the server (by
the internal user: a read-only user could, but only the runtime knows every query's user and id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import httpx
from blacksheep import Content, Request, Response, Router, StreamedContent
from pydantic import ValidationError
from pydantic_core import from_json, to_json

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit.binders import describe_validation_error
from clickplane.kit.context import AppContext
from clickplane.kit.docs import CloudApiDocs
from clickplane.kit.errors import BadRequest, Conflict, Forbidden, NotFound
from clickplane.kit.routes import authorize
from clickplane.query.schemas import QueryRun
from clickplane.query_endpoints.repository import QueryEndpoints
from clickplane.runtime.base import RuntimeFailure, SqlAccess
from clickplane.services import lifecycle
from clickplane.services.repository import Services

log = logging.getLogger(__name__)

PATH = "/service/{serviceId}/run"
WAKE_DEADLINE_SECONDS = 120.0
STARTING = frozenset({"starting", "awaking", "provisioning"})


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
    @docs.ignore()  # type: ignore[untyped-decorator]
    async def run_query(caller: Caller, serviceId: UUID, request: Request) -> Response:
        run = parse_run(await request.read() or b"")
        authorize(caller, permissions.QUERY_ENDPOINTS, "POST", None, serviceId)
        state, read_only = authorize_run(caller, serviceId)
        if state == "stopped":
            return _partial("Service is stopped")
        if state == "idle":
            if (request.get_first_header(b"wake-service") or b"").lower() != b"true":
                return _partial("Confirm wake service")
            wake(caller, serviceId)
            state = "awaking"
        if state in STARTING:
            await wait_until_running(caller, serviceId)
        elif state != "running":
            raise Conflict(f"service is {state}; queries run only on a running service. Current state: '{state}'")
        access, internal = await accesses(caller, serviceId, read_only)
        output_format = request.query.get("format", [None])[0]
        return await stream(request, access, internal, run, output_format)

    router.add("POST", PATH, run_query)

    def authorize_run(caller: Caller, service_id: UUID) -> tuple[str, bool]:
        """The service's state and whether queries must be read-only (unless the endpoint grants
        `sql_console_admin`); refuses keys not bound to it."""
        with context.database.transaction() as session:
            service = Services(session).get(caller.organization_id, service_id)
            if service is None:
                raise NotFound(f"service {service_id} does not exist or is not visible to this API key")
            endpoint = QueryEndpoints(session).get(service_id)
            if endpoint is None or str(caller.key_uuid) not in endpoint.open_api_keys:
                raise Forbidden(f"this API key may not query service {service_id}; add its id to the service's "
                                "query endpoint (POST .../serviceQueryEndpoint)")
            return service.state, "sql_console_admin" not in endpoint.roles

    async def accesses(caller: Caller, service_id: UUID, read_only: bool) -> tuple[SqlAccess, SqlAccess]:
        """The caller's own ClickHouse user, and the internal one (to kill the caller's query if it goes away)."""
        try:
            access = await context.runtime.query_access(str(service_id), str(caller.key_uuid), read_only)
            internal = await context.runtime.sql_access(str(service_id))
        except RuntimeFailure as failure:
            log.warning("%s", failure)
            raise Conflict("service is not ready for queries yet; retry in a few seconds") from None
        if access is None or internal is None:
            raise Conflict("service is not answering yet; retry in a few seconds")
        return access, internal

    def wake(caller: Caller, service_id: UUID) -> None:
        with context.database.transaction() as session:
            service = Services(session).get(caller.organization_id, service_id)
            transition = lifecycle.apply_command(service.state, "awake") if service else None
            if service is not None and transition is not None:
                lifecycle.enter(service, transition)
                record(Activities(session), caller, "service_awaken", service_id=service.id)
        context.reconcile_now.set()

    async def wait_until_running(caller: Caller, service_id: UUID) -> None:
        deadline = time.monotonic() + WAKE_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            with context.database.transaction() as session:
                service = Services(session).get(caller.organization_id, service_id)
                state = service.state if service else "terminated"
            if state == "running":
                return
            if state not in STARTING:
                raise Conflict(f"service became {state} while waiting for it to run. Current state: '{state}'")
            await asyncio.sleep(0.2)
        raise Conflict(f"service did not start within {WAKE_DEADLINE_SECONDS:.0f} s; retry later")

    async def stream(request: Request, access: SqlAccess, internal: SqlAccess, run: QueryRun,
                     output_format: str | None) -> Response:
        query_id = run.runId or str(uuid.uuid4())
        params = {"query_id": query_id, "default_format": output_format or "TabSeparated"}
        if run.database:
            params["database"] = run.database
        # The server does not tell a streaming handler that its client left, so watch for it: when it does,
        # kill the query, which also ends the stream we are relaying.
        watcher = asyncio.get_running_loop().create_task(kill_when_gone(request, internal, access.user, query_id))
        client = context.http_client()
        try:
            upstream = await client.send(client.build_request("POST", access.url, params=params,
                                                              content=run.sql.encode()),
                                         auth=(access.user, access.password), stream=True)
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

    async def kill_when_gone(request: Request, internal: SqlAccess, user: str, query_id: str) -> None:
        receive = getattr(request.content, "receive", None)
        if receive is None:
            return
        while (await receive()).get("type") != "http.disconnect":
            pass
        with contextlib.suppress(httpx.HTTPError):
            await context.http_client().post(internal.url, params={"query_id": f"kill-{query_id}"},
                                             content=kill_statement(query_id, user),
                                             auth=(internal.user, internal.password))
            log.info("killed query %s: its client went away", query_id)


def kill_statement(query_id: str, user: str) -> str:
    """KILL of one query of one user: query ids are unique per user only, and the caller chose this one."""
    return f"KILL QUERY WHERE query_id = '{_quoted(query_id)}' AND user = '{_quoted(user)}' ASYNC"


def _quoted(text: str) -> str:
    """`text` as the inside of a ClickHouse string literal."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
