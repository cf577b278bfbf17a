"""Benchmark: N services created at once through the API until all are `running`, beside N bare ClickHouse
servers started at once until all answer /ping.

    python bench/provisioning.py [--counts 1,20] [--rounds 1] [--api-poll 0.05] [--ping-poll 0.01]

For each N and round, in alternating order:

- clickplane: a fresh temporary data dir and `clickplane serve` (see harness.py); N `POST .../services` sent at
  once; the service list polled until every service is `running`. Each service's time runs from its POST to the
  poll that first shows it running; the total from the first POST to the last of them.
- bare: N server configs rendered in a temporary dir with clickplane's own functions (config.xml, users.xml, TLS
  certificate from a local CA, free ports), N `clickhouse-server --config-file=...` spawned at once as clickplane
  spawns them, each polled on GET /ping until it answers `Ok.`. Each server's time runs from its spawn; the total
  from the first spawn to the last answer.

One bare server is started and stopped first, unrecorded, so that both sides find the binary in the page cache.
For clickplane, a phase table splits each service's time, in seconds after its POST: the POST answered; `ports`,
its ports.json written (the reconciler began work on it); `config`, its config.xml written (after the CA and its
certificate); `CH log`, ClickHouse's first log line (the process runs and has read its config); `CH ready`, its
`Ready for connections`; `pinged`, the runtime's /ping answered (serve's `ClickHouse of service ... answers` log
line, before the version query and the store write); `running`, the poll that first showed it running. File times
and log lines are wall-clock times; a phase that cannot be read is left out. Nothing is asserted; every server and
temp dir is removed at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import startup
from clickplane.runtime.clickhouse.config import (
    ServerConfig,
    TlsFiles,
    config_root_for,
    render_server_config,
    render_users_config,
    server_command,
)
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.setup import ClickHousePorts, ServicePaths
from clickplane.runtime.files import write_atomically
from clickplane.runtime.ports import choose_ports
from clickplane.runtime.tls import ensure_ca, ensure_server_certificate
from clickplane.services.controller import GIB
from clickplane.services.service import DEFAULT_REPLICA_MEMORY_GB
from clickplane.settings import discover_clickhouse_binary
from harness import (
    BenchError,
    Sandbox,
    Timeout,
    interrupts_deferred,
    kill_leftovers,
    log,
    processes_mentioning,
    tail,
    terminated_as_interrupt,
)
from startup import (
    SERVE_LOG_TIME,
    Created,
    Kind,
    Measurement,
    alternating,
    create_all,
    local_timestamp,
    mtime,
    print_phases,
    print_totals,
    serve_log_times,
)

LISTEN_HOST = "127.0.0.1"
SERVICE_PREFIX = "provision-"
FAILED_STATES = ("failed", "degraded", "stopped", "idle")
STOP_TIMEOUT = 30.0
PHASES = ("POST ok", "ports", "config", "CH log", "CH ready", "pinged", "running")


# --- clickplane ----------------------------------------------------------------------------------------------

SERVICES = Kind("service", "/services", lambda name: {"name": name, "provider": "aws", "region": "us-east-1",
                                                      "ipAccessList": [{"source": LISTEN_HOST}]},
                lambda result: str(result["service"]["id"]), FAILED_STATES)


# 18.16: `2024.05.01 12:00:00.123456 [ 1 ] {} <Information> Application: Ready for connections.`
CLICKHOUSE_TIME = r"(\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d(?:\.\d+)?) "
CLICKHOUSE_FIRST = re.compile(r"\A" + CLICKHOUSE_TIME)
CLICKHOUSE_READY = re.compile(r"^" + CLICKHOUSE_TIME + r".*Ready for connections", re.MULTILINE)
RUNTIME_STARTED = re.compile(SERVE_LOG_TIME + r"INFO clickplane\.runtime\.clickhouse\.local: "
                             r"ClickHouse of service (\S+) answers \(pid", re.MULTILINE)


def clickhouse_log_times(server_log: Path) -> tuple[float | None, float | None]:
    """When ClickHouse wrote its first log line (it runs, has read its config) and `Ready for connections`."""
    try:
        text = server_log.read_text(errors="replace")
    except FileNotFoundError:
        return None, None

    def moment(match: re.Match[str] | None) -> float | None:
        if match is None:
            return None
        return local_timestamp(match[1], "%Y.%m.%d %H:%M:%S.%f" if "." in match[1][11:] else "%Y.%m.%d %H:%M:%S")

    return moment(CLICKHOUSE_FIRST.search(text)), moment(CLICKHOUSE_READY.search(text))


def phases_of(data_dir: Path, serve_log: Path, services: list[Created]) -> dict[str, list[float]]:
    """Per phase, seconds from each service's POST to that phase, from the files and logs the run left."""
    pinged = serve_log_times(serve_log, RUNTIME_STARTED)
    phases: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for created in services:
        if created.resource_id is None or created.answered is None or created.running is None:
            continue
        paths = ServicePaths(data_dir / "services" / created.resource_id)
        first_line, ready = clickhouse_log_times(paths.server_log)
        wall = {
            "ports": mtime(paths.ports_file),
            "config": mtime(paths.config_file),
            "CH log": first_line,
            "CH ready": ready,
            "pinged": pinged.get(created.resource_id),
        }
        phases["POST ok"].append(created.answered - created.sent)
        for phase, moment in wall.items():
            if moment is not None:
                phases[phase].append(moment - created.sent_wall)
        phases["running"].append(created.running - created.sent)
    return phases


