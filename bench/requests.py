"""Benchmark: `GET service details` of a real clickplane against a bare ASGI app sending the same bytes.

    python bench/requests.py [--connections 32] [--duration 10] [--rounds 2] [--threads 2] [--warmup 2]

It initializes a temporary data dir, runs `python -m clickplane serve` on a free loopback port, creates one
service, records the exact answer to its details, and serves that answer from `bench/bare_app.py` on the same
uvicorn stack. wrk then loads each target in alternating order, round after round; the table gives each
target's req/s, p50 and p99, and its ratio to the bare app of the same round. Only ratios within one run mean
something: wrk shares the machine with the servers. Nothing is asserted; everything is torn down at the end,
also on errors and Ctrl-C (no ClickHouse process started here outlives the run).

The wrk driver, the bare app's start, the rounds and their summary are shared with `bench/table.py`.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import (
    STARTUP_TIMEOUT,
    Api,
    BenchError,
    Child,
    Sandbox,
    Timeout,
    free_port,
    log,
    run_to_completion,
    wait_until,
)

BENCH_DIR = Path(__file__).resolve().parent
SETTLE_TIMEOUT = 90.0
SETTLED_STATES = ("running", "failed", "stopped")
REFERENCE = "bare"  # the target every other one is compared with, round by round
WRK_TIMEOUT = 30.0  # seconds before wrk gives up on an answer (its default, 2 s, would drop slow ones from p99)
DRAIN_TIMEOUT = 120.0


# --- wrk -----------------------------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: str | None
    max_ms: float = 0.0  # the slowest answer
    output: str = field(default="", repr=False)  # all of wrk's output, with what a Lua script's done() printed


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
                     non_2xx=int(non_2xx[1]) if non_2xx else 0, socket_errors=errors[1].strip() if errors else None,
                     max_ms=milliseconds(find(r"^\s*Latency\s+\S+\s+\S+\s+(\S+)")), output=output)


@dataclass(frozen=True)
class Load:
    """`wrk -t<threads> -c<connections> --latency`, with an Authorization header, or a Lua script that makes
    each request itself (its headers included)."""

    threads: int
    connections: int
    authorization: str | None = None
    script: Path | None = None
    timeout: float = WRK_TIMEOUT

    def run(self, url: str, seconds: float) -> WrkResult:
        if seconds < 1 or seconds != int(seconds):
            raise BenchError(f"wrk runs for whole seconds, not {seconds:g}")
        argv = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{seconds:g}s", "--timeout",
                f"{self.timeout:g}s", "--latency"]
        if self.authorization:
            argv += ["-H", f"Authorization: {self.authorization}"]
        if self.script:
            argv += ["-s", str(self.script)]
        done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + self.timeout + 60,
                              check=False)
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
        return parse_wrk(done.stdout)


# --- targets: clickplane and the bare app --------------------------------------------------------------------

@dataclass
class Target:
    name: str
    url: str
    server: Child


def record(api: Api, method: str, path: str, body: Any = None, pattern: str | None = None) -> dict[str, Any]:
    """One request to clickplane, its answer as a route of bare_app.py (`pattern`: the path with `*` for the
    segments that vary between requests)."""
    response = api.response(method, path, body)
    if not 200 <= response.status_code < 300:
        raise BenchError(f"{method} {path} answered {response.status_code}: {response.content[:500]!r}")
    headers = [[name, value] for name, value in response.headers.items()
               if name not in ("date", "server", "content-length")]
    log(f"{method} {path}: {response.status_code}, {len(response.content)} bytes")
    return {"method": method, "path": pattern or path, "status": response.status_code, "headers": headers,
            "body": response.text}


def start_bare(sandbox: Sandbox, routes: list[dict[str, Any]], name: str = REFERENCE, *extra: str) -> Target:
    """bench/bare_app.py answering `routes` (see `record`), once it answers each of them; its url is the base."""
    routes_file = sandbox.data_dir / f"{name}-routes.json"
    routes_file.write_text(json.dumps(routes))
    port = free_port()
    child = sandbox.start_child(name, [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port),
                                       "--routes", str(routes_file), *extra])
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool | None:
        child.check_alive()
        for route in routes:
            response = httpx.request(route["method"], url + route["path"].replace("*", "x"), timeout=2)
            if response.text != route["body"]:
                return None
        return True

    wait_until(answers, f"{name} on port {port}", STARTUP_TIMEOUT)
    log(f"{name}: pid {child.process.pid}, {url}")
    return Target(name, url, child)


# --- rounds --------------------------------------------------------------------------------------------------

@dataclass
class Row:
    round: int
    target: str
    result: WrkResult
    ratio: float


def drain(target: Target) -> None:
    """Wait until the target answers one request sent after wrk stopped. wrk closes its connections, but the
    requests they had sent are still worked off; the next measurement must not pay for them."""
    started = time.monotonic()
    try:
        httpx.get(target.url, timeout=DRAIN_TIMEOUT)
    except httpx.HTTPError as error:
        raise BenchError(f"{target.name} did not answer after wrk stopped: {error}") from error
    if (waited := time.monotonic() - started) > 0.5:
        log(f"{target.name}: {waited:.1f}s to work off the requests wrk left behind")


def checked(target: Target, result: WrkResult, what: str) -> WrkResult:
    drain(target)
    target.server.check_alive()
    if result.non_2xx:
        raise BenchError(f"{target.name}: {result.non_2xx} non-2xx responses ({what})")
    if result.socket_errors:
        log(f"warning: {target.name} socket errors ({what}): {result.socket_errors}")
    return result


def measure(targets: list[Target], run: Callable[[Target, float], WrkResult], rounds: int, duration: float,
            warmup: float, what: str = "") -> list[Row]:
    """`run(target, seconds)` for each target: first `warmup` seconds unrecorded, then `rounds` rounds of
    `duration` seconds in alternating order (round 1 in the order given, round 2 reversed, ...), each run followed
    by `drain`. A row per target and round, its ratio to the REFERENCE target's req/s in the same round. Any
    non-2xx is an error."""
    label = f"{what}: " if what else ""
    if warmup > 0:
        for target in targets:
            log(f"{label}warm-up: {target.name} for {warmup:g}s")
            checked(target, run(target, warmup), f"{label}warm-up")
    rows: list[Row] = []
    for number in range(1, rounds + 1):
        results: dict[str, WrkResult] = {}
        for target in targets if number % 2 else targets[::-1]:
            log(f"{label}round {number}: {target.name} for {duration:g}s")
            results[target.name] = checked(target, run(target, duration), f"{label}round {number}")
        reference = results[REFERENCE].requests_per_second
        rows.extend(Row(number, target.name, results[target.name],
                        results[target.name].requests_per_second / reference) for target in targets)
    return rows


@dataclass(frozen=True)
class Summary:
    """One target over the rounds: mean req/s, mean p50, worst p99 and max, mean of the per-round ratios to the
    reference and the reference's mean req/s."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    ratio: float
    ratios: tuple[float, ...]
    reference_requests_per_second: float


