"""What the provisioning benchmarks share: N resources created at once through the API and polled until all run,
measurements of them and of bare servers, the rounds in alternating order, and the printed tables.

`provisioning.py` measures ClickHouse services against bare `clickhouse-server`s, `postgres.py` Postgres services
against bare `initdb` + `pg_ctl start`; each says what it creates with a `Kind`.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from harness import BenchError, Clickplane, Timeout


@dataclass
class Measurement:
    target: str  # "clickplane" or "bare"
    count: int
    round: int
    total: float
    each: list[float]
    # Per phase, seconds after each resource's start (one whose phase is unknown is left out).
    phases: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.each)


# --- created through the API ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Kind:
    """What a benchmark creates (`what`, for messages): its collection under the organization (`/services`), the
    create body for a name, where the create's result holds the new id, and the states that mean it will not get to
    running."""

    what: str
    collection: str
    body: Callable[[str], dict[str, Any]]
    id_of: Callable[[Any], str]
    failed_states: tuple[str, ...]


@dataclass
class Created:
    name: str
    sent: float  # perf_counter
    sent_wall: float  # time.time(), to compare with file times and log lines
    answered: float | None = None
    resource_id: str | None = None
    running: float | None = None


async def create_all(clickplane: Clickplane, kind: Kind, prefix: str, count: int, poll: float, timeout: float
                     ) -> tuple[float, list[Created]]:
    """POST `count` resources at once and poll the list until all run; (total seconds, each resource)."""
    path = f"/v1/organizations/{clickplane.organization_id}{kind.collection}"
    created_by_name: dict[str, Created] = {}
    limits = httpx.Limits(max_connections=count + 1, max_keepalive_connections=count + 1)
    async with httpx.AsyncClient(base_url=clickplane.api.base_url, timeout=30, trust_env=False, limits=limits,
                                 headers={"Authorization": clickplane.api.authorization}) as client:

        async def create(name: str) -> None:
            created = created_by_name[name] = Created(name, time.perf_counter(), time.time())
            response = await client.post(path, json=kind.body(name))
            created.answered = time.perf_counter()
            if response.status_code != 200:
                raise BenchError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
            created.resource_id = kind.id_of(response.json()["result"])

        async def watch() -> None:
            deadline = start + timeout
            while True:
                response = await client.get(path)
                now = time.perf_counter()
                if response.status_code != 200:
                    raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:500]}")
                for item in response.json()["result"]:
                    created = created_by_name.get(item["name"])
                    if created is None or created.running is not None:
                        continue
                    if item["state"] == "running":
                        created.running = now
                    elif item["state"] in kind.failed_states:
                        raise BenchError(f"{kind.what} {item['name']} ({item['id']}) went {item['state']}")
                if len(created_by_name) == count and all(c.running is not None for c in created_by_name.values()):
                    return
                if now > deadline:
                    waiting = sum(c.running is None for c in created_by_name.values()) + count - len(created_by_name)
                    raise Timeout(f"{waiting} of {count} {kind.what}s not running after {timeout:g} s")
                await asyncio.sleep(poll)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for number in range(count):
                group.create_task(create(f"{prefix}{number}"))
            group.create_task(watch())
    finished = max(c.running for c in created_by_name.values() if c.running is not None)
    return finished - start, list(created_by_name.values())


# --- times from what a run leaves behind ---------------------------------------------------------------------

# `clickplane serve` logs `%(asctime)s %(levelname)s %(name)s: %(message)s`, asctime in local time.
SERVE_LOG_TIME = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) "


def local_timestamp(text: str, layout: str) -> float:
    return datetime.datetime.strptime(text, layout).timestamp()


def serve_log_times(serve_log: Path, pattern: re.Pattern[str]) -> dict[str, float]:
    """{resource id: when serve logged it}, for `pattern` matching a serve log line with the time as its first
    group and the resource id as its second."""
    text = serve_log.read_text(errors="replace")
    return {match[2]: local_timestamp(match[1], "%Y-%m-%d %H:%M:%S,%f") for match in pattern.finditer(text)}


def mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


# --- rounds --------------------------------------------------------------------------------------------------

def alternating(counts: Sequence[int], rounds: int, measures: Sequence[Callable[[int, int], Measurement]]
                ) -> list[Measurement]:
    """Each `measure(count, round)` for every count and round, in alternating order (round 1: as given, round 2:
    reversed, ...), so that neither target always runs on a machine the other just warmed or loaded."""
    measurements: list[Measurement] = []
    for count in counts:
        for number in range(1, rounds + 1):
            for measure in measures if number % 2 else measures[::-1]:
                measurements.append(measure(count, number))
    return measurements


# --- report --------------------------------------------------------------------------------------------------

def print_totals(measurements: list[Measurement], labels: dict[str, str]) -> None:
    """One row per measurement: total, min, median, max seconds."""
    width = max(26, *(len(label) for label in labels.values()))
    header = f"{'N':>3} {'round':>5}  {'target':<{width}} {'total s':>8} {'min s':>7} {'median s':>8} {'max s':>7}"
    print(header)
    print("-" * len(header))
    for m in measurements:
        print(f"{m.count:>3} {m.round:>5}  {labels[m.target]:<{width}} {m.total:>8.2f} {min(m.each):>7.2f} "
              f"{m.median:>8.2f} {max(m.each):>7.2f}")


def print_phases(measurements: list[Measurement], target: str, phases: Sequence[str], title: str) -> None:
    """The phase table of `target`'s measurements: per phase, the median over resources (the max in brackets)."""
    print(f"\n{title}")
    header = f"{'N':>3} {'round':>5}  " + " ".join(f"{phase:>13}" for phase in phases)
    print(header)
    print("-" * len(header))
    for m in measurements:
        if m.target == target:
            cells = [f"{statistics.median(m.phases[p]):.2f} ({max(m.phases[p]):.2f})" if m.phases.get(p) else "-"
                     for p in phases]
            print(f"{m.count:>3} {m.round:>5}  " + " ".join(f"{cell:>13}" for cell in cells))


def summary(measurements: list[Measurement], count: int, bare: str, bare_until: str) -> str:
    """Means over the rounds of each target's total and median, e.g. `bare` "bare clickhouse-server" and
    `bare_until` "/ping"."""
    def means(target: str) -> tuple[float, float]:
        chosen = [m for m in measurements if m.count == count and m.target == target]
        return statistics.fmean(m.total for m in chosen), statistics.fmean(m.median for m in chosen)

    (ours, ours_median), (theirs, theirs_median) = means("clickplane"), means("bare")
    return (f"N={count}: clickplane {ours:.2f} s to running (median {ours_median:.2f} s), {bare} "
            f"{theirs:.2f} s to {bare_until} (median {theirs_median:.2f} s) (overhead {ours - theirs:+.2f} s, "
            f"{ours / theirs:.2f}x; median {ours_median - theirs_median:+.2f} s, {ours_median / theirs_median:.2f}x)")
