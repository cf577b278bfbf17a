"""The floor for `bench/requests.py` and `bench/table.py`: a plain ASGI callable that answers with fixed bytes.

It runs on the same stack as `clickplane serve`: a `uvicorn.Config` with the default loop/http settings
(http "auto" = httptools), access log and server header off, served by `asyncio.run(server.serve())` on
the standard asyncio loop, as `clickplane.server.serve` is run by the CLI. `--uvloop` instead uses
`Server.run()`, which applies uvicorn's loop "auto" (uvloop when installed): a reference only.

    python bench/bare_app.py --port 8123 --body-file body.json [--uvloop]
    python bench/bare_app.py --port 8123 --routes routes.json [--body-file default.json] [--uvloop]

`--body-file`: every request is answered 200 with these bytes as application/json. `--routes`: a JSON list of
answers recorded from clickplane, `{"method", "path", "status", "headers": [[name, value], ...], "body"}` (body
as text), one per benchmark case. A request gets the answer of its method and path depth (how many `/` its path
has; `*` segments in a route's path say which segments vary): one dict lookup, as the cases differ in those
(`GET .../services/{id}`, `GET .../services`, `POST .../keys`); the segments themselves are not compared. A
request with no route gets the `--body-file` answer, else 404. The body of a request other than GET or HEAD is
read in full before the answer, as clickplane reads it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NOT_FOUND = b'{"status":404,"error":"no route in the bare app"}'


@dataclass(frozen=True)
class Answer:
    """One recorded response: what the bare app sends back, byte for byte (uvicorn adds `date`)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def messages(self) -> tuple[Message, Message]:
        names = {name.lower() for name, _ in self.headers}
        headers = [(name.lower().encode(), value.encode()) for name, value in self.headers
                   if name.lower() not in ("content-length", "date", "server")]
        if "content-type" not in names:
            headers.insert(0, (b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(self.body)).encode()))
        return ({"type": "http.response.start", "status": self.status, "headers": headers},
                {"type": "http.response.body", "body": self.body})


def route_key(method: str, path: str) -> tuple[str, int]:
    return method.upper(), path.count("/")


def load_routes(path: Path) -> dict[tuple[str, int], Answer]:
    routes: dict[tuple[str, int], Answer] = {}
    for entry in json.loads(path.read_text()):
        key = route_key(entry["method"], entry["path"])
        if key in routes:
            raise SystemExit(f"{path}: two routes for {key[0]} at depth {key[1]}; the bare app cannot tell them apart")
        routes[key] = Answer(int(entry.get("status", 200)), [(str(n), str(v)) for n, v in entry.get("headers", [])],
                             entry["body"].encode())
    return routes


def make_app(body: bytes) -> ASGIApp:
    """An ASGI app sending `body` as application/json to every HTTP request (lifespan is not supported)."""
    return make_router({}, Answer(200, [], body))


def make_router(routes: dict[tuple[str, int], Answer], default: Answer | None) -> ASGIApp:
    """An ASGI app answering each request with the answer of its (method, path depth), else `default`, else 404."""
    messages = {key: answer.messages() for key, answer in routes.items()}
    fallback = (default or Answer(404, [], NOT_FOUND)).messages()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            message = await receive()
            while message.get("more_body"):
                message = await receive()
        start, payload = messages.get((method, scope["path"].count("/")), fallback)
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
    parser.add_argument("--body-file", type=Path, help="answer every request (without a route) with these bytes")
    parser.add_argument("--routes", type=Path, help="JSON list of recorded answers, by method and path depth")
    parser.add_argument("--uvloop", action="store_true", help="let uvicorn pick the loop (uvloop if installed)")
    args = parser.parse_args()
    if args.body_file is None and args.routes is None:
        parser.error("give --body-file, --routes or both")
    default = Answer(200, [], args.body_file.read_bytes()) if args.body_file else None
    app = make_router(load_routes(args.routes) if args.routes else {}, default)
    server = uvicorn.Server(config_for(app, args.port))
    if args.uvloop:
        server.run()
    else:
        asyncio.run(server.serve())


if __name__ == "__main__":
    main()
