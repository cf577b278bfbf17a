"""The runtime's own client of services' ClickHouse servers, over their HTTP interface, for any runtime that can
reach them (the local one now, Kubernetes later): /ping, SQL as the internal user, the server's version, the
queries it runs for the control plane counted apart, a new user's acceptance.

A server is named by its service's id and the base URL of its HTTP interface (`http://host:port`, see `base_url`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable, Hashable

import httpx

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.config import INTERNAL_USER
from clickplane.runtime.clickhouse.interface import SqlAccess

log = logging.getLogger(__name__)

_HTTP_TIMEOUT_SECONDS = 5.0
# A server answers /ping from memory, in a millisecond or so even when busy: one that takes longer than
# this is stopped (SIGSTOP), hung or starved, and the reconciler counts it as a failed check.
_PING_TIMEOUT_SECONDS = 2.0
# The runtime reaches its servers over plain HTTP. Handing each client this context
# (no trusted CAs: it would refuse any TLS peer) spares it loading the system's CA bundle, tens of
# milliseconds on the event loop per client.
_PLAIN_HTTP_ONLY = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)

# How long a new Query API user may take to be known to the server: 18.16 rereads its users files every
# couple of seconds (seen: 2.5-6 s).
_QUERY_USER_DEADLINE_SECONDS = 20.0
_QUERY_USER_POLL_SECONDS = 0.2

# Queries the server has started since it began; our own asking counts as one.
QUERY_COUNT_SQL = "SELECT sum(value) FROM system.events WHERE event = 'Query'"


def base_url(host: str, port: int) -> str:
    """The base URL of an HTTP interface at host:port (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def sql_url(url: str) -> str:
    """Where SQL is posted, on the HTTP interface at base URL `url`."""
    return f"{url}/"


class ClickHouseClient:
    """Talks to services' servers as the internal user `clickplane`, whose password `internal_password(service_id)`
    gives. Keeps one connection per service between checks (`disconnect` closes it before its server stops)."""

    def __init__(self, internal_password: Callable[[str], str]) -> None:
        self._internal_password = internal_password
        # The version of each server, by service and by what tells its servers apart (the local runtime's pid).
        self._versions: dict[tuple[str, Hashable], str] = {}
        # Queries the control plane ran on each service's current server for itself (count_own_query).
        self._own_queries: dict[str, int] = {}
        # A client per service, its connection kept between checks (closed before the server is stopped), for the
        # event loop they were made in: connections cannot move to another loop.
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._clients_loop: asyncio.AbstractEventLoop | None = None

    def internal_access(self, service_id: str, url: str) -> SqlAccess:
        return SqlAccess(sql_url(url), INTERNAL_USER, self._internal_password(service_id))

    async def pings(self, service_id: str, url: str) -> bool:
        """Whether the server answers /ping in time."""
        try:
            response = await self._http(service_id).get(f"{url}/ping", timeout=_PING_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.text.strip() == "Ok."

    async def version(self, service_id: str, url: str, server: Hashable) -> str | None:
        """The server's version as the internal user (18.16 has no --version), cached per server;
        None when the server does not tell, which only the next observation can fix."""
        cached = self._versions.get((service_id, server))
        if cached is not None:
            return cached
        version = await self.internal_query(service_id, url, "SELECT version()")
        if version is not None:
            self._versions[(service_id, server)] = version
        return version

    def forget_server(self, service_id: str, server: Hashable) -> None:
        """Drop what is known of a server that is gone."""
        self._versions.pop((service_id, server), None)

    def new_server(self, service_id: str) -> None:
        """Note that the service has a new server, which counts its queries from zero."""
        self._own_queries.pop(service_id, None)

    def count_own_query(self, service_id: str) -> None:
        self._own_queries[service_id] = self._own_queries.get(service_id, 0) + 1

    async def query_count(self, service_id: str, url: str) -> int | None:
        """The queries the server has run since it started, less the control plane's own (None if it cannot tell)."""
        answer = await self.internal_query(service_id, url, QUERY_COUNT_SQL)
        if answer is None or not answer.isdigit():
            return None
        return int(answer) - self._own_queries.get(service_id, 0)

    async def wait_until_user_accepted(self, service_id: str, url: str, user: str, password: str) -> None:
        """Poll until the server has read a new user from its users files; RuntimeFailure past the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _QUERY_USER_DEADLINE_SECONDS
        while True:
            self.count_own_query(service_id)
            with contextlib.suppress(httpx.HTTPError):
                response = await self._http(service_id).post(sql_url(url), content=b"SELECT 1", auth=(user, password))
                if response.status_code == 200:
                    return
            if loop.time() >= deadline:
                raise RuntimeFailure(f"service {service_id} did not take its Query API user {user} within "
                                     f"{_QUERY_USER_DEADLINE_SECONDS:g} s")
            await asyncio.sleep(_QUERY_USER_POLL_SECONDS)

    async def internal_query(self, service_id: str, url: str, sql: str) -> str | None:
        """Run `sql` as the internal user; its output, or None (logged) when the server does not answer."""
        try:
            return (await self.run_sql(service_id, url, sql)).strip()
        except RuntimeFailure as failure:
            log.warning("%s", failure)
            return None

    async def run_sql(self, service_id: str, url: str, sql: str, timeout: float = _HTTP_TIMEOUT_SECONDS) -> str:
        """Run `sql` as the internal user; its output, or RuntimeFailure saying why there is none."""
        try:
            response = await self._http(service_id).post(
                sql_url(url),
                content=sql.encode(),
                auth=(INTERNAL_USER, self._internal_password(service_id)),
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            raise RuntimeFailure(f"service {service_id} did not answer {sql!r}: {error}") from error
        if response.status_code != 200:
            raise RuntimeFailure(f"service {service_id} refused {sql!r}: {response.text.strip()}")
        return response.text

    async def disconnect(self, service_id: str) -> None:
        """Close the service's connections: ClickHouse waits for open ones (10 s on 18.16) before it stops."""
        client = self._loop_clients().pop(service_id, None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(self.disconnect(service_id) for service_id in list(self._loop_clients())))

    def _http(self, service_id: str) -> httpx.AsyncClient:
        """The service's client, made on first use and kept: each pass checks every running service, and a client
        (and a connection) per check cost more than the check itself."""
        clients = self._loop_clients()
        client = clients.get(service_id)
        if client is None:
            client = clients[service_id] = httpx.AsyncClient(
                timeout=_HTTP_TIMEOUT_SECONDS,
                trust_env=False,  # a proxy from the environment must not stand between us and a local server
                verify=_PLAIN_HTTP_ONLY,
                # Dropped before the server's keep_alive_timeout (3 s: config.py) would drop it mid-request.
                limits=httpx.Limits(max_keepalive_connections=1, keepalive_expiry=2.5),
            )
        return client

    def _loop_clients(self) -> dict[str, httpx.AsyncClient]:
        """The clients made in the running event loop; those of an earlier loop (closed with their connections:
        a command or test that runs the runtime in several `asyncio.run`s) are forgotten."""
        loop = asyncio.get_running_loop()
        if loop is not self._clients_loop:
            self._clients, self._clients_loop = {}, loop
        return self._clients
