"""The small interface between the control plane and wherever PostgreSQL services really run.

As for ClickHouse, the reconciler (and, for the checks that need the engine's own answer, the Postgres service
layer) is the only caller: it says what a service should look like (a `PostgresSpec`) and reads what the runtime
sees (a `PostgresObservation`). The runtime never touches the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

# The superuser users log in as; the runtime's own login is another role that users are not told about.
SUPERUSER = "postgres"


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


@dataclass(frozen=True)
class PostgresObservation:
    """What a runtime sees of a Postgres service right now."""

    # Accepting connections (and so usable), not merely a process.
    running: bool
    host: str | None = None
    port: int | None = None
    # The server's full version (`server_version`, e.g. "17.10").
    server_version: str | None = None
    # Whether the server is in recovery (a standby): false for a primary.
    in_recovery: bool = False
    # Why it is not running, when it should be (a failed start, a crash, a missing binary...).
    reason: str | None = None
    pid: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppliedConfig:
    """The outcome of applying a spec's parameters to a running server."""

    # Parameters whose new value waits for a restart (`pg_settings.pending_restart`).
    pending_restart: tuple[str, ...] = ()


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
        the server cannot be reached."""
        ...

    async def restart(self, service_id: str) -> None:
        """Restart the server (fast shutdown, then start), keeping its data; returns once it is going again."""
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
