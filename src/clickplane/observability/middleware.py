"""The outermost ASGI layer: gives each request its id, then counts it, times it and logs one access line."""

from __future__ import annotations

import functools
import re
import time
from typing import Any, cast

from blacksheep import Request, Router
from blacksheep.server.routing import Route, RouteMatch

from clickplane.observability.context import RequestContext, begin_request, current_request, end_request
from clickplane.observability.logs import ACCESS
from clickplane.observability.metrics import HttpMetrics

Scope = dict[str, Any]
Message = dict[str, Any]


class RouteRecordingRouter(Router):
    """A router that matches paths exactly as the operations spell them, answers HEAD with a path's GET
    operation, and tells the current request which route pattern it matched (metrics are labelled by route
    template, not by path, so ids do not multiply series).

    BlackSheep matches paths ignoring case and with or without a trailing slash, so `/METRICS` and `/metrics/`
    would reach `/metrics`, past a proxy rule written for `/metrics`: here only `/metrics` does. Path
    parameters keep any case (a UUID in capitals is still that UUID)."""

    def __init__(self) -> None:
        super().__init__()
        self._exact: dict[int, re.Pattern[bytes]] = {}

    def get_match(self, request: Request) -> RouteMatch | None:
        match = self.match_exactly(request.method, request.path.encode())
        context = current_request()
        if match is not None and context is not None:
            context.route = match.pattern
        return match

    @functools.lru_cache(maxsize=1200)  # noqa: B019 - the router lives as long as the application, as BlackSheep's
    def match_exactly(self, method: str, path: bytes) -> RouteMatch | None:
        route, values = self.exact_route(method, path)
        if route is not None:
            return RouteMatch(route, values)
        # As BlackSheep's own router does: its stubs ask for a dict, its code passes None.
        return RouteMatch(self.fallback, cast(Any, None)) if self.fallback is not None else None

    def exact_route(self, method: str, path: bytes) -> tuple[Route | None, Any]:
        """The route of `method` whose pattern spells `path` exactly, and its parameters; HEAD falls back on
        GET's routes (uvicorn sends no body for HEAD)."""
        routes = self.routes.get(method.encode(), [])
        if method == "HEAD":
            routes = [*routes, *self.routes.get(b"GET", [])]
        for route in routes:
            found = self._exact_pattern(route).match(path)
            if found is not None:
                return route, found.groupdict() if route.has_params else None
        return None, None

    def _exact_pattern(self, route: Route) -> re.Pattern[bytes]:
        """BlackSheep's pattern for the route, less its IGNORECASE and its optional trailing slash."""
        pattern = self._exact.get(id(route))
        if pattern is None:
            source = route.rx.pattern
            if source.endswith(b"/?$"):
                source = source[:-3] + b"$"
            pattern = self._exact[id(route)] = re.compile(source)
        return pattern


class Observed:
    """Wraps the application: request id in context and in an X-Request-Id header, metrics, access log.

    The access line has method, path (never the query string), status, duration and the caller's key ID;
    never headers or bodies, so no credential or password can reach the log."""

    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request, token = begin_request()
        header = (b"x-request-id", request.request_id.encode())
        status = 500  # what the server answers if the application fails before it responds

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request, status, time.perf_counter() - started)
            end_request(token)

    def _record(self, scope: Scope, request: RequestContext, status: int, seconds: float) -> None:
        method = scope["method"]
        self.metrics.observe(method, request.route, status, seconds)
        ACCESS.write(method, scope["path"], status, round(seconds * 1000, 1))
