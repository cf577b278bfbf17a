"""The small interface between the control plane and wherever PostgreSQL services really run.

As for ClickHouse, the reconciler (and, for the checks that need the engine's own answer, the Postgres service
layer) is the only caller: it says what a service should look like (a `PostgresSpec`) and reads what the runtime
sees (a `PostgresObservation`). The runtime never touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

# The superuser users log in as; the runtime's own login is another role that users are not told about.
SUPERUSER = "postgres"


@dataclass(frozen=True)
class ReplicaOf:
    """The service is a read replica: a standby that replays the primary's WAL (read-only) until promoted."""

    primary_id: str


@dataclass(frozen=True)
class RestoredFrom:
    """The service is a new primary made from another's base backup and WAL archive, recovered to `target` (the
    last transaction committed at or before it) and then promoted."""

    source_id: str
    target: datetime


@dataclass(frozen=True)
class PostgresSpec:
    """Everything a runtime needs to run one Postgres service, already validated by the domain layer."""

    service_id: str
    # The major version ("17", "18"); the runtime knows which binaries serve it.
    version: str
    # The SCRAM-SHA-256 verifier of the `postgres` superuser's password (`SCRAM-SHA-256$4096:...`): the plain
    # password is shown once and never kept.
    superuser_verifier: str
    # Networks that may connect over TLS: IPv4/IPv6 addresses or CIDRs. Empty means loopback only.
    ip_access_list: tuple[str, ...] = ()
    # User-set server parameters (name, value as text), names among those the domain allows.
    config: tuple[tuple[str, str], ...] = ()
    # Names the certificate must carry beside the advertised host (none needed for now).
    extra_hostnames: tuple[str, ...] = ()
    # How the cluster is made on first start: None (a new, empty one), a replica of another, or a restore. Ignored
    # once the cluster exists.
    origin: ReplicaOf | RestoredFrom | None = None
    # A replica that is to stop replaying and become a primary (promote); ignored for a primary.
    promoted: bool = False


@dataclass(frozen=True)
class PostgresObservation:
    """What a runtime sees of a Postgres service right now."""

    # Accepting connections (and so usable), not merely a process.
    running: bool
    host: str | None = None
    port: int | None = None
    # The server's full version (`server_version`, e.g. "17.10").
    server_version: str | None = None
    # Whether the server is in recovery (a standby, or a restore still replaying WAL): false for a primary.
    in_recovery: bool = False
    # For a server in recovery: how far behind the WAL it has received it is, in seconds (None if it cannot tell).
    replay_lag_seconds: float | None = None
    # Why it is not running, when it should be (a failed start, a crash, a missing binary...).
    reason: str | None = None
    pid: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppliedConfig:
    """The outcome of applying a spec's parameters to a running server."""

    # Parameters whose new value waits for a restart (`pg_settings.pending_restart`).
    pending_restart: tuple[str, ...] = ()


@dataclass(frozen=True)
class BaseBackup:
    """A base backup of a service's cluster, from which (with the WAL archived since) it can be restored."""

    key: str  # unique per service, sortable by time
    started_at: datetime
    finished_at: datetime | None  # None while it is being taken
    size_in_bytes: int  # while it is being taken: copied so far


@dataclass(frozen=True)
class RecoveryWindow:
    """The moments a service can be restored to: from the end of its oldest base backup to the last WAL archived
    (the end of its newest base backup at least: the WAL written until then is archived as a backup ends)."""

    earliest: datetime
    latest: datetime


@dataclass(frozen=True)
class LogEntry:
    timestamp: datetime
    severity: str  # PostgreSQL's: LOG, WARNING, ERROR, FATAL, PANIC, ...
    body: str


@dataclass(frozen=True)
class SqlLogin:
    """How the control plane reaches a running server itself (its metrics, statistics): a libpq connection string
    for the runtime's own login, over TLS."""

    conninfo: str


class ConfigRejected(Exception):
    """The engine refused a parameter or its value; the message is the engine's own, for the user."""


