"""Request limits, enforced before a handler reads anything: the size and pace of a request's head in the
HTTP protocol uvicorn serves with, the size and pace of its body in an ASGI wrapper around the app."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clickplane.kit.envelope import failure
from clickplane.kit.errors import PayloadTooLarge, RequestTimeout

Scope = dict[str, Any]
Message = dict[str, Any]

# Far above what clients send (a request line with filters, Basic credentials, a few headers), as nginx's
# 4 x 8 KiB header buffers or Node's 16 KiB are.
MAX_HEAD_BYTES = 64 * 1024
# Clients send a request's head in one packet or a few; nginx waits 60 s, Apache 20 to 40.
HEAD_TIMEOUT_SECONDS = 20.0
# A whole body (at most max_body_bytes, 1 MiB by default) within a minute: 17 KiB/s; nginx's client_body_timeout
# is 60 s too (between reads).
BODY_TIMEOUT_SECONDS = 60.0


class LimitedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the two limits it lacks on a request's line and headers (its head):
    at most `max_head_bytes` (else 431), all of it within `head_timeout` seconds of the request's first byte,
    or of the connection's start for its first request (else 408). Without them httptools buffers a header of
    any size, so one client could grow the server's memory without bound, and a client sending a byte now
    and then (slowloris) would hold its connection, and a file descriptor, forever."""

    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT_SECONDS
    body_timeout = BODY_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_size = 0  # the current request's line and headers as parsed
        self._head_received = 0  # bytes received while its head was still incomplete
        # Set while a request's head is arriving; cancelled once it is complete.
        self._head_deadline: asyncio.TimerHandle | None = None
        # Set while a request's body is arriving; cancelled once it is complete.
        self._body_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        self._body_done()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = self._head_received = 0
        if self._head_deadline is None:  # a later request of a kept-alive connection
            self._expect_head()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_size += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_size += len(name) + len(value) + 4  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._head_done()
        if self._head_size <= self.max_head_bytes:
            super().on_headers_complete()
            if any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
                self._body_deadline = self.loop.call_later(self.body_timeout, self._body_timed_out)
            return
        # Answered without reaching the app, the way uvicorn answers 503 past its concurrency limit.
        app, self.app = self.app, self._answer_head_too_large
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self._body_done()
        super().on_message_complete()

    def _body_done(self) -> None:
        if self._body_deadline is not None:
            self._body_deadline.cancel()
            self._body_deadline = None

    def _body_timed_out(self) -> None:
        """The body is still arriving. A handler reading it has been answered 408 by BodyLimits; one that does
        not read it (a 401, say) leaves the client trickling bytes that would hold the connection forever (each
        one puts off the keep-alive timeout): close it once its answer is sent."""
        self._body_deadline = None
        if self.cycle is None or self.cycle.response_complete:
            self.transport.close()
        else:
            self.cycle.keep_alive = False

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_deadline is not None and not self.transport.is_closing():
            # The head is still incomplete after this chunk, so all of it was head: httptools holds it until
            # the header ends, which must not take more than the limit.
            self._head_received += len(data)
            if self._head_received > self.max_head_bytes:
                self._refuse(431, self._head_too_large())

    def send_400_response(self, msg: str) -> None:
        """httptools could not parse the request: answer in the envelope, not uvicorn's plain text."""
        self._refuse(400, "BAD_REQUEST: the request is not valid HTTP/1.1; check its request line, headers and "
                          "chunked encoding")

    def _head_too_large(self) -> str:
        return (f"REQUEST_HEADER_FIELDS_TOO_LARGE: the request line and headers are larger than {self.max_head_bytes} "
                "bytes; send fewer or shorter headers")

    async def _answer_head_too_large(self, scope: Scope, receive: Any, send: Any) -> None:
        await _send_closing_error(send, 431, self._head_too_large())

    def _expect_head(self) -> None:
        self._head_deadline = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _head_done(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        self._refuse(408, f"REQUEST_TIMEOUT: the request line and headers did not arrive within {self.head_timeout:g} "
                          "s; send them at once")

    def _refuse(self, status: int, text: str) -> None:
        """Answer with the error and close; with a response already being sent, just close. A request whose
        body broke off (bad chunked encoding) is told at once that its connection is gone, so that its
        handler answers nothing after the error."""
        self._head_done()
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(_raw_response(status, text))
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


class BodyLimits:
    """Refuses a body over `max_bytes` (413: at once when Content-Length says so, else while streaming) and one
    that has not arrived whole within `timeout_seconds` of the request's head (408: a client trickling a byte
    now and then would otherwise hold its connection, and a handler, for as long as it likes). After either
    answer the connection is closed: the rest of the body is never read."""

    def __init__(self, app: Any, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is larger than {self.max_bytes} bytes; send a smaller body")

    def _too_slow(self) -> RequestTimeout:
        return RequestTimeout(f"the request body did not arrive whole within {self.timeout_seconds:g} s of its "
                              "headers; send it at once")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reply_too_large(send)
            return
        if declared in (None, b"0") and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing to limit, and no deadline to keep
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        received, complete, refused = 0, False, False

        async def limited_receive() -> Message:
            nonlocal received, complete, refused
            if complete:  # only a disconnect to wait for now, which may rightly take as long as the answer
                return await receive()  # type: ignore[no-any-return]
            try:
                async with asyncio.timeout_at(deadline):
                    message: Message = await receive()
            except TimeoutError:
                refused = True
                raise self._too_slow() from None  # rendered by the app's ApiError handler
            received += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if received > self.max_bytes:
                refused = True
                raise self._too_large()
            return message

        async def closing_send(message: Message) -> None:
            if refused and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)

    async def _reply_too_large(self, send: Any) -> None:
        error = self._too_large()
        await _send_closing_error(send, error.status, error.wire_text)


async def _send_closing_error(send: Any, status: int, text: str) -> None:
    """An error response in our envelope, sent through ASGI, that ends the connection."""
    body = _error_body(status, text)
    await send({"type": "http.response.start", "status": status, "headers": _closing_headers(body)})
    await send({"type": "http.response.body", "body": body})


def _error_body(status: int, text: str) -> bytes:
    response = failure(status, text)
    return response.content.body if response.content else b""


def _closing_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]


def _raw_response(status: int, text: str) -> bytes:
    """An error response in our envelope, written straight to a connection the app never saw a request of."""
    body = _error_body(status, text)
    head = b"".join(name + b": " + value + b"\r\n" for name, value in _closing_headers(body))
    return b"HTTP/1.1 %d %s\r\n%s\r\n%s" % (status, HTTPStatus(status).phrase.encode(), head, body)
