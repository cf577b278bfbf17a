"""The one small interface between the control plane and wherever ClickHouse really runs.

The services controller drives it (the backups' jobs and the Query API ask it for backups and SQL access). A
runtime is told what a service should look like (a `ServiceSpec`) and reports what it sees (an `Observation`); it
never touches the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from clickplane.runtime.base import Endpoint, RuntimeFailure

# What a setting name in a spec must look like: an identifier, as every ClickHouse setting's name is.
SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
# What a setting's value must not hold: ClickHouse (Poco) replaces `${key}` in a config value by the value of
# that key of the same file, with no way to escape it, so a value could copy another user's password hash.
CONFIG_SUBSTITUTION = "${"


@dataclass(frozen=True)
class ServiceSpec:
    """Everything a runtime needs to run one service, already validated by the domain layer."""

    service_id: str
    # SHA-256 of the `default` user's password, as lowercase hex: the plain password is never kept.
    password_sha256_hex: str
    # Networks allowed to connect as `default`: IP addresses or CIDRs, IPv4 or IPv6.
    ip_access_list: tuple[str, ...] = ()
    # Upper bound of memory for queries on one replica, in bytes; None means the engine's default.
    max_memory_bytes: int | None = None
    # URI of a backup (written by `ClickHouseRuntime.backup`) the service starts from: put in place once,
    # before its first start; ignored once the service has data of its own.
    restore_from: str | None = None
    # ClickHouse settings of the `default` user's profile, as (name, value) with names matching SETTING_NAME;
    # a max_memory_usage among them wins over max_memory_bytes.
    settings: tuple[tuple[str, str], ...] = ()
    # Servers the service runs, each holding all of its data (one shard): the local runtime runs one server whatever
    # this says, the kubernetes runtime this many replicas.
    replicas: int = 1
    # The ClickHouse server binary to run (its release channel's); None: the runtime's own. A server running
    # another binary is restarted on this one, with its data.
    binary: str | None = None


@dataclass(frozen=True)
class Observation:
    """What a runtime sees of a service right now."""

    running: bool
    endpoints: tuple[Endpoint, ...] = ()
    clickhouse_version: str | None = None
    # Why the service is not running, when it should be (start failure, crash, missing binary...).
    reason: str | None = None
    pid: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SqlAccess:
    """How SQL reaches a service: its HTTP interface and a ClickHouse user (the internal one, or a Query API
    caller's)."""

    url: str
    user: str
    password: str


@dataclass(frozen=True)
class ExecutableFunction:
    """An executable user-defined function as ClickHouse runs it: the fields of its <function> config, and the
    files of its archive, which the command (`command_file`, one of them, run by `interpreter` when given) reads.
    Validated by the domain layer: names are identifiers, file paths relative and inside the archive."""

    name: str
    type: str  # executable or executable_pool
    interpreter: str | None  # python3 for a Python function; None for a native executable
    command_file: str
    arguments: tuple[tuple[str, str], ...]  # (name, ClickHouse type)
    return_type: str
    return_name: str | None
    format: str
    command_read_timeout_ms: int
    command_write_timeout_ms: int
    send_chunk_header: bool
    pool_size: int | None
    max_command_execution_time_s: int | None
    deterministic: bool | None
    files: tuple[tuple[str, bytes], ...]


class FunctionsUnsupported(RuntimeFailure):
    """The service's ClickHouse cannot run executable user-defined functions; the message says why."""


@dataclass(frozen=True)
class BackupResult:
    """What a finished backup holds."""

    size_in_bytes: int


class ClickHouseRuntime(Protocol):
    """How ClickHouse services really run: local processes now, Kubernetes later."""

    async def start(self, spec: ServiceSpec) -> None:
        """Set the service up as `spec` says and get its server going (adopting one already running), without
        waiting for it to answer: a runtime whose servers take minutes to come up holds nobody up. Raises
        RuntimeFailure with a reason on failure."""
        ...

    async def wait_until_up(self, service_id: str) -> Observation:
        """Wait until the server `start` got going answers, and report it; RuntimeFailure with the reason (and
        what the server logged) when it does not come up in time."""
        ...

    async def apply(self, spec: ServiceSpec) -> None:
        """Apply changed password, networks or limits to a running service without a restart."""
        ...

    async def observe(self, service_id: str) -> Observation:
        """Report the service as it is, without changing anything."""
        ...

    async def sql_access(self, service_id: str) -> SqlAccess | None:
        """Where and as whom the control plane runs SQL on the service; None when it is not running."""
        ...

    async def query_access(self, service_id: str, caller: str, read_only: bool) -> SqlAccess | None:
        """Where and as whom the Query API runs the SQL of `caller` (an API key's UUID): a user of that caller
        alone, read-only or not, under the service's settings, made on first use (waiting until the server
        knows it); None when the service is not running. Raises RuntimeFailure when the server does not take
        the user in time."""
        ...

    async def query_count(self, service_id: str) -> int | None:
        """How many queries the service's server has run since it started (None if it cannot tell);
        the reconciler watches it to stop services that sit idle."""
        ...

    def count_own_query(self, service_id: str) -> None:
        """Note that the control plane is about to run a query of its own on the service (reading its
        metrics or settings): query_count leaves those out, so they never keep a service from idling."""
        ...

    async def backup(self, service_id: str, destination: str) -> BackupResult:
        """Copy every database and table of the running service to `destination`, a URI of a place that holds
        nothing yet (for the local runtime, `file:///absolute/path` of a directory that must not exist); a
        `ServiceSpec.restore_from` naming it starts a new service with that data. Raises RuntimeFailure with the
        reason (one that names the schemes the runtime takes, for any other), leaving nothing at `destination`."""
        ...

    async def install_function(self, service_id: str, function: ExecutableFunction) -> None:
        """Install (or replace) an executable user-defined function on the running service and have its server
        load it. FunctionsUnsupported, found out from the server, when its ClickHouse has no executable functions;
        RuntimeFailure with the reason when the service is not running or the server does not load it."""
        ...

    async def remove_function(self, service_id: str, name: str) -> None:
        """Remove the function `install_function` installed, and have a running server unload it; a function that
        is not installed, or a service that is not running (its server reads functions when it starts), is not a
        failure."""
        ...

    async def stop(self, service_id: str) -> None:
        """Stop the service's processes, keeping its data. Stopping a stopped service is a no-op."""
        ...

    async def stop_all(self) -> None:
        """Stop every service's server (`clickplane stop-all`, tests), trying all of them even when some fail;
        then one RuntimeFailure naming the failures."""
        ...

    async def delete(self, service_id: str) -> None:
        """Stop the service and remove its data and everything allocated for it. Idempotent."""
        ...

    async def list_service_ids(self) -> list[str]:
        """Ids of every service this runtime holds anything for (processes or data)."""
        ...

    async def aclose(self) -> None:
        """Let go of what the runtime holds open to reach its services (connections); services keep running."""
        ...