def measure_clickplane(binary: str, count: int, number: int, args: argparse.Namespace, dirs: list[Path]
                       ) -> Measurement:
    sandbox = Sandbox("clickplane-bench-provisioning-")
    dirs.append(sandbox.data_dir)
    try:
        clickplane = sandbox.start_clickplane({"CLICKPLANE_CLICKHOUSE_BINARY": binary})
        log(f"N={count} round {number}: clickplane, creating {count} service(s)")
        total, services = asyncio.run(create_all(clickplane, SERVICES, SERVICE_PREFIX, count, args.api_poll,
                                                 args.timeout))
        clickplane.serve.check_alive()
        each = [c.running - c.sent for c in services if c.running is not None]
        phases = phases_of(sandbox.data_dir, clickplane.serve.log, services)
    except BenchError:
        log(f"end of the clickplane serve log:\n{tail(sandbox.data_dir / 'clickplane-serve.log')}")
        raise
    finally:
        sandbox.cleanup()
    return Measurement("clickplane", count, number, total, each, phases)


# --- bare ClickHouse -----------------------------------------------------------------------------------------

@dataclass
class BareServer:
    paths: ServicePaths
    ports: ClickHousePorts
    process: subprocess.Popen[bytes] | None = None
    spawned: float = 0.0
    answered: float | None = None


