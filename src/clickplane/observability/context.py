"""The request being handled, as a context variable: set by the middleware, read by the envelope and the logs."""

from __future__ import annotations

import random
from contextvars import ContextVar, Token
from dataclasses import dataclass

# Request ids identify requests in answers and logs; they guard nothing, so they come from a fast generator
# seeded from the OS (uuid.uuid4 asks the kernel for 16 bytes each time: some 8% of a simple GET's cost).
_ids = random.Random()
# The version (4) and variant (10xx) bits of a random UUID, set in place.
_VERSION_4 = 0x4 << 76
_VARIANT = 0x8 << 60
_CLEARED = ~((0xF << 76) | (0xC << 60))


def new_request_id() -> str:
    """A random UUIDv4 in its canonical text form."""
    value = _ids.getrandbits(128) & _CLEARED | _VERSION_4 | _VARIANT
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


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
    context = RequestContext(new_request_id())
    return context, _current.set(context)


def end_request(token: Token[RequestContext | None]) -> None:
    _current.reset(token)


def request_id() -> str:
    """The id of the request being handled, or a new one outside a request (its envelope still needs one)."""
    context = _current.get()
    return context.request_id if context is not None else new_request_id()


def note_caller(key_id: str) -> None:
    """Remember which API key the current request authenticated as, for its log lines."""
    context = _current.get()
    if context is not None:
        context.key_id = key_id
