"""Benchmark: N Postgres services created at once through the API until all are `running`, beside N bare clusters of
the same PostgreSQL binaries made and started at once (`initdb`, then `pg_ctl start -w`) until each takes a login;
for each PostgreSQL version.

    python bench/postgres.py [--versions 17,18] [--counts 1,5] [--rounds 1] [--api-poll 0.05] [--timeout 180]

For each version, N and round, in alternating order:

- clickplane: a fresh temporary data dir and `clickplane serve` (startup.py, harness.py), given the bin dirs below
  as CLICKPLANE_POSTGRES_BIN_DIRS; N `POST .../postgres` of that version at once; the list polled until every
  service is `running`. A service's time runs from its POST to the poll that first shows it running; the total from
  the first POST to the last of them. In between the reconciler runs initdb, makes the service's CA and certificate,
  starts the server, polls it with a login until it answers and sets the superuser's password.
- bare: N clusters laid out with clickplane's own code before the clock (directories, a CA and server certificate,
  the access rules, initdb's password file, a free port); then, for all N at once, `initdb` with clickplane's
  arguments, `pg_ctl start -w` with the server options clickplane gives (TLS with that certificate, those rules,
  pg_stat_statements, wal_level logical) and one login over TLS, as clickplane's runtime logs in. A cluster's time
  runs from its initdb to that login; the total from the first initdb to the last login.

Both sides run PostgreSQL as the same user: when this runs as root, CLICKPLANE_POSTGRES_OS_USER (clickplane-postgres,
which scripts/install makes), as clickplane does; else the user running it. One bare cluster per version is made and
started first, unrecorded, so that both sides find the binaries in the page cache. The phase tables split each time,
in seconds after its start: for clickplane `POST ok` (the answer arrived), `initdb` (serve logged the cluster made),
`started` (serve logged the server started: it wrote postmaster.pid) and `running` (seen through the API); for bare
`initdb` (it ended), `pg_ctl` (`start -w` returned: the server accepts connections) and `login`. Nothing is asserted;
every server and temp dir is removed at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psycopg

import startup
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.files import write_atomically
from clickplane.runtime.postgres.binaries import default_bin_dirs
from clickplane.runtime.postgres.config import (
    INTERNAL_ROLE,
    LOOPBACK_NETWORKS,
    ServerFiles,
    initdb_command,
    render_hba,
    server_command,
)
from clickplane.runtime.postgres.paths import ServicePaths
from clickplane.runtime.postgres.server_user import ServerUser, server_user
from clickplane.runtime.tls import ensure_ca, ensure_server_certificate
from clickplane.settings import Settings
from harness import (
    BenchError,
    Sandbox,
    Timeout,
    free_port,
    interrupts_deferred,
    kill_leftovers,
    log,
    processes_mentioning,
    run_to_completion,
    tail,
)
from startup import SERVE_LOG_TIME, Created, Kind, Measurement, alternating, create_all, print_phases, print_totals

LISTEN_HOST = "127.0.0.1"
SERVICE_PREFIX = "bench-pg-"
SIZE = "r6gd.medium"
FAILED_STATES = ("unavailable", "stopped")
CLICKPLANE_PHASES = ("POST ok", "initdb", "started", "running")
BARE_PHASES = ("initdb", "pg_ctl", "login")
LABELS = {"clickplane": "clickplane create→running", "bare": "bare initdb+pg_ctl→login"}
# What one initdb, a start or a stop of one cluster may take on a loaded machine.
STEP_TIMEOUT = 120.0
LOGIN_POLL = 0.01

_RUNTIME_LOG = SERVE_LOG_TIME + r"INFO clickplane\.runtime\.postgres\.local: "
CLUSTER_MADE = re.compile(_RUNTIME_LOG + r"created the PostgreSQL cluster of service (\S+)", re.MULTILINE)
SERVER_STARTED = re.compile(_RUNTIME_LOG + r"started PostgreSQL of service (\S+) \(pid", re.MULTILINE)


# --- clickplane ----------------------------------------------------------------------------------------------

def postgres_services(version: str) -> Kind:
    return Kind("Postgres service", "/postgres",
                lambda name: {"name": name, "provider": "aws", "region": "us-east-1", "size": SIZE,
                              "postgresVersion": version,
                              "ipAccessList": [{"source": LISTEN_HOST, "portRange": "5432"}]},
                lambda result: str(result["id"]), FAILED_STATES)


def clickplane_phases(serve_log: Path, services: list[Created]) -> dict[str, list[float]]:
    """Per phase, seconds from each service's POST to that phase, from serve's log."""
    made, started = startup.serve_log_times(serve_log, CLUSTER_MADE), startup.serve_log_times(serve_log, SERVER_STARTED)
    phases: dict[str, list[float]] = {phase: [] for phase in CLICKPLANE_PHASES}
    for created in services:
        if created.resource_id is None or created.answered is None or created.running is None:
            continue
        phases["POST ok"].append(created.answered - created.sent)
        for phase, moments in (("initdb", made), ("started", started)):
            if created.resource_id in moments:
                phases[phase].append(moments[created.resource_id] - created.sent_wall)
        phases["running"].append(created.running - created.sent)
    return phases


def measure_clickplane(version: str, bin_dirs: dict[str, Path], args: argparse.Namespace, dirs: list[Path],
                       count: int, number: int) -> Measurement:
    sandbox = Sandbox("clickplane-bench-postgres-")
    dirs.append(sandbox.data_dir)
    try:
        configured = ",".join(f"{major}={directory}" for major, directory in sorted(bin_dirs.items()))
        clickplane = sandbox.start_clickplane({"CLICKPLANE_POSTGRES_BIN_DIRS": configured})
        log(f"PostgreSQL {version} N={count} round {number}: clickplane, creating {count} service(s)")
        total, services = asyncio.run(create_all(clickplane, postgres_services(version), SERVICE_PREFIX, count,
                                                 args.api_poll, args.timeout))
        clickplane.serve.check_alive()
        each = [c.running - c.sent for c in services if c.running is not None]
        phases = clickplane_phases(clickplane.serve.log, services)
    except BenchError:
        log(f"end of the clickplane serve log:\n{tail(sandbox.data_dir / 'clickplane-serve.log')}")
        raise
    finally:
        sandbox.cleanup()
    return Measurement("clickplane", count, number, total, each, phases)


# --- bare PostgreSQL -----------------------------------------------------------------------------------------

@dataclass
class BareCluster:
    paths: ServicePaths
    port: int
    password: str
    started: float = 0.0
    # Seconds after `started` at which each phase ended.
    phases: dict[str, float] = field(default_factory=dict)


class BareClusters:
    """N PostgreSQL clusters laid out as clickplane lays out a service's (runtime/postgres/local.py), in a temp dir,
    made and started without clickplane."""

    def __init__(self, bin_dir: Path, user: ServerUser) -> None:
        self.bin_dir = bin_dir
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="clickplane-bench-bare-postgres-"))
        self.root.chmod(0o711)  # PostgreSQL's user passes through to its clusters
        self.clusters: list[BareCluster] = []

    def prepare(self, count: int) -> None:
        """Everything but initdb and the start, before any timing: what `_set_up` does besides initdb."""
        ports: set[int] = set()
        for number in range(count):
            paths = ServicePaths(self.root / f"bare-{number}")
            paths.root.mkdir(mode=0o711)
            ensure_server_certificate(ensure_ca(paths.ca), [LISTEN_HOST, "localhost"], paths.certificate,
                                      paths.private_key)
            self.user.own(paths.private_key)
            write_atomically(paths.hba, render_hba([LISTEN_HOST], LOOPBACK_NETWORKS).encode(), mode=0o644)
            password = f"bench-{number}-{time.time_ns()}"
            write_atomically(paths.initdb_password, f"{password}\n".encode())
            self.user.own(paths.initdb_password)
            paths.data.mkdir(mode=0o700)
            self.user.own(paths.data)
            write_atomically(paths.log, b"", mode=0o600)
            self.user.own(paths.log)
            while (port := free_port()) in ports:
                pass
            ports.add(port)
            self.clusters.append(BareCluster(paths, port, password))

    def launch(self) -> float:
        """Make and start every cluster at once, a thread each; seconds from the first initdb to the last login."""
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(self.clusters)) as pool:
            list(pool.map(self._make_and_start, self.clusters))  # the first failure, raised
        return max(c.started + c.phases["login"] for c in self.clusters) - start

    def _make_and_start(self, cluster: BareCluster) -> None:
        paths = cluster.paths
        cluster.started = time.perf_counter()
        self._step(cluster, "initdb", initdb_command(self.bin_dir / "initdb", paths.data, paths.initdb_password))
        files = ServerFiles(paths.hba, paths.certificate, paths.private_key)
        options = server_command(self.bin_dir / "postgres", paths.data, LISTEN_HOST, cluster.port, files)[3:]
        self._step(cluster, "pg_ctl", [str(self.bin_dir / "pg_ctl"), "-D", str(paths.data), "-l", str(paths.log),
                                       "-o", shlex.join(options), "-w", "-t", f"{STEP_TIMEOUT:.0f}", "start"])
        while not self._logs_in(cluster):
            if time.perf_counter() - cluster.started > STEP_TIMEOUT:
                raise Timeout(f"{paths.service_id} took no login within {STEP_TIMEOUT:g} s:\n{tail(paths.log)}")
            time.sleep(LOGIN_POLL)
        cluster.phases["login"] = time.perf_counter() - cluster.started

    def _step(self, cluster: BareCluster, phase: str, argv: list[str]) -> None:
        done = self.user.run(argv, cluster.paths.root, STEP_TIMEOUT)
        if done.returncode != 0:
            raise BenchError(f"{phase} of {cluster.paths.service_id} failed with {done.returncode}: "
                             f"{done.stdout}{done.stderr}\n{tail(cluster.paths.log)}")
        cluster.phases[phase] = time.perf_counter() - cluster.started

    @staticmethod
    def _logs_in(cluster: BareCluster) -> bool:
        """One login as clickplane's runtime logs in: its role, over TLS, with the password initdb was given."""
        try:
            psycopg.connect(host=LISTEN_HOST, port=cluster.port, user=INTERNAL_ROLE, password=cluster.password,
                            dbname="postgres", sslmode="require", connect_timeout=5).close()
        except psycopg.OperationalError:
            return False
        return True

    def cleanup(self) -> None:
        with interrupts_deferred():
            for cluster in self.clusters:
                if cluster.paths.postmaster_pid.exists():
                    try:
                        self.user.run([str(self.bin_dir / "pg_ctl"), "-D", str(cluster.paths.data), "-m", "fast",
                                       "-w", "-t", f"{STEP_TIMEOUT:.0f}", "stop"], self.root, STEP_TIMEOUT + 10)
                    except subprocess.TimeoutExpired:
                        log(f"warning: bare PostgreSQL {cluster.paths.service_id} did not stop; killing it")
            kill_leftovers(self.root, "outlived its bare cluster")
            shutil.rmtree(self.root, ignore_errors=True)
            log(f"cleaned up {self.root}")


