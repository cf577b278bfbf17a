"""Benchmark: what evaluating ClickStack alerts costs one `clickplane serve`, beside the same serve with no alerts and
beside the evaluation's SQL sent straight to ClickHouse.

    python bench/clickstack.py [--alerts 50] [--firing 5] [--minute 2] [--rows 100000] [--idle 15] [--seconds 30]
                               [--direct 500] [--json]

One sandbox (harness.py): `clickplane serve` with `CLICKPLANE_ALERT_MINUTE_SECONDS=--minute`, so a 1m alert's window
lasts that many seconds and every alert is evaluated about once per `--minute` s instead of once a minute (the
reconciler's passes come every 2 s, so a minute shorter than that only batches windows). One ClickHouse service,
waited for until running, with a table `app_logs (Timestamp DateTime, Body String, ServiceName String)` of `--rows`
rows spread evenly from an hour ago to an hour ahead (every 4th an error line), so every window of the run has rows
and nothing is inserted while it is measured; a log source over it, a saved search `error` (Lucene) and a generic
webhook to a receiver in this process. Then, each over its own span, serve's and ClickHouse's CPU read from
/proc/PID/stat (all threads, user + system):

1. idle: the serve with no alert, `--idle` s: its own work (reconciler passes, the service's watch, metering).
2. direct: `--direct` times the two queries one alert's evaluation sends ClickHouse (the table's columns from
   system.columns, then the window's count built by clickplane's own `ValueQuery.sql` with its limits), one after
   another over one keep-alive HTTP connection from this process: the query's own cost, wall and CPU of the caller
   (this process) and of ClickHouse.
3. alerts: `--alerts` 1m alerts on the search are created, `--firing` of them with a threshold every window passes
   (above 1: each window notifies, adding a sample query and a delivery), the others one none does. Once each has
   been evaluated once, `--seconds` s are measured. Evaluations are counted from the store (its SQLite file, read
   only, every 0.1 s): each change of an alert's `evaluated_until` is one evaluation, seen `lag` s after its window
   closed (the wait for a pass included); windows are the new rows of `clickstack_alert_windows`; deliveries those
   the receiver got. Per evaluation: serve's CPU (its idle rate subtracted) and ClickHouse's, beside the direct ones.

Nothing is asserted; every server and the temp dir are removed at the end, also on errors and Ctrl-C. On the 2-core
dev box other work moves the figures: read the rows of one run side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import threading
import time
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from clickplane.clickstack.queries import LIMITS, SourceTable, ValueQuery, condition
from clickplane.clickstack.windows import window_start
from harness import BenchError, Clickplane, Sandbox, log, processes_mentioning, run_to_completion, tail, wait_until
from query_stream import running_service

TABLE = "app_logs"
COLUMNS = {"Timestamp": "DateTime", "Body": "String", "ServiceName": "String"}
WHERE = "error"
POLL = 0.05  # seconds between reads of the store
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of every thread of `pid` so far (/proc/PID/stat utime and stime, after the command)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class Usage:
    """Wall seconds of a span, the CPU seconds spent in it by serve, ClickHouse and this process, and serve's
    reconciler passes in it and their seconds (each pass asks every controller what is due: the alerts' `due`
    reads every alert)."""

    seconds: float
    serve_cpu: float
    clickhouse_cpu: float
    bench_cpu: float
    passes: float
    pass_seconds: float


@dataclass(frozen=True)
class Meter:
    clickplane: Clickplane
    clickhouse_pid: int

    def read(self) -> Usage:
        status, raw = self.clickplane.api.request("GET", "/metrics")
        if status != 200:
            raise BenchError(f"GET /metrics answered {status}")
        found = dict(line.rsplit(" ", 1) for line in raw.decode().splitlines()
                     if line.startswith("clickplane_reconciler_pass_duration_seconds_"))
        return Usage(time.perf_counter(), cpu_seconds(self.clickplane.serve.process.pid),
                     cpu_seconds(self.clickhouse_pid), time.process_time(),
                     float(found["clickplane_reconciler_pass_duration_seconds_count"]),
                     float(found["clickplane_reconciler_pass_duration_seconds_sum"]))

    def since(self, start: Usage) -> Usage:
        end = self.read()
        return Usage(*(later - earlier for later, earlier in zip(astuple(end), astuple(start), strict=True)))


class ClickHouse:
    """The service's ClickHouse over HTTP, one keep-alive connection as the evaluator's client keeps them."""

    def __init__(self, port: int, password: str) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=("default", password), timeout=60,
                                   trust_env=False)

    def query(self, sql: str, settings: dict[str, str] | None = None) -> str:
        response = self.client.post("/", params=settings, content=sql.encode())
        if response.status_code != 200:
            raise BenchError(f"ClickHouse answered {response.status_code} to {sql[:100]!r}: {response.text[:500]}")
        return response.text


class Receiver:
    """A webhook receiver on loopback: when each delivery arrived, with its state and window end (ms)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Store:
    """serve's SQLite store, read only (WAL: our reads do not hold up its writes)."""

    def __init__(self, path: Path) -> None:
        self.connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def evaluated_until(self) -> dict[str, str | None]:
        return dict(self.connection.execute("SELECT alert_id, evaluated_until FROM clickstack_alert_status"))

    def windows_between(self, after: dict[str, str | None], until: dict[str, str | None]) -> int:
        """History rows of windows that end after `after` and by `until` (per alert: evaluated_until values)."""
        ends = self.connection.execute("SELECT alert_id, window_end FROM clickstack_alert_windows")
        return sum(1 for alert_id, end in ends if (after.get(alert_id) or "") < end <= (until.get(alert_id) or ""))

    def count(self, sql: str) -> int:
        return int(self.connection.execute(sql).fetchone()[0])


