"""The HTTP layer, the logs and the files against a hostile client or local user (issue 12): control characters
escaped in every log line, request bodies with a deadline, envelopes that no cache keeps, private files."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import re
import socket
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from blacksheep import Response

from clickplane import postman
from clickplane.auth.secrets import load_or_create_secret_key
from clickplane.kit.envelope import acknowledged, failure, ok, ok_json
from clickplane.kit.errors import ApiError
from clickplane.kit.limits import BodyLimits, LimitedHttpProtocol
from clickplane.observability.logs import ACCESS, JsonFormatter, TextFormatter, json_line, text_line
from clickplane.runtime.files import create_private, private_directory, write_atomically
from clickplane.store.database import Database

FORGED = "2026-01-01 00:00:00,000 INFO clickplane.access: GET /v1/admin 200 1.0 ms"
# Each thing a hostile path or error text may carry: a newline to start a forged line, a carriage return, ESC
# (terminal colours, titles), NUL, DEL, C1's NEL and CSI, and Unicode's line and paragraph separators.
HOSTILE = f"/v1/x\n{FORGED}\r\x1b[2J\x00\x7f\x85\x9b\u2028\u2029"
RAW_CONTROLS = ("\n", "\r", "\x1b", "\x00", "\x7f", "\x85", "\x9b", "\u2028", "\u2029")
WAIT_SECONDS = 10.0  # the tests' own deadline for an answer, well past any limit under test


# --- Logs ---------------------------------------------------------------------------------------------------

def test_a_text_line_escapes_every_control_character_so_none_is_forged() -> None:
    line = text_line(0.0, "INFO", "clickplane.access", f"GET {HOSTILE} 404 1.0 ms", {"requestId": "r\n1"})
    assert not any(control in line for control in RAW_CONTROLS)
    assert "/v1/x\\x0a2026-01-01" in line
    assert "\\x1b[2J\\x00\\x7f\\x85\\x9b\\u2028\\u2029" in line
    assert line.endswith("requestId=r\\x0a1")


def test_a_json_line_leaves_no_raw_control_character_and_reads_back_as_sent() -> None:
    line = json_line(0.0, "INFO", "clickplane.access", HOSTILE, {"path": HOSTILE})
    assert not any(control in line for control in RAW_CONTROLS)
    entry = json.loads(line)
    assert entry["message"] == entry["path"] == HOSTILE


def _record(message: str, error: BaseException) -> logging.LogRecord:
    try:
        raise error
    except type(error):
        return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, sys.exc_info())


def test_a_traceback_in_text_keeps_its_lines_but_none_starts_at_the_margin() -> None:
    formatted = TextFormatter().format(_record(f"failed at {HOSTILE}", ValueError(f"bad value\n{FORGED}\x1b[0m")))
    first, *below = formatted.split("\n")
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ERROR uvicorn\.error: failed at /v1/x\\x0a", first)
    assert "\x1b" not in formatted
    assert below
    assert all(line.startswith("  ") for line in below)
    assert f"  {FORGED}\\x1b[0m" in below  # the exception's second line, indented, its ESC escaped


def test_a_traceback_in_json_is_one_line_with_no_raw_control_character() -> None:
    formatted = JsonFormatter().format(_record(HOSTILE, ValueError(f"bad\x85{FORGED}\u2028")))
    assert not any(control in formatted for control in RAW_CONTROLS)
    assert json.loads(formatted)["message"] == HOSTILE


def test_the_access_line_of_a_hostile_path_is_one_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    saved = ACCESS.handler, ACCESS.json
    ACCESS.handler, ACCESS.json = handler, False
    try:
        ACCESS.write("GET", HOSTILE, 404, 1.0)
        ACCESS.flush()
    finally:
        ACCESS.handler, ACCESS.json = saved
    (line,) = stream.getvalue().splitlines()
    assert FORGED in line
    assert not line.startswith(FORGED)


# --- Envelopes ----------------------------------------------------------------------------------------------

def _headers(response: Response) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in response.headers.items()}


@pytest.mark.parametrize("response", [ok({"keySecret": "s"}), ok_json(b'{"password":"p"}'), acknowledged(),
                                      failure(400, "BAD_REQUEST: x")], ids=["ok", "ok_json", "acknowledged",
                                                                            "failure"])
def test_no_envelope_may_be_stored_by_a_cache(response: Response) -> None:
    assert _headers(response)[b"cache-control"] == b"no-store"


def test_a_401_says_how_to_authenticate_and_other_errors_do_not() -> None:
    assert _headers(failure(401, "UNAUTHORIZED: no credentials"))[b"www-authenticate"] == b'Basic realm="clickplane"'
    assert b"www-authenticate" not in _headers(failure(403, "FORBIDDEN: no"))


# --- Request bodies -----------------------------------------------------------------------------------------

class Reader:
    """An ASGI app that reads the whole body, answering 200, or an ApiError in the envelope as the app does."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            while (await receive()).get("more_body"):
                pass
        except ApiError as error:
            response = failure(error.status, error.wire_text)
            body = response.content.body if response.content else b""
            await send({"type": "http.response.start", "status": error.status,
                        "headers": [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


class Answerer:
    """An ASGI app that answers at once without reading the body (as a 401 does)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"no"})


class QuickBodies(LimitedHttpProtocol):
    body_timeout = 0.5


@pytest.fixture
async def serving(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """uvicorn in this process with `request.param` (an app) behind QuickBodies; the port it listens on."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(request.param, http=QuickBodies, lifespan="off", log_level="critical",
                            timeout_keep_alive=30)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        listener.close()


POST_HEAD = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"


async def trickle_until_closed(port: int, first: bytes) -> bytes:
    """Send `first`, then a byte every 0.1 s until the server closes the connection (or the tests' deadline)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = b""
    try:
        writer.write(first)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.1)
            except TimeoutError:
                writer.write(b"a")
                continue
            if not chunk:
                return received
            received += chunk
        raise AssertionError(f"the connection was still open after {WAIT_SECONDS:g} s: {received[:200]!r}")
    finally:
        writer.close()


@pytest.mark.anyio
@pytest.mark.parametrize("serving", [BodyLimits(Reader(), 1 << 20, 0.5)], indirect=True)
async def test_a_body_trickled_past_its_deadline_is_answered_408_and_the_connection_closed(serving: int) -> None:
    answer = await trickle_until_closed(serving, POST_HEAD + b"{")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["error"].startswith("REQUEST_TIMEOUT: the request body did not arrive whole within 0.5 s")


@pytest.mark.anyio
@pytest.mark.parametrize("serving", [BodyLimits(Answerer(), 1 << 20, 60.0)], indirect=True)
async def test_a_body_still_trickling_after_its_answer_loses_the_connection_at_the_deadline(serving: int) -> None:
    answer = await trickle_until_closed(serving, POST_HEAD)
    assert answer.startswith(b"HTTP/1.1 401 ")


@pytest.mark.anyio
@pytest.mark.parametrize("serving", [BodyLimits(Reader(), 1 << 20, 0.5)], indirect=True)
async def test_a_body_sent_in_time_is_read_and_the_connection_kept(serving: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving)
    try:
        for _ in range(2):
            writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
            assert head.startswith(b"HTTP/1.1 200 ")
            assert await asyncio.wait_for(reader.readexactly(2), WAIT_SECONDS) == b"ok"
    finally:
        writer.close()


@pytest.mark.anyio
@pytest.mark.parametrize("serving", [Answerer()], indirect=True)
async def test_a_request_that_is_not_http_is_answered_400_in_the_envelope(serving: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", serving)
    try:
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), WAIT_SECONDS)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"application/json" in head
    assert json.loads(body)["error"].startswith("BAD_REQUEST: the request is not valid HTTP/1.1")


# --- Files --------------------------------------------------------------------------------------------------

@pytest.fixture
def no_umask() -> Iterator[None]:
    """A umask that takes nothing away: what a file is created with is then what it has."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """chmod that does nothing (and says what it was asked): a file must be private as created, not after."""
    asked: list[str] = []
    monkeypatch.setattr(os, "chmod", lambda path, *args, **kwargs: asked.append(str(path)))
    monkeypatch.setattr(Path, "chmod", lambda self, *args, **kwargs: asked.append(str(self)))
    return asked


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.mark.usefixtures("no_umask", "no_chmod")
def test_the_secret_key_is_private_from_its_first_byte_in_a_private_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    key = load_or_create_secret_key(path)
    assert mode(path) == 0o600
    assert len(key) == 32
    assert load_or_create_secret_key(path) == key
    assert [entry.name for entry in path.parent.iterdir()] == ["secret.key"]  # no temporary left


@pytest.mark.usefixtures("no_umask")
def test_a_private_directory_is_made_0700_and_an_existing_one_left_alone(tmp_path: Path) -> None:
    private_directory(tmp_path / "a" / "data")
    assert mode(tmp_path / "a" / "data") == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    private_directory(shared)
    assert mode(shared) == 0o750


@pytest.mark.usefixtures("no_umask")
def test_create_private_does_not_replace_what_another_process_made(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert create_private(path, b"first")
    assert not create_private(path, b"second")
    assert path.read_bytes() == b"first"
    assert mode(path) == 0o600
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["key"]


def test_the_sqlite_store_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # the usual one, under which SQLite makes its files 0644
    try:
        database = Database(f"sqlite:///{tmp_path / 'clickplane.db'}")
        try:
            database.migrate()
            with database.reading() as connection:  # an open connection: the -wal and -shm files exist
                connection.exec_driver_sql("SELECT 1")
                modes = {path.name: mode(path) for path in tmp_path.iterdir()}
        finally:
            database.dispose()
    finally:
        os.umask(previous)
    assert modes == {"clickplane.db": 0o600, "clickplane.db-wal": 0o600, "clickplane.db-shm": 0o600}


def test_a_store_made_before_is_made_private_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "clickplane.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    Database(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def test_a_link_planted_where_a_temporary_file_was_named_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    for name in (".users.xml.tmp", ".users.xml"):
        (tmp_path / name).symlink_to(victim)
    write_atomically(tmp_path / "users.xml", b"<yandex/>")
    assert victim.read_bytes() == b"untouched"
    assert (tmp_path / "users.xml").read_bytes() == b"<yandex/>"
    assert mode(tmp_path / "users.xml") == 0o600


TARGET = postman.Target("http://127.0.0.1:1", "key-id", "key-secret", "org", "")
DOCUMENT: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}


@pytest.mark.parametrize("link", ["out", "out/environment.json", "out/collection.json"])
def test_postman_refuses_to_write_through_a_link_it_did_not_make(tmp_path: Path, link: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir(exist_ok=link != "out")
    if link == "out":
        (tmp_path / "out").rmdir()
    (tmp_path / link).symlink_to(elsewhere / "target")
    with pytest.raises(postman.ExportError, match="is a symbolic link"):
        postman.write(tmp_path / "out", DOCUMENT, TARGET)
    assert not list(elsewhere.iterdir())


def test_postman_writes_no_secret_through_a_link_at_a_temporary_name(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".environment.json.tmp").symlink_to(victim)
    collection, environment = postman.write(out, DOCUMENT, TARGET)
    assert victim.read_bytes() == b"untouched"
    assert "key-secret" in environment.read_text()
    assert mode(environment) & 0o077 == 0
    assert collection.exists()
