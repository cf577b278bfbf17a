"""Crash consistency: `clickplane serve` is killed (SIGKILL) at many points of a mixed workload and restarted, and the
store and the machine must agree with what clients were told.

    python -m tests.integration.crash [--rounds 200] [--seed N]

Each round:

1. Worker threads make changes through the API, each request on a connection of its own: services created,
   stopped, started, renamed, given another IP access list or backup schedule, deleted; API keys created, renamed,
   disabled, enabled and deleted; custom roles created, renamed and deleted. A worker only changes what it created,
   so the changes to one thing come one after another. Now and then a service is backed up with
   `clickplane backup create`, a process of its own that runs on across the kill and the restart.
2. `serve` is killed as the round's plan says: after a random delay; right after a worker has sent a request,
   before its answer; or after a random delay and again shortly after the restart, while it adopts services and
   finishes what was under way. A quarter of the time a running `clickplane backup create` is killed with it.
3. `serve` is restarted, and the harness waits until every service has settled where it was asked to be.
4. The checks, reading the store directly (SQLAlchemy, at the server's database URL) and /proc:
   - a change answered 2xx is there, with exactly one activity; a refused one (4xx) left nothing; one whose answer
     never came is there completely, with its activity, or not at all; no activity appeared that no request asked
     for, no row that no request made, and each thing holds exactly what its changes with an activity make of it;
   - every service is running or stopped as asked with its spec applied (else the round fails after
     SETTLE_SECONDS), and no deleted one is left;
   - the ClickHouse processes of the data dir are one per running service (its pid file's), listening only on its
     ports; no process of the data dir is anything else; no service directory of an unknown service; each
     running service has a `service_running` activity after its last create or start;
   - backups: none in progress; a done one has its directory, a failed one none; no backup directory without its
     record; one that `clickplane backup create` reported done is there, done, unless its service was deleted.

A round's random choices come from the run's seed, the round's number and the worker's, so a failing seed replays
the same workload and kill plans; which requests a kill interrupts depends on timing, so a replay is close to the
failing run rather than identical. The first round whose checks fail ends the run with what they found.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Connection

from clickplane.store import models
from tests.integration.harness import ClickplaneServer, new_server

WORKERS = 3
# At most this many of each kind at once: every service is a ClickHouse server, on a small machine.
MAX_ALIVE = {"service": 3, "key": 6, "role": 4}
MAX_CHANGES_PER_WORKER = 40
MAX_KILL_DELAY_SECONDS = 1.5
MAX_RECOVERY_KILL_DELAY_SECONDS = 1.0
# A request's handling takes a few milliseconds: an in-flight kill lands somewhere in it, or just after.
MAX_AFTER_SEND_SECONDS = 0.015
SETTLE_SECONDS = 90.0
BACKUP_TIMEOUT_SECONDS = 120.0
DEFAULT_BACKUP_PERIOD = 24
BACKUP_PERIODS = (6, 8, 12, 24, 48)
SETTLED = ("running", "stopped")
# Activities clickplane records on its own; every other one is an API change and must match a request.
SYSTEM_ACTIVITIES = ("service_running", "service_idle", "backup_delete")
STARTS = ("service_create", "service_start", "service_awaken")


# --- the store, read directly ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Store:
    """Rows of the store by id (backup configurations by service id), each a dict of its columns (ids as str)."""

    services: dict[str, dict[str, Any]]
    keys: dict[str, dict[str, Any]]
    roles: dict[str, dict[str, Any]]
    backups: dict[str, dict[str, Any]]
    backup_configurations: dict[str, dict[str, Any]]
    activities: dict[str, dict[str, Any]]


def read_store(database_url: str) -> Store:
    """What the checks need of the store at `database_url` (SQLite or PostgreSQL), read in one transaction."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection, connection.begin():
            return Store(_rows(connection, models.Service), _rows(connection, models.ApiKey),
                         _rows(connection, models.Role), _rows(connection, models.Backup),
                         _rows(connection, models.BackupConfiguration, "service_id"),
                         _rows(connection, models.Activity))
    finally:
        engine.dispose()


def _rows(connection: Connection, model: type[models.Base], key: str = "id") -> dict[str, dict[str, Any]]:
    rows = connection.execute(select(model.__table__)).mappings()
    return {str(row[key]): {name: str(value) if isinstance(value, uuid.UUID) else value for name, value in row.items()}
            for row in rows}


