"""Rendering of one service's ClickHouse `config.xml` and `users.xml`, and the command that starts its server.

Both documents are built with ElementTree, never with string formatting: ElementTree escapes every
text value, so no path, hash or network can change the structure of the document.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal

from clickplane.runtime.clickhouse.interface import (
    CONFIG_SUBSTITUTION,
    SETTING_NAME,
    ExecutableFunction,
    ServiceSpec,
)

ConfigRoot = Literal["yandex", "clickhouse"]

# The runtime's own user: reads the version now, metrics and backups later.
INTERNAL_USER = "clickplane"
# Loopback: the control plane runs on the same machine as the servers it starts.
INTERNAL_USER_NETWORKS = ("127.0.0.1", "::1")
# The `default` user's profile: the service's settings. It is not the server's `default_profile`, whose
# settings every query starts from, so that no setting (readonly, a row limit) reaches the internal user.
SERVICE_PROFILE = "service"
# The Query API's read-only users' profile: the service's settings, then readonly = 1, which also refuses any
# setting a query would change (a SETTINGS clause) and lets a user kill no one's queries but its own (18.16:
# "Readonly user ... attempts to kill query created by ..."). The HTTP interface's `default_format` and
# `database` parameters are not settings to it, so output formats still work: readonly = 2 is not needed, and
# would let every query undo the service's limits with a SETTINGS clause.
SERVICE_READ_ONLY_PROFILE = "service_read_only"
# Who may run SQL through the Query API: one user per API key and role, so that a read-only caller cannot kill
# another's queries (a read-only user may kill those of its own user name).
_QUERY_USER = re.compile(r"query_(read_only|admin)_[0-9a-f]{32}")
_READ_ONLY_QUERY_USER = "query_read_only_"

_MARK_CACHE_BYTES = 5 * 1024**3
_LOG_SIZE = "100M"
_LOG_COUNT = "5"


def sha256_hex(password: str) -> str:
    """A password as ClickHouse's users take it (`password_sha256_hex`)."""
    return hashlib.sha256(password.encode()).hexdigest()


def config_root_for(binary: str) -> ConfigRoot:
    """The config root element that suits a binary, judged by its name.

    Only the modern multi-tool is called plain `clickhouse`, and it takes `<clickhouse>`. Anything else
    (Debian 18.16's `clickhouse-server`, or a modern install's `clickhouse-server` symlink) gets
    `<yandex>`: old servers know nothing else and modern ones still accept it.
    """
    return "clickhouse" if PurePath(binary).name == "clickhouse" else "yandex"


def config_root_refusal(binary: str, default: str, root: ConfigRoot | None = None) -> str | None:
    """Why another binary than the `default` one (a release channel's) cannot run on the one config the local
    runtime writes, rooted at `root` (by default the one that suits `default`); None when it can."""
    wanted, own = root or config_root_for(default), config_root_for(binary)
    if own == wanted:
        return None
    return (f"takes a config rooted at <{own}>, unlike the default binary {default} (<{wanted}>); name release "
            "channels' binaries like the default's (clickhouse-server, or clickhouse)")


def server_command(binary: str, config_file: Path) -> list[str]:
    """The argv that starts a server: the multi-tool needs its `server` subcommand first."""
    subcommand = ["server"] if PurePath(binary).name == "clickhouse" else []
    return [binary, *subcommand, config_argument(config_file)]


def config_argument(config_file: Path) -> str:
    """The argument naming the server's config file: only the server of that service has it."""
    return f"--config-file={config_file}"


# Modern servers fork a watchdog parent when asked to; without it the pid recorded at launch is the server.
SERVER_ENVIRONMENT = {"CLICKHOUSE_WATCHDOG_ENABLE": "0"}


def query_user_name(caller: str, read_only: bool) -> str:
    """The ClickHouse user of one caller (an API key's UUID) for one role of a query endpoint."""
    name = f"{_READ_ONLY_QUERY_USER if read_only else 'query_admin_'}{caller.replace('-', '').lower()}"
    if not _QUERY_USER.fullmatch(name):
        raise ValueError(f"{caller!r} is not a UUID")
    return name


# How a server serves TLS (`openSSL/server`), besides its certificate and key files. Clients are not asked for
# certificates: they authenticate with passwords, as on ClickHouse Cloud.
OPENSSL_SERVER = {
    "verificationMode": "none",
    "loadDefaultCAFile": "false",
    "cacheSessions": "true",
    "disableProtocols": "sslv2,sslv3,tlsv1,tlsv1_1",
    "preferServerCiphers": "true",
}


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class ServerConfig:
    """What config.xml says: where the server listens and where it keeps its files."""

    root: ConfigRoot
    listen_host: str
    http_port: int
    tcp_port: int
    data_path: Path
    tmp_path: Path
    user_files_path: Path
    users_config: Path
    log_file: Path
    error_log_file: Path
    https_port: int | None = None
    tcp_port_secure: int | None = None
    tls: TlsFiles | None = None
    # Executable user-defined functions: where their files are, and the glob of their <function> configs.
    # Servers without such functions (18.16) ignore both.
    user_scripts_path: Path | None = None
    functions_config: Path | None = None


