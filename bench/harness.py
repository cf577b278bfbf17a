"""What the benchmarks share: a real `clickplane serve` on a temporary data dir, and a teardown that leaves nothing
running.

A `Sandbox` owns one temporary data dir and every server started for it. `cleanup()` stops those servers (SIGTERM,
then SIGKILL), runs `python -m clickplane stop-all` on the dir, ends by pid anything still running from it (a
ClickHouse that stop-all missed) and removes it. Benchmarks call it from a `finally`, inside
`terminated_as_interrupt()` so that SIGTERM unwinds like Ctrl-C; a Ctrl-C or SIGTERM during cleanup is held
until cleanup is done, then raised.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import httpx

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

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        response = httpx.request(method, self.base_url + path, json=body, timeout=10,
                                 headers={"Authorization": self.authorization})
        return response.status_code, response.content

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, raw = self.request(method, path, body)
        if not 200 <= status < 300:
            raise BenchError(f"{method} {path} answered {status}: {raw[:500]!r}")
        return json.loads(raw)["result"]


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

    def start_child(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Child:
        child = Child.start(name, argv, env or self.env, self.data_dir / f"{name.replace(' ', '-')}.log")
        self.children.append(child)
        return child

    def start_clickplane(self, env: dict[str, str] | None = None) -> Clickplane:
        """`clickplane init` for credentials, then `clickplane serve` on a free loopback port, once it answers.
        `env` adds to the environment of both (CLICKPLANE_* settings)."""
        log(f"data dir {self.data_dir}")
        environment = {**self.env, **(env or {})}
        init = clickplane_cli("init", "--json", env=environment)
        if init.returncode != 0:
            raise BenchError(f"clickplane init failed: {init.stderr}")
        credentials = json.loads(init.stdout)
        port = free_port()
        serve = self.start_child("clickplane serve", [sys.executable, "-m", "clickplane", "serve"],
                                 {**environment, "CLICKPLANE_PORT": str(port)})
        basic = base64.b64encode(f"{credentials['keyId']}:{credentials['keySecret']}".encode()).decode()
        api = Api(f"http://127.0.0.1:{port}", f"Basic {basic}")

        def answers() -> bool | None:
            serve.check_alive()
            return True if api.request("GET", "/v1")[0] == 200 else None

        wait_until(answers, f"clickplane serve on port {port} (pid {serve.process.pid})", STARTUP_TIMEOUT)
        log(f"clickplane serve: pid {serve.process.pid}, {api.base_url}")
        return Clickplane(serve, api, str(credentials["organizationId"]))

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
