"""The `local` Postgres runtime: each service is a PostgreSQL cluster, and its server a process, on this machine.

Each service lives in `<data_dir>/postgres/<service id>/` (paths.py). Servers run detached from the control plane,
as PostgreSQL's own user when the control plane runs as root (server_user.py), so they survive its restarts; the
next control plane adopts each through the cluster's postmaster.pid. A server that dies is started again by the
next `start`, and PostgreSQL recovers its cluster by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from clickplane.runtime import process
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.files import write_atomically, write_if_changed
from clickplane.runtime.ports import Ports, choose_ports, load_ports, save_ports
from clickplane.runtime.postgres import session
from clickplane.runtime.postgres.binaries import usable_bin_dirs
from clickplane.runtime.postgres.config import (
    INTERNAL_ROLE,
    LOOPBACK_NETWORKS,
    PARAMETER_NAME,
    ServerFiles,
    config_check_command,
    initdb_command,
    parameter_contexts,
    refusal_in,
    render_hba,
    server_command,
)
from clickplane.runtime.postgres.interface import AppliedConfig, ConfigRejected, PostgresObservation, PostgresSpec
from clickplane.runtime.postgres.paths import ServicePaths, ServiceTree
from clickplane.runtime.postgres.postmaster import clear_crashed, running_postmaster, works_in
from clickplane.runtime.postgres.server_user import ServerUser, server_user
from clickplane.runtime.tls import CA_CERT_FILE, ensure_ca, ensure_server_certificate

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.01
# initdb takes under a second here; this bounds one stuck on a slow or full disk.
_INITDB_TIMEOUT_SECONDS = 120.0
# Parsing parameters takes some 20 ms.
_CONFIG_CHECK_TIMEOUT_SECONDS = 10.0
# A server answers the runtime's questions from memory; one that takes longer is hung or starved.
_OBSERVE_TIMEOUT_SECONDS = 5.0
# A change is a few statements and a reload, each bounded by the session's statement timeout.
_APPLY_TIMEOUT_SECONDS = 60.0
# After SIGKILL only the kernel is left to act; this bounds a process stuck in uninterruptible I/O.
_KILL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class PostgresPorts(Ports):
    """The one port a service's server listens on."""

    postgres: int


