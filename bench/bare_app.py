"""The floor for `bench/requests.py`: a plain ASGI callable that answers every request with fixed bytes.

It runs on the same stack as `clickplane serve`: a `uvicorn.Config` with the default loop/http settings
(http "auto" = httptools), access log and server header off, served by `asyncio.run(server.serve())` on
the standard asyncio loop, exactly as `clickplane.server.serve` is run by the CLI. `--uvloop` instead
uses `Server.run()`, which applies uvicorn's loop "auto" (uvloop when installed): a reference only.

    python bench/bare_app.py --port 8123 --body-file body.json [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def make_app(body: bytes) -> ASGIApp:
    """An ASGI app sending `body` as application/json to every HTTP request (lifespan is not supported)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    payload = {"type": "http.response.body", "body": body}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send(start)
        await send(payload)

    return app


def config_for(app: ASGIApp, port: int) -> uvicorn.Config:
    # Mirrors clickplane.server.serve: the same options, everything else at uvicorn's defaults.
    return uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_level="warning",
                          server_header=False, lifespan="off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--uvloop", action="store_true", help="let uvicorn pick the loop (uvloop if installed)")
    args = parser.parse_args()
    server = uvicorn.Server(config_for(make_app(args.body_file.read_bytes()), args.port))
    if args.uvloop:
        server.run()
    else:
        asyncio.run(server.serve())


if __name__ == "__main__":
    main()