def epoch(stored: str) -> float:
    """A UtcDateTime as SQLite holds it (UTC, no zone)."""
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).timestamp()


class Evaluations(threading.Thread):
    """Counts evaluations while it runs: every change of an alert's evaluated_until, as (that window's end, how
    long after it the change was seen)."""

    def __init__(self, store: Store) -> None:
        super().__init__(name="evaluations", daemon=True)
        self.store, self.stopping = store, threading.Event()
        self.first = store.evaluated_until()
        self.seen = dict(self.first)
        self.seen_at: list[tuple[str, float]] = []

    def run(self) -> None:
        while not self.stopping.wait(POLL):
            now = time.time()
            for alert_id, until in self.store.evaluated_until().items():
                if until is not None and until != self.seen.get(alert_id):
                    self.seen_at.append((until, now - epoch(until)))
                    self.seen[alert_id] = until

    def stop(self) -> None:
        self.stopping.set()
        self.join()

    def batches(self, alerts: int) -> list[float]:
        """Per window that every alert was seen evaluated for: from the first of them to the last. A pass starts
        all the alerts due at once, so this is how long serve takes to work off one window of them."""
        lags: dict[str, list[float]] = {}
        for until, lag in self.seen_at:
            lags.setdefault(until, []).append(lag)
        return [max(found) - min(found) for found in lags.values() if len(found) == alerts]


