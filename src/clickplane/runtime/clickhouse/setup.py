"""How a service's local ClickHouse server is set up before it starts: where its files go (`ServicePaths`), its
ports, and the files it reads (config.xml, users.xml, the Query API's users, its TLS certificate).

Each service lives in `<data_dir>/services/<service_id>/`: its config and users files, data, logs, pid file, TLS
certificate and a record of its ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.config import (
    INTERNAL_USER_NETWORKS,
    ConfigRoot,
    ServerConfig,
    TlsFiles,
    config_argument,
    render_query_users,
    render_server_config,
    render_users_config,
)
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.files import write_if_changed
from clickplane.runtime.layout import ServiceDirectories, ServiceDirectory
from clickplane.runtime.ports import Ports, choose_ports, load_ports, port_is_free, save_ports
from clickplane.runtime.supervisor import SupervisedServer
from clickplane.runtime.tls import CertificateAuthority, ensure_ca, ensure_server_certificate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClickHousePorts(Ports):
    http: int
    native: int
    https: int
    native_secure: int


@dataclass(frozen=True)
class ServicePaths(ServiceDirectory):
    """Where one service keeps everything."""

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
    def binary_file(self) -> Path:
        """The path of the binary the service's server runs: changed, the server is restarted on the new one."""
        return self.root / "binary"

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
    def user_scripts(self) -> Path:
        """The files of the service's executable functions, a directory per function."""
        return self.root / "user_scripts"

    @property
    def functions(self) -> Path:
        """The <function> configs of the service's executable functions, `<name>_function.xml` each."""
        return self.root / "functions"

    def function_config(self, name: str) -> Path:
        return self.functions / f"{name}_function.xml"

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

    @property
    def server(self) -> SupervisedServer:
        """The service's server as its supervision knows it."""
        return SupervisedServer(self.service_id, self.root, self.pid_file, config_argument(self.config_file),
                                self.console_log, (self.error_log,))

    def create(self) -> None:
        super().create()
        for directory in (self.data, self.tmp, self.user_files, self.user_scripts, self.functions, self.logs):
            directory.mkdir(exist_ok=True)


