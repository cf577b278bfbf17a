"""The Query API's use cases apart from HTTP: whether a caller may run SQL on a service and as which ClickHouse
user, waking an idle service and waiting until it runs, sending the SQL, and killing a query whose client left.

The caller's API key must be bound to the service's query endpoint; its SQL runs as a ClickHouse user of that
key alone, read-only unless the endpoint has the `sql_console_admin` role, under the service's own settings
(never as the control plane's internal user, whose profile no setting of the service reaches). A query is
killed by the internal user: a read-only user could, but only the runtime knows every query's user and id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from uuid import UUID

import httpx

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit import cors
from clickplane.kit.context import AppContext
from clickplane.kit.errors import Conflict, Forbidden, NotFound
from clickplane.query.schemas import QueryRun
from clickplane.query_endpoints.repository import QueryEndpoints
from clickplane.query_endpoints.service import allowed_origins
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import SqlAccess
from clickplane.runtime.clickhouse.sql import literal
from clickplane.services import lifecycle
from clickplane.services.repository import Services

log = logging.getLogger(__name__)

WAKE_DEADLINE_SECONDS = 120.0
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Ready:
    """A running service's ClickHouse users for one caller's run."""

    access: SqlAccess  # the caller's own user: runs its SQL
    internal: SqlAccess  # the control plane's: kills the caller's query if its client goes away


@dataclass(frozen=True)
class NotRunning:
    """What the client is told instead of running its SQL (clickhousectl's wording)."""

    data: str


def kill_statement(query_id: str, user: str) -> str:
    """KILL of one query of one user: query ids are unique per user only, and the caller chose this one."""
    return f"KILL QUERY WHERE query_id = {literal(query_id)} AND user = {literal(user)} ASYNC"


class QueryService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def prepare(self, caller: Caller, service_id: UUID, wake_confirmed: bool, origin: str | None
                      ) -> Ready | NotRunning:
        """The caller's ClickHouse users once the service runs: an idle one is woken if the client confirmed it
        (else NotRunning), one on its way up is waited for; Conflict for any other state. A browser's `origin`
        must be one the service's query endpoint allows."""
        state, read_only = self.authorize_run(caller, service_id, origin)
        return await self.ready(caller, service_id, state, read_only, wake_confirmed)

    async def ready(self, caller: Caller, service_id: UUID, state: str, read_only: bool, wake_confirmed: bool
                    ) -> Ready | NotRunning:
        """For a caller already allowed to run SQL on the service (`state` as it was then), read-only or not: its
        ClickHouse users once the service runs, as `prepare` says."""
        if state == "stopped":
            return NotRunning("Service is stopped")
        if state == "idle":
            if not wake_confirmed:
                return NotRunning("Confirm wake service")
            self.wake(caller, service_id)
            state = "awaking"
        if state in lifecycle.STARTING:
            await self.wait_until_running(caller, service_id)
        elif state != "running":
            raise Conflict(f"service is {state}; queries run only on a running service. Current state: '{state}'")
        return await self.accesses(caller, service_id, read_only)

    def admits_origin(self, service_id: UUID, origin: str) -> bool:
        """Whether a browser's page from `origin` may run SQL on the service: a preflight's question, which
        carries no credentials (the run itself is then judged as any other)."""
        with self.context.database.looking() as session:
            endpoint = QueryEndpoints(session).get(service_id)
            return endpoint is not None and cors.admits(allowed_origins(endpoint), origin)

    def authorize_run(self, caller: Caller, service_id: UUID, origin: str | None) -> tuple[str, bool]:
        """The service's state and whether queries must be read-only (unless the endpoint grants
        `sql_console_admin`); refuses keys not bound to it, and browsers' origins it does not allow."""
        with self.context.database.looking() as session:
            service = Services(session).get(caller.organization_id, service_id)
            if service is None:
                raise NotFound(f"service {service_id} does not exist or is not visible to this API key")
            endpoint = QueryEndpoints(session).get(service_id)
            if endpoint is None or str(caller.key_uuid) not in endpoint.open_api_keys:
                raise Forbidden(f"this API key may not query service {service_id}; add its id to the service's "
                                "query endpoint (POST .../serviceQueryEndpoint)")
            if origin is not None and not cors.admits(allowed_origins(endpoint), origin):
                raise Forbidden(f"origin {origin!r} is not among the allowedOrigins of service {service_id}'s query "
                                "endpoint; add it to them (POST .../serviceQueryEndpoint)")
            return service.state, "sql_console_admin" not in endpoint.roles

    def wake(self, caller: Caller, service_id: UUID) -> None:
        with self.context.database.transaction() as session:
            service = Services(session).get(caller.organization_id, service_id)
            transition = lifecycle.apply(service.state, "awake") if service else None
            if service is not None and transition is not None:
                lifecycle.enter(service, transition)
                record(Activities(session), caller, "service_awaken", service_id=service.id)
        self.context.reconcile_now.set()

    async def wait_until_running(self, caller: Caller, service_id: UUID) -> None:
        deadline = time.monotonic() + WAKE_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            with self.context.database.looking() as session:
                service = Services(session).get(caller.organization_id, service_id)
                state = service.state if service else "terminated"
            if state == "running":
                return
            if state not in lifecycle.STARTING:
                raise Conflict(f"service became {state} while waiting for it to run. Current state: '{state}'")
            await asyncio.sleep(POLL_SECONDS)
        raise Conflict(f"service did not start within {WAKE_DEADLINE_SECONDS:.0f} s; retry later")

    async def accesses(self, caller: Caller, service_id: UUID, read_only: bool) -> Ready:
        try:
            access = await self.context.runtime.query_access(str(service_id), str(caller.key_uuid), read_only)
            internal = await self.context.runtime.sql_access(str(service_id))
        except RuntimeFailure as failure:
            log.warning("%s", failure)
            raise Conflict("service is not ready for queries yet; retry in a few seconds") from None
        if access is None or internal is None:
            raise Conflict("service is not answering yet; retry in a few seconds")
        return Ready(access, internal)

    async def send(self, ready: Ready, run: QueryRun, query_id: str, output_format: str | None) -> httpx.Response:
        """ClickHouse's answer to the run, as the caller's user; its body is still to be read (and the
        response closed) by the caller."""
        params = {"query_id": query_id, "default_format": output_format or "TabSeparated"}
        if run.database:
            params["database"] = run.database
        client = self.context.http_client()
        return await client.send(client.build_request("POST", ready.access.url, params=params,
                                                      content=run.sql.encode()),
                                 auth=(ready.access.user, ready.access.password), stream=True)

    async def kill(self, ready: Ready, query_id: str) -> None:
        """End the caller's query on the server (which also ends the output being relayed); best effort."""
        internal = ready.internal
        with contextlib.suppress(httpx.HTTPError):
            await self.context.http_client().post(internal.url, params={"query_id": f"kill-{query_id}"},
                                                  content=kill_statement(query_id, ready.access.user),
                                                  auth=(internal.user, internal.password))
            log.info("killed query %s: its client went away", query_id)
