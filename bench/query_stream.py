"""Benchmark: a large result streamed through the Query API, next to the same result straight from ClickHouse.

    python bench/query_stream.py [--rows 10000000] [--format TabSeparated] [--rounds 1] [--stall 2]

It initializes a temporary data dir, runs `python -m clickplane serve`, creates one service, binds the
server's key to its query endpoint, and then, in each round, reads `SELECT number FROM system.numbers LIMIT
<rows>` in full, as fast as it can:

- `query-api`: `POST /service/{id}/run?format=F` on clickplane, read incrementally (httpx stream);
- `clickhouse`: the same SQL straight from the service's ClickHouse HTTP port (the reference: what clickplane
  adds is the difference);
- `query-api-stalled` (unless `--stall 0`): the Query API again, the reader pausing `--stall` seconds after the
  first chunk. A server without back-pressure would pull the whole result from ClickHouse into its memory
  meanwhile; one that streams stops reading from ClickHouse once its socket buffers are full.

While each read runs, the resident set of `clickplane serve` is sampled (VmRSS of /proc/<pid>/status, every
5 ms); its before, peak and after are printed with rows, bytes, seconds and MB/s (10^6 bytes; the stalled
reader's pause is left out of both). Rows are the
lines received, hence the line-per-row formats only. Nothing is asserted (a row count short of `--rows` is an
error); everything is torn down at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness import (
    Api,
    BenchError,
    Clickplane,
    Sandbox,
    log,
    run_to_completion,
    wait_until,
)

RUNNING_TIMEOUT = 90.0
READ_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
SAMPLE_SECONDS = 0.005
MIB = 1 << 20
FORMATS = ("TabSeparated", "CSV", "JSONEachRow")  # one line per row


# --- memory --------------------------------------------------------------------------------------------------

def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise BenchError(f"pid {pid} has no VmRSS")


@dataclass
class Rss:
    before: int
    peak: int
    after: int


@contextmanager
def sampled_rss(pid: int) -> Iterator[Rss]:
    """The process's RSS before the block, its peak while the block runs (sampled), and after."""
    now = rss_bytes(pid)
    rss = Rss(before=now, peak=now, after=now)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE_SECONDS):
            rss.peak = max(rss.peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield rss
    finally:
        done.set()
        sampler.join()
        rss.after = rss_bytes(pid)
        rss.peak = max(rss.peak, rss.after)


# --- reads ---------------------------------------------------------------------------------------------------

@dataclass
class Measurement:
    round: int
    target: str
    rows: int
    size: int
    seconds: float
    rss: Rss

    @property
    def mb_per_second(self) -> float:
        return self.size / self.seconds / 1e6


@dataclass
class Source:
    """Where a target reads the result from: one streamed POST."""

    name: str
    url: str
    params: dict[str, str]
    content: bytes
    headers: dict[str, str]
    stall: float = 0.0


def read(source: Source, serve_pid: int, number: int, expected_rows: int) -> Measurement:
    rows = size = 0
    started = time.monotonic()
    with sampled_rss(serve_pid) as rss, httpx.Client(timeout=READ_TIMEOUT, trust_env=False) as client, \
            client.stream("POST", source.url, params=source.params, content=source.content,
                          headers=source.headers) as response:
        if response.status_code != 200:
            raise BenchError(f"{source.name}: HTTP {response.status_code}: {response.read()[:500]!r}")
        for chunk in response.iter_raw():
            if source.stall and not size:
                time.sleep(source.stall)  # the reader stops reading; what does serve do meanwhile?
            rows += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.monotonic() - started - source.stall
    if rows != expected_rows:
        raise BenchError(f"{source.name}: {rows:,} rows received, {expected_rows:,} expected")
    return Measurement(number, source.name, rows, size, seconds, rss)


# --- setup ---------------------------------------------------------------------------------------------------

def running_service(api: Api, organization_id: str) -> tuple[dict[str, Any], str]:
    """A new service, once running: (its details, its password)."""
    path = f"/v1/organizations/{organization_id}/services"
    created = api.json("POST", path, {"name": "query-stream", "provider": "aws", "region": "us-east-1",
                                      "ipAccessList": [{"source": "127.0.0.1"}]})
    service_id, password = str(created["service"]["id"]), str(created["password"])

    def running() -> dict[str, Any] | None:
        service: dict[str, Any] = api.json("GET", f"{path}/{service_id}")
        if service["state"] == "failed":
            raise BenchError(f"service {service_id} failed: {service.get('stateReason')}")
        return service if service["state"] == "running" else None

    return wait_until(running, f"service {service_id} to run", RUNNING_TIMEOUT), password


def sources(clickplane: Clickplane, args: argparse.Namespace) -> list[Source]:
    api, organization_id = clickplane.api, clickplane.organization_id
    service, password = running_service(api, organization_id)
    service_id = str(service["id"])
    key_id = api.json("GET", "/v1/whoami")["keyId"]
    api.json("POST", f"/v1/organizations/{organization_id}/services/{service_id}/serviceQueryEndpoint",
             {"openApiKeys": [key_id]})
    log(f"service {service_id}: running, key {key_id} bound to its query endpoint")
    sql = f"SELECT number FROM system.numbers LIMIT {args.rows:d}"  # noqa: S608 - an int, not user input
    query_api = Source("query-api", f"{api.base_url}/service/{service_id}/run", {"format": args.format},
                       json.dumps({"sql": sql}).encode(),
                       {"Authorization": api.authorization, "content-type": "text/plain;charset=UTF-8"})
    port = next(int(e["port"]) for e in service["endpoints"] if e["protocol"] == "http")
    direct = Source("clickhouse", f"http://127.0.0.1:{port}/", {"default_format": args.format}, sql.encode(),
                    {"Authorization": "Basic " + base64.b64encode(f"default:{password}".encode()).decode()})
    found = [query_api, direct]
    if args.stall > 0:
        found.append(Source("query-api-stalled", query_api.url, query_api.params, query_api.content,
                            query_api.headers, args.stall))
    return found


def run(sandbox: Sandbox, args: argparse.Namespace) -> list[Measurement]:
    clickplane = sandbox.start_clickplane()
    targets = sources(clickplane, args)
    pid = clickplane.serve.process.pid
    measurements: list[Measurement] = []
    for number in range(1, args.rounds + 1):
        for source in targets if number % 2 else targets[::-1]:
            log(f"round {number}: {source.name}")
            measurements.append(read(source, pid, number, args.rows))
            clickplane.serve.check_alive()
    return sorted(measurements, key=lambda m: (m.round, [t.name for t in targets].index(m.target)))


# --- report --------------------------------------------------------------------------------------------------

def print_table(measurements: list[Measurement]) -> None:
    header = (f"{'round':>5}  {'target':<18} {'rows':>12} {'bytes':>13} {'s':>7} {'MB/s':>7}   "
              f"{'serve RSS MiB: before':>21} {'peak':>7} {'after':>7} {'growth':>7}")
    print(header)
    print("-" * len(header))
    for m in measurements:
        print(f"{m.round:>5}  {m.target:<18} {m.rows:>12,} {m.size:>13,} {m.seconds:>7.2f} {m.mb_per_second:>7.1f}   "
              f"{m.rss.before / MIB:>21.1f} {m.rss.peak / MIB:>7.1f} {m.rss.after / MIB:>7.1f} "
              f"{(m.rss.peak - m.rss.before) / MIB:>+7.1f}")


def summary(measurements: list[Measurement]) -> str:
    def of(target: str) -> list[Measurement]:
        return [m for m in measurements if m.target == target]

    def mean_rate(target: str) -> float:
        return sum(m.mb_per_second for m in of(target)) / len(of(target))

    def worst_growth(target: str) -> float:
        return max(m.rss.peak - m.rss.before for m in of(target)) / MIB

    ours, direct = mean_rate("query-api"), mean_rate("clickhouse")
    line = (f"query-api: {ours:.1f} MB/s ({ours / direct:.2f} of straight ClickHouse's {direct:.1f} MB/s); "
            f"serve RSS peak +{worst_growth('query-api'):.1f} MiB while streaming")
    if of("query-api-stalled"):
        line += f", +{worst_growth('query-api-stalled'):.1f} MiB with the reader stalled"
    return line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows to read (default 10000000)")
    parser.add_argument("--format", choices=FORMATS, default="TabSeparated", help="output format")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, each reading every target (default 1)")
    parser.add_argument("--stall", type=float, default=2.0,
                        help="seconds the stalled reader pauses after its first chunk; 0 skips it (default 2)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.rounds < 1 or args.stall < 0:
        parser.error("need --rows >= 1, --rounds >= 1 and --stall >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = Sandbox("clickplane-bench-")

    def report(measurements: list[Measurement]) -> None:
        print(f"\nQuery API stream: {args.rows:,} rows of system.numbers as {args.format}, {args.rounds} round(s); "
              f"seconds and MB/s exclude the stalled reader's pause\n")
        print_table(measurements)
        print()
        print(summary(measurements))

    return run_to_completion(lambda: run(sandbox, args), sandbox.cleanup, report)


if __name__ == "__main__":
    sys.exit(main())
