"""The `local` Postgres runtime: each service is a PostgreSQL cluster, and its server a process, on this machine.

Each service lives in `<data_dir>/postgres/<service id>/` (paths.py). Servers run detached from the control plane,
as PostgreSQL's own user when the control plane runs as root (server_user.py), so they survive its restarts; the
next control plane adopts each through the cluster's postmaster.pid. A server that dies is started again by the
next `start`, and PostgreSQL recovers its cluster by itself.

Every server archives its WAL into its service's directory from its first start; base backups go there too
(backups.py). A cluster is made by initdb, or as a copy of another service's (origin.py): a replica is a
pg_basebackup of its running primary, a standby that streams WAL from it through a replication slot of its own
until promoted; a restore is the newest base backup of its source from before its target, recovered with the
source's archived WAL up to that target (wal.py), then promoted: a primary of its own, with its own archive.
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
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from clickplane.runtime import process
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.files import write_atomically, write_if_changed
from clickplane.runtime.ports import Ports, choose_ports, load_ports, save_ports
from clickplane.runtime.postgres import backups, logs, origin, session, switchover, wal
from clickplane.runtime.postgres.binaries import usable_bin_dirs
from clickplane.runtime.postgres.config import (
    INTERNAL_ROLE,
    LOOPBACK_NETWORKS,
    PARAMETER_NAME,
    ServerFiles,
    base_backup_command,
    clone_command,
    config_check_command,
    initdb_command,
    parameter_contexts,
    refusal_in,
    render_hba,
    restore_command,
    server_command,
)
from clickplane.runtime.postgres.interface import (
    AppliedConfig,
    BaseBackup,
    ConfigRejected,
    LogEntry,
    PostgresObservation,
    PostgresSpec,
    RecoveryWindow,
    ReplicaOf,
    RestoredFrom,
    SqlLogin,
)
from clickplane.runtime.postgres.paths import ServicePaths, ServiceTree
from clickplane.runtime.postgres.postmaster import clear_crashed, end_workers_in, running_postmaster, works_in
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
# A copy of a whole cluster (a base backup, a replica's first copy) runs at disk speed: this bounds a stuck one.
_COPY_TIMEOUT_SECONDS = 3600.0
# The archiver takes a segment within a second of its completion, unless archive_command fails.
_ARCHIVE_WAIT_SECONDS = 60.0
# Reading a restore's archived WAL for where to stop: some seconds per GB.
_WAL_SCAN_TIMEOUT_SECONDS = 600.0
_ARCHIVE_CLEANUP_TIMEOUT_SECONDS = 60.0
# A primary's WAL sender lets go of a replica's slot in a moment once the replica stopped or was promoted.
_SLOT_RELEASE_SECONDS = 10.0
_ARCHIVE_POLL_SECONDS = 0.05
_CONTROLDATA_TIMEOUT_SECONDS = 10.0
# A switchover's successor streams within a second of its start, and has the primary's last WAL as soon as the
# primary has stopped: this bounds one that cannot (its primary's connection refused, a full disk).
_CATCH_UP_SECONDS = 60.0
_CATCH_UP_POLL_SECONDS = 0.05


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
    (config.INTERNAL_ROLE), fixed when the cluster is made (a replica's or a restore's, a copy of another's
    cluster, keeps that one's: origin.py). When the control plane runs as root, PostgreSQL runs as
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
        # Held while a service's base backup is taken or its backups pruned: apart from the service's lock, so that
        # a long copy does not hold up its stop, change or delete.
        self._backup_locks: dict[str, asyncio.Lock] = {}
        self._backups_being_taken: dict[str, BaseBackup] = {}
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
            await self._settle_switchover(paths)
            with _setup_errors(f"set up Postgres service {spec.service_id}", paths.root):
                made = await asyncio.to_thread(self._prepare, paths, spec, user, bin_dir)
            if not made:
                await self._make_cluster(paths, spec, user, bin_dir)
            await self._settle_origin(paths)
            with _setup_errors(f"set up Postgres service {spec.service_id}", paths.root):
                reread = await asyncio.to_thread(self._set_up, paths, spec, user)
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
        login = await asyncio.to_thread(self._login, paths)
        if login is None:
            return PostgresObservation(running=False, reason=f"service {service_id} was never started here")
        self._reap()
        stopped = PostgresObservation(running=False, host=self.advertised_host, port=login.port)
        pid = await asyncio.to_thread(running_postmaster, paths.data)
        if pid is None:
            return replace(stopped, reason=await asyncio.to_thread(_why_not_running, paths))
        try:
            async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS), await session.connect(login) as connection:
                state = await session.server_state(connection)
        except (psycopg.Error, TimeoutError, RuntimeFailure) as error:
            reason = f"PostgreSQL (pid {pid}) does not accept connections: {str(error).strip() or 'timed out'}"
            return replace(stopped, pid=pid, reason=reason)
        return replace(stopped, running=True, server_version=state.version, in_recovery=state.in_recovery,
                       replay_lag_seconds=state.replay_lag_seconds, pid=pid)

    async def apply(self, spec: PostgresSpec) -> AppliedConfig:
        """As the protocol says; on a server in recovery (a replica, a restore not done) the superuser is left as
        it is (a replica has its primary's, replicated), and a replica whose spec says `promoted` is promoted
        first, then treated as the primary it has become."""
        paths = self._tree.of(spec.service_id)
        async with self._lock(spec.service_id):
            with _setup_errors(f"write the access rules of Postgres service {spec.service_id}", paths.root):
                login = await asyncio.to_thread(self._login, paths)
                if login is None:
                    raise RuntimeFailure(f"service {spec.service_id} was never started here")
                rules_changed = await asyncio.to_thread(self._write_access_rules, paths, spec)
                link = await asyncio.to_thread(origin.load_link, paths)
            try:
                async with asyncio.timeout(_APPLY_TIMEOUT_SECONDS), await session.connect(login) as connection:
                    recovering = await session.in_recovery(connection)
                    if recovering and spec.promoted and link is not None:
                        await session.promote(connection)
                        log.info("promoted replica %s of Postgres service %s", spec.service_id, link.primary_id)
                        recovering = False
                    if not recovering:
                        await session.ensure_superuser(connection, spec.superuser_verifier)
                        await session.ensure_extension(connection, "pg_stat_statements")
                        await self._drop_abandoned_slots(connection, spec.service_id)
                    applied = await _apply_parameters(connection, spec, rules_changed)
            except (psycopg.Error, TimeoutError) as error:
                raise RuntimeFailure(f"PostgreSQL of service {spec.service_id} did not take its settings: "
                                     f"{str(error).strip() or 'timed out'}") from error
            if not recovering:
                await self._settle_origin(paths)
            with _setup_errors(f"trim the logs of Postgres service {spec.service_id}", paths.root):
                await asyncio.to_thread(logs.trim, paths.log_directory)
            return applied

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

    async def switchover(self, service_id: str) -> None:
        """Move the service onto a new server made for it (switchover.py); returns once that is going, on the
        service's port. When the new server cannot take over, it is removed and the old one runs as before."""
        paths = self._tree.of(service_id)
        async with self._lock(service_id), self._backup_lock(service_id):
            version = await asyncio.to_thread(_cluster_version, paths)
            if version is None:
                raise RuntimeFailure(f"service {service_id} has no cluster here: start it first")
            bin_dir, user = self._bin_dir(version), self._server_user()
            await self._settle_switchover(paths)
            login = await self._primary_login(paths)
            try:
                await self._start_successor(paths, login.port, user, bin_dir)
                await self._hand_over(paths, user, bin_dir)
            except Exception:
                await self._settle_switchover(paths)
                if await asyncio.to_thread(running_postmaster, paths.data) is None:
                    await self._launch(paths, user, bin_dir)
                raise
            await self._launch(paths, user, bin_dir)
        log.info("switched Postgres service %s over to a new server", service_id)

    async def ca_certificate(self, service_id: str) -> bytes:
        paths = self._tree.of(service_id)
        try:
            return await asyncio.to_thread((paths.ca / CA_CERT_FILE).read_bytes)
        except FileNotFoundError:
            raise RuntimeFailure(f"service {service_id} has no CA yet: start it first") from None

    async def stop(self, service_id: str) -> None:
        paths = self._tree.of(service_id)
        async with self._lock(service_id):
            await self._stop_if_made(paths)

    async def delete(self, service_id: str) -> None:
        paths = self._tree.of(service_id)
        async with self._lock(service_id):
            if not await self._stop_if_made(paths):
                return
            try:
                link = await asyncio.to_thread(origin.load_link, paths)
            except (OSError, ValueError) as error:  # its slot, if any, goes at its primary's next apply
                log.warning("Postgres service %s is deleted with its link to a primary unread: %s", service_id, error)
                link = None
            if link is not None:
                await self._release_slot(link)
            with _setup_errors(f"remove Postgres service {service_id}", paths.root):
                await asyncio.to_thread(shutil.rmtree, paths.root)
            log.info("deleted Postgres service %s", service_id)

    async def list_service_ids(self) -> list[str]:
        return await asyncio.to_thread(self._tree.service_ids)

    async def _stop_if_made(self, paths: ServicePaths) -> bool:
        """Stop the service's server, and keep it from being started again by a restart of its own; False when the
        service has no directory here (nothing to stop)."""
        if not await asyncio.to_thread(paths.root.is_dir):
            return False
        await self._settle_switchover(paths)
        await asyncio.to_thread(paths.should_run.unlink, missing_ok=True)
        await self._stop_server(paths)
        # A making of its cluster left going: by a killed control plane, or by a task cancelled (its lock let go)
        # while its thread ran on.
        await asyncio.to_thread(_remove_half_made, paths.data_being_made)
        return True

    async def take_base_backup(self, service_id: str) -> BaseBackup:
        paths = self._tree.of(service_id)
        version = await asyncio.to_thread(_cluster_version, paths)
        if version is None:
            raise RuntimeFailure(f"service {service_id} has no cluster here: start it first")
        pg_basebackup = self._bin_dir(version) / "pg_basebackup"
        user = self._server_user()
        async with self._backup_lock(service_id):
            login = await self._primary_login(paths)
            with _setup_errors(f"begin a base backup of Postgres service {service_id}", paths.root):
                key, started = await asyncio.to_thread(self._begin_backup, paths, user)
            self._backups_being_taken[service_id] = BaseBackup(key, started, None, 0)
            try:
                conninfo = self._internal_conninfo(paths, login.port, "clickplane base backup")
                argv = base_backup_command(pg_basebackup, conninfo, backups.being_taken(paths.backups, key), key)
                await asyncio.to_thread(_run_tool, user, argv, paths.root, _COPY_TIMEOUT_SECONDS,
                                        f"base backup {key} of service {service_id}")
                finished = datetime.now(UTC)
                await self._archive_current_segment(paths, login)
                with _setup_errors(f"note base backup {key} of Postgres service {service_id}", paths.root):
                    backup = await asyncio.to_thread(backups.finish, paths.backups, key, started, finished, version)
            except Exception:
                await asyncio.to_thread(shutil.rmtree, backups.being_taken(paths.backups, key), ignore_errors=True)
                raise
            finally:
                self._backups_being_taken.pop(service_id, None)
        log.info("took base backup %s of Postgres service %s (%d bytes)", key, service_id, backup.size_in_bytes)
        return backup.public()

    async def base_backups(self, service_id: str) -> list[BaseBackup]:
        paths = self._tree.of(service_id)
        found = [backup.public() for backup in await asyncio.to_thread(backups.stored, paths.backups)]
        being_taken = self._backups_being_taken.get(service_id)
        if being_taken is not None:
            copied = await asyncio.to_thread(backups.size_of, backups.being_taken(paths.backups, being_taken.key))
            found.append(replace(being_taken, size_in_bytes=copied))
        return found

    async def prune(self, service_id: str, keep_after: datetime) -> None:
        """As the protocol says; also trims the server's rotated logs (logs.FILES_KEPT), which nothing else does
        while the server runs with no change: call it now and then for every service, replicas too."""
        paths = self._tree.of(service_id)
        version = await asyncio.to_thread(_cluster_version, paths)
        if version is None:
            return
        user = self._server_user()
        async with self._backup_lock(service_id):
            with _setup_errors(f"prune the base backups of Postgres service {service_id}", paths.root):
                oldest_kept = await asyncio.to_thread(self._prune, paths, keep_after)
            if oldest_kept is not None:
                # Each archived file older than the WAL the oldest backup kept needs, backup history files too.
                argv = [str(self._bin_dir(version) / "pg_archivecleanup"), "--clean-backup-history",
                        str(paths.archive), oldest_kept.start_segment]
                await asyncio.to_thread(_run_tool, user, argv, paths.root, _ARCHIVE_CLEANUP_TIMEOUT_SECONDS,
                                        f"the cleanup of the WAL archive of service {service_id}")

    async def recovery_window(self, service_id: str) -> RecoveryWindow | None:
        paths = self._tree.of(service_id)
        return await asyncio.to_thread(backups.window, paths.backups, paths.archive)

    async def sql_login(self, service_id: str) -> SqlLogin | None:
        paths = self._tree.of(service_id)
        login = await asyncio.to_thread(self._running_login, paths)
        if login is None:
            return None
        return SqlLogin(make_conninfo(host=login.host, port=login.port, user=login.user, password=login.password,
                                      dbname="postgres", sslmode="require"))

    async def logs(self, service_id: str, since: datetime, until: datetime, limit: int) -> list[LogEntry]:
        paths = self._tree.of(service_id)
        return await asyncio.to_thread(logs.read, paths.log_directory, since, until, limit)

    # Setting services up (blocking: in a thread).

    def _prepare(self, paths: ServicePaths, spec: PostgresSpec, user: ServerUser, bin_dir: Path) -> bool:
        """Make the service's directories; whether its cluster is made already (of the spec's version)."""
        self._make_service_directory(paths, user)
        for directory in (paths.archive, paths.backups, paths.log_directory):
            _make_directory(directory, 0o700)
            user.own(directory)  # the server and its tools write there
        self._check_reaches_binaries(user, bin_dir)
        version = _cluster_version(paths)
        if version is not None and version != spec.version:
            raise RuntimeFailure(f"service {spec.service_id} holds a PostgreSQL {version} cluster, which PostgreSQL "
                                 f"{spec.version} cannot run")
        return version is not None

    async def _make_cluster(self, paths: ServicePaths, spec: PostgresSpec, user: ServerUser, bin_dir: Path) -> None:
        """The service's cluster, as its origin says: a new one, a copy of its primary's, or a restore."""
        made_from = spec.origin
        if isinstance(made_from, ReplicaOf):
            await self._clone(paths, made_from.primary_id, spec.version, user, bin_dir)
            return
        with _setup_errors(f"make the cluster of Postgres service {spec.service_id}", paths.root):
            if isinstance(made_from, RestoredFrom):
                await asyncio.to_thread(self._restore, paths, made_from, spec.version, user, bin_dir)
            else:
                await asyncio.to_thread(self._initdb, paths, user, bin_dir)

    def _set_up(self, paths: ServicePaths, spec: PostgresSpec, user: ServerUser) -> bool:
        """Bring the files of the service's server to `spec` (its certificate, access rules, the internal role's
        password file) and trim its logs; whether a running server must reread them."""
        renewed = self._ensure_certificate(paths, spec, user)
        self._write_passfile(paths, user)
        logs.trim(paths.log_directory)
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
        with _cluster_being_made(paths, user) as made:
            write_atomically(paths.initdb_password, f"{self._internal_password(paths.service_id)}\n".encode())
            user.own(paths.initdb_password)
            try:
                _run_tool(user, initdb_command(bin_dir / "initdb", made, paths.initdb_password), paths.root,
                          _INITDB_TIMEOUT_SECONDS, f"initdb of service {paths.service_id}")
            finally:
                paths.initdb_password.unlink(missing_ok=True)
        log.info("created the PostgreSQL cluster of service %s", paths.service_id)

    async def _clone(self, paths: ServicePaths, primary_id: str, version: str, user: ServerUser,
                     bin_dir: Path) -> None:
        """Make the cluster of a replica: a copy of its running primary's (pg_basebackup), a standby that streams
        from the primary through a slot of its own there, made first (origin.py notes both)."""
        primary = self._tree.of(primary_id)
        login = await asyncio.to_thread(self._running_login, primary)
        if login is None:
            raise RuntimeFailure(f"primary {primary_id} of replica {paths.service_id} is not running: a replica is "
                                 "copied from its primary's running server")
        primary_version = await asyncio.to_thread(_cluster_version, primary)
        if primary_version != version:
            raise RuntimeFailure(f"primary {primary_id} holds a PostgreSQL {primary_version} cluster: its replica "
                                 f"{paths.service_id} cannot be of PostgreSQL {version}")
        link = origin.ReplicaLink(primary_id, origin.slot_of(paths.service_id))
        with _setup_errors(f"make replica {paths.service_id} of Postgres service {primary_id}", paths.root):
            # The link first: whoever finds the slot then knows whose it is (_drop_abandoned_slots).
            await asyncio.to_thread(self._note_copy, paths, primary, user, link)
        try:
            async with asyncio.timeout(_APPLY_TIMEOUT_SECONDS), await session.connect(login) as connection:
                await session.ensure_slot(connection, link.slot)
        except (psycopg.Error, TimeoutError) as error:
            raise RuntimeFailure(f"primary {primary_id} did not make the replication slot of replica "
                                 f"{paths.service_id}: {str(error).strip() or 'timed out'}") from error
        conninfo = self._internal_conninfo(paths, login.port, link.slot)
        with _setup_errors(f"make replica {paths.service_id} of Postgres service {primary_id}", paths.root):
            await asyncio.to_thread(self._copy_primary, paths, user, bin_dir, conninfo, link.slot)
        log.info("made replica %s of Postgres service %s", paths.service_id, primary_id)

    def _note_copy(self, paths: ServicePaths, primary: ServicePaths, user: ServerUser,
                   link: origin.ReplicaLink) -> None:
        origin.note_login_of(paths, primary)
        self._write_passfile(paths, user)
        origin.save_link(paths, link)

    def _copy_primary(self, paths: ServicePaths, user: ServerUser, bin_dir: Path, conninfo: str,
                      slot: str | None) -> None:
        with _cluster_being_made(paths, user) as made:
            _run_tool(user, clone_command(bin_dir / "pg_basebackup", conninfo, made, slot), paths.root,
                      _COPY_TIMEOUT_SECONDS, f"the copy of the primary's cluster for {paths.server}")
            _touch_as(made / paths.standby_signal.name, user)

    def _restore(self, paths: ServicePaths, restored_from: RestoredFrom, version: str, user: ServerUser,
                 bin_dir: Path) -> None:
        """Make the cluster of a restore: a copy of the newest base backup of the source that finished by the
        target, set to recover from the source's archive up to the target (origin.py notes where it stops)."""
        source = self._tree.of(restored_from.source_id)
        target = restored_from.target
        backup = backups.newest_finished_by(source.backups, target)
        if backup is None:
            raise RuntimeFailure(f"service {source.service_id} has no base backup finished by {target.isoformat()}: "
                                 "there is nothing to restore to that moment from")
        if backup.version != version:
            raise RuntimeFailure(f"base backup {backup.key} of service {source.service_id} is of PostgreSQL "
                                 f"{backup.version}: a restore of it cannot be of PostgreSQL {version}")
        stop = wal.recovery_stop(bin_dir / "pg_waldump", source.archive, backup.start_segment, target, user,
                                 _WAL_SCAN_TIMEOUT_SECONDS)
        origin.note_login_of(paths, source)
        with _cluster_being_made(paths, user) as made:
            backups.unpack(source.backups, backup, made, user)
            _touch_as(made / paths.recovery_signal.name, user)
            origin.save_restore(paths, origin.Restore(source.service_id, stop))
        log.info("restored base backup %s of Postgres service %s for service %s, to recover up to %s (WAL %s)",
                 backup.key, source.service_id, paths.service_id, target.isoformat(), stop.lsn)

    def _write_passfile(self, paths: ServicePaths, user: ServerUser) -> None:
        """The internal role's password in libpq's password file format, for its own server and, on a replica,
        its primary's (the same: a replica has its primary's roles)."""
        password = self._internal_password(origin.login_of(paths)).replace("\\", "\\\\").replace(":", "\\:")
        write_if_changed(paths.passfile, f"*:*:*:{INTERNAL_ROLE}:{password}\n".encode(), mode=0o600)
        user.own(paths.passfile)  # libpq reads it as the servers' user, and only when no one else may

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
        files = ServerFiles(paths.hba, paths.certificate, paths.private_key, paths.archive, paths.log_directory)
        with _setup_errors(f"start Postgres service {paths.service_id}", paths.root):
            recovery = await asyncio.to_thread(self._recovery_settings, paths)
        argv = server_command(bin_dir / "postgres", paths.data, self.listen_host, port, files, recovery)
        await self._run_server(paths, user, argv)
        log.info("started PostgreSQL of %s (port %d)", paths.server, port)

    async def _run_server(self, paths: ServicePaths, user: ServerUser, argv: list[str]) -> None:
        """Start the server of `argv` on the cluster of `paths`, once what a crashed one left is gone; return once it
        has recorded itself in postmaster.pid."""
        await asyncio.to_thread(clear_crashed, paths.data, _KILL_WAIT_SECONDS)
        with _setup_errors(f"start PostgreSQL of {paths.server}", paths.root):
            await asyncio.to_thread(paths.should_run.touch)
            offset = await asyncio.to_thread(process.log_size, paths.log)
            child = await asyncio.to_thread(user.spawn, argv, paths.data, paths.log)
        self._children[child.pid] = child
        await self._wait_recorded(paths, child, offset)

    async def _wait_recorded(self, paths: ServicePaths, child: subprocess.Popen[bytes], offset: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while await asyncio.to_thread(running_postmaster, paths.data) != child.pid:
            if child.poll() is not None:
                self._children.pop(child.pid, None)
                tail = await asyncio.to_thread(process.log_tail, paths.log, offset)
                ending = f". End of its log:\n{tail}" if tail else ""
                raise RuntimeFailure(f"PostgreSQL of {paths.server} exited with status "
                                     f"{child.returncode} as it started{ending}")
            if loop.time() >= deadline:
                child.kill()
                await asyncio.to_thread(child.wait)
                raise RuntimeFailure(f"PostgreSQL of {paths.server} did not start within "
                                     f"{self.start_timeout:g} s")
            await asyncio.sleep(_POLL_SECONDS)

    async def _stop_server(self, paths: ServicePaths) -> None:
        """Stop the service's server if it runs (fast shutdown: sessions are ended, the cluster checkpointed), killed
        when it does not stop within stop_timeout; and end what a crashed one left."""
        pid = await asyncio.to_thread(running_postmaster, paths.data)
        if pid is not None:
            _signal(pid, signal.SIGINT)
            if not await self._wait_gone(paths, pid, self.stop_timeout):
                log.warning("PostgreSQL of %s (pid %d) did not stop within %g s: killing it", paths.server, pid,
                            self.stop_timeout)
                _signal(pid, signal.SIGKILL, whole_group=True)
                if not await self._wait_gone(paths, pid, _KILL_WAIT_SECONDS):
                    raise RuntimeFailure(f"PostgreSQL (pid {pid}) is still running after SIGKILL")
            log.info("stopped PostgreSQL of %s (pid %d)", paths.server, pid)
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

    def _recovery_settings(self, paths: ServicePaths) -> dict[str, str]:
        """The settings of a cluster in recovery: a replica's stream from its primary, at the primary's port of
        the moment; a restore's archive and where its recovery stops, after which it is promoted."""
        link = origin.load_link(paths)
        if link is not None and paths.standby_signal.exists():
            primary_ports = load_ports(self._tree.of(link.primary_id).ports_file, PostgresPorts)
            if primary_ports is None:
                raise RuntimeFailure(f"primary {link.primary_id} of replica {paths.service_id} was never started here")
            # The primary's archive as well as its stream: WAL its slot did not keep (a slot made anew, as after
            # the primary's switchover) is still there.
            return {"primary_conninfo": self._internal_conninfo(paths, primary_ports.postgres, link.slot),
                    "primary_slot_name": link.slot,
                    "restore_command": restore_command(self._tree.of(link.primary_id).archive)}
        restore = origin.load_restore(paths)
        if restore is not None and paths.recovery_signal.exists():
            return {"restore_command": restore_command(self._tree.of(restore.source_id).archive),
                    "recovery_target_timeline": str(restore.stop.timeline),
                    "recovery_target_lsn": restore.stop.lsn,
                    "recovery_target_inclusive": "on" if restore.stop.inclusive else "off",
                    "recovery_target_action": "promote"}
        return {}

    # Switchovers (switchover.py).

    async def _start_successor(self, paths: ServicePaths, primary_port: int, user: ServerUser,
                               bin_dir: Path) -> None:
        """Copy the running primary's cluster into the successor's directory and start it there, on a port of its
        own, as a standby that streams from the primary (or, for what it missed, reads the archive)."""
        successor = paths.successor
        with _setup_errors(f"make the successor of Postgres service {paths.service_id}", paths.root):
            await asyncio.to_thread(_make_directory, successor.root, 0o711)
            await asyncio.to_thread(origin.note_login_of, successor, paths)
        conninfo = self._internal_conninfo(paths, primary_port, "clickplane successor")
        with _setup_errors(f"make the successor of Postgres service {paths.service_id}", paths.root):
            await asyncio.to_thread(self._copy_primary, successor, user, bin_dir, conninfo, None)
        port = await self._port(successor)
        files = ServerFiles(paths.hba, paths.certificate, paths.private_key)
        recovery = {"primary_conninfo": conninfo, "restore_command": restore_command(paths.archive)}
        await self._run_server(successor, user, server_command(bin_dir / "postgres", successor.data,
                                                                self.listen_host, port, files, recovery))
        log.info("started the successor of Postgres service %s (port %d)", paths.service_id, port)

    async def _hand_over(self, paths: ServicePaths, user: ServerUser, bin_dir: Path) -> None:
        """Once the successor streams, stop the primary; once the successor has received all the primary wrote, up
        to its shutdown checkpoint, stop it too and move it into the primary's place."""
        successor = paths.successor
        await self._until_successor(successor, session.streams, "stream the primary's WAL")
        await self._stop_server(paths)
        controldata = await asyncio.to_thread(_run_tool, user, [str(bin_dir / "pg_controldata"), str(paths.data)],
                                              paths.root, _CONTROLDATA_TIMEOUT_SECONDS,
                                              f"pg_controldata of service {paths.service_id}")
        checkpoint = switchover.shutdown_checkpoint(controldata)
        if checkpoint is None:
            raise RuntimeFailure(f"the primary of service {paths.service_id} did not shut down cleanly: its last WAL "
                                 "may not have reached its successor, which is abandoned")
        await self._until_successor(successor, partial(session.received_past, lsn=checkpoint),
                                    f"receive the primary's WAL up to its shutdown checkpoint at {checkpoint}")
        await self._stop_server(successor)
        with _setup_errors(f"move the successor of Postgres service {paths.service_id} into place", paths.root):
            await asyncio.to_thread(switchover.prepare_take_over, paths, user)
            await asyncio.to_thread(switchover.take_over, paths)

    async def _until_successor(self, successor: ServicePaths,
                               done: Callable[[session.Connection], Awaitable[bool]], what: str) -> None:
        """Poll the successor until `done` says so; RuntimeFailure when it has not within _CATCH_UP_SECONDS."""
        login = await asyncio.to_thread(self._login, successor)
        if login is None:
            raise RuntimeFailure(f"{successor.server} has no port")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _CATCH_UP_SECONDS
        last_error = "it did not"
        while loop.time() < deadline:
            try:
                async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS), await session.connect(login) as connection:
                    if await done(connection):
                        return
            except (psycopg.Error, TimeoutError) as error:  # still starting up
                last_error = str(error).strip() or "timed out"
            await asyncio.sleep(_CATCH_UP_POLL_SECONDS)
        raise RuntimeFailure(f"{successor.server} did not {what} within {_CATCH_UP_SECONDS:g} s: {last_error}")

    async def _settle_switchover(self, paths: ServicePaths) -> None:
        """Finish or undo what a switchover that did not end left (switchover.py): a successor taking over is moved
        into place, any other removed, its server stopped first."""
        successor = paths.successor
        if not await asyncio.to_thread(successor.root.is_dir):
            return
        await self._stop_server(successor)
        with _setup_errors(f"settle the switchover of Postgres service {paths.service_id}", paths.root):
            if await asyncio.to_thread(switchover.taking_over, paths):
                await asyncio.to_thread(switchover.take_over, paths)
                log.info("Postgres service %s: its successor took over", paths.service_id)
            else:
                await asyncio.to_thread(switchover.abandon, paths)
                log.info("Postgres service %s: the successor of an unfinished switchover is removed",
                         paths.service_id)

    # Copies, backups and their WAL.

    async def _settle_origin(self, paths: ServicePaths) -> None:
        """Forget the origin of a copied cluster once done with it: a promoted replica's link to its primary (and
        its slot there), a restore's recovery settings once it is over."""
        with _setup_errors(f"settle the origin of Postgres service {paths.service_id}", paths.root):
            link = await asyncio.to_thread(origin.promoted, paths)
        if link is not None:
            await self._release_slot(link)
            with _setup_errors(f"settle the origin of Postgres service {paths.service_id}", paths.root):
                await asyncio.to_thread(paths.replica_of.unlink, missing_ok=True)
            log.info("Postgres service %s, promoted, is no replica of %s any more", paths.service_id, link.primary_id)
        with _setup_errors(f"settle the origin of Postgres service {paths.service_id}", paths.root):
            await asyncio.to_thread(origin.forget_finished_restore, paths)

    async def _release_slot(self, link: origin.ReplicaLink) -> None:
        """Drop a replica's slot on its primary if the primary runs (best effort: else the primary's next apply
        drops it), so that the primary keeps no WAL for it any more."""
        primary = self._tree.of(link.primary_id)
        login = await asyncio.to_thread(self._running_login, primary)
        if login is None:
            log.warning("replication slot %s stays on Postgres service %s, which does not run: its next apply "
                        "drops it", link.slot, link.primary_id)
            return
        try:
            async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS + _SLOT_RELEASE_SECONDS), \
                    await session.connect(login) as connection:
                await session.drop_slot(connection, link.slot, _SLOT_RELEASE_SECONDS)
        except (psycopg.Error, TimeoutError, RuntimeFailure) as error:
            log.warning("replication slot %s stays on Postgres service %s: %s; its next apply drops it", link.slot,
                        link.primary_id, str(error).strip() or "timed out")

    async def _drop_abandoned_slots(self, connection: session.Connection, primary_id: str) -> None:
        """Drop the slots on this primary of replicas that are gone or are no longer its replicas (deleted or
        promoted while it did not run)."""
        for slot in await session.inactive_slots(connection):
            replica_id = origin.replica_of_slot(slot)
            if replica_id is not None and not await self._needs_slot(replica_id, primary_id):
                await session.drop_slot(connection, slot, _SLOT_RELEASE_SECONDS)
                log.info("dropped replication slot %s of Postgres service %s: its replica is gone", slot, primary_id)

    async def _needs_slot(self, replica_id: str, primary_id: str) -> bool:
        """Whether a replica is still there and streams from that primary (one whose link to it cannot be read is
        taken to, to be safe)."""
        try:
            link = await asyncio.to_thread(origin.load_link, self._tree.of(replica_id))
        except (OSError, ValueError) as error:
            log.warning("replication slot of replica %s is kept: %s", replica_id, error)
            return True
        return link is not None and link.primary_id == primary_id

    def _begin_backup(self, paths: ServicePaths, user: ServerUser) -> tuple[str, datetime]:
        backups.remove_unfinished(paths.backups)
        key, started = backups.new_key(paths.backups)
        partial = backups.being_taken(paths.backups, key)
        partial.mkdir(mode=0o700)
        user.own(partial)
        return key, started

    def _prune(self, paths: ServicePaths, keep_after: datetime) -> backups.StoredBackup | None:
        backups.remove_unfinished(paths.backups)
        logs.trim(paths.log_directory)
        return backups.prune(paths.backups, keep_after)

    async def _archive_current_segment(self, paths: ServicePaths, login: session.Login) -> None:
        """Have the server complete its WAL segment and wait until it is archived: then everything committed
        before now can be restored (backups.window)."""
        try:
            async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS), await session.connect(login) as connection:
                segment = await session.switch_wal(connection)
        except (psycopg.Error, TimeoutError) as error:
            raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} did not switch its WAL segment: "
                                 f"{str(error).strip() or 'timed out'}") from error
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _ARCHIVE_WAIT_SECONDS
        while not await asyncio.to_thread((paths.archive / segment).exists):
            if loop.time() >= deadline:
                raise RuntimeFailure(f"WAL segment {segment} of service {paths.service_id} was not archived within "
                                     f"{_ARCHIVE_WAIT_SECONDS:g} s: see the archiver's messages in its log")
            await asyncio.sleep(_ARCHIVE_POLL_SECONDS)

    async def _primary_login(self, paths: ServicePaths) -> session.Login:
        """The login to the service's running server, a primary (not in recovery); RuntimeFailure else."""
        login = await asyncio.to_thread(self._running_login, paths)
        if login is None:
            raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} is not running")
        try:
            async with asyncio.timeout(_OBSERVE_TIMEOUT_SECONDS), await session.connect(login) as connection:
                recovering = await session.in_recovery(connection)
                archiving = await session.archives_wal(connection)
        except (psycopg.Error, TimeoutError) as error:
            raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} does not accept connections: "
                                 f"{str(error).strip() or 'timed out'}") from error
        if recovering:
            raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} is in recovery (a replica, or a restore "
                                 "not done): base backups are of primaries")
        if not archiving:
            raise RuntimeFailure(f"PostgreSQL of service {paths.service_id} was started before the runtime archived "
                                 "WAL, and archives none: restart it")
        return login

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

    def _backup_lock(self, service_id: str) -> asyncio.Lock:
        return self._backup_locks.setdefault(service_id, asyncio.Lock())

    def _login(self, paths: ServicePaths) -> session.Login | None:
        """How the runtime logs in to the service's server; None before its first start (no port yet)."""
        ports = load_ports(paths.ports_file, PostgresPorts)
        if ports is None:
            return None
        password = self._internal_password(origin.login_of(paths))
        return session.Login(self._local_host, ports.postgres, INTERNAL_ROLE, password)

    def _running_login(self, paths: ServicePaths) -> session.Login | None:
        """The login to the service's server if it runs."""
        return self._login(paths) if running_postmaster(paths.data) is not None else None

    def _internal_conninfo(self, paths: ServicePaths, port: int, application_name: str) -> str:
        """A connection string for the internal role, its password in the service's password file, to the server
        at `port` here (its own, or its primary's)."""
        return make_conninfo(host=self._local_host, port=port, user=INTERNAL_ROLE, passfile=str(paths.passfile),
                             sslmode="require", application_name=application_name)


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
        return f"PostgreSQL exited unexpectedly; its log is in {paths.log_directory} (and {paths.log})"
    return None