def render_server_config(config: ServerConfig) -> bytes:
    root: ET.Element[str] = ET.Element(config.root)
    _add(root, "listen_host", config.listen_host)
    _add(root, "http_port", config.http_port)
    _add(root, "tcp_port", config.tcp_port)
    if config.https_port is not None:
        _add(root, "https_port", config.https_port)
    if config.tcp_port_secure is not None:
        _add(root, "tcp_port_secure", config.tcp_port_secure)
    # ClickHouse joins file names onto these directories, so they must end with a slash.
    _add(root, "path", _as_dir(config.data_path))
    _add(root, "tmp_path", _as_dir(config.tmp_path))
    _add(root, "user_files_path", _as_dir(config.user_files_path))
    _add(root, "users_config", config.users_config)
    if config.user_scripts_path is not None:
        _add(root, "user_scripts_path", _as_dir(config.user_scripts_path))
    if config.functions_config is not None:
        _add(root, "user_defined_executable_functions_config", config.functions_config)
    _add(root, "default_profile", "default")
    _add(root, "default_database", "default")
    _add(root, "mark_cache_size", _MARK_CACHE_BYTES)
    # How long an idle HTTP connection is kept, which is also how long a stopping server waits for one (18.16's
    # default is 10 s); 3 s as in ClickHouse's own sample config.
    _add(root, "keep_alive_timeout", 3)
    logger = ET.SubElement(root, "logger")
    _add(logger, "level", "information")
    _add(logger, "log", config.log_file)
    _add(logger, "errorlog", config.error_log_file)
    _add(logger, "size", _LOG_SIZE)
    _add(logger, "count", _LOG_COUNT)
    if config.tls is not None:
        _add_openssl_server(root, config.tls)
    return _serialize(root)


def _add_openssl_server(root: ET.Element, tls: TlsFiles) -> None:
    server = ET.SubElement(ET.SubElement(root, "openSSL"), "server")
    _add(server, "certificateFile", tls.certificate)
    _add(server, "privateKeyFile", tls.private_key)
    for name, value in OPENSSL_SERVER.items():
        _add(server, name, value)


def render_users_config(
    spec: ServiceSpec,
    internal_password: str,
    root: ConfigRoot,
    internal_networks: tuple[str, ...] = INTERNAL_USER_NETWORKS,
) -> bytes:
    """users.xml: the customer's `default` user and the runtime's own internal user, who may connect
    only from `internal_networks` (local addresses)."""
    document: ET.Element[str] = ET.Element(root)
    profiles = ET.SubElement(document, "profiles")
    profile = ET.SubElement(profiles, "default")
    if spec.max_memory_bytes is not None:
        _add(profile, "max_memory_usage", spec.max_memory_bytes)
    service_profile = ET.SubElement(profiles, SERVICE_PROFILE)
    for setting, setting_value in checked_settings(spec):
        _add(service_profile, setting, setting_value)
    read_only_profile = ET.SubElement(profiles, SERVICE_READ_ONLY_PROFILE)
    # Inherited first, so that readonly = 1 comes last and wins over a readonly the service's settings set.
    _add(read_only_profile, "profile", SERVICE_PROFILE)
    _add(read_only_profile, "readonly", 1)

    users = ET.SubElement(document, "users")
    # The SHA-256 only: it is what HTTP and native clients log in with, and servers since 21.x refuse a user with
    # a second hash (the double SHA-1 is the MySQL protocol's, which clickplane does not serve).
    _add_user(users, "default", spec.password_sha256_hex, clickhouse_networks(spec.ip_access_list), SERVICE_PROFILE)
    internal_sha256 = sha256_hex(internal_password)
    _add_user(users, INTERNAL_USER, internal_sha256, clickhouse_networks(internal_networks))

    interval = ET.SubElement(ET.SubElement(ET.SubElement(document, "quotas"), "default"), "interval")
    # Zero limits: the quota only counts, as the stock users.xml does.
    for name, value in (
        ("duration", 3600),
        ("queries", 0),
        ("errors", 0),
        ("result_rows", 0),
        ("read_rows", 0),
        ("execution_time", 0),
    ):
        _add(interval, name, value)
    return _serialize(document)


def checked_settings(spec: ServiceSpec) -> tuple[tuple[str, str], ...]:
    """The spec's settings; ValueError on a name that is not an identifier (it becomes an element's tag, which
    ElementTree does not escape) or a value that holds a config substitution."""
    for setting, setting_value in spec.settings:
        if not SETTING_NAME.fullmatch(setting):
            raise ValueError(f"invalid setting name {setting!r}")
        if CONFIG_SUBSTITUTION in setting_value:
            raise ValueError(f"the value of setting {setting} holds {CONFIG_SUBSTITUTION!r}")
    return spec.settings