# --- what the workload made, and the changes it asks for ------------------------------------------------------

@dataclass(eq=False)
class Thing:
    """A service, API key or role the workload made, and the fields the store should hold for it: None when it
    should not exist (never created, or deleted)."""

    kind: str
    label: str  # its name at creation, unique in the run: how a create whose answer never came is found
    owner: int  # the worker that changes it
    id: str | None = None
    fields: dict[str, Any] | None = None

    @property
    def runs(self) -> bool:
        """Whether it is a service asked to run."""
        return self.fields is not None and self.fields.get("desired_state") == "running"

    def observed(self, store: Store) -> dict[str, Any] | None:
        """The same fields, as the store holds them now."""
        if self.id is None:
            return None
        if self.kind == "service":
            return service_fields(store, self.id)
        row = (store.keys if self.kind == "key" else store.roles).get(self.id)
        if row is None:
            return None
        return {"name": row["name"], "state": row["state"]} if self.kind == "key" else {"name": row["name"]}

    def rows_named(self, store: Store) -> list[str]:
        rows = {"service": store.services, "key": store.keys, "role": store.roles}[self.kind]
        return [row_id for row_id, row in rows.items() if row["name"] == self.label]


def service_fields(store: Store, service_id: str) -> dict[str, Any] | None:
    row = store.services.get(service_id)
    if row is None:
        return None
    configuration = store.backup_configurations.get(service_id)
    return {"name": row["name"], "desired_state": row["desired_state"],
            "networks": sorted(entry["source"] for entry in row["ip_access_list"]),
            "backup_period": configuration["period_hours"] if configuration else DEFAULT_BACKUP_PERIOD}


@dataclass(eq=False)
class Change:
    """A request of the workload, the activity and effect it should have, and what came of it."""

    thing: Thing
    method: str
    path: str
    body: dict[str, Any] | None
    activity: str  # the activity type it records (key updates: with the keyUpdateType after a colon)
    effect: dict[str, Any] | None  # the fields it sets; None: it deletes the thing
    refusable: bool = False  # 409 is a fair answer: the service is between states
    outcome: str = "unsent"  # acked (2xx), refused (4xx), failed (5xx), unknown (the answer never came)
    status: int | None = None
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def creates(self) -> bool:
        return self.method == "POST"

    @property
    def unexpected(self) -> bool:
        """A server error, or a refusal where none was due."""
        return self.outcome == "failed" or (self.outcome == "refused" and not (self.refusable and self.status == 409))

    @property
    def key(self) -> tuple[str, str | None]:
        return self.activity, self.thing.id

    def __str__(self) -> str:
        body = json.dumps(self.body) if self.body is not None else ""
        return f"{self.method} {self.path} {body} ({self.thing.label}): {self.outcome} {self.status or ''}"


def apply(change: Change) -> None:
    """Make the thing what `change` makes of it."""
    thing = change.thing
    thing.fields = None if change.effect is None else {**(thing.fields or {}), **change.effect}