@contextlib.contextmanager
def _cluster_being_made(paths: ServicePaths, user: ServerUser) -> Iterator[Path]:
    """A new empty directory, owned by the servers' user, for the caller to make the cluster in; it becomes the
    cluster when the caller is done, and is removed if the caller fails."""
    made = paths.data_being_made
    _remove_half_made(made)  # what a making stopped halfway left
    made.mkdir(mode=0o700)
    user.own(made)
    try:
        yield made
    except BaseException:
        _remove_half_made(made)
        raise
    made.rename(paths.data)


def _remove_half_made(made: Path) -> None:
    """Remove a cluster's directory whose making stopped halfway, once no program works in it any more: initdb's
    bootstrap server outlives initdb (killed with the control plane, or at its timeout) and would go on writing
    there, in what the next making starts anew or after the directory's removal (leaving part of it behind)."""
    if made.exists():
        end_workers_in(made, _KILL_WAIT_SECONDS)
        shutil.rmtree(made, ignore_errors=True)


def _run_tool(user: ServerUser, argv: list[str], cwd: Path, timeout: float, what: str) -> str:
    """Run one of PostgreSQL's programs to its end, for its output; RuntimeFailure saying `what` failed, with its
    error output."""
    try:
        result = user.run(argv, cwd, timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeFailure(f"{what} did not end within {timeout:g} s") from None
    except OSError as error:
        raise RuntimeFailure(f"{what} could not run: {error}") from error
    if result.returncode != 0:
        raise RuntimeFailure(f"{what} failed (status {result.returncode}): {result.stderr.strip()[-1000:]}")
    return result.stdout


def _touch_as(path: Path, user: ServerUser) -> None:
    path.touch()
    user.own(path)


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
