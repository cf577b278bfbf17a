"""The outermost ASGI layer: gives each request its id, then counts it, times it and logs one access line."""

from __future__ import annotations

import time
from typing import Any

from blacksheep import Request, Router
from blacksheep.server.routing import RouteMatch

from clickplane.observability.context import RequestContext, begin_request, current_request, end_request
from clickplane.observability.logs import ACCESS
from clickplane.observability.metrics import HttpMetrics

Scope = dict[str, Any]
Message = dict[str, Any]


class RouteRecordingRouter(Router):
    """A router that tells the current request which route pattern it matched: metrics are labelled by route
    template, not by path, so ids do not multiply series."""

    def get_match(self, request: Request) -> RouteMatch | None:
        match = super().get_match(request)
        context = current_request()
        if match is not None and context is not None:
            context.route = match.pattern
        return match


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
