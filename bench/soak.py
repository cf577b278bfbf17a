"""Soak: mixed API traffic at the benchmarks' concurrency for a while, with serve's memory watched meanwhile.

    python bench/soak.py [--duration 600] [--connections 32] [--warmup 10] [--json]

It starts `clickplane serve` on a temporary data dir (harness.Sandbox) with a rate limit of RATE_LIMIT requests a
second for each API key, creates one service and waits for it to run. Each connection but the HOT_CONNECTIONS gets
KEYS_PER_CONNECTION Admin keys of its own and takes turns with them, using none more often than PACE of the limit:
those keys are never refused, however fast or slow the machine. The hot connections share one key and send as fast
as they are answered, so it is refused with 429 once they get more than the limit's share of the server. Every
connection (an httpx.AsyncClient holding one connection) sends requests for `--duration` seconds, each drawn from
MIX:

- reads: the service's details, the service list, the key list;
- writes: create a key, call the API once with it, delete it; add or remove the connection's tag on the service;
- refusals on purpose: an unknown service (404), a key with a malformed body (400), a wrong secret (401), an
  unknown state command (400);
- the hot connections: the service's details, 200 or 429.

An answer other than the one expected (a 5xx, a 429 for a key under the limit, a connection error) is an error;
the first few are printed. serve's resident set (VmRSS) is sampled every second: the start figure is taken once
`--warmup` seconds have passed (caches and pools filled), the end figure when the load stops.

It prints requests, requests/s, answers by kind, errors, p50 and p99 latency, and serve's RSS at start, end and
its peak; `--json` prints the same as one JSON object (tests/integration/test_soak.py reads it). Nothing is
asserted here; everything is torn down at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from harness import Api, Sandbox, log, run_to_completion
from query_stream import rss_bytes, running_service

MIB = 1 << 20
RATE_LIMIT = 10  # requests a second for each key (a burst of as many)
HOT_CONNECTIONS = 4
KEYS_PER_CONNECTION = 2
PACE = 0.8
SAMPLE_SECONDS = 1.0
MAX_ERROR_EXAMPLES = 5


@dataclass(frozen=True)
class Caller:
    key_id: str
    key_secret: str


@dataclass
class Target:
    """What the traffic is aimed at: the API, the organization, its service, and the key of each connection."""

    base_url: str
    organization_id: str
    service_id: str
    callers: list[list[Caller]]  # each connection's keys
    hot: Caller

    @property
    def org_path(self) -> str:
        return f"/v1/organizations/{self.organization_id}"

    @property
    def service_path(self) -> str:
        return f"{self.org_path}/services/{self.service_id}"


@dataclass
class Tally:
    """Answers by kind (`<request> <status>`), errors, latencies."""

    answers: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def record(self, kind: str, expected: tuple[int, ...], status: int | None, seconds: float, text: str) -> None:
        self.latencies.append(seconds)
        self.answers[f"{kind} {status or 'no answer'}"] += 1
        if status not in expected:
            self.errors[f"{kind} {status or 'no answer'}"] += 1
            if len(self.examples) < MAX_ERROR_EXAMPLES:
                self.examples.append(f"{kind}: {status or 'no answer'} {text[:300]}")


@dataclass
class Figures:
    duration_seconds: float
    connections: int
    rate_limit_per_second: int
    requests: int
    requests_per_second: float
    errors: int
    answers: dict[str, int]
    error_kinds: dict[str, int]
    error_examples: list[str]
    p50_ms: float
    p99_ms: float
    rss_start_mib: float
    rss_end_mib: float
    rss_peak_mib: float
    rss_trend_mib: list[float]  # at the end of warm-up, then after each tenth of the rest


# --- the connections -----------------------------------------------------------------------------------------

class Connection:
    """One client connection and its keys, looping over a mix until the deadline. With `paced` keys, each key is
    used at most PACE * RATE_LIMIT times a second: it waits for the key whose turn comes first."""

    def __init__(self, target: Target, number: int, callers: list[Caller], tally: Tally, paced: bool) -> None:
        self.target = target
        self.number = number
        self.callers = callers
        self.tally = tally
        self.rng = random.Random(number)
        self.client = httpx.AsyncClient(base_url=target.base_url, limits=httpx.Limits(max_connections=1), timeout=60,
                                        trust_env=False)
        self.interval = 1 / (PACE * RATE_LIMIT) if paced else 0.0
        self.turns = [0.0] * len(callers)  # when each key may next be used
        self.tagged = False
        self.made = 0

    async def next_caller(self) -> Caller:
        index = min(range(len(self.callers)), key=self.turns.__getitem__)
        now = time.monotonic()
        if self.turns[index] > now:
            await asyncio.sleep(self.turns[index] - now)  # pacing, not waiting for anything
        self.turns[index] = max(now, self.turns[index]) + self.interval
        return self.callers[index]

    async def call(self, kind: str, expected: tuple[int, ...], method: str, path: str, body: Any = None,
                   auth: tuple[str, str] | None = None) -> dict[str, Any]:
        caller = await self.next_caller()
        started = time.monotonic()
        try:
            response = await self.client.request(method, path, json=body,
                                                 auth=auth or (caller.key_id, caller.key_secret))
        except httpx.HTTPError as error:
            self.tally.record(kind, expected, None, time.monotonic() - started, repr(error))
            return {}
        self.tally.record(kind, expected, response.status_code, time.monotonic() - started, response.text)
        return response.json() if response.status_code in expected else {}

    async def run(self, deadline: float, moves: list[tuple[Callable[[Connection], Awaitable[None]], int]]) -> None:
        actions, weights = zip(*moves, strict=True)
        async with self.client:
            while time.monotonic() < deadline:
                await self.rng.choices(actions, weights)[0](self)


async def details(connection: Connection) -> None:
    await connection.call("details", (200,), "GET", connection.target.service_path)


async def hot_details(connection: Connection) -> None:
    await connection.call("hot details", (200, 429), "GET", connection.target.service_path)


async def service_list(connection: Connection) -> None:
    await connection.call("list", (200,), "GET", f"{connection.target.org_path}/services")


async def key_list(connection: Connection) -> None:
    await connection.call("keys", (200,), "GET", f"{connection.target.org_path}/keys")


async def key_lifetime(connection: Connection) -> None:
    """A key made, used once (a fresh credential to verify), and deleted."""
    connection.made += 1
    path = f"{connection.target.org_path}/keys"
    created = await connection.call("key create", (200,), "POST", path,
                                    {"name": f"soak-{connection.number}-{connection.made}", "roles": ["developer"]})
    if not created:
        return
    result = created["result"]
    await connection.call("new key use", (200,), "GET", f"{connection.target.org_path}/services",
                          auth=(result["keyId"], result["keySecret"]))
    await connection.call("key delete", (200,), "DELETE", f"{path}/{result['key']['id']}")


async def toggle_tag(connection: Connection) -> None:
    tag = [{"key": f"soak-{connection.number}", "value": "on"}]
    change = {"remove" if connection.tagged else "add": tag}
    if await connection.call("tag", (200,), "PATCH", connection.target.service_path, {"tags": change}):
        connection.tagged = not connection.tagged


async def refusals(connection: Connection) -> None:
    """One of the refusals a client earns on purpose."""
    org = connection.target.org_path
    choice = connection.rng.randrange(4)
    if choice == 0:
        await connection.call("unknown service", (404,), "GET", f"{org}/services/00000000-0000-4000-8000-00000000dead")
    elif choice == 1:
        await connection.call("malformed key", (400,), "POST", f"{org}/keys", {"name": 5, "roles": "everything"})
    elif choice == 2:
        await connection.call("wrong secret", (401,), "GET", f"{org}/services",
                              auth=(connection.callers[0].key_id, "not-the-secret"))
    else:
        await connection.call("unknown command", (400,), "PATCH", f"{connection.target.service_path}/state",
                              {"command": "explode"})


MIX: list[tuple[Callable[[Connection], Awaitable[None]], int]] = [
    (details, 45), (service_list, 15), (key_list, 10), (key_lifetime, 5), (toggle_tag, 10), (refusals, 15)]
HOT_MIX: list[tuple[Callable[[Connection], Awaitable[None]], int]] = [(hot_details, 1)]


# --- the run -------------------------------------------------------------------------------------------------

class PatientApi(Api):
    """The setup's requests, which the rate limit applies to as well: a 429 is waited out."""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        while True:
            status, raw = super().request(method, path, body)
            if status != 429:
                return status, raw
            time.sleep(1 / RATE_LIMIT)  # one request's worth of the allowance


