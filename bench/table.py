"""The benchmark table: clickplane's API beside a bare ASGI app answering the same bytes, on SQLite and on
PostgreSQL, with a small and a large store; then N services provisioned at once beside N bare ClickHouse starts.

    python bench/table.py [--stores sqlite,postgresql] [--postgres-url URL] [--duration S] [--rounds N] [--quick]

For each store (SQLite, or a fresh PostgreSQL database per sandbox on the server of `--postgres-url`):

1. small store: initialized as `clickplane init` does it, then 100 services seeded into the store as stopped
   services (desired_state and state `stopped`, through `plan_new_service`, before `serve` starts, so the
   reconciler leaves them alone), then `clickplane serve`. For each case (`GET service details` of one of them,
   `GET services` of the organization, `POST keys`) and each `--connections`, wrk loads clickplane and the bare
   app (bare_app.py on the same uvicorn stack, answering the bytes recorded from clickplane for that case),
   alternating, round by round. `POST keys` sends every request with a new key name, to organizations seeded for
   the run (each with its admin key, `create_organization_with_admin_key`), each getting at most the 99 keys it
   has room for: the product's limit of 100 keys an organization stays as it is.
2. large store: the same organization and its 100 services, plus 99 more organizations of 100 services (10,000
   services) and 10 organizations of 100 keys (1,000 keys), all seeded before `serve` starts; `GET service
   details` and `GET services` again, beside the bare app, to compare with the small store. serve's VmRSS is read
   before and after the load of each store size.
3. provisioning: bench/provisioning.py's own run with N=50 (`--quick`: 5), on that store.

`--quick` is a smoke run of the same steps: 2 s per measurement, 1 s of warm-up, a large store of 1,000 services.

Nothing is asserted; every server, temporary dir and database is removed at the end, also on errors and Ctrl-C.
See bench/README.md for what each figure measures.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

import provisioning
from clickplane import operations
from clickplane.auth.permissions import DEVELOPER
from clickplane.keys.repository import ApiKeys
from clickplane.keys.schemas import ApiKeyPostRequest
from clickplane.keys.service import MAX_KEYS_PER_ORGANIZATION, create_key
from clickplane.kit.schemas import IpAccessListEntry
from clickplane.members.repository import Members
from clickplane.members.service import DEFAULT_ADMIN_EMAIL
from clickplane.organizations.repository import Organizations
from clickplane.organizations.service import DEFAULT_ORGANIZATION_NAME, create_organization_with_admin_key
from clickplane.roles.repository import Roles
from clickplane.services.repository import Services
from clickplane.services.schemas import ServicePostRequest
from clickplane.services.service import plan_new_service
from clickplane.settings import Settings, discover_clickhouse_binary
from clickplane.store.database import Database
from clickplane.store.models import ApiKey, Organization, Service
from harness import (
    Api,
    BenchError,
    Credentials,
    Sandbox,
    create_postgres_database,
    drop_postgres_database,
    interrupts_deferred,
    log,
    processes_mentioning,
    run_to_completion,
)
from query_stream import rss_bytes
from requests import (
    REFERENCE,
    Load,
    Row,
    Summary,
    Target,
    WrkResult,
    checked,
    measure,
    record,
    start_bare,
    summarize,
    wrk_found,
)

STORES = ("sqlite", "postgresql")
POSTGRES_URL = "postgresql+psycopg://clickplane:clickplane@127.0.0.1:5432/postgres"
CLICKPLANE = "clickplane"
MIB = 1 << 20

# An organization may hold as many services as the default quota allows; the large store fills 100 of them.
SERVICES_PER_ORGANIZATION = int(Settings.model_fields["quota_services_per_organization"].default)
LARGE_KEY_ORGANIZATIONS = 10  # x 100 keys (the admin key and 99): 1,000
# POST keys: the organizations of a run get this many requests each, the room their admin key leaves.
KEYS_PER_RUN_ORGANIZATION = MAX_KEYS_PER_ORGANIZATION - 1
# POST keys: organizations are made for a run at up to this times the fastest POST keys rate seen so far,
KEYS_RATE_MARGIN = 4.0
# or, before the first, this times the fastest rate of the reads (a create costs more than a read).
READS_RATE_MARGIN = 2.0
KEYS_RATE_FLOOR = 200.0  # req/s assumed before any rate was seen
WATCH_CONNECTIONS = 4  # --watch: light load, so that its latency is serve's own, not a queue's


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    pattern: str  # the path, `*` for what varies: bare_app.py's route

    def path(self, *ids: str) -> str:
        """The pattern with its `*`s replaced by `ids`, in order."""
        return self.pattern.replace("*", "{}").format(*ids)


DETAILS = Case("GET service details", "GET", "/v1/organizations/*/services/*")
LIST = Case("GET services", "GET", "/v1/organizations/*/services")
KEYS = Case("POST keys", "POST", "/v1/organizations/*/keys")


# --- the store, seeded through clickplane's own code ------------------------------------------------------------

def stopped(service: Service) -> Service:
    """A service as the reconciler leaves it: stopped as asked, its spec applied (see Services.needing_work)."""
    service.state = service.desired_state = "stopped"
    service.observed_generation = service.generation
    return service


def store_settings(sandbox: Sandbox) -> Settings:
    return Settings(data_dir=sandbox.data_dir, database_url=sandbox.database_url)


def initialize(sandbox: Sandbox) -> Credentials:
    """What `clickplane init` does (the store migrated, a first organization, its admin key and Admin member),
    in this process: one Python start less per store, which takes seconds on a busy machine."""
    made = operations.initialize(store_settings(sandbox), DEFAULT_ORGANIZATION_NAME, DEFAULT_ADMIN_EMAIL)
    return Credentials(str(made.organization_id), made.key_id, made.key_secret)


class Seeder:
    """Rows written into a sandbox's store by the benchmark itself, with clickplane's domain code: before `serve`
    starts (services, keys) or beside it (organizations for POST keys, as `clickplane org create` does)."""

    def __init__(self, sandbox: Sandbox) -> None:
        settings = store_settings(sandbox)
        self.database = Database(settings.resolved_database_url)  # migrated by `initialize`
        self.hasher = operations.secret_hasher(settings)
        self.named = 0

    def organizations(self, count: int, prefix: str) -> list[Credentials]:
        """`count` organizations, each with its admin key and Admin member (one transaction)."""
        with self.database.transaction() as session:
            made = []
            for _ in range(count):
                self.named += 1
                made.append(create_organization_with_admin_key(
                    Organizations(session), ApiKeys(session), Members(session), self.hasher,
                    f"{prefix}-{self.named}", DEFAULT_ADMIN_EMAIL))
        return [Credentials(str(m.organization_id), m.key_id, m.key_secret) for m in made]

    def services(self, organization_id: str, count: int) -> None:
        """`count` stopped services in the organization, planned as the API plans them (one transaction)."""
        owner = uuid.UUID(organization_id)
        local = [IpAccessListEntry(source="127.0.0.1")]
        with self.database.transaction() as session:
            services = Services(session)
            session.add_all([stopped(plan_new_service(ServicePostRequest(
                name=f"bench-{number:03d}", provider="aws", region="us-east-1", ipAccessList=local), owner,
                services).service) for number in range(count)])

    def keys(self, organization_id: str, count: int) -> None:
        """`count` Developer keys in the organization, made as the API makes them (one transaction)."""
        owner = uuid.UUID(organization_id)
        with self.database.transaction() as session:
            for number in range(count):
                create_key(ApiKeyPostRequest(name=f"seeded-{number:03d}", assignedRoleIds=[DEVELOPER.id]), owner,
                           ApiKeys(session), Roles(session), self.hasher)

    def counts(self) -> dict[str, int]:
        with self.database.transaction() as session:
            return {name: session.scalar(select(func.count()).select_from(model)) or 0
                    for name, model in (("organizations", Organization), ("services", Service), ("keys", ApiKey))}

    def close(self) -> None:
        self.database.dispose()


# --- POST keys: a Lua script giving each request a new name, spread over organizations with room -----------------

KEYS_SCRIPT = """-- bench/table.py, POST keys: each request a new key name, to an organization that has room for it
local organizations = {
@ORGANIZATIONS@
}
local per_organization = @PER_ORGANIZATION@  -- requests an organization gets (the keys it has room for)
local thread_count = @THREADS@
local body = '{"name":"bench-%d-%d","assignedRoleIds":["@ROLE@"]}'
local threads = {}