@dataclass
class Figures:
    alerts: int
    firing: int
    minute_seconds: float
    rows: int
    idle: Usage
    direct: Usage
    direct_rounds: int
    measured: Usage
    evaluations: int
    windows: int
    deliveries: int
    errors: int  # alerts whose status holds a failure reason at the end
    evaluation_lag_p50: float | None
    evaluation_lag_max: float | None
    batch_p50: float | None  # one window's evaluations of every alert, first to last seen
    batch_max: float | None
    delivery_lag_p50: float | None
    delivery_lag_max: float | None
    # Derived from the above, for --json readers.
    evaluations_per_minute: float = 0.0
    windows_per_minute: float = 0.0
    wall_ms_per_evaluation: float | None = None  # batch_p50 / alerts: they take turns on serve's one event loop
    serve_cpu_ms_per_evaluation: float = 0.0  # idle rate subtracted
    clickhouse_cpu_ms_per_evaluation: float = 0.0  # idle rate subtracted
    direct_wall_ms: float = 0.0  # per round of the evaluation's two queries
    direct_caller_cpu_ms: float = 0.0
    direct_clickhouse_cpu_ms: float = 0.0  # idle rate subtracted

    def __post_init__(self) -> None:
        idle, measured, direct = self.idle, self.measured, self.direct
        if self.batch_p50 is not None:
            self.wall_ms_per_evaluation = 1000 * self.batch_p50 / self.alerts
        if self.evaluations:
            self.evaluations_per_minute = self.evaluations / measured.seconds * 60
            self.windows_per_minute = self.windows / measured.seconds * 60
            self.serve_cpu_ms_per_evaluation = 1000 * (
                measured.serve_cpu - idle.serve_cpu / idle.seconds * measured.seconds) / self.evaluations
            self.clickhouse_cpu_ms_per_evaluation = 1000 * (
                measured.clickhouse_cpu - idle.clickhouse_cpu / idle.seconds * measured.seconds) / self.evaluations
        self.direct_wall_ms = 1000 * direct.seconds / self.direct_rounds
        self.direct_caller_cpu_ms = 1000 * direct.bench_cpu / self.direct_rounds
        self.direct_clickhouse_cpu_ms = 1000 * (
            direct.clickhouse_cpu - idle.clickhouse_cpu / idle.seconds * direct.seconds) / self.direct_rounds


def p50_max(values: list[float]) -> tuple[float | None, float | None]:
    return (statistics.median(values), max(values)) if values else (None, None)


# --- the run -------------------------------------------------------------------------------------------------

def set_up(sandbox: Sandbox, receiver: Receiver, args: argparse.Namespace
           ) -> tuple[Clickplane, str, ClickHouse, Meter, dict[str, Any]]:
    clickplane = sandbox.start_clickplane({"CLICKPLANE_ALERT_MINUTE_SECONDS": f"{args.minute:g}"})
    service, password = running_service(clickplane.api, clickplane.organization_id)
    clickhouse = ClickHouse(next(e["port"] for e in service["endpoints"] if e["protocol"] == "http"), password)
    servers = [pid for pid, command in processes_mentioning(str(sandbox.data_dir)) if "clickhouse" in command]
    if len(servers) != 1:
        raise BenchError(f"expected one ClickHouse server of the data dir, found {servers}")
    meter = Meter(clickplane, servers[0])
    log(f"service {service['id']} running, ClickHouse pid {servers[0]}; {args.rows} rows into {TABLE}")

    columns = ", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())
    clickhouse.query(f"CREATE TABLE default.{TABLE} ({columns}) ENGINE = MergeTree ORDER BY Timestamp")
    first, span = int(time.time()) - 3600, 7200
    clickhouse.query(
        f"INSERT INTO default.{TABLE} SELECT toDateTime({first} + intDiv(number * {span}, {args.rows})), "  # noqa: S608
        "if(number % 4 = 0, concat('disk error ', toString(number)), concat('all fine ', toString(number))), 'api' "
        f"FROM system.numbers LIMIT {args.rows}")

    stack = f"/v1/organizations/{clickplane.organization_id}/services/{service['id']}/clickstack"
    api = clickplane.api
    source = api.json("POST", f"{stack}/sources", {
        "kind": "log", "name": "app logs", "connection": service["id"].replace("-", "")[:24],
        "from": {"databaseName": "default", "tableName": TABLE}, "defaultTableSelectExpression": "Timestamp, Body",
        "timestampValueExpression": "Timestamp", "implicitColumnExpression": "Body"})
    search = api.json("POST", f"{stack}/saved-searches", {
        "name": "errors", "sourceId": source["id"], "select": "Timestamp, Body", "where": WHERE,
        "whereLanguage": "lucene"})
    webhook = api.json("POST", f"{stack}/webhooks", {  # a template small enough to read each delivery's window
        "name": "bench", "service": "generic", "url": receiver.url,
        "body": '{"state": "{{state}}", "end": {{endTime}}}'})
    alert = {"source": "saved_search", "savedSearchId": search["id"], "thresholdType": "above", "interval": "1m",
             "channel": {"type": "webhook", "webhookId": webhook["id"]}}
    return clickplane, stack, clickhouse, meter, alert


