"""Building blocks shared by every resource's wire models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic_core import PydanticCustomError

T = TypeVar("T")

# Marks a field deprecated in the OpenAPI document without pydantic's runtime warning on every access.
DEPRECATED: dict[str, Any] = {"deprecated": True}
# The most entries an IP access list (a service's or an API key's) holds. ClickHouse Cloud documents no limit;
# a service's list becomes its users' <networks> and a key's is scanned on every request it makes, and CIDR
# ranges make a thousand more than any real allow list needs.
MAX_IP_ACCESS_LIST_ENTRIES = 1000


def rfc3339(moment: datetime) -> str:
    """Seconds precision with a `Z`, the form every Cloud API client parses."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


def _whole_number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


# For an integer field of a request, after its constraints (so that they stay in the JSON Schema): bodies are
# validated strictly, and 2.0 is an integer to JSON Schema, and so to the document, though "2" and 2.5 are not.
WHOLE_FLOAT_AS_INTEGER = BeforeValidator(_whole_number)


def exact_multiple_of(step: int) -> AfterValidator:
    """For a number field that also has `multiple_of=step` (which the document shows): pydantic's check lets
    through a float within a billionth of its size of a multiple (8.0000000001 for 4); this one does not."""
    def check(value: float | None) -> float | None:
        if value is not None and value % step:
            raise PydanticCustomError("multiple_of", "Input should be a multiple of {multiple_of}",
                                      {"multiple_of": step})
        return value
    return AfterValidator(check)


def _printable(text: str | None) -> str | None:
    if text is not None and not text.isprintable():
        raise PydanticCustomError("control_character", "must not contain control characters (such as a newline, "
                                  "tab or escape) nor other unprintable ones; give printable text")
    return text


# For a name: control characters in one forge lines of logs and terminals that show it, and unprintable ones
# make two names look alike.
PRINTABLE = AfterValidator(_printable)


class RequestModel(BaseModel):
    """A request body: unknown fields are refused so that a typo is reported, not silently ignored."""

    model_config = ConfigDict(extra="forbid", strict=False)


class ResponseModel(BaseModel):
    """A response payload; fields left as None are omitted from the JSON."""

    model_config = ConfigDict(extra="ignore")


class Envelope(BaseModel, Generic[T]):
    """Every successful answer: the HTTP status repeated, the request's id and the payload."""

    status: int = Field(description="The HTTP status code of this response.", examples=[200])
    requestId: UUID = Field(description="Identifier of this request, for support and logs (UUIDv4).")
    result: T


class Page(Envelope[T], Generic[T]):
    """A list answered one page at a time: the envelope plus where the next page starts."""

    nextCursor: str | None = Field(default=None, description="Pass as `cursor` for the next page; absent at the end.")
    limit: int | None = Field(default=None, description="The page size asked for.")
    totalCount: int | None = Field(default=None, description="How many items there are in all.")


class ErrorBody(BaseModel):
    """Every error answer: the HTTP status, the request's id and `CODE: explanation`."""

    status: int = Field(description="The HTTP status code of this response.", examples=[400])
    requestId: UUID = Field(description="Identifier of this request, for support and logs (UUIDv4).")
    error: str = Field(description="What went wrong and what to do, prefixed by a code such as NOT_FOUND.")


class DependencyErrorBody(ErrorBody):
    """A 424's answer: what the request depends on is not ready, with why in fields a client can act on."""

    code: str | None = Field(default=None, description="Why: SERVICE_IDLE, SERVICE_STOPPED, SERVICE_NOT_RUNNING, or "
                                                       "what the operation names (UDF_UNSUPPORTED, ...).")
    serviceState: str | None = Field(default=None, description="The state of the service it depends on.")
    canWake: bool | None = Field(default=None, description="Whether waking the service (PATCH .../state "
                                                          "{\"command\": \"awake\"}) and retrying may succeed.")


class IpAccessListEntry(BaseModel):
    source: str = Field(description="An IPv4 or IPv6 address, or a CIDR range.", max_length=64)
    description: str | None = Field(default=None, description="A note on who this entry is for.",
                                    max_length=255)


class ResourceTag(BaseModel):
    model_config = ConfigDict(title="ResourceTagsV1")

    key: str = Field(min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9._-]+$",
                     description="Tag key: letters, digits, dots, dashes and underscores.")
    value: str | None = Field(default=None, max_length=256, pattern=r"^[a-zA-Z0-9._-]*$",
                              description="Tag value: letters, digits, dots, dashes and underscores.")


class Acknowledgement(BaseModel):
    """The answer to a request that returns no payload (a delete): status and request id only."""

    status: int = Field(description="The HTTP status code of this response.", examples=[200])
    requestId: UUID = Field(description="Identifier of this request, for support and logs (UUIDv4).")