function setup(thread)
  thread:set("number", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent = 0
  beyond = 0
end

function request()
  -- Thread t sends its first per_organization requests to organization t, the next ones to organization
  -- t + thread_count, and so on: no two threads share an organization.
  local index = math.floor(sent / per_organization) * thread_count + number + 1
  sent = sent + 1
  if index > #organizations then
    beyond = beyond + 1
    index = (index - 1) % #organizations + 1
  end
  local organization = organizations[index]
  return wrk.format("POST", organization[1],
    {["Authorization"] = organization[2], ["Content-Type"] = "application/json"},
    string.format(body, number, sent))
end

function done(summary, latency, requests)
  local total, over = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
    over = over + thread:get("beyond")
  end
  io.write(string.format("keys sent: %d\\nkeys beyond the organizations: %d\\n", total, over))
end
"""
KEYS_SENT = re.compile(r"^keys sent: (\d+)\nkeys beyond the organizations: (\d+)$", re.MULTILINE)


def keys_organizations(threads: int, requests: float) -> int:
    """Organizations for `requests` POST keys: each wrk thread fills one at a time with the keys it has room
    for, so that each admin key is authenticated once and then found in serve's cache."""
    return threads * math.ceil((requests / threads + 1) / KEYS_PER_RUN_ORGANIZATION)


def keys_script(path: Path, organizations: list[Credentials], threads: int) -> Path:
    rows = ",\n".join(f'  {{"{KEYS.path(o.organization_id)}", "{o.authorization}"}}' for o in organizations)
    values = {"ORGANIZATIONS": rows, "PER_ORGANIZATION": KEYS_PER_RUN_ORGANIZATION, "THREADS": threads,
              "ROLE": DEVELOPER.id}
    text = KEYS_SCRIPT
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    path.write_text(text)
    return path


def keys_sent(result: WrkResult) -> tuple[int, int]:
    match = KEYS_SENT.search(result.output)
    if match is None:
        raise BenchError(f"the POST keys script printed no count:\n{result.output}")
    return int(match[1]), int(match[2])


# --- one store size on one store ---------------------------------------------------------------------------------

@dataclass
class Phase:
    store: str
    size: str  # "small" or "large"
    counts: dict[str, int]
    rows: dict[tuple[str, int], list[Row]] = field(default_factory=dict)  # (case, connections)
    rss_before: int = 0
    rss_after: int = 0
    keys_rates: list[float] = field(default_factory=list)  # clickplane's POST keys req/s, warm-ups included
    watch: WrkResult | None = None  # --watch: a long, light GET service details run

    def summary(self, case: Case, connections: int) -> Summary | None:
        rows = self.rows.get((case.name, connections))
        return summarize(rows, CLICKPLANE) if rows else None


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sandboxes: list[Sandbox] = []
        self.runs = 0  # wrk runs so far, to name their files

    def sandbox(self, store: str) -> Sandbox:
        sandbox = Sandbox(f"clickplane-bench-table-{store}-")
        self.sandboxes.append(sandbox)
        sandbox.env.pop("CLICKPLANE_DATABASE_URL", None)
        if store == "postgresql":
            sandbox.use_postgres(self.args.postgres_url)
        return sandbox

    def finish(self, sandbox: Sandbox) -> None:
        if sandbox in self.sandboxes:
            self.sandboxes.remove(sandbox)
            sandbox.cleanup()

    def cleanup(self) -> None:
        for sandbox in list(self.sandboxes):
            self.finish(sandbox)

    def run(self) -> Report:
        report = Report(self.args, time.time(), os.getloadavg())
        for store in self.args.stores:
            report.phases.append(self.phase(store, large=False))
            report.phases.append(self.phase(store, large=True))
        if self.args.provision > 0:
            for store in self.args.stores:
                report.provisioning[store] = self.provision(store)
        report.load_after = os.getloadavg()
        return report

    # --- requests ---

    def seed(self, sandbox: Sandbox, credentials: Credentials, large: bool) -> dict[str, int]:
        started = time.monotonic()
        seeder = Seeder(sandbox)
        try:
            seeder.services(credentials.organization_id, SERVICES_PER_ORGANIZATION)
            if large:
                more = self.args.large_services // SERVICES_PER_ORGANIZATION - 1
                for organization in seeder.organizations(more, "bench-services"):
                    seeder.services(organization.organization_id, SERVICES_PER_ORGANIZATION)
                for organization in seeder.organizations(LARGE_KEY_ORGANIZATIONS, "bench-keys"):
                    seeder.keys(organization.organization_id, MAX_KEYS_PER_ORGANIZATION - 1)
            counts = seeder.counts()
        finally:
            seeder.close()
        log(f"seeded in {time.monotonic() - started:.1f}s: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
        return counts

    def phase(self, store: str, large: bool) -> Phase:
        started = time.monotonic()
        sandbox = self.sandbox(store)
        try:
            log(f"data dir {sandbox.data_dir}")
            credentials = initialize(sandbox)
            phase = Phase(store, "large" if large else "small", self.seed(sandbox, credentials, large))
            clickplane = sandbox.start_serve(credentials)
            api, organization = clickplane.api, credentials.organization_id
            first = api.json("GET", LIST.path(organization))[0]
            paths = {DETAILS: DETAILS.path(organization, first["id"]), LIST: LIST.path(organization)}
            cases = [DETAILS, LIST] if large else [DETAILS, LIST, KEYS]
            seeder = Seeder(sandbox)
            try:
                routes = [record(api, case.method, paths[case], pattern=case.pattern) for case in (DETAILS, LIST)]
                if KEYS in cases:  # a key made in an organization of its own, not counted in any run
                    sample = seeder.organizations(1, "bench-sample")[0]
                    routes.append(record(Api(api.base_url, sample.authorization), KEYS.method,
                                         KEYS.path(sample.organization_id), pattern=KEYS.pattern,
                                         body={"name": "bench-sample", "assignedRoleIds": [str(DEVELOPER.id)]}))
                bare = start_bare(sandbox, routes)
                phase.rss_before = rss_bytes(clickplane.serve.process.pid)
                for case in cases:
                    for connections in self.args.connections:
                        targets = [Target(CLICKPLANE, api.base_url + paths.get(case, ""), clickplane.serve),
                                   Target(REFERENCE, bare.url + paths.get(case, ""), bare.server)]
                        run = (self.keys_runner(sandbox, seeder, phase, connections) if case is KEYS
                               else reads_runner(Load(self.args.threads, connections, api.authorization)))
                        phase.rows[case.name, connections] = measure(
                            targets, run, self.args.rounds, self.args.duration, self.args.warmup,
                            f"{store} {phase.size} {case.name} c{connections}")
                if self.args.watch:
                    target = Target(CLICKPLANE, api.base_url + paths[DETAILS], clickplane.serve)
                    log(f"{store} {phase.size} watch: GET service details at {WATCH_CONNECTIONS} connections for "
                        f"{self.args.watch}s")
                    phase.watch = checked(target, Load(1, WATCH_CONNECTIONS, api.authorization).run(
                        target.url, self.args.watch), "watch")
                phase.rss_after = rss_bytes(clickplane.serve.process.pid)
            finally:
                seeder.close()
            return phase
        finally:
            self.finish(sandbox)
            log(f"{store} {'large' if large else 'small'} store: {time.monotonic() - started:.0f}s")

    def keys_runner(self, sandbox: Sandbox, seeder: Seeder, phase: Phase, connections: int
                    ) -> Callable[[Target, float], WrkResult]:
        """A POST keys run. For clickplane, organizations seeded for the run: enough for KEYS_RATE_MARGIN times
        the fastest POST keys rate seen in this phase (warm-up included), or, before any, for GET_RATE_MARGIN
        times the fastest rate of the reads. For the bare app, as many made-up ones (it does not look at them)."""
        def run(target: Target, seconds: float) -> WrkResult:
            reads = [row.result.requests_per_second for rows in phase.rows.values() for row in rows
                     if row.target == CLICKPLANE]
            rate = (max(phase.keys_rates) * KEYS_RATE_MARGIN if phase.keys_rates
                    else max([KEYS_RATE_FLOOR, *reads]) * READS_RATE_MARGIN)
            count = keys_organizations(self.args.threads, rate * seconds)
            if target.name == CLICKPLANE:
                organizations = seeder.organizations(count, "bench-post-keys")
            else:
                organizations = [Credentials(str(uuid.uuid4()), "bare", "bare") for _ in range(count)]
            self.runs += 1
            script = keys_script(sandbox.data_dir / f"post-keys-{self.runs}.lua", organizations, self.args.threads)
            result = Load(self.args.threads, connections, script=script).run(target.url, seconds)
            sent, beyond = keys_sent(result)
            log(f"POST keys to {target.name}: {sent:,} requests to {count} organizations")
            if target.name == CLICKPLANE:
                if beyond:
                    raise BenchError(f"POST keys sent {beyond} requests beyond the {count} organizations made for "
                                     "the run (clickplane answered faster than expected); rerun")
                phase.keys_rates.append(result.requests_per_second)
            return result

        return run

    # --- provisioning ---

    def provision(self, store: str) -> list[provisioning.Measurement]:
        binary = self.args.binary or discover_clickhouse_binary()
        if binary is None:
            raise BenchError("no ClickHouse binary found for provisioning; pass --binary or --provision 0")
        args = provisioning.parse_args(["--counts", str(self.args.provision), "--timeout", "300"])
        dirs: list[Path] = []
        try:
            with store_environment(store, self.args.postgres_url):
                return provisioning.run(args, binary, dirs)
        finally:
            for pid, command in (found for directory in dirs for found in processes_mentioning(str(directory))):
                log(f"warning: still running after cleanup: pid {pid}: {command[:200]}")


def reads_runner(load: Load) -> Callable[[Target, float], WrkResult]:
    return lambda target, seconds: load.run(target.url, seconds)


@contextmanager
def store_environment(store: str, postgres_url: str) -> Iterator[None]:
    """CLICKPLANE_DATABASE_URL for what runs inside (provisioning.py's sandboxes take the environment): unset for
    SQLite, a new database for PostgreSQL, dropped afterwards."""
    previous = os.environ.pop("CLICKPLANE_DATABASE_URL", None)
    url = create_postgres_database(postgres_url) if store == "postgresql" else None
    if url:
        os.environ["CLICKPLANE_DATABASE_URL"] = url
    try:
        yield
    finally:
        with interrupts_deferred():
            os.environ.pop("CLICKPLANE_DATABASE_URL", None)
            if previous is not None:
                os.environ["CLICKPLANE_DATABASE_URL"] = previous
            if url:
                drop_postgres_database(postgres_url, url)


# --- report --------------------------------------------------------------------------------------------------

@dataclass
class Report:
    args: argparse.Namespace
    started: float
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    phases: list[Phase] = field(default_factory=list)
    provisioning: dict[str, list[provisioning.Measurement]] = field(default_factory=dict)

    def phase(self, store: str, size: str) -> Phase:
        return next(p for p in self.phases if p.store == store and p.size == size)


def loads(values: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def figures(summary: Summary | None) -> str:
    if summary is None:
        return f"{'-':>8} {'-':>7} {'-':>7} {'-':>7} {'-':>6}"
    return (f"{summary.requests_per_second:>8,.0f} {summary.p50_ms:>7.1f} {summary.p99_ms:>7.1f} "
            f"{summary.max_ms:>7.0f} {summary.ratio:>6.2f}")


def print_report(report: Report) -> None:
    args = report.args
    when = datetime.datetime.fromtimestamp(report.started).strftime("%Y-%m-%d %H:%M")
    print(f"\nclickplane bench table, {when}; {os.cpu_count()} cores, load average {loads(report.load_before)} "
          f"at the start, {loads(report.load_after)} at the end")
    print(f"wrk -t{args.threads}, {args.duration} s per measurement after {args.warmup} s of warm-up, "
          f"{args.rounds} round(s); req/s and p50 are means over the rounds, p99 the worst round; share of bare: "
          "clickplane req/s / bare req/s of the same round")
    settings = sorted(name for name in os.environ if name.startswith("CLICKPLANE_"))
    print(f"CLICKPLANE_* in the environment: {', '.join(settings) or 'none'} (rate limiter off unless set)")

    header = (f"{'store':<11} {'case':<20} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'bare req/s':>10} "
              f"{'share of bare':>13}")
    print(f"\nRequests: {SERVICES_PER_ORGANIZATION} services in the organization (stopped, seeded)\n{header}\n"
          f"{'-' * len(header)}")
    for phase in (p for p in report.phases if p.size == "small"):
        for case in (DETAILS, LIST, KEYS):
            for connections in args.connections:
                summary = phase.summary(case, connections)
                if summary is not None:
                    print(f"{phase.store:<11} {case.name:<20} {connections:>5} {summary.requests_per_second:>8,.0f} "
                          f"{summary.p50_ms:>8.1f} {summary.p99_ms:>8.1f} "
                          f"{summary.reference_requests_per_second:>10,.0f} {summary.ratio:>13.2f}")

    print("\nStore scale: small store vs large store; max: the slowest answer; 'large/small': the large store's share "
          "of bare over the small one's (1.00 = flat)")
    for phase in report.phases:
        counts = ", ".join(f"{value:,} {name}" for name, value in phase.counts.items())
        print(f"  {phase.store} {phase.size}: {counts}")
    half = f"{'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'share':>6}"
    header = f"{'store':<11} {'case':<20} {'conns':>5} | small {half} | large {half} | large/small"
    print(f"{header}\n{'-' * len(header)}")
    stores = list(dict.fromkeys(p.store for p in report.phases))
    for store in stores:
        small, large = report.phase(store, "small"), report.phase(store, "large")
        for case in (DETAILS, LIST):
            for connections in args.connections:
                before, after = small.summary(case, connections), large.summary(case, connections)
                change = f"{after.ratio / before.ratio:>11.2f}" if before and after else f"{'-':>11}"
                print(f"{store:<11} {case.name:<20} {connections:>5} |       {figures(before)} |       "
                      f"{figures(after)} | {change}")

    header = f"{'store':<11} {'size':<6} {'before load':>12} {'after load':>11} {'growth':>8}"
    print(f"\nserve's memory (VmRSS, MiB), before the first and after the last wrk run of each store\n{header}\n"
          f"{'-' * len(header)}")
    for phase in report.phases:
        print(f"{phase.store:<11} {phase.size:<6} {phase.rss_before / MIB:>12.1f} {phase.rss_after / MIB:>11.1f} "
              f"{(phase.rss_after - phase.rss_before) / MIB:>+8.1f}")

    watched = [(phase, phase.watch) for phase in report.phases if phase.watch is not None]
    if watched:
        header = f"{'store':<11} {'size':<6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        print(f"\nWatch: GET service details at {WATCH_CONNECTIONS} connections for {args.watch} s, clickplane only "
              f"(what a stall of serve's event loop does to the slowest answers)\n{header}\n{'-' * len(header)}")
    for phase, watch in watched:
        print(f"{phase.store:<11} {phase.size:<6} {watch.requests_per_second:>8,.0f} {watch.p50_ms:>8.1f} "
              f"{watch.p99_ms:>8.1f} {watch.max_ms:>8.0f}")

    errors = [(phase, key, row) for phase in report.phases for key, rows in phase.rows.items() for row in rows
              if row.result.socket_errors]
    for phase, (name, connections), row in errors:
        print(f"note: {phase.store} {phase.size} {name} c{connections} {row.target} round {row.round}: wrk socket "
              f"errors {row.result.socket_errors}")

    for store, measurements in report.provisioning.items():
        print(f"\nProvisioning on {store}: {args.provision} services created at once through the API until all "
              f"running, beside {args.provision} bare clickhouse-server started at once until all answer /ping "
              "(bench/provisioning.py)\n")
        provisioning.print_tables(measurements)
        print()
        print(provisioning.summary(measurements, args.provision))


# --- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", default=",".join(STORES), help="comma-separated: sqlite, postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="SQLAlchemy URL of an account that may create databases (one per store is made and "
                             f"dropped); default {POSTGRES_URL}")
    parser.add_argument("--duration", type=int, help="whole seconds per measurement (default 8; --quick 2)")
    parser.add_argument("--warmup", type=int, help="whole seconds of unrecorded load per target and case first "
                                                   "(default 2; --quick 1)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per case, alternating the order (default 1)")
    parser.add_argument("--connections", default="32,128", help="wrk connections, comma-separated (default 32,128)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--provision", type=int,
                        help="services for the provisioning comparison (default 50; --quick 5; 0 skips it)")
    parser.add_argument("--binary", help="ClickHouse server binary for provisioning (default: what clickplane finds)")
    parser.add_argument("--watch", type=int, default=0,
                        help="also load GET service details lightly for this many seconds on each store size, after "
                             "the cases; over 60 (serve's metering interval) to catch its pass (default 0: off)")
    parser.add_argument("--large-services", type=int,
                        help=f"services in the large store, a multiple of {SERVICES_PER_ORGANIZATION} (default 10000; "
                             "--quick 1000)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 2 s per case, 1 s of warm-up, "
                                                              "a large store of 1,000 services, provisioning of 5")
    args = parser.parse_args(argv)
    args.duration = args.duration or (2 if args.quick else 8)
    args.warmup = (1 if args.quick else 2) if args.warmup is None else args.warmup
    args.provision = (5 if args.quick else 50) if args.provision is None else args.provision
    args.large_services = args.large_services or (1000 if args.quick else 10_000)
    args.stores = [store.strip() for store in args.stores.split(",") if store.strip()]
    if unknown := set(args.stores) - set(STORES):
        parser.error(f"unknown store(s) {', '.join(sorted(unknown))}; choose from {', '.join(STORES)}")
    try:
        args.connections = [int(value) for value in args.connections.split(",")]
    except ValueError:
        parser.error(f"--connections must be comma-separated integers, not {args.connections!r}")
    if (args.rounds < 1 or args.duration < 1 or args.warmup < 0 or args.provision < 0 or args.watch < 0
            or not args.stores
            or min(args.connections) < args.threads or args.large_services % SERVICES_PER_ORGANIZATION
            or args.large_services < SERVICES_PER_ORGANIZATION):
        parser.error(f"need --rounds >= 1, --duration >= 1, --warmup >= 0, --provision >= 0, a store, "
                     f"--connections >= --threads and --large-services a multiple of {SERVICES_PER_ORGANIZATION}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk_found():
        return 2
    if "CLICKPLANE_DATABASE_URL" in os.environ:
        log("note: CLICKPLANE_DATABASE_URL is ignored: each store is made for the run (--stores, --postgres-url)")
    bench = Bench(args)
    return run_to_completion(bench.run, bench.cleanup, print_report)


if __name__ == "__main__":
    sys.exit(main())