def measure_bare(version: str, bin_dir: Path, user: ServerUser, dirs: list[Path], count: int, number: int
                 ) -> Measurement:
    clusters = BareClusters(bin_dir, user)
    dirs.append(clusters.root)
    try:
        clusters.prepare(count)
        log(f"PostgreSQL {version} N={count} round {number}: bare, making and starting {count} cluster(s)")
        total = clusters.launch()
    finally:
        clusters.cleanup()
    each = [c.phases["login"] for c in clusters.clusters]
    phases = {phase: [c.phases[phase] for c in clusters.clusters] for phase in BARE_PHASES}
    return Measurement("bare", count, number, total, each, phases)


# --- report --------------------------------------------------------------------------------------------------

@dataclass
class VersionRun:
    version: str
    bin_dir: Path
    measurements: list[Measurement]


def report(runs: list[VersionRun], args: argparse.Namespace) -> None:
    print(f"\nPostgres provisioning: N services created at once through the API vs N bare clusters made and started "
          f"at once (initdb, pg_ctl start -w, a login)\nservice list polled every {args.api_poll:g} s; "
          f"{args.rounds} round(s)")
    for run in runs:
        print(f"\nPostgreSQL {run.version}: {run.bin_dir}\n")
        print_totals(run.measurements, LABELS)
        print_phases(run.measurements, "clickplane", CLICKPLANE_PHASES,
                     "clickplane phases: median over services (max in brackets), seconds after each POST")
        print_phases(run.measurements, "bare", BARE_PHASES,
                     "bare phases: median over clusters (max in brackets), seconds after each initdb began")
    print()
    for run in runs:
        for count in dict.fromkeys(args.counts):
            summary = startup.summary(run.measurements, count, "bare initdb + pg_ctl start -w", "a login")
            print(f"PostgreSQL {run.version} {summary}")


