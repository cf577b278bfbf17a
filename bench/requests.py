"""Benchmark: `GET service details` of a real clickplane against a bare ASGI app sending the same bytes.

    python bench/requests.py [--connections 32] [--duration 10] [--rounds 2] [--threads 2] [--warmup 2]

It initializes a temporary data dir, runs `python -m clickplane serve` on a free loopback port, creates one
service, records the exact bytes of its details, and serves those bytes from `bench/bare_app.py` on the same
uvicorn stack. wrk then loads each target in alternating order, round after round; the table gives each
target's req/s, p50 and p99, and its ratio to the bare app of the same round. Only ratios within one run mean
something: wrk shares the machine with the servers. Nothing is asserted; everything is torn down at the end,
also on errors and Ctrl-C (no ClickHouse process started here outlives the run).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
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

BENCH_DIR = Path(__file__).resolve().parent
STARTUP_TIMEOUT = 60.0
SETTLE_TIMEOUT = 90.0
SETTLED_STATES = ("running", "failed", "stopped")
T = TypeVar("T")


class BenchError(RuntimeError):
    pass


class Timeout(BenchError):
    pass


# --- processes -----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clickplane_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clickplane", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


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
            print(f"warning: {self.name} (pid {self.process.pid}) ignored SIGTERM; killing it", file=sys.stderr)
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


# --- wrk -----------------------------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str | None


def milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise BenchError(f"unparsable wrk latency {text!r}")
    return float(match[1]) * UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    def find(pattern: str) -> str:
        match = re.search(pattern, output, re.MULTILINE)
        if not match:
            raise BenchError(f"wrk output lacks {pattern!r}:\n{output}")
        return match[1]

    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    errors = re.search(r"Socket errors:\s*(.+)$", output, re.MULTILINE)
    return WrkResult(requests_per_second=float(find(r"^Requests/sec:\s*([\d.]+)")),
                     p50_ms=milliseconds(find(r"^\s*50%\s+(\S+)")), p99_ms=milliseconds(find(r"^\s*99%\s+(\S+)")),
                     non_2xx=int(non_2xx[1]) if non_2xx else 0, socket_errors=errors[1].strip() if errors else None)


@dataclass(frozen=True)
class Load:
    threads: int
    connections: int
    authorization: str

    def run(self, url: str, seconds: float) -> WrkResult:
        argv = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds:g}s", "--latency",
                "-H", f"Authorization: {self.authorization}", url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return parse_wrk(done.stdout)


# --- the benchmark -------------------------------------------------------------------------------------------

@dataclass
class Target:
    name: str
    url: str
    server: Child


@dataclass
class Row:
    round: int
    target: str
    result: WrkResult
    ratio: float


@contextmanager
def terminated_as_interrupt() -> Iterator[None]:
    """SIGTERM to the benchmark unwinds like Ctrl-C, so the cleanup below runs either way."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(tempfile.mkdtemp(prefix="clickplane-bench-"))
        self.env = {**os.environ, "CLICKPLANE_DATA_DIR": str(self.data_dir)}
        self.children: list[Child] = []

    def log(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def start_clickplane(self) -> tuple[Child, Api, str]:
        self.log(f"data dir {self.data_dir}")
        init = clickplane_cli("init", "--json", env=self.env)
        if init.returncode != 0:
            raise BenchError(f"clickplane init failed: {init.stderr}")
        credentials = json.loads(init.stdout)
        port = free_port()
        serve = Child.start("clickplane serve", [sys.executable, "-m", "clickplane", "serve"],
                            {**self.env, "CLICKPLANE_PORT": str(port)}, self.data_dir / "serve.log")
        self.children.append(serve)
        basic = base64.b64encode(f"{credentials['keyId']}:{credentials['keySecret']}".encode()).decode()
        api = Api(f"http://127.0.0.1:{port}", f"Basic {basic}")

        def answers() -> bool | None:
            serve.check_alive()
            return True if api.request("GET", "/v1")[0] == 200 else None

        wait_until(answers, f"clickplane serve on port {port} (pid {serve.process.pid})", STARTUP_TIMEOUT)
        self.log(f"clickplane serve: pid {serve.process.pid}, {api.base_url}")
        return serve, api, str(credentials["organizationId"])

    def create_service(self, api: Api, organization_id: str) -> str:
        path = f"/v1/organizations/{organization_id}/services"
        created = api.json("POST", path, {"name": "bench", "provider": "aws", "region": "us-east-1",
                                          "ipAccessList": [{"source": "127.0.0.1"}]})
        service_id = str(created["service"]["id"])

        # Its details change while it is provisioning; once settled, the bare app can send the same bytes.
        def settled() -> str | None:
            state = str(api.json("GET", f"{path}/{service_id}")["state"])
            return state if state in SETTLED_STATES else None

        try:
            state = wait_until(settled, f"service {service_id} to settle", SETTLE_TIMEOUT)
        except Timeout:
            state = "not settled (details may differ from the bare app's copy by a few bytes)"
        self.log(f"service {service_id}: {state}")
        return f"{path}/{service_id}"

    def start_bare(self, body: bytes, name: str, *extra: str) -> Target:
        body_file = self.data_dir / "bare-body.json"
        body_file.write_bytes(body)
        port = free_port()
        child = Child.start(name, [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port),
                                   "--body-file", str(body_file), *extra], self.env, self.data_dir / f"{name}.log")
        self.children.append(child)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool | None:
            child.check_alive()
            return True if httpx.get(url, timeout=2).content == body else None

        wait_until(answers, f"{name} on port {port}", STARTUP_TIMEOUT)
        self.log(f"{name}: pid {child.process.pid}, {url}")
        return Target(name, url, child)

    def run(self) -> list[Row]:
        serve, api, organization_id = self.start_clickplane()
        path = self.create_service(api, organization_id)
        status, body = api.request("GET", path)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {body[:500]!r}")
        self.log(f"GET {path}: {len(body)} bytes")
        targets = [Target("service-details", api.base_url + path, serve), self.start_bare(body, "bare")]
        if self.args.uvloop_reference:
            targets.append(self.start_bare(body, "bare-uvloop", "--uvloop"))
        load = Load(self.args.threads, self.args.connections, api.authorization)
        if self.args.warmup > 0:
            for target in targets:
                load.run(target.url, self.args.warmup)
        rows: list[Row] = []
        for number in range(1, self.args.rounds + 1):
            order = targets if number % 2 else targets[::-1]
            results: dict[str, WrkResult] = {}
            for target in order:
                self.log(f"round {number}: {target.name} for {self.args.duration:g}s")
                results[target.name] = result = load.run(target.url, self.args.duration)
                target.server.check_alive()
                if result.non_2xx:
                    raise BenchError(f"{target.name}: {result.non_2xx} non-2xx responses in round {number}")
                if result.socket_errors:
                    self.log(f"warning: {target.name} socket errors: {result.socket_errors}")
            bare = results["bare"].requests_per_second
            rows.extend(Row(number, target.name, results[target.name],
                            results[target.name].requests_per_second / bare) for target in targets)
        return rows

    def cleanup(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave servers behind
        for child in reversed(self.children):
            try:
                child.stop()
            except Exception as error:  # keep cleaning up whatever happens
                self.log(f"warning: stopping {child.name} failed: {error}")
        stop_all = clickplane_cli("stop-all", env=self.env)
        if stop_all.returncode != 0:
            self.log(f"warning: clickplane stop-all failed: {stop_all.stderr.strip()}")
        # Anything still running from our data dir is ours (a ClickHouse that stop-all missed): end it by pid.
        for pid, command in processes_mentioning(str(self.data_dir)):
            self.log(f"warning: pid {pid} outlived stop-all, killing it: {command[:200]}")
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log(f"cleaned up {self.data_dir}")


# --- report --------------------------------------------------------------------------------------------------

def print_table(rows: list[Row]) -> None:
    header = f"{'round':>5}  {'target':<16} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for row in rows:
        result = row.result
        print(f"{row.round:>5}  {row.target:<16} {result.requests_per_second:>10,.0f} {result.p50_ms:>8.2f} "
              f"{result.p99_ms:>8.2f} {row.ratio:>6.2f}")


def summary(rows: list[Row], connections: int) -> str:
    """Means over the rounds (ratio: mean of the per-round ratios); p99 is the worst round's."""
    ours = [row for row in rows if row.target == "service-details"]
    bare = [row for row in rows if row.target == "bare"]
    ratios = "/".join(f"{row.ratio:.2f}" for row in ours)
    return (f"service-details: {statistics.fmean(r.result.requests_per_second for r in ours):,.0f} req/s "
            f"({statistics.fmean(r.ratio for r in ours):.2f} of bare "
            f"{statistics.fmean(r.result.requests_per_second for r in bare):,.0f}; rounds {ratios}), "
            f"p50 {statistics.fmean(r.result.p50_ms for r in ours):.1f} ms, "
            f"p99 {max(r.result.p99_ms for r in ours):.1f} ms @{connections} connections")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each measuring every target (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of unrecorded load per target first")
    parser.add_argument("--uvloop-reference", action="store_true",
                        help="also measure the bare app on uvloop (clickplane serve runs on the asyncio loop)")
    args = parser.parse_args(argv)
    if args.connections < args.threads or args.rounds < 1 or args.duration <= 0:
        parser.error("need --rounds >= 1, --duration > 0 and --connections >= --threads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("error: wrk is not on PATH", file=sys.stderr)
        return 2
    bench = Bench(args)
    try:
        with terminated_as_interrupt():
            rows = bench.run()
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bench.cleanup()
    print(f"\nGET service details vs bare ASGI app, same bytes; wrk -t{args.threads} -c{args.connections} "
          f"-d{args.duration:g}s, {args.rounds} round(s)\n")
    print_table(rows)
    print()
    print(summary(rows, args.connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