def evaluation_queries(minute: float) -> list[tuple[str, dict[str, str] | None]]:
    """The two queries of one evaluation of an alert that does not fire, as the evaluator sends them (checks.py's
    search_query: the table's columns, then the count over the newest closed window)."""
    columns = (f"SELECT name, type FROM system.columns WHERE database = 'default' AND table = '{TABLE}' "  # noqa: S608
               "FORMAT JSONEachRow")
    table = SourceTable("default", TABLE, "Timestamp", "Body")
    count = ValueQuery(table, "count()", (condition(WHERE, "lucene", table, COLUMNS),))
    step = max(1, round(minute))
    end = window_start(datetime.now(UTC), step)
    return [(columns, None), (count.sql(end - timedelta(seconds=step), end, step), LIMITS)]


def measure(sandbox: Sandbox, receiver: Receiver, args: argparse.Namespace) -> Figures:
    clickplane, stack, clickhouse, meter, alert = set_up(sandbox, receiver, args)

    log(f"idle: serve with no alert, {args.idle:g} s")
    start = meter.read()
    time.sleep(args.idle)
    idle = meter.since(start)

    log(f"direct: the evaluation's two queries, {args.direct} times")
    queries = evaluation_queries(args.minute)
    start = meter.read()
    for _ in range(args.direct):
        for sql, settings in queries:
            clickhouse.query(sql, settings)
    direct = meter.since(start)

    log(f"alerts: creating {args.alerts} ({args.firing} firing)")
    for number in range(args.alerts):
        threshold = 1.0 if number < args.firing else 1e9
        clickplane.api.json("POST", f"{stack}/alerts", alert | {"threshold": threshold})
    store = Store(sandbox.data_dir / "clickplane.db")

    def all_evaluated() -> bool | None:
        clickplane.serve.check_alive()
        found = store.evaluated_until()
        return True if len(found) == args.alerts and None not in found.values() else None

    wait_until(all_evaluated, "every alert's first evaluation", 60)
    log(f"alerts: measuring {args.seconds:g} s")
    watch = Evaluations(store)
    delivered_before = len(receiver.received)
    start = meter.read()
    watch.start()
    time.sleep(args.seconds)
    watch.stop()
    measured = meter.since(start)
    clickplane.serve.check_alive()
    arrivals = receiver.received[delivered_before:]
    evaluation_lag, batch = p50_max([lag for _, lag in watch.seen_at]), p50_max(watch.batches(args.alerts))
    delivery_lag = p50_max([at - body["end"] / 1000 for at, body in arrivals])
    return Figures(
        alerts=args.alerts, firing=args.firing, minute_seconds=args.minute, rows=args.rows, idle=idle,
        direct=direct, direct_rounds=args.direct, measured=measured, evaluations=len(watch.seen_at),
        windows=store.windows_between(watch.first, watch.seen),
        deliveries=len(arrivals),
        errors=store.count("SELECT count(*) FROM clickstack_alert_status WHERE reason IS NOT NULL"),
        evaluation_lag_p50=evaluation_lag[0], evaluation_lag_max=evaluation_lag[1], batch_p50=batch[0],
        batch_max=batch[1],
        delivery_lag_p50=delivery_lag[0], delivery_lag_max=delivery_lag[1])


# --- report --------------------------------------------------------------------------------------------------

