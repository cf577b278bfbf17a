"""Rendering of the Cloud API's envelopes: `{status, requestId, result}` and `{status, requestId, error}`.

Every envelope is sent with `Cache-Control: no-store`: each is one caller's view of its organization, and some
hold secrets shown once (a new key's secret, a service's password), which no proxy or browser cache may keep.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from blacksheep import Content, Response
from pydantic_core import to_json

from clickplane.observability.context import request_id

JSON = b"application/json"
NO_STORE = (b"cache-control", b"no-store")
# What a 401 asks for (RFC 9110): the API key ID as user, its secret as password.
AUTHENTICATE = (b"www-authenticate", b'Basic realm="clickplane"')


@dataclass(frozen=True)
class Page:
    """A paged list's top-level fields, beside its result."""

    limit: int | None
    totalCount: int
    nextCursor: str | None


def ok(result: Any, status: int = 200, page: Page | None = None) -> Response:
    """The success envelope; `page` adds a paged list's top-level fields (nextCursor, limit, totalCount)."""
    envelope = {"status": status, "requestId": request_id(), "result": result, **(asdict(page) if page else {})}
    return Response(status, [NO_STORE], Content(JSON, to_json(envelope, exclude_none=True)))


def ok_json(result: bytes) -> Response:
    """The success envelope around a result already rendered as JSON (by ok's rules: no nulls)."""
    body = b'{"status":200,"requestId":"%s","result":%s}' % (request_id().encode(), result)
    return Response(200, [NO_STORE], Content(JSON, body))


def acknowledged(status: int = 200) -> Response:
    """For operations with no payload: still a JSON body, as every Cloud API client expects."""
    return Response(status, [NO_STORE], Content(JSON, to_json({"status": status, "requestId": request_id()})))


def failure(status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None,
            fields: dict[str, Any] | None = None) -> Response:
    """The error envelope; `fields` adds what an error says beside its text (a 424's code and canWake)."""
    body = to_json({"status": status, "requestId": request_id(), "error": text, **(fields or {})})
    extra = [AUTHENTICATE] if status == 401 else []
    return Response(status, [NO_STORE, *extra, *(headers or ())], Content(JSON, body))
