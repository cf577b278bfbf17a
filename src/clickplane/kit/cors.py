"""Runs of SQL from a browser's page of another origin (CORS): the answer to its preflight and the header that
lets it read a run's output. Which origins a run takes is its endpoint's `allowedOrigins` ("*": any)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from blacksheep import Request, Response

from clickplane.kit.errors import Forbidden

# The request headers a run takes from a browser: its credentials and its body's type, and the Query API's
# confirmation that an idle service may be woken.
_ALLOWED_HEADERS = b"authorization, content-type, wake-service"
_MAX_AGE_SECONDS = b"600"


def admits(allowed_origins: Collection[str], origin: str) -> bool:
    return "*" in allowed_origins or origin in allowed_origins


def origin_of(request: Request) -> str | None:
    origin = request.get_first_header(b"origin")
    return origin.decode("latin-1") if origin else None


def allow(response: Response, origin: str) -> Response:
    """Let the page of `origin` read the response."""
    response.add_header(b"access-control-allow-origin", origin.encode("latin-1"))
    response.add_header(b"vary", b"Origin")
    return response


def preflight(request: Request, admits_origin: Callable[[str], bool], refusal: str) -> Response:
    """The answer to a browser's preflight of a run (it sends no credentials): 204 with what a run takes (a POST,
    with the headers above, for a while) when `admits_origin` takes its origin; else 403 with `refusal`, which must
    read the same whether the run's endpoint exists or not, so that a preflight tells nobody which do."""
    origin = origin_of(request)
    if origin is None or not admits_origin(origin):
        raise Forbidden(refusal)
    response = allow(Response(204), origin)
    response.add_header(b"access-control-allow-methods", b"POST")
    response.add_header(b"access-control-allow-headers", _ALLOWED_HEADERS)
    response.add_header(b"access-control-max-age", _MAX_AGE_SECONDS)
    return response
