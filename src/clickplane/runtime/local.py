"""The `local` runtime: every service is a ClickHouse server process on this machine.

Each service lives in `<data_dir>/services/<service_id>/`: its config and users files, data, logs,
pid file, TLS certificate and a record of its ports. Servers run detached from the control plane, so
they survive its restarts; the next control plane adopts them through their pid files.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import secrets
import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from clickplane.runtime import process
from clickplane.runtime.base import BackupResult, Endpoint, Observation, RuntimeFailure, ServiceSpec, SqlAccess
from clickplane.runtime.clickhouse_config import (
    INTERNAL_USER,
    INTERNAL_USER_NETWORKS,
    ConfigRoot,
    ServerConfig,
    TlsFiles,
    config_root_for,
    query_user_name,
    render_query_users,
    render_server_config,
    render_users_config,
    server_command,
)
from clickplane.runtime.files import write_if_changed
from clickplane.runtime.local_backup import restore_once, take_backup
from clickplane.runtime.ports import Ports, choose_ports, load_ports, port_is_free, save_ports
from clickplane.runtime.process import ProcessId
from clickplane.runtime.tls import CA_CERT_FILE, CertificateAuthority, ensure_ca, ensure_server_certificate

log = logging.getLogger(__name__)

# Service ids become directory names: no separators, no dot first (so neither "." nor "..").
_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_POLL_SECONDS = 0.05
_HTTP_TIMEOUT_SECONDS = 5.0
# A server answers /ping from memory, in a millisecond or so even when busy: one that takes longer than
# this is stopped (SIGSTOP), hung or starved, and the reconciler counts it as a failed check.
_PING_TIMEOUT_SECONDS = 2.0
# A backup's statements (FREEZE links every file of a table's parts) may take longer than a probe.
_BACKUP_SQL_TIMEOUT_SECONDS = 300.0
# After SIGKILL only the kernel is left to act; this bounds a process stuck in uninterruptible I/O.
_KILL_WAIT_SECONDS = 10.0
# The runtime reaches its servers over plain HTTP on this machine. Handing each client this context
# (no trusted CAs: it would refuse any TLS peer) spares it loading the system's CA bundle, tens of
# milliseconds on the event loop per client.
_PLAIN_HTTP_ONLY = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def ca_certificate_path(data_dir: Path) -> Path:
    """Where the local CA's certificate lives: what clients verify services' TLS endpoints with."""
    return data_dir.resolve() / "ca" / CA_CERT_FILE


# How long a new Query API user may take to be known to the server: 18.16 rereads its users files every
# couple of seconds (seen: 2.5-6 s).
_QUERY_USER_DEADLINE_SECONDS = 20.0
_QUERY_USER_POLL_SECONDS = 0.2

# Queries the server has started since it began; our own asking counts as one.
QUERY_COUNT_SQL = "SELECT sum(value) FROM system.events WHERE event = 'Query'"


@dataclass(frozen=True)
class ServicePaths:
    """Where one service keeps everything."""

    root: Path

    @property
    def config_file(self) -> Path:
        return self.root / "config.xml"

    @property
    def users_file(self) -> Path:
        return self.root / "users.xml"

    @property
    def query_users_file(self) -> Path:
        """The Query API's users, merged by ClickHouse into users.xml (a `users.d` beside it)."""
        return self.root / "users.d" / "query-users.xml"

    @property
    def query_passwords_file(self) -> Path:
        """Those users' passwords (0600), which only the runtime reads: users files hold their hashes."""
        return self.root / "query-users.json"

    @property
    def ports_file(self) -> Path:
        return self.root / "ports.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "clickhouse.pid"

    @property
    def certificate(self) -> Path:
        return self.root / "server.crt"

    @property
    def private_key(self) -> Path:
        return self.root / "server.key"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def user_files(self) -> Path:
        return self.root / "user_files"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"

    @property
    def server_log(self) -> Path:
        return self.logs / "clickhouse-server.log"

    @property
    def error_log(self) -> Path:
        return self.logs / "clickhouse-server.err.log"

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for directory in (self.data, self.tmp, self.user_files, self.logs):
            directory.mkdir(exist_ok=True)


