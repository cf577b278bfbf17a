"""Errors the API reports to clients, each with the HTTP status and the Cloud API's error code.

Domain code raises these; the API layer renders them as `{status, requestId, error: "CODE: message"}`.
Messages say what was wrong and what to do about it.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Fields the error body carries beside status, requestId and error (a 424's code and canWake).
        self.fields = fields or {}

    @property
    def wire_text(self) -> str:
        return f"{self.code}: {self.message}"


class BadRequest(ApiError):
    status = 400
    code = "BAD_REQUEST"


class Unauthorized(ApiError):
    status = 401
    code = "UNAUTHORIZED"


class Forbidden(ApiError):
    status = 403
    code = "FORBIDDEN"


class NotFound(ApiError):
    status = 404
    code = "NOT_FOUND"


class MethodNotAllowed(ApiError):
    status = 405
    code = "METHOD_NOT_ALLOWED"


class RequestTimeout(ApiError):
    status = 408
    code = "REQUEST_TIMEOUT"


class Conflict(ApiError):
    status = 409
    code = "CONFLICT"


class Gone(ApiError):
    """What the request names existed and is no more (an upload URL used, or expired)."""

    status = 410
    code = "GONE"


class FailedDependency(ApiError):
    """What was asked needs another resource running, and it is not (a pipe's service, idle or stopped)."""

    status = 424
    code = "FAILED_DEPENDENCY"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class TooManyRequests(ApiError):
    """Over the API key's rate limit: when to retry, and when the whole allowance is back (seconds)."""

    status = 429
    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, retry_after_seconds: int, reset_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.reset_after_seconds = reset_after_seconds
