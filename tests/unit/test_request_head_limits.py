"""The HTTP protocol's limits on a request's line and headers, on a real uvicorn server in this process with
small limits: heads too large are refused with 431 before the app sees them, heads too slow with 408."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from clickplane.kit.limits import LimitedHttpProtocol

pytestmark = pytest.mark.anyio

MAX_HEAD_BYTES = 2048
HEAD_TIMEOUT = 0.5
# Well past HEAD_TIMEOUT: a deadline for the test's own waits, not a figure under test.
WAIT_SECONDS = 10.0


class SmallLimits(LimitedHttpProtocol):
    max_head_bytes = MAX_HEAD_BYTES
    head_timeout = HEAD_TIMEOUT


class Recorder:
    """An ASGI app that answers 200 and counts the requests that reached it."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.requests += 1
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, Recorder]]:
    app = Recorder()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http=SmallLimits, lifespan="off", log_level="critical", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield listener.getsockname()[1], app
    finally:
        server.should_exit = True
        await serving
        listener.close()


async def exchange(port: int, *chunks: bytes, pause: float = 0.0) -> bytes:
    """Send the chunks (with `pause` seconds between them) and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)
        return await asyncio.wait_for(reader.read(), WAIT_SECONDS)
    finally:
        writer.close()


def request(headers: bytes = b"", close: bool = True) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return b"GET / HTTP/1.1\r\nHost: x\r\n" + connection + headers + b"\r\n"


def error_of(answer: bytes, status: int) -> str:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 %d " % status), answer[:200]
    envelope = json.loads(body)
    assert envelope["status"] == status
    return str(envelope["error"])


async def test_a_head_within_the_limit_reaches_the_app(served: tuple[int, Recorder]) -> None:
    port, app = served
    answer = await exchange(port, request(b"X-Fill: " + b"a" * (MAX_HEAD_BYTES // 2) + b"\r\n"))

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert app.requests == 1


async def test_a_complete_head_over_the_limit_is_refused_before_the_app(served: tuple[int, Recorder]) -> None:
    port, app = served
    # Sent in one piece, the whole head arrives (and is parsed) at once.
    answer = await exchange(port, request(b"X-Fill: " + b"a" * MAX_HEAD_BYTES + b"\r\n"))

    assert "REQUEST_HEADER_FIELDS_TOO_LARGE" in error_of(answer, 431)
    assert app.requests == 0


async def test_a_head_that_never_ends_is_refused_once_past_the_limit(served: tuple[int, Recorder]) -> None:
    port, app = served
    # The header line never ends; its last piece takes the head past the limit (the server then closes).
    endless = [b"GET / HTTP/1.1\r\nX-Fill: "] + [b"a" * 512] * (MAX_HEAD_BYTES // 512)

    answer = await exchange(port, *endless, pause=0.01)

    assert "REQUEST_HEADER_FIELDS_TOO_LARGE" in error_of(answer, 431)
    assert app.requests == 0


async def test_a_head_sent_too_slowly_is_answered_408_and_closed(served: tuple[int, Recorder]) -> None:
    port, app = served
    loop = asyncio.get_running_loop()
    started = loop.time()

    answer = await exchange(port, b"GET / HTTP/1.1\r\n", b"Host: x\r\n", pause=HEAD_TIMEOUT / 3)

    assert "REQUEST_TIMEOUT" in error_of(answer, 408)
    assert loop.time() - started >= HEAD_TIMEOUT
    assert app.requests == 0


async def test_a_connection_that_sends_nothing_is_closed_at_the_deadline(served: tuple[int, Recorder]) -> None:
    port, _ = served

    answer = await exchange(port)

    error_of(answer, 408)


async def test_each_request_of_a_kept_alive_connection_has_its_own_deadline(served: tuple[int, Recorder]) -> None:
    port, app = served
    # The first request is answered; the second's head stops half way and times out.
    answer = await exchange(port, request(close=False), b"GET / HTTP/1.1\r\n", pause=0.1)

    first, _, rest = answer.partition(b"ok")
    assert first.startswith(b"HTTP/1.1 200 ")
    error_of(rest, 408)
    assert app.requests == 1