@dataclass(eq=False)
class BackupRun:
    """A `clickplane backup create` of a service, run beside `serve`. With `kill_when_copying` it is killed as soon as
    its backup's directory appears: recorded in progress, partly copied."""

    thing: Thing
    process: subprocess.Popen[str]
    killed: str | None = None  # when it was killed: "with serve" or "while copying"
    outcome: str = "unknown"  # acked (exit 0, done), refused (exit 1), unknown (killed)
    backup_id: str | None = None
    output: str = ""

    @classmethod
    def start(cls, server: ClickplaneServer, thing: Thing, kill_when_copying: bool) -> BackupRun:
        process = subprocess.Popen([sys.executable, "-m", "clickplane", "backup", "create", str(thing.id)],
                                   env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        run = cls(thing, process)
        if kill_when_copying:
            threading.Thread(target=run._kill_when_copying, args=(server.data_dir / "backups" / str(thing.id),),
                             daemon=True).start()
        return run

    def _kill_when_copying(self, directory: Path) -> None:
        while self.process.poll() is None:
            if directory.exists() and any(directory.iterdir()):
                self.kill("while copying")
                return
            time.sleep(0.002)  # polls for the moment to kill at

    def kill(self, when: str) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.killed = when

    def finish(self) -> None:
        self.output, _ = self.process.communicate(timeout=BACKUP_TIMEOUT_SECONDS)
        if not self.killed:
            self.outcome = "acked" if self.process.returncode == 0 else "refused"
            self.backup_id = json.loads(self.output.splitlines()[-1])["id"] if self.process.returncode == 0 else None

    def __str__(self) -> str:
        reason = f" ({self.output.strip().splitlines()[-1][:200]})" if self.outcome == "refused" and self.output else ""
        return f"{self.outcome}{f' (killed {self.killed})' if self.killed else ''}{reason}"


class Moves:
    """The requests a worker may make next, given what it expects of its things."""

    def __init__(self, org_path: str, worker: int, names: Callable[[str], str]) -> None:
        self.org_path = org_path
        self.worker = worker
        self.names = names

    def create(self, kind: str) -> Change:
        thing = Thing(kind, self.names(kind), self.worker)
        if kind == "service":
            body: dict[str, Any] = {"name": thing.label, "provider": "aws", "region": "us-east-1",
                                    "ipAccessList": [{"source": "127.0.0.1"}]}
            effect = {"name": thing.label, "desired_state": "running", "networks": ["127.0.0.1"],
                      "backup_period": DEFAULT_BACKUP_PERIOD}
            return Change(thing, "POST", f"{self.org_path}/services", body, "service_create", effect)
        if kind == "key":
            return Change(thing, "POST", f"{self.org_path}/keys", {"name": thing.label, "roles": ["developer"]},
                          "key_create", {"name": thing.label, "state": "enabled"})
        policy = {"allowDeny": "ALLOW", "permissions": ["control-plane:service:view"], "resources": ["*"]}
        body = {"name": thing.label, "actors": [], "policies": [policy]}
        return Change(thing, "POST", f"{self.org_path}/roles", body, "role_create", {"name": thing.label})

    def of(self, thing: Thing, rng: random.Random) -> list[Change]:
        assert thing.fields is not None
        if thing.kind == "service":
            return self._service(thing, thing.fields, rng)
        path, name = f"{self.org_path}/{thing.kind}s/{thing.id}", self.names(thing.kind)
        if thing.kind == "role":
            return [Change(thing, "PATCH", path, {"name": name}, "role_update", {"name": name}),
                    Change(thing, "DELETE", path, None, "role_delete", None)]
        state = "disabled" if thing.fields["state"] == "enabled" else "enabled"
        return [Change(thing, "PATCH", path, {"name": name}, "openapi_key_update:name-changed", {"name": name}),
                Change(thing, "PATCH", path, {"state": state}, "openapi_key_update:state-changed", {"state": state}),
                Change(thing, "DELETE", path, None, "key_delete", None)]

    def _service(self, thing: Thing, fields: dict[str, Any], rng: random.Random) -> list[Change]:
        path, name, period = f"{self.org_path}/services/{thing.id}", self.names("service"), rng.choice(BACKUP_PERIODS)
        extra = "127.0.0.2" not in fields["networks"]
        networks = {"add" if extra else "remove": [{"source": "127.0.0.2"}]}
        moves = [Change(thing, "PATCH", path, {"name": name}, "service_update_name", {"name": name}),
                 Change(thing, "PATCH", path, {"ipAccessList": networks}, "service_update_ip_access_list",
                        {"networks": ["127.0.0.1", "127.0.0.2"] if extra else ["127.0.0.1"]}),
                 Change(thing, "PATCH", f"{path}/backupConfiguration", {"backupPeriodInHours": period},
                        "service_update_backup_configuration", {"backup_period": period})]
        if fields["desired_state"] == "running":
            return [*moves, Change(thing, "PATCH", f"{path}/state", {"command": "stop"}, "service_stop",
                                   {"desired_state": "stopped"}, refusable=True)]
        return [*moves, Change(thing, "PATCH", f"{path}/state", {"command": "start"}, "service_start",
                               {"desired_state": "running"}, refusable=True),
                Change(thing, "DELETE", path, None, "service_delete", None, refusable=True)]


def created_id(change: Change) -> str:
    """The id a create's answer gives its thing."""
    result = change.answer["result"]
    return str(result["service"]["id"] if change.thing.kind == "service" else
               result["key"]["id"] if change.thing.kind == "key" else result["id"])


# --- requests and kills ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KillPlan:
    """When a round kills `serve`: `delay` seconds into the round (mode delay); right after `worker` has sent its
    request number `request` (in-flight; at `delay` if that request never comes); or at `delay` and again
    `recovery_delay` seconds after the restart (recovery). An in-flight kill comes `after_send` seconds after the
    request was sent: 0 (the request is not read yet) or up to MAX_AFTER_SEND_SECONDS, somewhere in its handling.
    `kill_backups`: kill running backups with it."""

    mode: str
    delay: float
    worker: int = -1
    request: int = -1
    after_send: float = 0.0
    recovery_delay: float = 0.0
    kill_backups: bool = False

    @classmethod
    def draw(cls, rng: random.Random) -> KillPlan:
        mode, delay, kill_backups = rng.choice(("delay", "in-flight", "recovery")), rng.random(), rng.random() < 0.25
        if mode == "in-flight":
            after_send = rng.choice((0.0, rng.uniform(0.0, MAX_AFTER_SEND_SECONDS)))
            return cls(mode, 2 * MAX_KILL_DELAY_SECONDS, rng.randrange(WORKERS), rng.randrange(8), after_send,
                       kill_backups=kill_backups)
        recovery_delay = rng.uniform(0.0, MAX_RECOVERY_KILL_DELAY_SECONDS) if mode == "recovery" else 0.0
        return cls(mode, delay * MAX_KILL_DELAY_SECONDS, recovery_delay=recovery_delay, kill_backups=kill_backups)

    def hits(self, worker: int, request: int) -> bool:
        return self.mode == "in-flight" and (self.worker, self.request) == (worker, request)

    def __str__(self) -> str:
        if self.mode == "in-flight":
            return f"in-flight (worker {self.worker}, request {self.request}, {self.after_send * 1000:.1f} ms after it)"
        again = f", again {self.recovery_delay:.2f}s after the restart" if self.mode == "recovery" else ""
        return f"{self.mode} ({self.delay:.2f}s{again})"


class Killer:
    """Kills `serve` once a round, for whoever asks first: the round's timer, or a worker that has just sent."""

    def __init__(self, server: ClickplaneServer, plan: KillPlan, backups: list[BackupRun]) -> None:
        self.server = server
        self.plan = plan
        self.backups = backups
        self.done = threading.Event()
        self._lock = threading.Lock()

    def kill_in_flight(self) -> None:
        time.sleep(self.plan.after_send)  # the kill point: a moment into the request's handling
        self.kill()

    def kill_after(self, seconds: float) -> None:
        if not self.done.wait(seconds):
            self.kill()

    def kill(self) -> None:
        with self._lock:
            if self.done.is_set():
                return
            self.server.stop(signal.SIGKILL)
            for run in self.backups if self.plan.kill_backups else []:
                run.kill("with serve")
            self.done.set()


def send(server: ClickplaneServer, change: Change, kill: Callable[[], None] | None = None) -> bool:
    """Make the request on a connection of its own, calling `kill` right after it is sent; whether an answer came.
    A request serve could not be connected to was never sent (its outcome stays unsent)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.connect()
    except OSError:
        return False
    change.outcome = "unknown"
    secret = base64.b64encode(f"{server.credentials.key_id}:{server.credentials.key_secret}".encode()).decode()
    body = json.dumps(change.body).encode() if change.body is not None else None
    try:
        connection.request(change.method, change.path, body, {"Authorization": f"Basic {secret}",
                                                              "Content-Type": "application/json"})
        if kill is not None:
            kill()
        response = connection.getresponse()
        change.status, raw = response.status, response.read()
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    change.answer = json.loads(raw) if raw else {}
    change.outcome = "acked" if change.status < 300 else "refused" if change.status < 500 else "failed"
    return True


# --- rounds ---------------------------------------------------------------------------------------------------

class CrashConsistencyError(AssertionError):
    def __init__(self, seed: int, round_number: int, problems: list[str]) -> None:
        super().__init__(f"seed {seed}, round {round_number}: {len(problems)} problem(s) (rerun: python -m "
                         f"tests.integration.crash --seed {seed} --rounds {round_number})\n  " + "\n  ".join(problems))


class Workload:
    """The things made so far and the rounds that change them; `totals` counts kills and outcomes."""

    def __init__(self, server: ClickplaneServer, seed: int, log: Callable[[str], None]) -> None:
        self.server = server
        self.seed = seed
        self.log = log
        self.things: list[Thing] = []
        self.backups: list[BackupRun] = []
        self.running: set[str] = set()  # services running at the round's start: those a backup is taken of
        self.totals: Counter[str] = Counter()
        self.names_given: Counter[str] = Counter()
        self._lock = threading.Lock()
        initial = read_store(server.database_url)
        self.initial_rows = {*initial.services, *initial.keys, *initial.roles}

    def name(self, kind: str) -> str:
        with self._lock:
            self.names_given[kind] += 1
            return f"crash-{kind}-{self.names_given[kind]}"

    def play(self, number: int) -> None:
        """A round: changes, a kill, a restart, the checks; CrashConsistencyError with what they found."""
        plan = KillPlan.draw(random.Random(f"{self.seed}:{number}"))
        before = read_store(self.server.database_url)
        self.running = {service_id for service_id, row in before.services.items() if row["state"] == "running"}
        changes = self._run_workers(number, plan)
        started = time.monotonic()
        self._restart(plan)
        restarted = time.monotonic()
        for run in self.backups:
            run.finish()
        store, problems = settle(self.server)
        timing = f"restarted in {restarted - started:.1f}s, settled {time.monotonic() - restarted:.1f}s later"
        if not problems:
            problems = [*self._check_changes(changes, before, store), *check_backup_runs(self.backups, store),
                        *check_machine(self.server.data_dir, store)]
        self._count(plan, changes)
        self.log(f"round {number}: kill {plan}: {summary(changes, self.backups)}; {timing}: "
                 f"{f'{len(problems)} problem(s)' if problems else 'ok'}")
        self.things = [thing for thing in self.things if thing.fields is not None]
        self.backups = []
        if problems:
            raise CrashConsistencyError(self.seed, number, problems)

    def close(self) -> None:
        """End backups still running (the round failed before waiting for them)."""
        for run in self.backups:
            run.kill("at the end")
            run.process.communicate()

    def _run_workers(self, number: int, plan: KillPlan) -> list[Change]:
        killer = Killer(self.server, plan, self.backups)
        changes: list[list[Change]] = [[] for _ in range(WORKERS)]
        with ThreadPoolExecutor(WORKERS + 1) as pool:
            timer = pool.submit(killer.kill_after, plan.delay)
            workers = [pool.submit(self._work, number, worker, killer, changes[worker]) for worker in range(WORKERS)]
            for future in [*workers, timer]:
                future.result()
        return [change for made in changes for change in made]

    def _work(self, number: int, worker: int, killer: Killer, changes: list[Change]) -> None:
        rng = random.Random(f"{self.seed}:{number}:{worker}")
        moves = Moves(self.server.org_path(), worker, self.name)
        while not killer.done.is_set() and len(changes) < MAX_CHANGES_PER_WORKER:
            change = self._choose(worker, moves, rng)
            if change is None:
                continue
            kill = killer.kill_in_flight if killer.plan.hits(worker, len(changes)) else None
            changes.append(change)
            if not send(self.server, change, kill):
                return
            if change.outcome == "acked":
                self._acknowledged(change)

    def _choose(self, worker: int, moves: Moves, rng: random.Random) -> Change | None:
        """The next change, or None when a backup was started instead."""
        kind = rng.choice(("service", "key", "role"))
        backed_up = {run.thing for run in self.backups}  # left alone while the backup runs, so that it can finish
        with self._lock:
            mine = [thing for thing in self.things
                    if thing.owner == worker and thing.fields is not None and thing not in backed_up]
            alive = sum(1 for thing in self.things if thing.kind == kind and thing.fields is not None)
        if not mine or (rng.random() < 0.3 and alive < MAX_ALIVE[kind]):
            return moves.create(kind)
        thing = rng.choice(mine)
        if thing.id in self.running and thing.runs and not self.backups and rng.random() < 0.1:
            self._start_backup(thing, rng)
            return None
        return rng.choice(moves.of(thing, rng))

    def _start_backup(self, thing: Thing, rng: random.Random) -> None:
        self.backups.append(BackupRun.start(self.server, thing, kill_when_copying=rng.random() < 0.3))

    def _acknowledged(self, change: Change) -> None:
        if change.creates:
            change.thing.id = created_id(change)
            with self._lock:
                self.things.append(change.thing)
        apply(change)

    def _restart(self, plan: KillPlan) -> None:
        self.server.start()
        if plan.mode == "recovery":
            time.sleep(plan.recovery_delay)  # the kill point, a moment into the recovery
            self.server.stop(signal.SIGKILL)
            self.server.start()

    def _check_changes(self, changes: list[Change], before: Store, store: Store) -> list[str]:
        """Activities against requests, then every thing against what its changes with an activity make of it."""
        new = [activity for activity_id, activity in store.activities.items()
               if activity_id not in before.activities and activity["type"] not in SYSTEM_ACTIVITIES]
        unanswered = [change for change in changes if change.outcome == "unknown"]
        for change in unanswered:
            if change.creates:
                self._find_created(change, new)
        tally = Tally.of(changes, new)
        problems = [f"{change}: unexpected answer {change.answer}" for change in changes if change.unexpected]
        for change in unanswered:
            self.totals["unanswered change made" if tally.applied(change) else "unanswered change not made"] += 1
            if tally.applied(change):
                apply(change)
            elif change.creates and change.thing.rows_named(store):
                problems.append(f"{change}: no activity, yet rows {change.thing.rows_named(store)} hold its name")
        return problems + tally.problems() + self._check_things(store)

    def _find_created(self, change: Change, new: list[dict[str, Any]]) -> None:
        """The id of a thing whose create was never answered, from the create's activity if there is one."""
        for activity in new:
            if activity["type"] == change.activity and activity["details"].get("name") == change.thing.label:
                change.thing.id = activity_key(activity)[1]
                with self._lock:
                    self.things.append(change.thing)

    def _check_things(self, store: Store) -> list[str]:
        problems = [f"{thing.kind} {thing.label} ({thing.id}): expected {thing.fields}, the store holds "
                    f"{thing.observed(store)}" for thing in self.things if thing.observed(store) != thing.fields]
        known = self.initial_rows | {thing.id for thing in self.things}
        for kind, rows in (("service", store.services), ("key", store.keys), ("role", store.roles)):
            problems += [f"{kind} {row_id} ({row['name']}) is in the store, but no change made it"
                         for row_id, row in rows.items() if row_id not in known]
        return problems

    def _count(self, plan: KillPlan, changes: list[Change]) -> None:
        self.totals["rounds"] += 1
        self.totals[f"kill {plan.mode}"] += 1
        self.totals.update(f"change {change.outcome}" for change in changes)
        self.totals.update(f"backup {run.outcome}" for run in self.backups)


def activity_key(activity: dict[str, Any]) -> tuple[str, str | None]:
    """What an API activity records, as Change.key: its type (with a key update's kind) and the thing's id."""
    kind = activity["type"]
    if kind == "openapi_key_update":
        return f"{kind}:{activity['key_update_type']}", activity["target_key_id"]
    if kind in ("key_create", "key_delete"):
        return kind, activity["target_key_id"]
    if kind.startswith("role_"):
        return kind, activity["details"].get("roleId")
    return kind, activity["service_id"]


@dataclass(frozen=True)
class Tally:
    """Activities and changes counted by Change.key."""

    seen: Counter[tuple[str, str | None]]
    acked: Counter[tuple[str, str | None]]
    unanswered: Counter[tuple[str, str | None]]

    @classmethod
    def of(cls, changes: list[Change], new: list[dict[str, Any]]) -> Tally:
        return cls(Counter(activity_key(activity) for activity in new),
                   Counter(change.key for change in changes if change.outcome == "acked"),
                   Counter(change.key for change in changes if change.outcome == "unknown"))

    def applied(self, change: Change) -> bool:
        """Whether an unanswered change was made: its activity is there (each thing has at most one such change)."""
        return self.seen[change.key] > self.acked[change.key]

    def problems(self) -> list[str]:
        """Each acknowledged change has one activity, an unanswered one at most one, and no other activity appeared."""
        return [f"{kind} of {thing}: {self.seen[(kind, thing)]} activities for {self.acked[(kind, thing)]} "
                f"acknowledged and {self.unanswered[(kind, thing)]} unanswered changes"
                for kind, thing in self.seen | self.acked | self.unanswered
                if not self.acked[(kind, thing)] <= self.seen[(kind, thing)]
                <= self.acked[(kind, thing)] + self.unanswered[(kind, thing)]]


def summary(changes: list[Change], backups: list[BackupRun]) -> str:
    outcomes = Counter(change.outcome for change in changes)
    text = f"{len(changes)} changes ({', '.join(f'{n} {outcome}' for outcome, n in sorted(outcomes.items()))})"
    return text + (f", backups {', '.join(map(str, backups))}" if backups else "")


# --- settling and the machine ---------------------------------------------------------------------------------

def settle(server: ClickplaneServer) -> tuple[Store, list[str]]:
    """The store once every service is running or stopped as asked with its spec applied, none is left being
    deleted and no backup is in progress; with what has not settled by the deadline, or has failed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        store = read_store(server.database_url)
        unsettled = unsettled_services(store)
        failed = [row for row in store.services.values()
                  if row["state"] == "failed" and row["observed_generation"] == row["generation"]]
        if not unsettled or failed or time.monotonic() > deadline:
            return store, [f"did not settle: {line}" for line in unsettled]
        time.sleep(0.1)


def unsettled_services(store: Store) -> list[str]:
    lagging = [f"service {service_id} ({row['name']}) {row['state']}, desired {row['desired_state']}, generation "
               f"{row['observed_generation']}/{row['generation']}: {row['state_reason']}"
               for service_id, row in store.services.items()
               if row["state"] not in SETTLED or row["state"] != row["desired_state"]
               or row["observed_generation"] != row["generation"]]
    return lagging + [f"backup {backup_id} in progress" for backup_id, row in store.backups.items()
                      if row["status"] == "in_progress"]


def check_backup_runs(runs: list[BackupRun], store: Store) -> list[str]:
    """A backup `clickplane backup create` reported done is there, done, unless its service was deleted since."""
    problems = []
    for run in runs:
        if run.outcome != "acked":
            continue
        row = store.backups.get(str(run.backup_id))
        if run.thing.fields is None and row is not None:
            problems.append(f"backup {run.backup_id} outlived its service {run.thing.id}")
        elif run.thing.fields is not None and (row is None or row["status"] != "done" or row["error"]):
            problems.append(f"backup {run.backup_id} was reported done, the store holds {row}")
    return problems


def check_machine(data_dir: Path, store: Store) -> list[str]:
    data_dir = data_dir.resolve()  # as the runtime names it in command lines and records
    return [*check_processes(data_dir, store), *check_directories(data_dir, store), *check_backups(data_dir, store),
            *check_running_activities(store)]


def processes_of(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every process whose command line holds `data_dir`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(data_dir) in command:
                found[int(entry.name)] = command
    return found


def check_processes(data_dir: Path, store: Store) -> list[str]:
    """One ClickHouse per running service, the one its pid file names, on its own ports; nothing else runs."""
    services = data_dir / "services"
    servers, problems = servers_by_service(data_dir)
    running = {service_id for service_id, row in store.services.items() if row["state"] == "running"}
    for service_id in sorted(running | set(servers)):
        pids, pid_file = servers.get(service_id, []), _read(services / service_id / "clickhouse.pid").strip()
        if service_id not in running or pids != [int(pid_file or 0)]:
            state = store.services[service_id]["state"] if service_id in store.services else "not in the store"
            problems.append(f"service {service_id} ({state}): ClickHouse pids {pids}, pid file {pid_file or 'none'}")
        for pid in pids:
            stray = listening_ports(pid) - recorded_ports(services / service_id)
            if stray:
                problems.append(f"pid {pid} of service {service_id} listens on {sorted(stray)}, not its ports")
    return problems


def servers_by_service(data_dir: Path) -> tuple[dict[str, list[int]], list[str]]:
    """The pids of the ClickHouse servers running from `data_dir` by service (from their config file's path), and
    the processes running from it that are no service's server."""
    prefix = f"--config-file={data_dir / 'services'}/"
    servers: dict[str, list[int]] = {}
    others = []
    for pid, command in processes_of(data_dir).items():
        config = next((argument.removeprefix("--config-file=") for argument in command.split()
                       if argument.startswith(prefix)), None)
        if config is None:
            others.append(f"pid {pid} runs from the data dir but is no service's server: {command}")
        else:
            servers.setdefault(Path(config).parent.name, []).append(pid)
    return servers, others


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def recorded_ports(service_dir: Path) -> set[int]:
    recorded = _read(service_dir / "ports.json")
    return {int(port) for port in json.loads(recorded).values()} if recorded else set()


def listening_ports(pid: int) -> set[int]:
    """The TCP ports `pid` listens on, from its sockets' inodes in /proc/net/tcp and tcp6."""
    inodes = set()
    for descriptor in (Path("/proc") / str(pid) / "fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            columns = line.split()
            if columns[3] == "0A" and columns[9] in inodes:  # 0A: LISTEN
                ports.add(int(columns[1].rsplit(":", 1)[1], 16))
    return ports


def check_directories(data_dir: Path, store: Store) -> list[str]:
    """No service directory of a service the store does not know; no two services with the same ports."""
    services = data_dir / "services"
    directories = list(services.iterdir()) if services.exists() else []
    problems = [f"{path} belongs to no service in the store" for path in directories if path.name not in store.services]
    ports = Counter(port for path in directories for port in recorded_ports(path))
    return problems + [f"port {port} is recorded by {count} services" for port, count in ports.items() if count > 1]


def check_backups(data_dir: Path, store: Store) -> list[str]:
    """Backup directories against backup records: none without a record, a done one's there, a failed one's not."""
    root = data_dir / "backups"
    on_disk = {str(path) for path in root.glob("*/*")} if root.exists() else set()
    problems = [f"backup directory {path} has no record" for path in on_disk - {row["location"] for row in
                                                                                   store.backups.values()}]
    problems += [f"{path} is the backup directory of no service in the store" for path in
                 (root.iterdir() if root.exists() else []) if path.name not in store.services]
    for backup_id, row in store.backups.items():
        if (row["status"] == "done") != (row["location"] in on_disk):
            problems.append(f"backup {backup_id} is {row['status']} ({row['error']}), its directory "
                            f"{'is' if row['location'] in on_disk else 'is not'} there")
    return problems


def check_running_activities(store: Store) -> list[str]:
    """A running service's last create or start was followed by a service_running activity."""
    problems = []
    for service_id, row in store.services.items():
        history = sorted((activity["created_at"], activity["type"]) for activity in store.activities.values()
                         if activity["service_id"] == service_id and activity["type"] in (*STARTS, "service_running"))
        if row["state"] == "running" and (not history or history[-1][1] != "service_running"):
            problems.append(f"service {service_id} runs, but its activities end with {history[-1:]}")
    return problems


# --- the run --------------------------------------------------------------------------------------------------

def run(server: ClickplaneServer, rounds: int, seed: int, log: Callable[[str], None] = print,
        enough: Callable[[], bool] = lambda: False) -> Counter[str]:
    """Up to `rounds` rounds on a started `server`, none begun once `enough()`; the totals of rounds, kills and
    outcomes, or CrashConsistencyError."""
    log(f"crash consistency: seed {seed}, up to {rounds} rounds, data dir {server.data_dir}")
    workload = Workload(server, seed, log)
    try:
        for number in range(1, rounds + 1):
            if enough():
                break
            workload.play(number)
    finally:
        workload.close()
    return workload.totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="rounds to play (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="the run's seed (default: a random one, printed)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    stop = threading.Event()

    def stop_after_the_round(signum: int, frame: object) -> None:
        # An interrupt inside a client library can leave its locks held; the round under way ends on its own.
        print("stopping after this round, then cleaning up", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGINT, stop_after_the_round)
    signal.signal(signal.SIGTERM, stop_after_the_round)
    server = new_server()
    try:
        server.start()
        totals = run(server, args.rounds, seed, lambda line: print(line, flush=True), stop.is_set)
    except CrashConsistencyError as error:
        print(f"FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        server.destroy()
    print(f"seed {seed}: ok; " + ", ".join(f"{n} {what}" for what, n in sorted(totals.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