# --- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", default="17,18", help="PostgreSQL major versions, comma-separated")
    parser.add_argument("--counts", default="1,5", help="how many services/clusters at once, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each target per count (default 1)")
    parser.add_argument("--api-poll", type=float, default=0.05, help="seconds between service-list polls")
    parser.add_argument("--timeout", type=float, default=180, help="seconds clickplane's N services may take")
    args = parser.parse_args(argv)
    args.versions = [version.strip() for version in args.versions.split(",") if version.strip()]
    try:
        args.counts = [int(count) for count in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts must be comma-separated integers, not {args.counts!r}")
    if not args.versions or min(args.counts) < 1 or args.rounds < 1 or args.api_poll <= 0:
        parser.error("need a version, counts >= 1, --rounds >= 1 and --api-poll > 0")
    return args


def run(args: argparse.Namespace, bin_dirs: dict[str, Path], user: ServerUser, dirs: list[Path]) -> list[VersionRun]:
    runs = []
    for version in args.versions:
        bin_dir = bin_dirs[version]
        log(f"warm-up: one bare PostgreSQL {version} cluster, unrecorded ({bin_dir})")
        measure_bare(version, bin_dir, user, dirs, 1, 0)
        measurements = alternating(args.counts, args.rounds, [
            partial(measure_clickplane, version, bin_dirs, args, dirs),
            partial(measure_bare, version, bin_dir, user, dirs),
        ])
        runs.append(VersionRun(version, bin_dir, measurements))
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bin_dirs = default_bin_dirs()
    missing = [version for version in args.versions if version not in bin_dirs]
    if missing:
        print(f"error: no PostgreSQL {', '.join(missing)} binaries (scripts/install installs 17 and 18)",
              file=sys.stderr)
        return 2
    try:
        user = server_user(Settings().postgres_os_user)
    except RuntimeFailure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return 2
    log(f"PostgreSQL runs as {user.name}")
    dirs: list[Path] = []

    def left_behind() -> None:
        left = [found for directory in dirs for found in processes_mentioning(str(directory))]
        for pid, command in left:
            log(f"warning: still running after cleanup: pid {pid}: {command[:200]}")
        if not left:
            log(f"no process left from the {len(dirs)} temp dir(s) of this run")

    return run_to_completion(lambda: run(args, bin_dirs, user, dirs), left_behind, lambda runs: report(runs, args))


if __name__ == "__main__":
    sys.exit(main())