def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def report(figures: Figures) -> None:
    f = figures
    print(f"\nClickStack alerts: {f.alerts} 1m alerts on a saved search ({f.firing} firing every window), a minute "
          f"of {f.minute_seconds:g} s, {f.rows:,} log rows")
    print(f"{'':40} {'seconds':>8} {'serve CPU':>10} {'ClickHouse CPU':>15} {'passes':>7} {'pass ms':>8}")
    for label, usage in (("idle: serve with no alert", f.idle),
                         (f"alerts: serve evaluating {f.alerts} alerts", f.measured)):
        print(f"{label:40} {usage.seconds:8.1f} {100 * usage.serve_cpu / usage.seconds:9.1f}% "
              f"{100 * usage.clickhouse_cpu / usage.seconds:14.1f}% {usage.passes:7.0f} "
              f"{1000 * usage.pass_seconds / max(usage.passes, 1):8.1f}")
    print(f"evaluations: {f.evaluations} in {f.measured.seconds:.1f} s = {f.evaluations_per_minute:,.0f} a minute "
          f"({f.windows} windows = {f.windows_per_minute:,.0f} a minute, {f.windows / max(f.evaluations, 1):.2f} "
          f"per evaluation; {f.errors} alerts with "
          f"errors); deliveries received: {f.deliveries}")
    print(f"window closed -> evaluated (seen in the store, polled every {POLL:g} s): "
          f"p50 {seconds(f.evaluation_lag_p50)}, max {seconds(f.evaluation_lag_max)}; "
          f"-> delivery received: p50 {seconds(f.delivery_lag_p50)}, max {seconds(f.delivery_lag_max)}")
    print(f"one window of all {f.alerts} alerts, first to last evaluated: p50 {seconds(f.batch_p50)}, "
          f"max {seconds(f.batch_max)}")
    print(f"\nper evaluation{'':26} {'wall ms':>8} {'caller CPU ms':>14} {'ClickHouse CPU ms':>18}")
    wall = "-" if f.wall_ms_per_evaluation is None else f"{f.wall_ms_per_evaluation:.2f}"
    print(f"{'evaluator in serve':40} {wall:>8} {f.serve_cpu_ms_per_evaluation:14.2f} "
          f"{f.clickhouse_cpu_ms_per_evaluation:18.2f}")
    print(f"{f'direct: its 2 queries over HTTP (x{f.direct_rounds})':40} {f.direct_wall_ms:8.2f} "
          f"{f.direct_caller_cpu_ms:14.2f} {f.direct_clickhouse_cpu_ms:18.2f}")
    print("(the evaluator's wall ms: one window of all the alerts, first to last evaluated, over the alerts; "
          "CPU ms are idle-subtracted)")
    if f.serve_cpu_ms_per_evaluation > 0:
        print(f"at {f.serve_cpu_ms_per_evaluation:.1f} ms of serve CPU each, one core would evaluate about "
              f"{60_000 / f.serve_cpu_ms_per_evaluation:,.0f} alerts a minute (1m alerts at a real minute; serve "
              f"evaluates on one event loop, so one core is its ceiling)")


# --- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=50, help="alerts evaluated")
    parser.add_argument("--firing", type=int, default=5, help="of them, how many fire every window")
    parser.add_argument("--minute", type=float, default=2, help="CLICKPLANE_ALERT_MINUTE_SECONDS")
    parser.add_argument("--rows", type=int, default=100_000, help="log rows in the table")
    parser.add_argument("--idle", type=float, default=15, help="seconds serve is measured with no alert")
    parser.add_argument("--seconds", type=float, default=30, help="seconds the alerts are measured")
    parser.add_argument("--direct", type=int, default=500, help="rounds of the evaluation's queries sent directly")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if min(args.alerts, args.rows, args.direct) < 1 or not 0 <= args.firing <= args.alerts \
            or min(args.minute, args.idle, args.seconds) <= 0:
        parser.error("--alerts, --rows and --direct must be at least 1, --firing at most --alerts, times above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sandbox = Sandbox("clickplane-bench-clickstack-")
    sandbox.env.pop("CLICKPLANE_DATABASE_URL", None)  # the evaluations are read from the SQLite file of the data dir
    receiver = Receiver()

    def work() -> Figures:
        try:
            return measure(sandbox, receiver, args)
        except BenchError:
            log(f"end of the clickplane serve log:\n{tail(sandbox.data_dir / 'clickplane-serve.log')}")
            raise

    def cleanup() -> None:
        sandbox.cleanup()
        receiver.close()
        left = processes_mentioning(str(sandbox.data_dir))
        log(f"warning: still running after cleanup: {left}" if left else "no process left from the run's temp dir")

    return run_to_completion(work, cleanup, lambda figures: print(json.dumps(asdict(figures))) if args.json
                             else report(figures))


if __name__ == "__main__":
    sys.exit(main())
