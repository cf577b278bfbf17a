"""Request size limits, enforced before a handler reads anything (an ASGI wrapper around the app)."""

from __future__ import annotations

from typing import Any

from clickplane.api.envelope import failure
from clickplane.domain.errors import PayloadTooLarge

Scope = dict[str, Any]
Message = dict[str, Any]


class BodySizeLimit:
    """Refuses bodies over `max_bytes`: at once when Content-Length says so, else while streaming."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes; send a smaller body")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reply_too_large(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message: Message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise self._too_large()  # rendered by the app's ApiError handler
            return message

        await self.app(scope, limited_receive, send)

    async def _reply_too_large(self, send: Any) -> None:
        error = self._too_large()
        response = failure(error.status, error.wire_text)
        body = response.content.body if response.content else b""
        await send({"type": "http.response.start", "status": error.status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
