"""What the API handlers share: settings, the store, the secret hasher, and a way to wake the reconciler."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from clickplane.auth.authentication import VerifiedKeys
from clickplane.auth.rate_limit import RateLimiter
from clickplane.auth.secrets import SecretHasher
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.postgres.interface import PostgresRuntime
from clickplane.settings import Settings
from clickplane.store.database import Database
from clickplane.store.read_cache import ReadCache


@dataclass
class AppContext:
    settings: Settings
    database: Database
    hasher: SecretHasher
    verified_keys: VerifiedKeys
    runtime: ClickHouseRuntime
    postgres_runtime: PostgresRuntime
    # Set by a handler that recorded new intent, so the reconciler acts now instead of at its next tick.
    reconcile_now: asyncio.Event = field(default_factory=asyncio.Event)
    # Counts each authenticated request against its key's allowance; None when there is no rate limit.
    rate_limiter: RateLimiter | None = None
    # What the hottest reads return, for a moment (store/read_cache.py); off unless given.
    read_cache: ReadCache = field(default_factory=lambda: ReadCache(0))
    # The port of serve's HTTPS listener that UDF archives are PUT to; None while no listener runs.
    udf_upload_port: int | None = None
    _http: httpx.AsyncClient | None = None

    def http_client(self) -> httpx.AsyncClient:
        """One connection pool to the services' servers, made in the serving loop on first use. Reads have no
        timeout: a query may stream for as long as it runs."""
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(None, connect=10.0))
        return self._http