class PostgresRuntime(Protocol):
    """How Postgres services really run: local processes now, Kubernetes later."""

    def versions(self) -> tuple[str, ...]:
        """The major versions this runtime has binaries for, e.g. ("17", "18")."""
        ...

    async def check_config(self, version: str, config: tuple[tuple[str, str], ...]) -> None:
        """Check names and values with the engine's own parser of that version, with no server running;
        ConfigRejected with the engine's message for the first it refuses."""
        ...

    async def restart_needed(self, version: str, names: tuple[str, ...]) -> tuple[str, ...]:
        """Those of `names` that the engine of that version reads only at server start (context postmaster), as the
        engine itself describes them (`postgres --describe-config`)."""
        ...

    async def reserve(self, service_id: str) -> tuple[str, int]:
        """The host and port the service will listen on, chosen now (before its first start) and kept."""
        ...

    async def start(self, spec: PostgresSpec) -> None:
        """Create the cluster on first use (initdb, certificate, access rules), then get its server going or adopt
        the one running, without waiting for it to accept connections. RuntimeFailure with the reason."""
        ...

    async def observe(self, service_id: str) -> PostgresObservation:
        """Report the service as it is, without changing anything."""
        ...

    async def apply(self, spec: PostgresSpec) -> AppliedConfig:
        """Bring a running server to `spec` without a restart: the superuser's password, the access rules
        (reloaded), the parameters (set, reloaded; those that need a restart are reported). ConfigRejected when
        the server refuses a parameter (nothing of the call's parameters is left applied); RuntimeFailure when
        the server cannot be reached. A server in recovery (a replica, a restore not done) keeps its superuser
        (a replica's is its primary's, replicated); a replica whose spec is `promoted` is promoted first, and is a
        primary from then on, for good."""
        ...

    async def restart(self, service_id: str) -> None:
        """Restart the server (fast shutdown, then start), keeping its data; returns once it is going again."""
        ...

    async def switchover(self, service_id: str) -> None:
        """Move the running primary onto a new server, its data and WAL position kept, at the same address; returns
        once the new one is going. RuntimeFailure when it cannot (the old server is then running again)."""
        ...

    async def ca_certificate(self, service_id: str) -> bytes:
        """The PEM of the service's own CA, which signs its server certificate."""
        ...

    async def stop(self, service_id: str) -> None:
        """Stop the server, keeping its data. Stopping a stopped service is a no-op."""
        ...

    async def delete(self, service_id: str) -> None:
        """Stop the server and remove its data and everything allocated for it. Idempotent."""
        ...

    async def list_service_ids(self) -> list[str]:
        """Ids of every service this runtime holds anything for (processes or data)."""
        ...

    # Backups and point-in-time recovery. Every cluster archives its WAL continuously from its first start.

    async def take_base_backup(self, service_id: str) -> BaseBackup:
        """A base backup of the running primary, now, into the service's own backup store. RuntimeFailure when
        the server is not running, is in recovery (a replica, a restore not done) or the copy fails (nothing
        half-made is left)."""
        ...

    async def base_backups(self, service_id: str) -> list[BaseBackup]:
        """The service's base backups, oldest first."""
        ...

    async def prune(self, service_id: str, keep_after: datetime) -> None:
        """Remove base backups finished before `keep_after`, except the newest such one, and the WAL only they
        need: what remains can still restore to any moment from `keep_after` on. Also trims the server's old log
        files (call it now and then for replicas too, which have no backups)."""
        ...

    async def recovery_window(self, service_id: str) -> RecoveryWindow | None:
        """What the service can be restored to; None before its first base backup is finished."""
        ...

    async def sql_login(self, service_id: str) -> SqlLogin | None:
        """How to reach the running server as the runtime's own login (a superuser; pg_stat_statements is in its
        `postgres` database); None when it is not running."""
        ...

    async def logs(self, service_id: str, since: datetime, until: datetime, limit: int) -> list[LogEntry]:
        """The server's log entries in [since, until), oldest first, at most `limit` (of those it keeps: its
        newest log files, some 100 MB)."""
        ...