class ServiceSetup:
    """Chooses services' ports and writes their files, for servers listening on `listen_host` whose endpoints name
    `advertised_host`; the certificates come from the CA whose certificate is `ca_path`."""

    def __init__(self, directories: ServiceDirectories, *, config_root: ConfigRoot, listen_host: str,
                 advertised_host: str, internal_password: Callable[[str], str], ca_path: Path) -> None:
        self.directories = directories
        self.config_root = config_root
        self.listen_host = listen_host
        self.advertised_host = advertised_host
        self.ca_path = ca_path
        self._internal_password = internal_password
        listen_address = ipaddress.ip_address(listen_host)
        self._listens_everywhere = listen_address.is_unspecified
        self.internal_networks: tuple[str, ...] = INTERNAL_USER_NETWORKS
        if not (listen_address.is_loopback or listen_address.is_unspecified):
            # Connecting to one of this machine's own addresses comes from that address, not loopback.
            self.internal_networks += (listen_host,)
        # Held while choosing ports, so that services started together never get the same port.
        self._ports_lock = asyncio.Lock()
        self._ca_lock = asyncio.Lock()
        self._ca: CertificateAuthority | None = None

    def paths(self, service_id: str) -> ServicePaths:
        return ServicePaths(self.directories.of(service_id))

    async def prepare(self, spec: ServiceSpec, paths: ServicePaths, running: bool) -> tuple[ClickHousePorts, bool]:
        """Choose the service's ports and write its files; returns the ports and whether a file that a
        server reads only at start changed."""
        with setup_errors(paths):
            ports = await self._reserve_ports(paths, running)
            return ports, await self._write_files(spec, paths, ports)

    async def write_users(self, paths: ServicePaths, users: bytes) -> None:
        """Rewrite users.xml (which ClickHouse reloads by itself) with `users` (see `render_users`) if it changed."""
        with setup_errors(paths):
            await asyncio.to_thread(write_if_changed, paths.users_file, users)

    def held_ports(self, ports: ClickHousePorts) -> list[int]:
        """The ports that something holds now. Blocking."""
        return [port for port in ports.values() if not port_is_free(self.listen_host, port)]

    async def _reserve_ports(self, paths: ServicePaths, running: bool) -> ClickHousePorts:
        async with self._ports_lock:
            return await asyncio.to_thread(self._choose_ports, paths, running)

    def _choose_ports(self, paths: ServicePaths, running: bool) -> ClickHousePorts:
        """The service's recorded ports; outside of a running server's, any that another service
        records or another program holds now is replaced, and the record updated."""
        current = load_ports(paths.ports_file, ClickHousePorts)
        if running and current is not None:
            return current
        taken = {
            port
            for service_id in self.directories.service_ids()
            if service_id != paths.service_id
            and (other := load_ports(self.paths(service_id).ports_file, ClickHousePorts)) is not None
            for port in other.values()
        }
        chosen = choose_ports(self.listen_host, ClickHousePorts, current, taken)
        if chosen != current:
            if current is not None:  # its endpoints move: say why
                log.warning("service %s: port %s can no longer be used (another program or service holds it); "
                            "its endpoints move to %s",
                            paths.service_id, _changed_ports(current, chosen), _changed_ports(chosen, current))
            paths.create()
            save_ports(paths.ports_file, chosen)
        return chosen

    async def _write_files(self, spec: ServiceSpec, paths: ServicePaths, ports: ClickHousePorts) -> bool:
        """Write every file of the service; returns whether one that a server reads only at start
        (config.xml, its certificate) changed."""
        ca = await self._certificate_authority()
        users = self.render_users(spec)
        return await asyncio.to_thread(self._write_server_files, paths, ports, ca, users, spec.binary or "")

    def _write_server_files(self, paths: ServicePaths, ports: ClickHousePorts, ca: CertificateAuthority,
                            users: bytes, binary: str) -> bool:
        paths.create()
        hosts = [self.advertised_host, "localhost"]
        if not self._listens_everywhere:
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
            user_scripts_path=paths.user_scripts,
            functions_config=paths.functions / "*_function.xml",
            users_config=paths.users_file,
            log_file=paths.server_log,
            error_log_file=paths.error_log,
            tls=TlsFiles(paths.certificate, paths.private_key),
        )
        config_changed = write_if_changed(paths.config_file, render_server_config(config))
        write_if_changed(paths.users_file, users)
        self.write_query_users(paths, self.query_passwords(paths))  # back in place if it went missing
        # A server an older clickplane started recorded no binary: it runs the default one, and is not restarted.
        recorded = paths.binary_file.exists()
        binary_changed = write_if_changed(paths.binary_file, binary.encode()) and recorded
        return config_changed or certificate_changed or binary_changed

    @staticmethod
    def query_passwords(paths: ServicePaths) -> dict[str, str]:
        """The Query API users' passwords by user name; none when the file is missing or unreadable (its users
        then get new passwords on their next use). Blocking."""
        try:
            stored = json.loads(paths.query_passwords_file.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("service %s: ignoring %s: %s", paths.service_id, paths.query_passwords_file, error)
            return {}
        if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
            log.warning("service %s: ignoring %s: not an object of passwords", paths.service_id,
                        paths.query_passwords_file)
            return {}
        return stored

    def write_query_users(self, paths: ServicePaths, passwords: dict[str, str]) -> None:
        """The passwords first: a users file naming a user whose password is lost would lock it out. Blocking."""
        write_if_changed(paths.query_passwords_file, json.dumps(passwords, sort_keys=True).encode())
        paths.query_users_file.parent.mkdir(mode=0o700, exist_ok=True)
        write_if_changed(paths.query_users_file,
                         render_query_users(passwords, self.config_root, self.internal_networks))

    def render_users(self, spec: ServiceSpec) -> bytes:
        """The users.xml of `spec`: every setting of a spec (password, networks, limits) lives there."""
        try:
            return render_users_config(
                spec, self._internal_password(spec.service_id), self.config_root, self.internal_networks
            )
        except ValueError as error:  # what the domain layer lets through never gets here; old records might
            raise RuntimeFailure(f"the users file of service {spec.service_id} cannot be written: {error}") from None

    async def _certificate_authority(self) -> CertificateAuthority:
        async with self._ca_lock:
            if self._ca is None:
                self._ca = await asyncio.to_thread(ensure_ca, self.ca_path.parent)
            return self._ca


@contextlib.contextmanager
def setup_errors(paths: ServiceDirectory) -> Iterator[None]:
    """What the machine refuses while a service's ports and files are set up (a full or read-only file
    system, an address it does not have) fails the service with the reason, as a start failure does."""
    try:
        yield
    except OSError as error:
        raise RuntimeFailure(f"cannot set up service {paths.service_id} in {paths.root}: {error}") from error


def _changed_ports(ports: Ports, other: Ports) -> str:
    return ", ".join(str(port) for port, was in zip(ports.values(), other.values(), strict=True) if port != was)