def summarize(rows: list[Row], target: str) -> Summary:
    ours = [row for row in rows if row.target == target]
    reference = [row for row in rows if row.target == REFERENCE]
    return Summary(statistics.fmean(r.result.requests_per_second for r in ours),
                   statistics.fmean(r.result.p50_ms for r in ours), max(r.result.p99_ms for r in ours),
                   max(r.result.max_ms for r in ours), statistics.fmean(r.ratio for r in ours),
                   tuple(r.ratio for r in ours), statistics.fmean(r.result.requests_per_second for r in reference))


# --- the benchmark -------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sandbox = Sandbox("clickplane-bench-")

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
        log(f"service {service_id}: {state}")
        return f"{path}/{service_id}"

    def run(self) -> list[Row]:
        clickplane = self.sandbox.start_clickplane()
        api = clickplane.api
        path = self.create_service(api, clickplane.organization_id)
        routes = [record(api, "GET", path)]
        bare = [start_bare(self.sandbox, routes)]
        if self.args.uvloop_reference:
            bare.append(start_bare(self.sandbox, routes, "bare-uvloop", "--uvloop"))
        targets = [Target("service-details", api.base_url + path, clickplane.serve),
                   *(Target(target.name, target.url + path, target.server) for target in bare)]
        load = Load(self.args.threads, self.args.connections, api.authorization)
        return measure(targets, lambda target, seconds: load.run(target.url, seconds), self.args.rounds,
                       self.args.duration, self.args.warmup)

    def cleanup(self) -> None:
        self.sandbox.cleanup()


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
    ours = summarize(rows, "service-details")
    return (f"service-details: {ours.requests_per_second:,.0f} req/s ({ours.ratio:.2f} of bare "
            f"{ours.reference_requests_per_second:,.0f}; rounds {'/'.join(f'{r:.2f}' for r in ours.ratios)}), "
            f"p50 {ours.p50_ms:.1f} ms, p99 {ours.p99_ms:.1f} ms @{connections} connections")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each measuring every target (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded load per target first")
    parser.add_argument("--uvloop-reference", action="store_true",
                        help="also measure the bare app on uvloop (clickplane serve runs on the asyncio loop)")
    args = parser.parse_args(argv)
    if args.connections < args.threads or args.rounds < 1 or args.duration <= 0:
        parser.error("need --rounds >= 1, --duration > 0 and --connections >= --threads")
    return args


def wrk_found() -> bool:
    """Whether wrk is on PATH (if not, says so on stderr)."""
    if shutil.which("wrk") is None:
        print("error: wrk is not on PATH", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_found():
        return 2
    bench = Bench(args)

    def report(rows: list[Row]) -> None:
        print(f"\nGET service details vs bare ASGI app, same bytes; wrk -t{args.threads} -c{args.connections} "
              f"-d{args.duration:g}s, {args.rounds} round(s)\n")
        print_table(rows)
        print()
        print(summary(rows, args.connections))

    return run_to_completion(bench.run, bench.cleanup, report)


if __name__ == "__main__":
    sys.exit(main())