def render_query_users(passwords: Mapping[str, str], root: ConfigRoot,
                       networks: tuple[str, ...] = INTERNAL_USER_NETWORKS) -> bytes:
    """`users.d/query-users.xml`, which ClickHouse merges into users.xml and reloads on change as it does
    users.xml: the Query API's users (name to password, as `query_user_name` names them), reachable only from
    `networks` (where the control plane connects from), each under the service's settings. A file of its own,
    so that a newly bound key's user is added without the service's spec."""
    document: ET.Element[str] = ET.Element(root)
    users = ET.SubElement(document, "users")
    for name, password in sorted(passwords.items()):
        if not _QUERY_USER.fullmatch(name):  # a name becomes a tag, which ElementTree does not escape
            raise ValueError(f"invalid query user name {name!r}")
        profile = SERVICE_READ_ONLY_PROFILE if name.startswith(_READ_ONLY_QUERY_USER) else SERVICE_PROFILE
        _add_user(users, name, sha256_hex(password), clickhouse_networks(networks), profile)
    return _serialize(document)


def _add_user(users: ET.Element, name: str, password_sha256_hex: str, networks: list[str],
              profile: str = "default") -> None:
    user = ET.SubElement(users, name)
    _add(user, "password_sha256_hex", password_sha256_hex)
    # An empty <networks/> lets nobody in (seen on 18.16, and so in modern servers' users.xml parser):
    # that is what an empty access list means.
    networks_element = ET.SubElement(user, "networks")
    for network in networks:
        _add(networks_element, "ip", network)
    _add(user, "profile", profile)
    _add(user, "quota", "default")


def clickhouse_networks(entries: tuple[str, ...] | list[str]) -> list[str]:
    """Networks as ClickHouse 18.16 matches them correctly; ValueError on anything that is not an IP
    address or network.

    18.16 applies an IPv4 prefix length to the IPv6-mapped form of the client's address, so
    `127.0.0.2/32` lets 127.0.0.1 in. IPv4 networks are therefore written IPv6-mapped with 96 added to
    the prefix; bare addresses and IPv6 networks are matched correctly and stay as they are.
    """
    return [_clickhouse_network(entry) for entry in entries]


def _clickhouse_network(entry: str) -> str:
    if "%" in entry:  # Python takes a zone index (fe80::1%eth0) as part of an address; ClickHouse may refuse to start
        raise ValueError(f"{entry!r} has a zone index, which an access list cannot use")
    if "/" not in entry:
        return str(ipaddress.ip_address(entry.strip()))
    # strict=False: host bits after the prefix are ignored, as ClickHouse itself does.
    network = ipaddress.ip_network(entry.strip(), strict=False)
    if isinstance(network, ipaddress.IPv6Network):
        return str(network)
    if network.prefixlen == 0:
        return "::/0"
    return f"::ffff:{network.network_address}/{network.prefixlen + 96}"


def render_function_config(function: ExecutableFunction, scripts: Path) -> bytes:
    """The <function> config of an executable function whose files are in the directory `scripts`. The command
    runs through the shell (execute_direct 0) so that an interpreter can run it; its path is quoted."""
    root: ET.Element[str] = ET.Element("functions")
    element = ET.SubElement(root, "function")
    _add(element, "type", function.type)
    _add(element, "name", function.name)
    _add(element, "return_type", function.return_type)
    if function.return_name is not None:
        _add(element, "return_name", function.return_name)
    for name, argument_type in function.arguments:
        argument = ET.SubElement(element, "argument")
        _add(argument, "type", argument_type)
        _add(argument, "name", name)
    _add(element, "format", function.format)
    script = shlex.quote(str(scripts / function.command_file))
    _add(element, "command", f"{function.interpreter} {script}" if function.interpreter else script)
    _add(element, "execute_direct", 0)
    _add(element, "command_read_timeout", function.command_read_timeout_ms)
    _add(element, "command_write_timeout", function.command_write_timeout_ms)
    _add(element, "send_chunk_header", int(function.send_chunk_header))
    if function.pool_size is not None:
        _add(element, "pool_size", function.pool_size)
    if function.max_command_execution_time_s is not None:
        _add(element, "max_command_execution_time", function.max_command_execution_time_s)
    if function.deterministic is not None:
        _add(element, "deterministic", int(function.deterministic))
    return _serialize(root)


def _add(parent: ET.Element, tag: str, value: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(value)
    return element


def _as_dir(path: Path) -> str:
    return f"{path}/"


def _serialize(root: ET.Element) -> bytes:
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"