class LocalRuntime:
    """Runs each service as a ClickHouse server process on this machine, under `data_dir`.

    `binary` is any ClickHouse server: Debian 18.16's `clickhouse-server` or a modern multi-tool named
    `clickhouse`. `listen_host` is the IP address servers listen on; `advertised_host` (name or
    address) is what endpoints name, and is required when `listen_host` is a wildcard.
    `internal_password(service_id)` gives the password of the loopback-only user `clickplane` that
    the runtime (and the control plane) use to query servers. `config_root` overrides the config
    root element chosen from the binary's name.
    """

    def __init__(
        self,
        data_dir: Path,
        binary: str,
        listen_host: str = "127.0.0.1",
        advertised_host: str | None = None,
        *,
        internal_password: Callable[[str], str],
        config_root: ConfigRoot | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 30.0,
    ) -> None:
        listen_address = ipaddress.ip_address(listen_host)
        if listen_address.is_unspecified and advertised_host is None:
            raise ValueError(f"listen_host {listen_host} is a wildcard: clients need an advertised_host")
        self.data_dir = data_dir.resolve()
        self.binary = binary
        self.listen_host = str(listen_address)
        self.advertised_host = advertised_host or self.listen_host
        self.config_root: ConfigRoot = config_root or config_root_for(binary)
        # Clients verify servers' certificates with this file.
        self.ca_path = ca_certificate_path(self.data_dir)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._internal_password = internal_password
        self._local_host = _local_host(listen_address)
        self._internal_networks: tuple[str, ...] = INTERNAL_USER_NETWORKS
        if not (listen_address.is_loopback or listen_address.is_unspecified):
            # Connecting to one of this machine's own addresses comes from that address, not loopback.
            self._internal_networks += (self.listen_host,)
        # Held while choosing ports, so that services started together never get the same port.
        self._ports_lock = asyncio.Lock()
        self._ca_lock = asyncio.Lock()
        self._ca: CertificateAuthority | None = None
        self._service_locks: dict[str, asyncio.Lock] = {}
        # Servers this runtime started, kept to reap them when they exit (else they stay zombies).
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._versions: dict[tuple[str, int], str] = {}
        # Servers `start` left running, until `wait_until_up` sees them answer.
        self._launches: dict[str, _Launch] = {}
        # Queries the control plane ran on each service's current server for itself (count_own_query).
        self._own_queries: dict[str, int] = {}
        # A client per service, its connection kept between checks (closed before the server is stopped), for the
        # event loop they were made in: connections cannot move to another loop.
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._clients_loop: asyncio.AbstractEventLoop | None = None

    # The Runtime protocol.

    async def start(self, spec: ServiceSpec) -> None:
        """Write the service's files, then adopt its running server or launch one; returns once a server runs,
        before it answers (`wait_until_up` waits for that)."""
        paths = self._paths(spec.service_id)
        async with self._lock(spec.service_id):
            server = await asyncio.to_thread(self._running_server, paths, True)
            ports, config_changed = await self._prepare(spec, paths, running=server is not None)
            if server is not None and config_changed:
                log.warning("restarting ClickHouse of service %s (pid %d): its config changed", paths.root.name,
                            server.pid)
                await self._terminate(paths, server, graceful=True)
                server = None
            if server is None:
                if spec.restore_from is not None:
                    await asyncio.to_thread(restore_once, Path(spec.restore_from), paths.data)
                self._launches[spec.service_id] = await self._launch(paths, ports, spec)
            else:
                self._launches[spec.service_id] = _Launch(server, ports, spec, offsets=None)

    async def wait_until_up(self, service_id: str) -> Observation:
        """Wait until the server `start` left running answers, and report it. One adopted that does not answer
        is replaced; one launched that exits or misses the start deadline is ended, with the reason and the end
        of its logs in the RuntimeFailure (launched once more on other ports when another program took one)."""
        paths = self._paths(service_id)
        async with self._lock(service_id):
            launch = self._launches.pop(service_id, None)
            if launch is None:
                raise RuntimeFailure(f"service {service_id} was not started: start it before waiting for it")
            failure = await self._wait_until_answering(paths, launch.ports, launch.server)
            if failure is not None and launch.offsets is None:  # adopted: replace it
                log.warning("restarting ClickHouse of service %s (pid %d): %s", service_id, launch.server.pid, failure)
                await self._terminate(paths, launch.server, graceful=True)
                launch = await self._launch(paths, launch.ports, launch.spec)
                failure = await self._wait_until_answering(paths, launch.ports, launch.server)
            if failure is not None:
                launch = await self._relaunch_after(failure, paths, launch)
            elif launch.offsets is None:
                log.info("adopted running ClickHouse of service %s (pid %d)", service_id, launch.server.pid)
            else:
                log.info("ClickHouse of service %s answers (pid %d)", service_id, launch.server.pid)
            version = await self._version(service_id, launch.ports, launch.server.pid)
            return self._observation(launch.ports, launch.server.pid, version)

    async def ensure_running(self, spec: ServiceSpec) -> Observation:
        """start, then wait_until_up: for callers that have nothing else to do meanwhile (operator commands)."""
        await self.start(spec)
        return await self.wait_until_up(spec.service_id)

    async def apply(self, spec: ServiceSpec) -> None:
        """Rewrite users.xml, which ClickHouse reloads by itself within seconds. Every setting of a
        spec (password, networks, memory limit) lives there, so no other file needs a change."""
        paths = self._paths(spec.service_id)
        users = self._render_users(spec)
        async with self._lock(spec.service_id):
            if not await asyncio.to_thread(paths.root.is_dir):
                raise RuntimeFailure(f"service {spec.service_id} does not exist on this runtime")
            with _setup_errors(paths):
                await asyncio.to_thread(write_if_changed, paths.users_file, users)

    async def observe(self, service_id: str) -> Observation:
        paths = self._paths(service_id)
        ports, server, pid_file_left = await asyncio.to_thread(self._inspect, paths)
        if ports is None:
            return Observation(running=False, reason=f"service {service_id} was never started here")
        if server is None:
            # A pid file is removed on every stop: one left behind means the server died.
            reason = f"ClickHouse exited unexpectedly; its logs are in {paths.logs}" if pid_file_left else None
            return Observation(running=False, endpoints=self._endpoints(ports), reason=reason)
        if not await self._pings(service_id, ports):
            return Observation(
                running=False,
                endpoints=self._endpoints(ports),
                pid=server.pid,
                reason=f"ClickHouse (pid {server.pid}) does not answer /ping",
            )
        version = await self._version(service_id, ports, server.pid)
        return self._observation(ports, server.pid, version)

    async def sql_access(self, service_id: str) -> SqlAccess | None:
        ports, pid, _ = await asyncio.to_thread(self._inspect, self._paths(service_id))
        if ports is None or pid is None:
            return None
        return SqlAccess(self._url(ports.http, "/"), INTERNAL_USER, self._internal_password(service_id))

    async def query_access(self, service_id: str, caller: str, read_only: bool) -> SqlAccess | None:
        paths = self._paths(service_id)
        name = query_user_name(caller, read_only)
        ports, pid, _ = await asyncio.to_thread(self._inspect, paths)
        if ports is None or pid is None:
            return None
        # Not the service's lock, which a start holds for up to start_timeout.
        async with self._lock(f"query-users:{service_id}"):
            passwords = await asyncio.to_thread(self._query_passwords, paths)
            password = passwords.get(name)
            if password is None:
                password = secrets.token_urlsafe(32)
                with _setup_errors(paths):
                    await asyncio.to_thread(self._write_query_users, paths, {**passwords, name: password})
                await self._wait_until_user_accepted(service_id, ports, name, password)
        return SqlAccess(self._url(ports.http, "/"), name, password)

    async def query_count(self, service_id: str) -> int | None:
        paths = self._paths(service_id)
        ports, server, _ = await asyncio.to_thread(self._inspect, paths)
        if ports is None or server is None:
            return None
        answer = await self._internal_query(service_id, ports, QUERY_COUNT_SQL)
        if answer is None or not answer.isdigit():
            return None
        return int(answer) - self._own_queries.get(service_id, 0)

    def count_own_query(self, service_id: str) -> None:
        self._own_queries[service_id] = self._own_queries.get(service_id, 0) + 1

    async def backup(self, service_id: str, destination: Path) -> BackupResult:
        """A file-level copy of the running server's tables (see `local_backup` for what is copied how)."""
        paths = self._paths(service_id)
        ports, server, _ = await asyncio.to_thread(self._inspect, paths)
        if ports is None or server is None:
            raise RuntimeFailure(f"service {service_id} is not running: a backup is taken from its running server")

        async def run_sql(sql: str) -> str:
            self.count_own_query(service_id)
            return await self._run_sql(service_id, ports, sql, _BACKUP_SQL_TIMEOUT_SECONDS)

        return await take_backup(run_sql, paths.data, destination)

    async def stop(self, service_id: str) -> None:
        paths = self._paths(service_id)
        async with self._lock(service_id):
            await self._stop(paths)

    async def delete(self, service_id: str) -> None:
        paths = self._paths(service_id)
        async with self._lock(service_id):
            await self._stop(paths)
            if await asyncio.to_thread(paths.root.exists):
                await asyncio.to_thread(shutil.rmtree, paths.root)
                log.info("deleted service %s", service_id)

    async def list_service_ids(self) -> list[str]:
        return await asyncio.to_thread(self._service_ids)

    # Beyond the protocol.

    async def stop_all(self) -> None:
        """Stop every service's server (`clickplane stop-all`, tests). Tries all of them even when
        some fail, then raises one RuntimeFailure naming the failures."""
        service_ids = await self.list_service_ids()
        results = await asyncio.gather(*(self.stop(i) for i in service_ids), return_exceptions=True)
        failures = [f"{i}: {r}" for i, r in zip(service_ids, results, strict=True) if isinstance(r, Exception)]
        if failures:
            raise RuntimeFailure("could not stop " + "; ".join(failures))

    # Files.

    def _paths(self, service_id: str) -> ServicePaths:
        if not _SERVICE_ID.fullmatch(service_id):
            raise ValueError(f"invalid service id {service_id!r}")
        return ServicePaths(self.data_dir / "services" / service_id)

    def _service_ids(self) -> list[str]:
        services = self.data_dir / "services"
        if not services.is_dir():
            return []
        return sorted(d.name for d in services.iterdir() if d.is_dir() and _SERVICE_ID.fullmatch(d.name))

    async def _prepare(self, spec: ServiceSpec, paths: ServicePaths, running: bool) -> tuple[Ports, bool]:
        """Choose the service's ports and write its files; returns the ports and whether a file that a
        server reads only at start changed."""
        with _setup_errors(paths):
            ports = await self._reserve_ports(paths, running)
            return ports, await self._write_files(spec, paths, ports)

    async def _reserve_ports(self, paths: ServicePaths, running: bool) -> Ports:
        async with self._ports_lock:
            return await asyncio.to_thread(self._choose_ports, paths, running)

    def _choose_ports(self, paths: ServicePaths, running: bool) -> Ports:
        """The service's recorded ports; outside of a running server's, any that another service
        records or another program holds now is replaced, and the record updated."""
        current = load_ports(paths.ports_file)
        if running and current is not None:
            return current
        taken = {
            port
            for service_id in self._service_ids()
            if service_id != paths.root.name and (other := load_ports(self._paths(service_id).ports_file)) is not None
            for port in other.values()
        }
        chosen = choose_ports(self.listen_host, current, taken)
        if chosen != current:
            if current is not None:  # its endpoints move: say why
                log.warning("service %s: port %s can no longer be used (another program or service holds it); "
                            "its endpoints move to %s",
                            paths.root.name, _changed_ports(current, chosen), _changed_ports(chosen, current))
            paths.create()
            save_ports(paths.ports_file, chosen)
        return chosen

    async def _write_files(self, spec: ServiceSpec, paths: ServicePaths, ports: Ports) -> bool:
        """Write every file of the service; returns whether one that a server reads only at start
        (config.xml, its certificate) changed."""
        ca = await self._certificate_authority()
        users = self._render_users(spec)
        return await asyncio.to_thread(self._write_server_files, paths, ports, ca, users)

    def _write_server_files(self, paths: ServicePaths, ports: Ports, ca: CertificateAuthority, users: bytes) -> bool:
        paths.create()
        hosts = [self.advertised_host, "localhost"]
        if not ipaddress.ip_address(self.listen_host).is_unspecified:
            hosts.insert(0, self.listen_host)
        certificate_changed = ensure_server_certificate(ca, hosts, paths.certificate, paths.private_key)
        config = ServerConfig(
            root=self.config_root,
            listen_host=self.listen_host,
            http_port=ports.http,
            tcp_port=ports.native,
            https_port=ports.https,
            tcp_port_secure=ports.native_secure,
            data_path=paths.data,
            tmp_path=paths.tmp,
            user_files_path=paths.user_files,
            users_config=paths.users_file,
            log_file=paths.server_log,
            error_log_file=paths.error_log,
            tls=TlsFiles(paths.certificate, paths.private_key),
        )
        config_changed = write_if_changed(paths.config_file, render_server_config(config))
        write_if_changed(paths.users_file, users)
        self._write_query_users(paths, self._query_passwords(paths))  # back in place if it went missing
        return config_changed or certificate_changed

    @staticmethod
    def _query_passwords(paths: ServicePaths) -> dict[str, str]:
        """The Query API users' passwords by user name; none when the file is missing or unreadable (its users
        then get new passwords on their next use)."""
        try:
            stored = json.loads(paths.query_passwords_file.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("service %s: ignoring %s: %s", paths.root.name, paths.query_passwords_file, error)
            return {}
        if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
            log.warning("service %s: ignoring %s: not an object of passwords", paths.root.name,
                        paths.query_passwords_file)
            return {}
        return stored

    def _write_query_users(self, paths: ServicePaths, passwords: dict[str, str]) -> None:
        """The passwords first: a users file naming a user whose password is lost would lock it out."""
        write_if_changed(paths.query_passwords_file, json.dumps(passwords, sort_keys=True).encode())
        paths.query_users_file.parent.mkdir(mode=0o700, exist_ok=True)
        write_if_changed(paths.query_users_file,
                         render_query_users(passwords, self.config_root, self._internal_networks))

    def _render_users(self, spec: ServiceSpec) -> bytes:
        try:
            return render_users_config(
                spec, self._internal_password(spec.service_id), self.config_root, self._internal_networks
            )
        except ValueError as error:  # what the domain layer lets through never gets here; old records might
            raise RuntimeFailure(f"the users file of service {spec.service_id} cannot be written: {error}") from None

    async def _certificate_authority(self) -> CertificateAuthority:
        async with self._ca_lock:
            if self._ca is None:
                self._ca = await asyncio.to_thread(ensure_ca, self.ca_path.parent)
            return self._ca

    # Processes.

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._service_locks.setdefault(service_id, asyncio.Lock())

    def _running_server(self, paths: ServicePaths, search: bool = False) -> ProcessId | None:
        """This service's server if one runs, as its pid file names it. A pid file that names no server of
        this service (garbage, a stale or reused pid) is not trusted, nor, when `search` is set (before a
        start, a stop or a delete), a missing one: the processes are searched for one started with the
        service's config, and the pid file is rewritten to name it. Else a server left untracked would go
        on running beside a second one started in vain, and its files would be deleted under it."""
        self._reap_children()
        server = process.find_server(paths.pid_file, paths.config_file)
        if server is not None or not (search or paths.pid_file.exists()) or not paths.root.exists():
            return server  # a service with no directory yet (a new one) has no server to search for
        server = process.search_server(paths.config_file)
        if server is not None:
            log.warning("the pid file of service %s did not name its running server, pid %d; rewriting it",
                        paths.root.name, server.pid)
            with contextlib.suppress(OSError):  # found either way; the record is repaired when it can be
                process.record_server(paths.pid_file, server)
        return server

    def _inspect(self, paths: ServicePaths) -> tuple[Ports | None, ProcessId | None, bool]:
        return load_ports(paths.ports_file), self._running_server(paths), paths.pid_file.exists()

    def _reap_children(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)

    def _exit_status(self, server: ProcessId) -> str | None:
        """None while `server` runs; otherwise how it ended (with its status when it is our child)."""
        child = self._children.get(server.pid)
        if child is None:
            return None if process.is_running(server) else "exited"
        if child.poll() is None:
            return None
        self._children.pop(server.pid, None)
        return f"exited with status {child.returncode}"

    async def _launch(self, paths: ServicePaths, ports: Ports, spec: ServiceSpec) -> _Launch:
        offsets = await asyncio.to_thread(
            lambda: (process.log_size(paths.console_log), process.log_size(paths.error_log))
        )
        argv = server_command(self.binary, paths.config_file)
        try:
            child, server = await asyncio.to_thread(self._spawn_recorded, argv, paths)
        except OSError as error:
            raise RuntimeFailure(f"cannot start ClickHouse ({self.binary}): {error}") from error
        self._children[child.pid] = child
        self._own_queries.pop(paths.root.name, None)  # a new server counts its queries from zero
        log.info("started ClickHouse of service %s (pid %d)", paths.root.name, child.pid)
        return _Launch(server, ports, spec, offsets)

    async def _relaunch_after(self, failure: str, paths: ServicePaths, launch: _Launch) -> _Launch:
        """End a launched server that did not come up. When another program took one of its ports between their
        choice and the server's start, choose again and launch once more; else RuntimeFailure saying why."""
        await self._terminate(paths, launch.server, graceful=False)
        tail = await asyncio.to_thread(self._log_tails, paths, launch.offsets or (0, 0))
        # Our server is gone: a port still held now is another program's.
        held = await asyncio.to_thread(self._held_ports, launch.ports)
        if not held:
            raise RuntimeFailure(f"{failure}. End of its logs:\n{tail}" if tail else failure)
        if launch.retried:
            raise RuntimeFailure(f"ClickHouse of service {paths.root.name} could not listen: another program holds "
                                 f"port {', '.join(map(str, held))}")
        log.warning("ClickHouse of service %s could not listen: another program holds port %s; starting it on other "
                    "ports", paths.root.name, ", ".join(map(str, held)))
        ports, _ = await self._prepare(launch.spec, paths, running=False)
        retry = replace(await self._launch(paths, ports, launch.spec), retried=True)
        failure_again = await self._wait_until_answering(paths, retry.ports, retry.server)
        return retry if failure_again is None else await self._relaunch_after(failure_again, paths, retry)

    def _held_ports(self, ports: Ports) -> list[int]:
        return [port for port in ports.values() if not port_is_free(self.listen_host, port)]

    @staticmethod
    def _spawn_recorded(argv: list[str], paths: ServicePaths) -> tuple[subprocess.Popen[bytes], ProcessId]:
        """Spawn and write the pid file in one step of one thread: a control plane stopped while a
        start is under way cancels the waiting coroutine, not this, so no server goes unrecorded."""
        child, server = process.spawn(argv, paths.root, paths.console_log)
        try:
            process.record_server(paths.pid_file, server)
        except OSError:
            # Unrecorded, the server would run on untracked (a full disk does this): end it, then say why.
            child.kill()
            child.wait()
            raise
        return child, server

    @staticmethod
    def _log_tails(paths: ServicePaths, offsets: tuple[int, int]) -> str:
        tails = (process.log_tail(paths.console_log, offsets[0]), process.log_tail(paths.error_log, offsets[1]))
        return "\n".join(tail for tail in tails if tail)

    async def _wait_until_answering(self, paths: ServicePaths, ports: Ports, server: ProcessId) -> str | None:
        """Poll /ping until the server answers (None), exits or misses the start deadline (why not)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while True:
            if await self._pings(paths.root.name, ports):
                return None
            exit_status = await asyncio.to_thread(self._exit_status, server)
            if exit_status is not None:
                return f"ClickHouse {exit_status} before answering"
            if loop.time() >= deadline:
                return f"ClickHouse did not answer /ping within {self.start_timeout:g} s"
            await asyncio.sleep(_POLL_SECONDS)

    async def _stop(self, paths: ServicePaths) -> None:
        server = await asyncio.to_thread(self._running_server, paths, True)
        if server is not None:
            await self._terminate(paths, server, graceful=True)
            log.info("stopped ClickHouse of service %s (pid %d)", paths.root.name, server.pid)
        await asyncio.to_thread(process.forget_server, paths.pid_file)

    async def _terminate(self, paths: ServicePaths, server: ProcessId, graceful: bool) -> None:
        """SIGTERM and wait `stop_timeout` for a clean shutdown, then SIGKILL. Straight to SIGKILL when
        `graceful` is False (a server that failed to start has nothing to save) or the server does not answer
        /ping: a hung one would only use up the wait, and a stopped one (SIGSTOP) cannot act on SIGTERM."""
        ports = await asyncio.to_thread(load_ports, paths.ports_file)
        if graceful and ports is not None and not await self._pings(paths.root.name, ports):
            log.warning("ClickHouse of service %s (pid %d) does not answer /ping: killing it", paths.root.name,
                        server.pid)
            graceful = False
        await self._disconnect(paths.root.name)
        steps = [(signal.SIGKILL, _KILL_WAIT_SECONDS)]
        if graceful:
            steps.insert(0, (signal.SIGTERM, self.stop_timeout))
        for signum, timeout in steps:
            await asyncio.to_thread(process.signal_server, server, signum)
            if await self._wait_gone(server, timeout):
                await asyncio.to_thread(process.forget_server, paths.pid_file)
                self._versions.pop((paths.root.name, server.pid), None)
                return
        raise RuntimeFailure(f"ClickHouse (pid {server.pid}) is still running after SIGKILL")

    async def _wait_gone(self, server: ProcessId, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await asyncio.to_thread(self._exit_status, server) is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True

    # Talking to servers.

    def _http(self, service_id: str) -> httpx.AsyncClient:
        """The service's client, made on first use and kept: each pass checks every running service, and a client
        (and a connection) per check cost more than the check itself."""
        clients = self._loop_clients()
        client = clients.get(service_id)
        if client is None:
            client = clients[service_id] = httpx.AsyncClient(
                timeout=_HTTP_TIMEOUT_SECONDS,
                trust_env=False,  # a proxy from the environment must not stand between us and a local server
                verify=_PLAIN_HTTP_ONLY,
                # Dropped before the server's keep_alive_timeout (3 s: clickhouse_config) would drop it mid-request.
                limits=httpx.Limits(max_keepalive_connections=1, keepalive_expiry=2.5),
            )
        return client

    async def _disconnect(self, service_id: str) -> None:
        """Close the service's connections: ClickHouse waits for open ones (10 s on 18.16) before it stops."""
        client = self._loop_clients().pop(service_id, None)
        if client is not None:
            await client.aclose()

    async def aclose(self) -> None:
        await asyncio.gather(*(self._disconnect(service_id) for service_id in list(self._loop_clients())))

    def _loop_clients(self) -> dict[str, httpx.AsyncClient]:
        """The clients made in the running event loop; those of an earlier loop (closed with their connections:
        a command or test that runs the runtime in several `asyncio.run`s) are forgotten."""
        loop = asyncio.get_running_loop()
        if loop is not self._clients_loop:
            self._clients, self._clients_loop = {}, loop
        return self._clients

    def _url(self, port: int, path: str) -> str:
        host = f"[{self._local_host}]" if ":" in self._local_host else self._local_host
        return f"http://{host}:{port}{path}"

    async def _pings(self, service_id: str, ports: Ports) -> bool:
        try:
            response = await self._http(service_id).get(self._url(ports.http, "/ping"), timeout=_PING_TIMEOUT_SECONDS)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.text.strip() == "Ok."

    async def _version(self, service_id: str, ports: Ports, pid: int) -> str | None:
        """The server's version as the internal user (18.16 has no --version), cached per process;
        None when the server does not tell, which only the next observation can fix."""
        cached = self._versions.get((service_id, pid))
        if cached is not None:
            return cached
        version = await self._internal_query(service_id, ports, "SELECT version()")
        if version is not None:
            self._versions[(service_id, pid)] = version
        return version

    async def _wait_until_user_accepted(self, service_id: str, ports: Ports, user: str, password: str) -> None:
        """Poll until the server has read a new user from its users files; RuntimeFailure past the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _QUERY_USER_DEADLINE_SECONDS
        while True:
            self.count_own_query(service_id)
            with contextlib.suppress(httpx.HTTPError):
                response = await self._http(service_id).post(self._url(ports.http, "/"), content=b"SELECT 1",
                                                             auth=(user, password))
                if response.status_code == 200:
                    return
            if loop.time() >= deadline:
                raise RuntimeFailure(f"service {service_id} did not take its Query API user {user} within "
                                     f"{_QUERY_USER_DEADLINE_SECONDS:g} s")
            await asyncio.sleep(_QUERY_USER_POLL_SECONDS)

    async def _internal_query(self, service_id: str, ports: Ports, sql: str) -> str | None:
        """Run `sql` as the internal user; its output, or None (logged) when the server does not answer."""
        try:
            return (await self._run_sql(service_id, ports, sql)).strip()
        except RuntimeFailure as failure:
            log.warning("%s", failure)
            return None

    async def _run_sql(self, service_id: str, ports: Ports, sql: str,
                       timeout: float = _HTTP_TIMEOUT_SECONDS) -> str:
        """Run `sql` as the internal user; its output, or RuntimeFailure saying why there is none."""
        try:
            response = await self._http(service_id).post(
                self._url(ports.http, "/"),
                content=sql.encode(),
                auth=(INTERNAL_USER, self._internal_password(service_id)),
                timeout=timeout,
            )
        except httpx.HTTPError as error:
            raise RuntimeFailure(f"service {service_id} did not answer {sql!r}: {error}") from error
        if response.status_code != 200:
            raise RuntimeFailure(f"service {service_id} refused {sql!r}: {response.text.strip()}")
        return response.text

    def _endpoints(self, ports: Ports) -> tuple[Endpoint, ...]:
        host = self.advertised_host
        return (
            Endpoint("https", host, ports.https, secure=True),
            Endpoint("nativesecure", host, ports.native_secure, secure=True),
            Endpoint("http", host, ports.http),
            Endpoint("native", host, ports.native),
        )

    def _observation(self, ports: Ports, pid: int, version: str | None) -> Observation:
        return Observation(running=True, endpoints=self._endpoints(ports), clickhouse_version=version, pid=pid)


@dataclass(frozen=True)
class _Launch:
    """A server `start` left running for `wait_until_up`: adopted (no log offsets) or launched by it."""

    server: ProcessId
    ports: Ports
    spec: ServiceSpec
    offsets: tuple[int, int] | None  # where its logs stood at launch
    retried: bool = False  # launched again on other ports


@contextlib.contextmanager
def _setup_errors(paths: ServicePaths) -> Iterator[None]:
    """What the machine refuses while a service's ports and files are set up (a full or read-only file
    system, an address it does not have) fails the service with the reason, as a start failure does."""
    try:
        yield
    except OSError as error:
        raise RuntimeFailure(f"cannot set up service {paths.root.name} in {paths.root}: {error}") from error


def _changed_ports(ports: Ports, other: Ports) -> str:
    return ", ".join(str(port) for port, was in zip(ports.values(), other.values(), strict=True) if port != was)


def _local_host(listen_address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Where the runtime itself reaches a server: the listen address, or loopback for a wildcard."""
    if listen_address.is_unspecified:
        return "::1" if listen_address.version == 6 else "127.0.0.1"
    return str(listen_address)
