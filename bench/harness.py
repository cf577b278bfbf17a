"""What the benchmarks share: a real `clickplane serve` on a temporary data dir, and a teardown that leaves nothing
running.

A `Sandbox` owns one temporary data dir and every server started for it. `cleanup()` stops those servers (SIGTERM,
then SIGKILL), runs `python -m clickplane stop-all` on the dir, ends by pid anything still running from it (a
ClickHouse that stop-all missed) and removes it. Benchmarks call it from a `finally`, inside
`terminated_as_interrupt()` so that SIGTERM unwinds like Ctrl-C; a Ctrl-C or SIGTERM during cleanup is held
until cleanup is done, then raised. `Sandbox.use_postgres` keeps the sandbox's store in a new PostgreSQL database
instead of the SQLite file, and `cleanup()` drops it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

STARTUP_TIMEOUT = 60.0
T = TypeVar("T")


class BenchError(RuntimeError):
    pass


class Timeout(BenchError):
    pass


def log(text: str) -> None:
    """Progress goes to stderr; only the figures go to stdout."""
    print(text, file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clickplane_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m clickplane ...`, in a session of its own: a Ctrl-C at the terminal must not cut `stop-all` short."""
    return subprocess.run([sys.executable, "-m", "clickplane", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False, start_new_session=True)


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class Child:
    """A server subprocess, in its own session so that Ctrl-C reaches only us and we stop it in order."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], log: Path) -> Child:
        with log.open("ab") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return cls(name, process, log)

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.process.returncode}:\n{tail(self.log)}")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"warning: {self.name} (pid {self.process.pid}) ignored SIGTERM; killing it")
            self.process.kill()
            self.process.wait(timeout=10)


def wait_until(condition: Callable[[], T | None], what: str, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result is not None:
                return result
        except (httpx.HTTPError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    raise Timeout(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose command line contains `text`, except ourselves."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if text in command:
                found.append((int(entry.name), command))
    return found


def kill_leftovers(directory: Path, why: str) -> None:
    """SIGKILL, by pid, every process still running from `directory`: whatever runs from our temp dir is ours."""
    for pid, command in processes_mentioning(str(directory)):
        log(f"warning: pid {pid} {why}, killing it: {command[:200]}")
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM to the benchmark unwinds like Ctrl-C, so the cleanup in `finally` blocks runs either way."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM during cleanup must not leave servers behind: either is held until the block is done,
    then raised as KeyboardInterrupt (unless the block raised something else)."""
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGINT, hold), signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    if received:
        raise KeyboardInterrupt


# --- HTTP ----------------------------------------------------------------------------------------------------

@dataclass
class Api:
    base_url: str
    authorization: str

    def response(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return httpx.request(method, self.base_url + path, json=body, timeout=10,
                             headers={"Authorization": self.authorization})

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        response = self.response(method, path, body)
        return response.status_code, response.content

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, raw = self.request(method, path, body)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} answered {status}: {raw[:500]!r}")
        return json.loads(raw)["result"]