class BareFleet:
    """N ClickHouse servers configured as clickplane configures a service, in a temp dir, without clickplane."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.root = Path(tempfile.mkdtemp(prefix="clickplane-bench-bare-"))
        self.servers: list[BareServer] = []

    def prepare(self, count: int) -> None:
        """Render what the local runtime writes for a service (see `ServiceSetup._write_server_files`), before any
        timing."""
        ca = ensure_ca(self.root / "ca")
        config_root = config_root_for(self.binary)
        taken: set[int] = set()
        for number in range(count):
            paths = ServicePaths(self.root / "services" / f"bare-{number}")
            paths.create()
            ports = choose_ports(LISTEN_HOST, ClickHousePorts, None, taken)
            ensure_server_certificate(ca, [LISTEN_HOST, "localhost"], paths.certificate, paths.private_key)
            config = ServerConfig(
                root=config_root, listen_host=LISTEN_HOST, http_port=ports.http, tcp_port=ports.native,
                https_port=ports.https, tcp_port_secure=ports.native_secure, data_path=paths.data,
                tmp_path=paths.tmp, user_files_path=paths.user_files, users_config=paths.users_file,
                log_file=paths.server_log, error_log_file=paths.error_log,
                tls=TlsFiles(paths.certificate, paths.private_key),
            )
            spec = ServiceSpec(
                service_id=paths.root.name,
                password_sha256_hex=hashlib.sha256(secrets.token_hex(12).encode()).hexdigest(),
                ip_access_list=(LISTEN_HOST,), max_memory_bytes=int(DEFAULT_REPLICA_MEMORY_GB * GIB),
            )
            write_atomically(paths.config_file, render_server_config(config))
            write_atomically(paths.users_file, render_users_config(spec, secrets.token_hex(16), config_root))
            self.servers.append(BareServer(paths, ports))

    async def launch(self, poll: float, timeout: float) -> float:
        """Spawn every server at once, then wait for each one's /ping; seconds from the first spawn to the last Ok."""
        start = time.perf_counter()
        for server in self.servers:
            server.spawned = time.perf_counter()
            argv = server_command(self.binary, server.paths.config_file)
            server.process = spawn(argv, server.paths.root, server.paths.console_log)
        async with asyncio.TaskGroup() as group:
            for server in self.servers:
                group.create_task(self._wait_for_ping(server, poll, start + timeout))
        return max(s.answered for s in self.servers if s.answered is not None) - start

    async def _wait_for_ping(self, server: BareServer, poll: float, deadline: float) -> None:
        while not await ping(server.ports.http):
            if server.process is not None and server.process.poll() is not None:
                raise BenchError(f"{server.paths.root.name} exited with {server.process.returncode}:\n"
                                 f"{tail(server.paths.console_log)}\n{tail(server.paths.error_log)}")
            if time.perf_counter() > deadline:
                raise Timeout(f"{server.paths.root.name} did not answer /ping in time")
            await asyncio.sleep(poll)
        server.answered = time.perf_counter()

    def cleanup(self) -> None:
        with interrupts_deferred():
            running = [s.process for s in self.servers if s.process is not None and s.process.poll() is None]
            for child in running:
                signal_group(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in running:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    log(f"warning: bare clickhouse-server pid {child.pid} ignored SIGTERM; killing it")
                    signal_group(child, signal.SIGKILL)
                    child.wait(timeout=10)
            kill_leftovers(self.root, "outlived its bare server")
            shutil.rmtree(self.root, ignore_errors=True)
            log(f"cleaned up {self.root}")


def spawn(argv: list[str], cwd: Path, console_log: Path) -> subprocess.Popen[bytes]:
    """Start a server as clickplane's runtime does (clickplane.runtime.process.spawn): in a session of its own,
    which also keeps Ctrl-C from reaching it, with ClickHouse's watchdog off, output to `console_log`."""
    with console_log.open("ab") as output:
        return subprocess.Popen(argv, cwd=cwd, env={**os.environ, "CLICKHOUSE_WATCHDOG_ENABLE": "0"},
                                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def signal_group(child: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """Signal the server's process group (it leads one since `spawn`); until we reap it, its pid stays ours."""
    if child.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signum)


async def ping(port: int) -> bool:
    """GET /ping over a plain socket (cheaper than an HTTP client while polling many servers): whether `Ok.`."""
    try:
        reader, writer = await asyncio.open_connection(LISTEN_HOST, port)
    except OSError:
        return False
    try:
        writer.write(f"GET /ping HTTP/1.1\r\nHost: {LISTEN_HOST}:{port}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), timeout=5)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return head.startswith(b"HTTP/1.1 200") and body.strip() == b"Ok."


def measure_bare(binary: str, count: int, number: int, args: argparse.Namespace, dirs: list[Path]) -> Measurement:
    fleet = BareFleet(binary)
    dirs.append(fleet.root)
    try:
        fleet.prepare(count)
        log(f"N={count} round {number}: bare, starting {count} clickhouse-server(s)")
        total = asyncio.run(fleet.launch(args.ping_poll, args.timeout))
        each = [s.answered - s.spawned for s in fleet.servers if s.answered is not None]
    finally:
        fleet.cleanup()
    return Measurement("bare", count, number, total, each)


# --- report --------------------------------------------------------------------------------------------------

LABELS = {"clickplane": "clickplane create→running", "bare": "bare spawn→/ping"}


def print_tables(measurements: list[Measurement]) -> None:
    print_totals(measurements, LABELS)
    print_phases(measurements, "clickplane", PHASES,
                 "clickplane phases: median over services (max in brackets), seconds after each service's POST")


def summary(measurements: list[Measurement], count: int) -> str:
    return startup.summary(measurements, count, "bare clickhouse-server", "/ping")


# --- main ----------------------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,20", help="how many services/servers at once, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each target per count (default 1)")
    parser.add_argument("--api-poll", type=float, default=0.05, help="seconds between service-list polls")
    parser.add_argument("--ping-poll", type=float, default=0.01, help="seconds between a bare server's /ping polls")
    parser.add_argument("--timeout", type=float, default=180, help="seconds one measurement may take")
    parser.add_argument("--binary", help="ClickHouse server binary (default: what clickplane finds)")
    args = parser.parse_args(argv)
    try:
        args.counts = [int(count) for count in args.counts.split(",")]
    except ValueError:
        parser.error(f"--counts must be comma-separated integers, not {args.counts!r}")
    if min(args.counts) < 1 or args.rounds < 1 or args.api_poll <= 0 or args.ping_poll <= 0:
        parser.error("need counts >= 1, --rounds >= 1 and polls > 0")
    return args


def run(args: argparse.Namespace, binary: str, dirs: list[Path]) -> list[Measurement]:
    log(f"warm-up: one bare server, unrecorded ({binary})")
    measure_bare(binary, 1, 0, args, dirs)
    return alternating(args.counts, args.rounds, [
        lambda count, number: measure_clickplane(binary, count, number, args, dirs),
        lambda count, number: measure_bare(binary, count, number, args, dirs),
    ])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    binary = args.binary or discover_clickhouse_binary()
    if binary is None:
        print("error: no ClickHouse binary found (clickhouse or clickhouse-server); pass --binary", file=sys.stderr)
        return 2
    dirs: list[Path] = []
    try:
        with terminated_as_interrupt():
            measurements = run(args, binary, dirs)
    except BenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        left = [found for directory in dirs for found in processes_mentioning(str(directory))]
        for pid, command in left:
            log(f"warning: still running after cleanup: pid {pid}: {command[:200]}")
        if not left:
            log(f"no process left from the {len(dirs)} temp dir(s) of this run")
    print(f"\nProvisioning: N services created at once through the API vs N bare {Path(binary).name} started at once"
          f"\n{binary}; service list polled every {args.api_poll:g} s, /ping every {args.ping_poll:g} s; "
          f"{args.rounds} round(s)\n")
    print_tables(measurements)
    print()
    for count in dict.fromkeys(args.counts):
        print(summary(measurements, count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
