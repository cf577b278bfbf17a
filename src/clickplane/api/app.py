"""Assembles the ASGI application: routers, binders, error rendering, the OpenAPI document, limits."""

from __future__ import annotations

import logging
from typing import Any

from blacksheep import Application, Request, Response, Router
from blacksheep.exceptions import HTTPException

from clickplane.api import organizations, services
from clickplane.api.context import AppContext
from clickplane.api.docs import CloudApiDocs
from clickplane.api.envelope import failure
from clickplane.api.limits import BodySizeLimit
from clickplane.domain.errors import ApiError

log = logging.getLogger(__name__)

HTTP_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
              405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "PAYLOAD_TOO_LARGE"}


async def _render_api_error(app: Application, request: Request, error: ApiError) -> Response:
    return failure(error.status, error.wire_text)


async def _render_http_exception(app: Application, request: Request, error: HTTPException) -> Response:
    status = error.status if error.status in HTTP_CODES else 400
    if status == 404:
        text = f"no API operation at {request.method} {request.path}; see GET /v1 for the operations"
    else:
        text = str(error) or "the request could not be processed"
        if text.startswith("Bad Request: "):
            text = text.removeprefix("Bad Request: ")
    return failure(status, f"{HTTP_CODES[status]}: {text}")


async def _render_unexpected(app: Application, request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
    return failure(500, "INTERNAL_ERROR: the server failed to handle this request; retry, and report the "
                        "requestId if it persists")


def create_app(context: AppContext) -> Any:
    """The ASGI application for `context`."""
    docs = CloudApiDocs(context.settings.openapi_title)
    router = Router()
    for resource in (organizations, services):
        resource.add_routes(router, context, docs)
    app = Application(router=router, show_error_details=False)
    app.services.add_instance(context)
    app.exceptions_handlers[ApiError] = _render_api_error  # type: ignore[assignment]
    app.exceptions_handlers[HTTPException] = _render_http_exception  # type: ignore[assignment]
    app.handle_internal_server_error = lambda request, exc: _render_unexpected(app, request, exc)  # type: ignore[method-assign]
    docs.bind_app(app)
    return BodySizeLimit(app, context.settings.max_body_bytes)
