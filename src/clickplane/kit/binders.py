"""How handler parameters are filled: the authenticated caller, and JSON bodies validated by pydantic.

Both are BlackSheep binders, so the OpenAPI document learns the request body types from the handlers.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any, Generic, TypeVar

from blacksheep import Request
from blacksheep.server.bindings import Binder, BoundValue, JSONBinder
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from clickplane.auth.authentication import Caller, authenticate, check_source
from clickplane.keys.repository import ApiKeys
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest
from clickplane.observability.context import note_caller
from clickplane.roles.repository import Roles

M = TypeVar("M", bound=BaseModel)


def _header(request: Request, name: bytes) -> str | None:
    value = request.get_first_header(name)
    return value.decode("latin-1") if value is not None else None


class CallerBinder(Binder):
    """Fills a `Caller` parameter by checking the request's Basic credentials."""

    type_alias = Caller

    def __init__(self, context: AppContext) -> None:
        super().__init__(Caller, "caller", implicit=True)
        self.context = context

    @classmethod
    def from_alias(cls, services: Any) -> CallerBinder:
        return cls(services.resolve(AppContext))

    async def get_value(self, request: Request) -> Caller:
        caller = self._authenticate(request)
        note_caller(caller.key_id)  # for the request's log lines
        if self.context.rate_limiter is not None:  # after authentication: each key has an allowance of its own
            self.context.rate_limiter.take(caller.key_uuid)
        return caller

    def _authenticate(self, request: Request) -> Caller:
        header, ip_address = _header(request, b"authorization"), _client_address(request)
        user_agent = _header(request, b"user-agent")
        cached = self.context.verified_keys.lookup(header, ip_address, user_agent)
        if cached is not None:
            check_source(cached)
            return cached
        with self.context.database.transaction() as session:
            caller = authenticate(header, ApiKeys(session), self.context.hasher, roles=Roles(session),
                                  ip_address=ip_address, user_agent=user_agent)
        self.context.verified_keys.remember(header or "", caller)
        return caller


def _client_address(request: Request) -> str | None:
    """The address the request came from, as an IP address; None when it is not one (a trusted proxy's
    X-Forwarded-For may say anything), so that no access list matches it and no log records it."""
    client = request.scope.get("client")
    return _canonical_address(client[0]) if client else None


@functools.lru_cache(maxsize=4096)
def _canonical_address(text: str) -> str | None:
    """`text` in the canonical form of an IP address, None when it is not one; remembered, as a client sends
    many requests."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class JsonBody(BoundValue[M], Generic[M]):
    """A JSON request body of model M, whatever Content-Type the client declared.

    It is parsed and validated when the handler first reads `value`, not while the request is bound:
    the permission guard runs in between, so a caller who may not act is refused before anything
    about the body is said to it."""

    @property
    def value(self) -> M:
        if callable(self._value):
            self._value = self._value()
        return self._value


def describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    location = location or "body"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "is not a field of this request; check its spelling against the API reference"
    elif first["type"] == "missing":
        message = "is required"
    more = len(error.errors()) - 1
    return f"{location}: {message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


class JsonBodyBinder(JSONBinder):
    handle = JsonBody  # type: ignore[assignment]

    def matches_content_type(self, request: Request) -> bool:
        return True  # curl -d sends form content-type; the Cloud API reads JSON regardless

    @property
    def may_be_omitted(self) -> bool:
        """Whether a request without a body is valid: it reads as {}, which is when no field is required."""
        return not any(field.is_required() for field in self.expected_type.model_fields.values())

    async def get_value(self, request: Request) -> Any:
        body = await request.read() or b""
        if not body:  # whitespace alone is not a JSON document: it is refused below, as any other bad body
            if self.expected_type is not None and not self.required:
                return None
            body = b"{}"  # an empty PATCH/POST body means "no fields"
        return functools.partial(self.parse_value, body)

    def parse_value(self, data: Any) -> Any:
        return parsed_model(data, self.expected_type)


class RawJsonBody(BoundValue[M], Generic[M]):
    """A JSON request body documented as model M but handed over as parsed JSON, not validated: for a dry run (a
    `validate` operation), which answers a body that does not fit M by saying what is wrong, not with a 400. A body
    that is not JSON is still a 400. Read lazily, as JsonBody is."""

    @property
    def value(self) -> Any:
        if callable(self._value):
            self._value = self._value()
        return self._value


class RawJsonBodyBinder(JsonBodyBinder):
    handle = RawJsonBody  # type: ignore[assignment]

    async def get_value(self, request: Request) -> Any:
        if not await request.read():  # a dry run of nothing: there is no body to judge
            raise BadRequest("the request body is missing; send the JSON body to check")
        return await super().get_value(request)

    def parse_value(self, data: Any) -> Any:
        return parsed_json(data)


def parsed_model(data: bytes, model: type[M]) -> M:
    """A body as `model`, or a 400 saying what is wrong with it; no body at all reads as {}. JsonBody's, and that
    of the handlers that read their own (the query hosts' runs). Parsed first as plain JSON for the messages of a
    body that is no JSON object, then validated from its text: strict, as JSON, each value must have the type the
    document gives it (no 0 for false, no "5" for 5), while strings still carry what JSON has no type for (UUIDs,
    dates), which validating the parsed objects strictly would refuse."""
    data = data or b"{}"
    if not isinstance(parsed_json(data), dict):
        raise BadRequest("the request body must be a JSON object")
    try:
        return model.model_validate_json(data, strict=True)
    except ValidationError as error:
        raise BadRequest(describe_validation_error(error)) from None


def parsed_json(data: bytes) -> Any:
    """The body as JSON, or a 400 saying why it is not: not JSON, or a NUL in a string, which no field accepts."""
    try:
        raw = from_json(data, allow_inf_nan=False)  # JSON has no Infinity or NaN; no field may hold them
    except ValueError as error:
        raise BadRequest(f"the request body is not valid JSON ({error}); send a JSON object") from None
    # JSON can carry a NUL only escaped: look further only when the body holds the escape.
    if b"\\u0000" in data and _holds_nul(raw):
        raise BadRequest("the request body holds a NUL character (\\u0000), which no field accepts")
    return raw


def _holds_nul(value: Any) -> bool:
    """Whether parsed JSON has a NUL in a string: no field takes one, PostgreSQL's text types refuse it and
    C programs (ClickHouse among them) end a string at it."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False
