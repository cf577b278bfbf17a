"""The `local` ClickHouse runtime: every service is a ClickHouse server process on this machine.

It puts together the runtime's engine-neutral parts (the services' directories, the supervision of their processes,
ports, certificates) and ClickHouse's own: the setup of a service's files (setup.py, where its layout is), the
client of its HTTP interface (client.py) and file-level backups (backup.py). Servers run detached from the control
plane, so they survive its restarts; the next control plane adopts them through their pid files.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from clickplane.runtime.base import Endpoint, RuntimeFailure, stop_each
from clickplane.runtime.clickhouse.backup import backup_directory, restore_once, take_backup
from clickplane.runtime.clickhouse.client import ClickHouseClient, base_url, sql_url
from clickplane.runtime.clickhouse.config import (
    SERVER_ENVIRONMENT,
    ConfigRoot,
    config_root_for,
    config_root_refusal,
    query_user_name,
    server_command,
)
from clickplane.runtime.clickhouse.functions import (
    StagedFunction,
    remove_function_files,
    stage_function,
    unsupported_reason,
)
from clickplane.runtime.clickhouse.interface import (
    BackupResult,
    ExecutableFunction,
    FunctionsUnsupported,
    Observation,
    ServiceSpec,
    SqlAccess,
)
from clickplane.runtime.clickhouse.setup import ClickHousePorts, ServicePaths, ServiceSetup, setup_errors
from clickplane.runtime.layout import ServiceDirectories
from clickplane.runtime.ports import load_ports
from clickplane.runtime.process import ProcessId
from clickplane.runtime.supervisor import POLL_SECONDS, Supervisor
from clickplane.runtime.tls import ca_certificate_path

log = logging.getLogger(__name__)

# A backup's statements (FREEZE links every file of a table's parts) may take longer than a probe.
_BACKUP_SQL_TIMEOUT_SECONDS = 300.0


class LocalClickHouseRuntime:
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
        self._local_host = _local_host(listen_address)
        self._setup = ServiceSetup(
            ServiceDirectories(self.data_dir / "services"), config_root=self.config_root, listen_host=self.listen_host,
            advertised_host=self.advertised_host, internal_password=internal_password, ca_path=self.ca_path,
        )
        self._supervisor = Supervisor("ClickHouse", stop_timeout)
        self._client = ClickHouseClient(internal_password)
        self._service_locks: dict[str, asyncio.Lock] = {}
        # Servers `start` left running, until `wait_until_up` sees them answer.
        self._launches: dict[str, _Launch] = {}

    # The ClickHouseRuntime protocol.

    async def start(self, spec: ServiceSpec) -> None:
        """Write the service's files, then adopt its running server or launch one; returns once a server runs,
        before it answers (`wait_until_up` waits for that)."""
        paths = self._setup.paths(spec.service_id)
        binary = spec.binary or self.binary
        refusal = config_root_refusal(binary, self.binary, self.config_root)
        if refusal is not None:
            raise RuntimeFailure(f"ClickHouse binary {binary} {refusal}")
        spec = replace(spec, binary=binary)
        async with self._lock(spec.service_id):
            server = await asyncio.to_thread(self._supervisor.running, paths.server, True)
            ports, config_changed = await self._setup.prepare(spec, paths, running=server is not None)
            if server is not None and config_changed:
                log.warning("restarting ClickHouse of service %s (pid %d): its config changed", paths.service_id,
                            server.pid)
                await self._terminate(paths, server, graceful=True)
                server = None
            if server is None:
                if spec.restore_from is not None:
                    await asyncio.to_thread(restore_once, backup_directory(spec.restore_from), paths.data)
                self._launches[spec.service_id] = await self._launch(paths, ports, spec)
            else:
                self._launches[spec.service_id] = _Launch(server, ports, spec, offsets=None)

    async def wait_until_up(self, service_id: str) -> Observation:
        """Wait until the server `start` left running answers, and report it. One adopted that does not answer
        is replaced; one launched that exits or misses the start deadline is ended, with the reason and the end
        of its logs in the RuntimeFailure (launched once more on other ports when another program took one)."""
        paths = self._setup.paths(service_id)
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
            version = await self._client.version(service_id, self._url(launch.ports), launch.server.pid)
            return self._observation(launch.ports, launch.server.pid, version)

    async def apply(self, spec: ServiceSpec) -> None:
        """Rewrite users.xml, which ClickHouse reloads by itself within seconds. Every setting of a
        spec (password, networks, memory limit) lives there, so no other file needs a change."""
        paths = self._setup.paths(spec.service_id)
        users = self._setup.render_users(spec)
        async with self._lock(spec.service_id):
            if not await asyncio.to_thread(paths.root.is_dir):
                raise RuntimeFailure(f"service {spec.service_id} does not exist on this runtime")
            await self._setup.write_users(paths, users)

    async def observe(self, service_id: str) -> Observation:
        paths = self._setup.paths(service_id)
        ports, server, pid_file_left = await asyncio.to_thread(self._inspect, paths)
        if ports is None:
            return Observation(running=False, reason=f"service {service_id} was never started here")
        if server is None:
            # A pid file is removed on every stop: one left behind means the server died.
            reason = f"ClickHouse exited unexpectedly; its logs are in {paths.logs}" if pid_file_left else None
            return Observation(running=False, endpoints=self._endpoints(ports), reason=reason)
        if not await self._client.pings(service_id, self._url(ports)):
            return Observation(
                running=False,
                endpoints=self._endpoints(ports),
                pid=server.pid,
                reason=f"ClickHouse (pid {server.pid}) does not answer /ping",
            )
        version = await self._client.version(service_id, self._url(ports), server.pid)
        return self._observation(ports, server.pid, version)

    async def sql_access(self, service_id: str) -> SqlAccess | None:
        ports, server, _ = await asyncio.to_thread(self._inspect, self._setup.paths(service_id))
        if ports is None or server is None:
            return None
        return self._client.internal_access(service_id, self._url(ports))

    async def query_access(self, service_id: str, caller: str, read_only: bool) -> SqlAccess | None:
        paths = self._setup.paths(service_id)
        name = query_user_name(caller, read_only)
        ports, server, _ = await asyncio.to_thread(self._inspect, paths)
        if ports is None or server is None:
            return None
        url = self._url(ports)
        # Not the service's lock, which a start holds for up to start_timeout.
        async with self._lock(f"query-users:{service_id}"):
            passwords = await asyncio.to_thread(self._setup.query_passwords, paths)
            password = passwords.get(name)
            if password is None:
                password = secrets.token_urlsafe(32)
                with setup_errors(paths):
                    await asyncio.to_thread(self._setup.write_query_users, paths, {**passwords, name: password})
                await self._client.wait_until_user_accepted(service_id, url, name, password)
        return SqlAccess(sql_url(url), name, password)

    async def query_count(self, service_id: str) -> int | None:
        ports, server, _ = await asyncio.to_thread(self._inspect, self._setup.paths(service_id))
        if ports is None or server is None:
            return None
        return await self._client.query_count(service_id, self._url(ports))

    def count_own_query(self, service_id: str) -> None:
        self._client.count_own_query(service_id)

    async def backup(self, service_id: str, destination: str) -> BackupResult:
        """A file-level copy of the running server's tables into the directory `destination` names (a `file://`
        URI); see `backup.py` for what is copied how."""
        directory = backup_directory(destination)
        paths = self._setup.paths(service_id)
        url = await self._running_url(paths, "a backup is taken from its running server")

        async def run_sql(sql: str) -> str:
            self._client.count_own_query(service_id)
            return await self._client.run_sql(service_id, url, sql, _BACKUP_SQL_TIMEOUT_SECONDS)

        return await take_backup(run_sql, paths.data, directory)

    async def install_function(self, service_id: str, function: ExecutableFunction) -> None:
        """One install or remove of a service's functions at a time; the earlier version (or nothing) stays in
        place, config and files, unless the server loads the new one."""
        paths = self._setup.paths(service_id)
        async with self._lock(f"functions:{service_id}"):
            url = await self._running_url(paths, "a function is installed on its running server")
            reason = unsupported_reason(await self._own_sql(service_id, url, "SELECT version()"))
            if reason is not None:
                raise FunctionsUnsupported(f"service {service_id} cannot run executable functions: {reason}")
            try:
                staged = await asyncio.to_thread(stage_function, paths, function)
            except OSError as error:
                raise RuntimeFailure(f"the files of function {function.name} could not be written on service "
                                     f"{service_id}: {error}") from None
            try:
                await self._own_sql(service_id, url, "SYSTEM RELOAD FUNCTIONS")
                loaded = (await self._own_sql(service_id, url, "SELECT name FROM system.functions")).split()
                if function.name not in loaded:
                    raise RuntimeFailure(f"ClickHouse of service {service_id} did not load function "
                                         f"{function.name} on SYSTEM RELOAD FUNCTIONS; its reasons are in "
                                         f"{paths.error_log}")
            except BaseException:
                await self._restore_function(service_id, url, staged)
                raise
            await asyncio.to_thread(staged.commit)

    async def _restore_function(self, service_id: str, url: str, staged: StagedFunction) -> None:
        """Put back what an install replaced, and have the server load it again; a failure here is logged, as
        the install's own failure is what the caller hears."""
        try:
            await asyncio.to_thread(staged.restore)
            await self._own_sql(service_id, url, "SYSTEM RELOAD FUNCTIONS")
        except (OSError, RuntimeFailure) as error:
            log.warning("could not put back the earlier state of function %s on service %s: %s", staged.name,
                        service_id, error)

    async def remove_function(self, service_id: str, name: str) -> None:
        paths = self._setup.paths(service_id)
        async with self._lock(f"functions:{service_id}"):
            try:
                await asyncio.to_thread(remove_function_files, paths, name)
            except OSError as error:
                raise RuntimeFailure(f"the files of function {name} could not be removed from service "
                                     f"{service_id}: {error}") from None
            ports, server, _ = await asyncio.to_thread(self._inspect, paths)
            if ports is None or server is None:
                return  # a server reads its functions when it starts: nothing more to undo
            url = self._url(ports)
            if unsupported_reason(await self._own_sql(service_id, url, "SELECT version()")) is None:
                await self._own_sql(service_id, url, "SYSTEM RELOAD FUNCTIONS")

    async def _running_url(self, paths: ServicePaths, why: str) -> str:
        ports, server, _ = await asyncio.to_thread(self._inspect, paths)
        if ports is None or server is None:
            raise RuntimeFailure(f"service {paths.service_id} is not running: {why}")
        return self._url(ports)

    async def _own_sql(self, service_id: str, url: str, sql: str) -> str:
        self._client.count_own_query(service_id)
        return await self._client.run_sql(service_id, url, sql)

    async def stop(self, service_id: str) -> None:
        paths = self._setup.paths(service_id)
        async with self._lock(service_id):
            await self._stop(paths)

    async def stop_all(self) -> None:
        await stop_each(await self.list_service_ids(), self.stop)

    async def delete(self, service_id: str) -> None:
        paths = self._setup.paths(service_id)
        async with self._lock(service_id):
            await self._stop(paths)
            if await asyncio.to_thread(paths.root.exists):
                await asyncio.to_thread(shutil.rmtree, paths.root)
                log.info("deleted service %s", service_id)

    async def list_service_ids(self) -> list[str]:
        return await asyncio.to_thread(self._setup.directories.service_ids)

    async def aclose(self) -> None:
        await self._client.aclose()

    # Beyond the protocol.

    async def ensure_running(self, spec: ServiceSpec) -> Observation:
        """start, then wait_until_up: for callers that have nothing else to do meanwhile (tests)."""
        await self.start(spec)
        return await self.wait_until_up(spec.service_id)

    # Servers.

    def _lock(self, service_id: str) -> asyncio.Lock:
        return self._service_locks.setdefault(service_id, asyncio.Lock())

    def _inspect(self, paths: ServicePaths) -> tuple[ClickHousePorts | None, ProcessId | None, bool]:
        return (load_ports(paths.ports_file, ClickHousePorts), self._supervisor.running(paths.server),
                paths.pid_file.exists())

    async def _launch(self, paths: ServicePaths, ports: ClickHousePorts, spec: ServiceSpec) -> _Launch:
        argv = server_command(spec.binary or self.binary, paths.config_file)
        server, offsets = await self._supervisor.launch(argv, paths.server, SERVER_ENVIRONMENT)
        self._client.new_server(paths.service_id)
        return _Launch(server, ports, spec, offsets)

    async def _relaunch_after(self, failure: str, paths: ServicePaths, launch: _Launch) -> _Launch:
        """End a launched server that did not come up. When another program took one of its ports between their
        choice and the server's start, choose again and launch once more; else RuntimeFailure saying why."""
        await self._terminate(paths, launch.server, graceful=False)
        tail = await asyncio.to_thread(self._supervisor.log_tails, paths.server, launch.offsets)
        # Our server is gone: a port still held now is another program's.
        held = await asyncio.to_thread(self._setup.held_ports, launch.ports)
        if not held:
            raise RuntimeFailure(f"{failure}. End of its logs:\n{tail}" if tail else failure)
        if launch.retried:
            raise RuntimeFailure(f"ClickHouse of service {paths.service_id} could not listen: another program holds "
                                 f"port {', '.join(map(str, held))}")
        log.warning("ClickHouse of service %s could not listen: another program holds port %s; starting it on other "
                    "ports", paths.service_id, ", ".join(map(str, held)))
        ports, _ = await self._setup.prepare(launch.spec, paths, running=False)
        retry = replace(await self._launch(paths, ports, launch.spec), retried=True)
        failure_again = await self._wait_until_answering(paths, retry.ports, retry.server)
        return retry if failure_again is None else await self._relaunch_after(failure_again, paths, retry)

    async def _wait_until_answering(self, paths: ServicePaths, ports: ClickHousePorts,
                                    server: ProcessId) -> str | None:
        """Poll /ping until the server answers (None), exits or misses the start deadline (why not)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        while True:
            if await self._client.pings(paths.service_id, self._url(ports)):
                return None
            # On the loop, not in a thread: a waitpid(WNOHANG) or a read of /proc takes microseconds, and many
            # servers starting at once would otherwise queue every poll behind the thread pool's few workers.
            exit_status = self._supervisor.exit_status(server)
            if exit_status is not None:
                return f"ClickHouse {exit_status} before answering"
            if loop.time() >= deadline:
                return f"ClickHouse did not answer /ping within {self.start_timeout:g} s"
            await asyncio.sleep(POLL_SECONDS)

    async def _stop(self, paths: ServicePaths) -> None:
        stopped = await self._supervisor.stop(paths.server, answers=self._answers(paths),
                                              release=partial(self._client.disconnect, paths.service_id))
        if stopped is not None:
            self._client.forget_server(paths.service_id, stopped.pid)

    async def _terminate(self, paths: ServicePaths, server: ProcessId, graceful: bool) -> None:
        await self._supervisor.terminate(paths.server, server, graceful=graceful, answers=self._answers(paths),
                                         release=partial(self._client.disconnect, paths.service_id))
        self._client.forget_server(paths.service_id, server.pid)

    def _answers(self, paths: ServicePaths) -> Callable[[], Awaitable[bool]]:
        """Whether the service's server answers /ping, for its supervision to end a hung one at once; one with no
        ports on record cannot be asked, and is given its chance to stop cleanly."""
        async def answers() -> bool:
            ports = await asyncio.to_thread(load_ports, paths.ports_file, ClickHousePorts)
            return ports is None or await self._client.pings(paths.service_id, self._url(ports))
        return answers

    def _url(self, ports: ClickHousePorts) -> str:
        return base_url(self._local_host, ports.http)

    def _endpoints(self, ports: ClickHousePorts) -> tuple[Endpoint, ...]:
        host = self.advertised_host
        return (
            Endpoint("https", host, ports.https, secure=True),
            Endpoint("nativesecure", host, ports.native_secure, secure=True),
            Endpoint("http", host, ports.http),
            Endpoint("native", host, ports.native),
        )

    def _observation(self, ports: ClickHousePorts, pid: int, version: str | None) -> Observation:
        return Observation(running=True, endpoints=self._endpoints(ports), clickhouse_version=version, pid=pid)


@dataclass(frozen=True)
class _Launch:
    """A server `start` left running for `wait_until_up`: adopted (no log offsets) or launched by it."""

    server: ProcessId
    ports: ClickHousePorts
    spec: ServiceSpec
    offsets: tuple[int, ...] | None  # where its logs stood at launch
    retried: bool = False  # launched again on other ports


def _local_host(listen_address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """Where the runtime itself reaches a server: the listen address, or loopback for a wildcard."""
    if listen_address.is_unspecified:
        return "::1" if listen_address.version == 6 else "127.0.0.1"
    return str(listen_address)
