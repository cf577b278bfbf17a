"""The request being handled, as a context variable: set by the middleware, read by the envelope and the logs."""

from __future__ import annotations

import uuid
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(slots=True)
class RequestContext:
    request_id: str
    # The authenticated caller's API key ID, once known.
    key_id: str | None = None
    # The pattern of the route that matched, once routed (metrics are labelled by route template, not path).
    route: bytes | None = None


_current: ContextVar[RequestContext | None] = ContextVar("clickplane_request", default=None)


def current_request() -> RequestContext | None:
    return _current.get()


def begin_request() -> tuple[RequestContext, Token[RequestContext | None]]:
    """A new request context, made current; pass the token to `end_request`."""
    context = RequestContext(str(uuid.uuid4()))
    return context, _current.set(context)


def end_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def request_id() -> str:
    """The id of the request being handled, or a new one outside a request (its envelope still needs one)."""
    context = _current.get()
    return context.request_id if context is not None else str(uuid.uuid4())


def note_caller(key_id: str) -> None:
    """Remember which API key the current request authenticated as, for its log lines."""
    context = _current.get()
    if context is not None:
        context.key_id = key_id