def basic_authorization(key_id: str, key_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()


@dataclass(frozen=True)
class Credentials:
    """An organization and an admin API key of it, as `clickplane init --json` and `org create --json` print."""

    organization_id: str
    key_id: str
    key_secret: str

    @property
    def authorization(self) -> str:
        return basic_authorization(self.key_id, self.key_secret)


# --- PostgreSQL stores -----------------------------------------------------------------------------------------

POSTGRES_DATABASE_PREFIX = "clickplane_bench_"


def _on_postgres_server(admin_url: str, statement: str) -> None:
    # CREATE/DROP DATABASE cannot run inside a transaction: autocommit.
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def create_postgres_database(admin_url: str) -> str:
    """A new empty database `clickplane_bench_<hex>` on the server of `admin_url`; returns its URL."""
    name = f"{POSTGRES_DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    _on_postgres_server(admin_url, f'CREATE DATABASE "{name}"')
    log(f"created PostgreSQL database {name}")
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(admin_url: str, url: str) -> None:
    """DROP ... WITH (FORCE) a database made by create_postgres_database, whoever is still connected to it."""
    name = make_url(url).database
    if not name or not name.startswith(POSTGRES_DATABASE_PREFIX):
        raise BenchError(f"refusing to drop {name!r}: not a database made by the benchmarks")
    _on_postgres_server(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    log(f"dropped PostgreSQL database {name}")


# --- a clickplane on a temporary data dir --------------------------------------------------------------------

@dataclass
class Clickplane:
    serve: Child
    api: Api
    organization_id: str


class Sandbox:
    """A temporary clickplane data dir and the servers started for it; `cleanup()` removes all of it."""

    def __init__(self, prefix: str = "clickplane-bench-") -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.env = {**os.environ, "CLICKPLANE_DATA_DIR": str(self.data_dir)}
        self.children: list[Child] = []
        # (admin URL, URL) of the PostgreSQL databases made for this sandbox, dropped by cleanup().
        self.databases: list[tuple[str, str]] = []

    def start_child(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child.start(name, argv, env or self.env, self.data_dir / f"{name.replace(' ', '-')}.log")
        self.children.append(child)
        return child

    def use_postgres(self, admin_url: str) -> str:
        """Keep this sandbox's store in a new database on the PostgreSQL server of `admin_url` (an account that
        may create databases), dropped by `cleanup()`; returns its URL, also set as CLICKPLANE_DATABASE_URL."""
        url = create_postgres_database(admin_url)
        self.databases.append((admin_url, url))
        self.env["CLICKPLANE_DATABASE_URL"] = url
        return url

    @property
    def database_url(self) -> str:
        """The store's SQLAlchemy URL, as `clickplane` resolves it (the SQLite file in the data dir by default)."""
        return self.env.get("CLICKPLANE_DATABASE_URL") or f"sqlite:///{self.data_dir / 'clickplane.db'}"

    def init_store(self, env: dict[str, str] | None = None) -> Credentials:
        """`clickplane init --json`: the first organization and its admin key. `env` adds CLICKPLANE_* settings."""
        log(f"data dir {self.data_dir}")
        init = clickplane_cli("init", "--json", env={**self.env, **(env or {})})
        if init.returncode != 0:
            raise BenchError(f"clickplane init failed: {init.stderr}")
        created = json.loads(init.stdout)
        return Credentials(str(created["organizationId"]), str(created["keyId"]), str(created["keySecret"]))

    def start_serve(self, credentials: Credentials, env: dict[str, str] | None = None) -> Clickplane:
        """`clickplane serve` on a free loopback port, once it answers; the API is used with `credentials`."""
        port = free_port()
        serve = self.start_child("clickplane serve", [sys.executable, "-m", "clickplane", "serve"],
                                 {**self.env, **(env or {}), "CLICKPLANE_PORT": str(port)})
        api = Api(f"http://127.0.0.1:{port}", credentials.authorization)

        def answers() -> bool | None:
            serve.check_alive()
            return True if api.request("GET", "/v1")[0] == 200 else None

        wait_until(answers, f"clickplane serve on port {port} (pid {serve.process.pid})", STARTUP_TIMEOUT)
        log(f"clickplane serve: pid {serve.process.pid}, {api.base_url}")
        return Clickplane(serve, api, credentials.organization_id)

    def start_clickplane(self, env: dict[str, str] | None = None) -> Clickplane:
        """`clickplane init` for credentials, then `clickplane serve` on a free loopback port, once it answers.
        `env` adds to the environment of both (CLICKPLANE_* settings)."""
        return self.start_serve(self.init_store(env), env)

    def cleanup(self) -> None:
        with interrupts_deferred():
            for child in reversed(self.children):
                try:
                    child.stop()
                except Exception as error:  # keep cleaning up whatever happens
                    log(f"warning: stopping {child.name} failed: {error}")
            self.children.clear()
            stop_all = clickplane_cli("stop-all", env=self.env)
            if stop_all.returncode != 0:
                log(f"warning: clickplane stop-all failed: {stop_all.stderr.strip()}")
            kill_leftovers(self.data_dir, "outlived stop-all")
            for admin_url, url in self.databases:
                try:
                    drop_postgres_database(admin_url, url)
                except Exception as error:
                    log(f"warning: dropping database {make_url(url).database} failed: {error}")
            self.databases.clear()
            shutil.rmtree(self.data_dir, ignore_errors=True)
            log(f"cleaned up {self.data_dir}")


def run_to_completion(work: Callable[[], T], cleanup: Callable[[], None], report: Callable[[T], None]) -> int:
    """A benchmark's main: `work`, then `cleanup` whatever happened; Ctrl-C and SIGTERM unwind the same way.
    Returns the exit status: 0 (and `report` called), 1 on a BenchError, 130 when interrupted."""
    try:
        with terminated_as_interrupt():
            try:
                result = work()
            finally:
                cleanup()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    report(result)
    return 0