def prepare(api: Api, organization_id: str, connections: int) -> Target:
    """A running service, keys for each connection but the hot ones, and the hot connections' shared key."""
    api = PatientApi(api.base_url, api.authorization)
    service, _ = running_service(api, organization_id)
    callers = [[new_caller(api, organization_id, f"soak-connection-{number}-{key}")
                for key in range(KEYS_PER_CONNECTION)] for number in range(connections - HOT_CONNECTIONS)]
    hot = new_caller(api, organization_id, "soak-hot")
    return Target(api.base_url, organization_id, str(service["id"]), callers, hot)


def new_caller(api: Api, organization_id: str, name: str) -> Caller:
    created = api.json("POST", f"/v1/organizations/{organization_id}/keys", {"name": name, "roles": ["admin"]})
    return Caller(created["keyId"], created["keySecret"])


async def load(target: Target, seconds: float, tally: Tally) -> None:
    deadline = time.monotonic() + seconds
    connections = [Connection(target, number, callers, tally, paced=True).run(deadline, MIX)
                   for number, callers in enumerate(target.callers)]
    connections += [Connection(target, len(target.callers) + number, [target.hot], tally, paced=False)
                    .run(deadline, HOT_MIX) for number in range(HOT_CONNECTIONS)]
    await asyncio.gather(*connections)