class LocalPostgresRuntime:
    """Runs each Postgres service as a PostgreSQL cluster and server on this machine, under `data_dir`.

    `bin_dirs` maps each major version offered ("17", "18") to the bin dir of its binaries (those that lack initdb
    or postgres are left out, with a warning). `listen_host` is the IP address servers listen on; `advertised_host`
    (a name or an address, which server certificates carry) is what clients dial, and is required when `listen_host`
    is a wildcard. `internal_password(service_id)` gives the password of the runtime's own superuser login
    (config.INTERNAL_ROLE), fixed when the cluster is made. When the control plane runs as root, PostgreSQL runs as
    `os_user`, which must exist. `start_timeout` bounds a server's start up to its recording itself in postmaster.pid
    (not up to accepting connections: `start` does not wait for that), `stop_timeout` its fast shutdown before it is
    killed.
    """

    def __init__(
        self,
        data_dir: Path,
        bin_dirs: Mapping[str, Path],
        listen_host: str = "127.0.0.1",
        advertised_host: str | None = None,
        *,
        internal_password: Callable[[str], str],
        os_user: str | None,
        start_timeout: float = 30.0,
        stop_timeout: float = 30.0,
    ) -> None:
        listen_address = ipaddress.ip_address(listen_host)
        if listen_address.is_unspecified and advertised_host is None:
            raise ValueError(f"listen_host {listen_host} is a wildcard: clients need an advertised_host")
        self.data_dir = data_dir.resolve()
        self.bin_dirs = usable_bin_dirs(bin_dirs)
        self.listen_host = str(listen_address)
        self.advertised_host = advertised_host or self.listen_host
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._os_user = os_user
        self._internal_password = internal_password
        self._tree = ServiceTree(self.data_dir / "postgres")
        self._certificate_hosts = [self.advertised_host, "localhost"]
        self._internal_networks: tuple[str, ...] = LOOPBACK_NETWORKS
        if listen_address.is_unspecified:
            # The runtime reaches a server listening everywhere on loopback.
            self._local_host = "::1" if listen_address.version == 6 else "127.0.0.1"
        else:
            self._local_host = self.listen_host
            self._certificate_hosts.insert(1, self.listen_host)
            if not listen_address.is_loopback:
                # Connecting to one of this machine's own addresses comes from that address, not loopback.
                self._internal_networks += (str(ipaddress.ip_network(self.listen_host)),)
        # Held while choosing ports, so that services started together never get the same port.
        self._ports_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        # Servers this runtime started, kept to reap them when they exit (else they stay zombies).
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._user: ServerUser | None = None
        self._reachable_bin_dirs: set[Path] = set()
        # Each version's parameters and their contexts, as its binaries describe them.
        self._parameter_contexts: dict[str, dict[str, str]] = {}

    # The PostgresRuntime protocol.

    def versions(self) -> tuple[str, ...]:
        return tuple(sorted(self.bin_dirs))

    async def check_config(self, version: str, config: tuple[tuple[str, str], ...]) -> None:
        bin_dir = self._bin_dir(version)
        if not config:
            return
        for name, _ in config:
            if not PARAMETER_NAME.fullmatch(name):
                raise ConfigRejected(f'invalid configuration parameter name "{name}"')
        user = self._server_user()
        with _setup_errors("prepare the check of parameters", self._tree.root):
            empty_config, empty_directory = await asyncio.to_thread(self._config_check_files, user, bin_dir)
        argv = config_check_command(bin_dir / "postgres", empty_config, empty_directory, config)
        try:
            checked = await asyncio.to_thread(user.run, argv, self._tree.root, _CONFIG_CHECK_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeFailure(f"PostgreSQL {version} could not check the parameters: {error}") from error
        if checked.returncode == 0:
            return
        refusal = refusal_in(checked.stderr)
        if refusal is None:
            raise RuntimeFailure(f"PostgreSQL {version} could not check the parameters (status "
                                 f"{checked.returncode}): {checked.stderr.strip()[-1000:]}")
        raise ConfigRejected(refusal)

    async def restart_needed(self, version: str, names: tuple[str, ...]) -> tuple[str, ...]:
        contexts = self._parameter_contexts.get(version)
        if contexts is None:
            contexts = self._parameter_contexts[version] = await self._describe_parameters(version)
        return tuple(name for name in names if contexts.get(name.lower()) == "postmaster")

    async def reserve(self, service_id: str) -> tuple[str, int]:
        paths = self._tree.of(service_id)
        user = self._server_user()
        with _setup_errors(f"make the directory of Postgres service {service_id}", paths.root):
            await asyncio.to_thread(self._make_service_directory, paths, user)
        return self.advertised_host, await self._port(paths, keep_recorded=True)

    async def start(self, spec: PostgresSpec) -> None:
        paths = self._tree.of(spec.service_id)
        bin_dir = self._bin_dir(spec.version)
        user = self._server_user()
        async with self._lock(spec.service_id):
            with _setup_errors(f"set up Postgres service {spec.service_id}", paths.root):
                reread = await asyncio.to_thread(self._set_up, paths, spec, user, bin_dir)
            running = await asyncio.to_thread(running_postmaster, paths.data)
            if running is None:
                await self._launch(paths, user, bin_dir)
                return
            log.info("adopted running PostgreSQL of service %s (pid %d)", spec.service_id, running)
            await asyncio.to_thread(paths.should_run.touch)
            if reread:  # a new certificate or new access rules: SIGHUP has the server reread its files
                _signal(running, signal.SIGHUP)

    async def observe(self, service_id: str) -> PostgresObservation:
        paths = self._tree.of(service_id)
        ports = await asyncio.to_thread(load_ports, paths.ports_file, PostgresPorts)
        if ports is None:
            return PostgresObservation(running=False, reason=f"service {service_id} was never started here")
        self._reap()
        stopped = PostgresObservation(running=False, host=self.advertised_host, port=ports.postgres)
        pid = await asyncio.to_thread(running_postmaster, paths.data)
        if pid is None:
            return replace(stopped, reason=await asyncio.to_thread(_why_not_running, paths))
        try:
            async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS), \
                    await session.connect(self._login(service_id, ports.postgres)) as connection:
                version, in_recovery = await session.server_state(connection)
        except (psycopg.Error, TimeoutError, RuntimeFailure) as error:
            reason = f"PostgreSQL (pid {pid}) does not accept connections: {str(error).strip() or 'timed out'}"
            return replace(stopped, pid=pid, reason=reason)
        return replace(stopped, running=True, server_version=version, in_recovery=in_recovery, pid=pid)

    async def apply(self, spec: PostgresSpec) -> AppliedConfig:
        paths = self._tree.of(spec.service_id)
        async with self._lock(spec.service_id):
            ports = await asyncio.to_thread(load_ports, paths.ports_file, PostgresPorts)
            if ports is None:
                raise RuntimeFailure(f"service {spec.service_id} was never started here")
            with _setup_errors(f"write the access rules of Postgres service {spec.service_id}", paths.root):
                rules_changed = await asyncio.to_thread(self._write_access_rules, paths, spec)
            try:
                async with asyncio.timeout(_APPLY_TIMEOUT_SECONDS), \
                        await session.connect(self._login(spec.service_id, ports.postgres)) as connection:
                    await session.ensure_superuser(connection, spec.superuser_verifier)
                    return await _apply_parameters(connection, spec, rules_changed)
            except (psycopg.Error, TimeoutError) as error:
                raise RuntimeFailure(f"PostgreSQL of service {spec.service_id} did not take its settings: "
                                     f"{str(error).strip() or 'timed out'}") from error

    async def restart(self, service_id: str) -> None:
        paths = self._tree.of(service_id)
        async with self._lock(service_id):
            version = await asyncio.to_thread(_cluster_version, paths)
            if version is None:
                raise RuntimeFailure(f"service {service_id} has no cluster here: start it first")
            bin_dir = self._bin_dir(version)
            user = self._server_user()
            await self._stop_server(paths)
            await self._launch(paths, user, bin_dir)

    async def ca_certificate(self, service_id: str) -> bytes:
        paths = self._tree.of(service_id)
        try:
            return await asyncio.to_thread((paths.ca / CA_CERT_FILE).read_bytes)
        except FileNotFoundError:
            raise RuntimeFailure(f"service {service_id} has no CA yet: start it first") from None

    async def stop(self, service_id: str) -> None:
        paths = self._tree.of(service_id)
        async with self._lock(service_id):
            if not await asyncio.to_thread(paths.root.is_dir):
                return
            await asyncio.to_thread(paths.should_run.unlink, missing_ok=True)
            await self._stop_server(paths)

    async def delete(self, service_id: str) -> None:
        paths = self._tree.of(service_id)
        async with self._lock(service_id):
            if not await asyncio.to_thread(paths.root.is_dir):
                return
            await asyncio.to_thread(paths.should_run.unlink, missing_ok=True)
            await self._stop_server(paths)
            with _setup_errors(f"remove Postgres service {service_id}", paths.root):
                await asyncio.to_thread(shutil.rmtree, paths.root)
            log.info("deleted Postgres service %s", service_id)

    async def list_service_ids(self) -> list[str]:
        return await asyncio.to_thread(self._tree.service_ids)

    # Setting services up (blocking: in a thread).

    def _set_up(self, paths: ServicePaths, spec: PostgresSpec, user: ServerUser, bin_dir: Path) -> bool:
        """Make what the service's server needs as `spec` says: its directories and cluster once, its certificate
        and access rules each time; whether a running server must reread them."""
        self._make_service_directory(paths, user)
        self._check_reaches_binaries(user, bin_dir)
        version = _cluster_version(paths)
        if version is None:
            self._initdb(paths, user, bin_dir)
        elif version != spec.version:
            raise RuntimeFailure(f"service {spec.service_id} holds a PostgreSQL {version} cluster, which PostgreSQL "
                                 f"{spec.version} cannot run")
        renewed = self._ensure_certificate(paths, spec, user)
        return self._write_access_rules(paths, spec) or renewed

    def _make_service_directory(self, paths: ServicePaths, user: ServerUser) -> None:
        self._make_root(user)
        _make_directory(paths.root, 0o711)

    def _make_root(self, user: ServerUser) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user.switch:
            # The servers' user must pass through the data dir to reach its own clusters; o+x lets it, without
            # letting it (or anyone) list or read anything there.
            os.chmod(self.data_dir, self.data_dir.stat().st_mode | stat.S_IXOTH)
        _make_directory(self._tree.root, 0o711)
        user.check_reaches(self._tree.root, "its services' directory")

    def _check_reaches_binaries(self, user: ServerUser, bin_dir: Path) -> None:
        if bin_dir not in self._reachable_bin_dirs:
            user.check_reaches(bin_dir, "the binaries in")
            self._reachable_bin_dirs.add(bin_dir)

    def _initdb(self, paths: ServicePaths, user: ServerUser, bin_dir: Path) -> None:
        """Make the cluster, owned by the servers' user, with the internal role as its only one."""
        made = paths.data_being_made
        shutil.rmtree(made, ignore_errors=True)  # what an initdb stopped halfway left
        made.mkdir(mode=0o700)
        user.own(made)
        write_atomically(paths.initdb_password, f"{self._internal_password(paths.service_id)}\n".encode())
        user.own(paths.initdb_password)
        try:
            result = user.run(initdb_command(bin_dir / "initdb", made, paths.initdb_password), paths.root,
                              _INITDB_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            result = None
        finally:
            paths.initdb_password.unlink(missing_ok=True)
        if result is None or result.returncode != 0:
            shutil.rmtree(made, ignore_errors=True)
            if result is None:
                raise RuntimeFailure(f"initdb of service {paths.service_id} did not end within "
                                     f"{_INITDB_TIMEOUT_SECONDS:g} s")
            raise RuntimeFailure(f"initdb of service {paths.service_id} failed (status {result.returncode}): "
                                 f"{result.stderr.strip()[-1000:]}")
        made.rename(paths.data)
        log.info("created the PostgreSQL cluster of service %s", paths.service_id)

    def _ensure_certificate(self, paths: ServicePaths, spec: PostgresSpec, user: ServerUser) -> bool:
        """The server's certificate from the service's own CA (both made on first use, the certificate renewed when
        close to expiry or when the names change); whether a new one was written."""
        authority = ensure_ca(paths.ca)
        hosts = [*self._certificate_hosts, *spec.extra_hostnames]
        renewed = ensure_server_certificate(authority, hosts, paths.certificate, paths.private_key)
        # PostgreSQL takes a key only when it belongs to the server's user and nobody else may read it (0600).
        user.own(paths.private_key)
        return renewed

    def _write_access_rules(self, paths: ServicePaths, spec: PostgresSpec) -> bool:
        rules = render_hba(spec.ip_access_list, self._internal_networks)
        return write_if_changed(paths.hba, rules.encode(), mode=0o644)

    def _config_check_files(self, user: ServerUser, bin_dir: Path) -> tuple[Path, Path]:
        self._make_root(user)
        self._check_reaches_binaries(user, bin_dir)
        directory = self._tree.config_check
        _make_directory(directory, 0o711)
        empty_config, empty_directory = directory / "empty.conf", directory / "empty"
        if not empty_config.exists():
            write_atomically(empty_config, b"", mode=0o644)
        _make_directory(empty_directory, 0o755)
        return empty_config, empty_directory

    def _choose_port(self, paths: ServicePaths, keep_recorded: bool) -> int:
        """The service's port: the recorded one (when `keep_recorded`, whoever holds it: its own server, maybe) while
        no other service and no other program has it, else a free one, recorded."""
        current = load_ports(paths.ports_file, PostgresPorts)
        if current is not None and keep_recorded:
            return current.postgres
        others = (self._tree.of(other).ports_file for other in self._tree.service_ids() if other != paths.service_id)
        taken = {recorded.postgres for file in others if (recorded := load_ports(file, PostgresPorts)) is not None}
        chosen = choose_ports(self.listen_host, PostgresPorts, current, taken)
        if chosen != current:
            if current is not None:
                log.warning("port %d of Postgres service %s is taken: it moves to port %d", current.postgres,
                            paths.service_id, chosen.postgres)
            save_ports(paths.ports_file, chosen)
        return chosen.postgres

    async def _port(self, paths: ServicePaths, keep_recorded: bool = False) -> int:
        async with self._ports_lock:
            with _setup_errors(f"choose a port for Postgres service {paths.service_id}", paths.root):
                return await asyncio.to_thread(self._choose_port, paths, keep_recorded)

    async def _describe_parameters(self, version: str) -> dict[str, str]:
        bin_dir = self._bin_dir(version)
        user = self._server_user()
        await asyncio.to_thread(self._check_reaches_binaries, user, bin_dir)
        try:
            described = await asyncio.to_thread(user.run, [str(bin_dir / "postgres"), "--describe-config"], bin_dir,
                                                _CONFIG_CHECK_TIMEOUT_SECONDS)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeFailure(f"PostgreSQL {version} could not describe its parameters: {error}") from error
        if described.returncode != 0:
            raise RuntimeFailure(f"PostgreSQL {version} could not describe its parameters (status "
                                 f"{described.returncode}): {described.stderr.strip()[-1000:]}")
        return parameter_contexts(described.stdout)

    # Running servers.

    async def _launch(self, paths: ServicePaths, user: ServerUser, bin_dir: Path) -> None:
        """Start the service's server, once what a crashed one left is gone; return once it has recorded itself
        in postmaster.pid, before it accepts connections. RuntimeFailure with its log when it exits before."""
        port = await self._port(paths)
        files = ServerFiles(paths.hba, paths.certificate, paths.private_key)
        argv = server_command(bin_dir / "postgres", paths.data, self.listen_host, port, files)
        await asyncio.to_thread(clear_crashed, paths.data, _KILL_WAIT_SECONDS)
        with _setup_errors(f"start Postgres service {paths.service_id}", paths.root):
            await asyncio.to_thread(paths.should_run.touch)
            offset = await asyncio.to_thread(process.log_size, paths.log)
            child = await asyncio.to_thread(user.spawn, argv, paths.data, paths.log)
        self._children[child.pid] = child
        await self._wait_recorded(paths, child, offset)
        log.info("started PostgreSQL of service %s (pid %d, port %d)", paths.service_id, child.pid, port)

    async def _wait_recorded(self, paths: ServicePaths, child: subprocess.Popen[bytes], offset: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while await asyncio.to_thread(running_postmaster, paths.data) != child.pid:
            if child.poll() is not None:
                self._children.pop(child.pid, None)
                tail = await asyncio.to_thread(process.log_tail, paths.log, offset)
                ending = f". End of its log:\n{tail}" if tail else ""
                raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} exited with status "
                                     f"{child.returncode} as it started{ending}")
            if loop.time() >= deadline:
                child.kill()
                await asyncio.to_thread(child.wait)
                raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} did not start within "
                                     f"{self.start_timeout:g} s")
            await asyncio.sleep(_POLL_SECONDS)

    async def _stop_server(self, paths: ServicePaths) -> None:
        """Stop the service's server if it runs (fast shutdown: sessions are ended, the cluster checkpointed), killed
        when it does not stop within stop_timeout; and end what a crashed one left."""
        pid = await asyncio.to_thread(running_postmaster, paths.data)
        if pid is not None:
            _signal(pid, signal.SIGINT)
            if not await self._wait_gone(paths, pid, self.stop_timeout):
                log.warning("PostgreSQL of service %s (pid %d) did not stop within %g s: killing it",
                            paths.service_id, pid, self.stop_timeout)
                _signal(pid, signal.SIGKILL, whole_group=True)
                if not await self._wait_gone(paths, pid, _KILL_WAIT_SECONDS):
                    raise RuntimeFailure(f"PostgreSQL (pid {pid}) is still running after SIGKILL")
            log.info("stopped PostgreSQL of service %s (pid %d)", paths.service_id, pid)
        await asyncio.to_thread(clear_crashed, paths.data, _KILL_WAIT_SECONDS)

    async def _wait_gone(self, paths: ServicePaths, pid: int, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._reap()
            if not await asyncio.to_thread(works_in, pid, paths.data):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    def _reap(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)

    # Small things.

    def _bin_dir(self, version: str) -> Path:
        bin_dir = self.bin_dirs.get(version)
        if bin_dir is None:
            offered = ", ".join(self.versions()) or "none"
            raise RuntimeFailure(f"no binaries of PostgreSQL {version} here (versions offered: {offered})")
        return bin_dir

    def _server_user(self) -> ServerUser:
        if self._user is None:
            self._user = server_user(self._os_user)
        return self._user

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._locks.setdefault(service_id, asyncio.Lock())

    def _login(self, service_id: str, port: int) -> session.Login:
        return session.Login(self._local_host, port, INTERNAL_ROLE, self._internal_password(service_id))


async def _apply_parameters(connection: session.Connection, spec: PostgresSpec, rules_changed: bool) -> AppliedConfig:
    """Set the spec's parameters and reload (also for new access rules, even when a parameter is refused)."""
    try:
        parameters_changed = await session.set_parameters(connection, spec.config)
    except ConfigRejected:
        if rules_changed:
            await session.reload(connection)
        raise
    if rules_changed or parameters_changed:
        await session.reload(connection)
    return AppliedConfig(pending_restart=await session.pending_restart(connection))


def _why_not_running(paths: ServicePaths) -> str | None:
    """None for a service that was stopped; a reason for one whose server should run (started, never stopped)."""
    if paths.should_run.exists() or paths.postmaster_pid.exists():
        return f"PostgreSQL exited unexpectedly; its log is in {paths.log}"
    return None


def _cluster_version(paths: ServicePaths) -> str | None:
    """The major version of the service's cluster, None when it has none yet."""
    try:
        return paths.version_file.read_text().strip()
    except FileNotFoundError:
        return None


def _make_directory(path: Path, mode: int) -> None:
    path.mkdir(mode=mode, exist_ok=True)
    os.chmod(path, mode)  # mkdir's mode passes through the umask; one made before may have another


def _signal(pid: int, signum: signal.Signals, whole_group: bool = False) -> None:
    """Signal a server (with its processes: it leads their process group), continued after any signal but SIGKILL:
    a stopped one (SIGSTOP) acts on no other until then."""
    follow_up = [] if signum == signal.SIGKILL else [signal.SIGCONT]
    with contextlib.suppress(ProcessLookupError):
        for each in [signum, *follow_up]:
            if whole_group:
                os.killpg(pid, each)
            else:
                os.kill(pid, each)


@contextlib.contextmanager
def _setup_errors(doing: str, where: Path) -> Iterator[None]:
    """What the machine refuses while the runtime writes a service's files (a full or read-only file system) fails
    with the reason, as a failed start does."""
    try:
        yield
    except (OSError, ValueError) as error:
        raise RuntimeFailure(f"cannot {doing} in {where}: {error}") from error
