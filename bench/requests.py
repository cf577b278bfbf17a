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
import re
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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

    def start_bare(self, body: bytes, name: str, *extra: str) -> Target:
        body_file = self.sandbox.data_dir / "bare-body.json"
        body_file.write_bytes(body)
        port = free_port()
        child = self.sandbox.start_child(name, [sys.executable, str(BENCH_DIR / "bare_app.py"), "--port", str(port),
                                                "--body-file", str(body_file), *extra])
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool | None:
            child.check_alive()
            return True if httpx.get(url, timeout=2).content == body else None

        wait_until(answers, f"{name} on port {port}", STARTUP_TIMEOUT)
        log(f"{name}: pid {child.process.pid}, {url}")
        return Target(name, url, child)

    def run(self) -> list[Row]:
        clickplane = self.sandbox.start_clickplane()
        api = clickplane.api
        path = self.create_service(api, clickplane.organization_id)
        status, body = api.request("GET", path)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {body[:500]!r}")
        log(f"GET {path}: {len(body)} bytes")
        targets = [Target("service-details", api.base_url + path, clickplane.serve), self.start_bare(body, "bare")]
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
                log(f"round {number}: {target.name} for {self.args.duration:g}s")
                results[target.name] = result = load.run(target.url, self.args.duration)
                target.server.check_alive()
                if result.non_2xx:
                    raise BenchError(f"{target.name}: {result.non_2xx} non-2xx responses in round {number}")
                if result.socket_errors:
                    log(f"warning: {target.name} socket errors: {result.socket_errors}")
            bare = results["bare"].requests_per_second
            rows.extend(Row(number, target.name, results[target.name],
                            results[target.name].requests_per_second / bare) for target in targets)
        return rows

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

    def report(rows: list[Row]) -> None:
        print(f"\nGET service details vs bare ASGI app, same bytes; wrk -t{args.threads} -c{args.connections} "
              f"-d{args.duration:g}s, {args.rounds} round(s)\n")
        print_table(rows)
        print()
        print(summary(rows, args.connections))

    return run_to_completion(bench.run, bench.cleanup, report)


if __name__ == "__main__":
    sys.exit(main())