class RssSamples:
    """serve's RSS every SAMPLE_SECONDS while the load runs, in a thread of its own (the event loop is busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSamples:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.samples.append((time.monotonic(), rss_bytes(self.pid)))

    def _sample(self) -> None:
        while True:
            self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            if self._done.wait(SAMPLE_SECONDS):
                return

    def after(self, moment: float) -> int:
        """The first sample at or after `moment` (the last one if none is)."""
        return next((rss for at, rss in self.samples if at >= moment), self.samples[-1][1])


def soak(sandbox: Sandbox, args: argparse.Namespace) -> Figures:
    clickplane = sandbox.start_clickplane({"CLICKPLANE_RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
                                           "CLICKPLANE_RATE_LIMIT_PERIOD_SECONDS": "1"})
    target = prepare(clickplane.api, clickplane.organization_id, args.connections)
    tally = Tally()
    log(f"soaking for {args.duration:g}s with {args.connections} connections")
    started = time.monotonic()
    with RssSamples(clickplane.serve.process.pid) as rss:
        asyncio.run(load(target, args.duration, tally))
    clickplane.serve.check_alive()
    return figures(args, tally, rss, started, time.monotonic() - started)


def figures(args: argparse.Namespace, tally: Tally, rss: RssSamples, started: float, seconds: float) -> Figures:
    latencies = sorted(tally.latencies)
    return Figures(
        duration_seconds=round(seconds, 1), connections=args.connections, rate_limit_per_second=RATE_LIMIT,
        requests=len(latencies),
        requests_per_second=round(len(latencies) / seconds, 1), errors=sum(tally.errors.values()),
        answers=dict(sorted(tally.answers.items())), error_kinds=dict(tally.errors), error_examples=tally.examples,
        p50_ms=round(1000 * statistics.median(latencies), 1) if latencies else 0.0,
        p99_ms=round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else 0.0,
        rss_start_mib=round(rss.after(started + args.warmup) / MIB, 1), rss_end_mib=round(rss.samples[-1][1] / MIB, 1),
        rss_peak_mib=round(max(sample for _, sample in rss.samples) / MIB, 1),
        rss_trend_mib=[round(rss.after(started + args.warmup + tenth * (seconds - args.warmup) / 10) / MIB, 1)
                       for tenth in range(11)])


def print_report(result: Figures) -> None:
    print(f"soak: {result.duration_seconds:g}s at {result.connections} connections: {result.requests:,} requests "
          f"({result.requests_per_second:,.0f}/s), {result.errors} errors; p50 {result.p50_ms} ms, "
          f"p99 {result.p99_ms} ms")
    print(f"serve RSS: {result.rss_start_mib} MiB after warm-up, {result.rss_end_mib} MiB at the end "
          f"({result.rss_end_mib - result.rss_start_mib:+.1f} MiB), peak {result.rss_peak_mib} MiB; by tenths: "
          f"{' '.join(map(str, result.rss_trend_mib))}")
    for kind, count in result.answers.items():
        print(f"  {kind:<24} {count:>9,}")
    for example in result.error_examples:
        print(f"error: {example}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--connections", type=int, default=32, help="connections (default 32)")
    parser.add_argument("--warmup", type=float, default=10,
                        help="seconds of load before the start RSS is taken (default 10)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.connections <= HOT_CONNECTIONS or args.duration <= args.warmup:
        parser.error(f"need --connections > {HOT_CONNECTIONS} and --duration > --warmup")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = Sandbox("clickplane-soak-")

    def report(result: Figures) -> None:
        if args.json:
            print(json.dumps(asdict(result)))
        else:
            print_report(result)

    return run_to_completion(lambda: soak(sandbox, args), sandbox.cleanup, report)


if __name__ == "__main__":
    sys.exit(main())
