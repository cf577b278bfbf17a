"""Test doubles shared by unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickplane.auth.authentication import VerifiedKeys
from clickplane.auth.secrets import SecretHasher
from clickplane.backups.jobs import BackupJobs
from clickplane.kit.context import AppContext
from clickplane.operations import clickhouse_runtime, postgres_runtime
from clickplane.reconcile.loop import ReconcileLoop, Slots
from clickplane.services.controller import ServiceController, ServicePolicy
from clickplane.settings import Settings
from clickplane.store.database import Database


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


def service_loop(database: Database, runtime: Any, jobs: BackupJobs, policy: ServicePolicy | None = None
                 ) -> ReconcileLoop:
    """The reconcile loop with the ClickHouse services' controller alone, on a test double of the runtime."""
    wake = asyncio.Event()
    return ReconcileLoop([ServiceController(database, runtime, jobs, Slots(4), wake.set, policy)], wake)


def app_context(settings: Settings, database: Database, hasher: SecretHasher, verified_keys: VerifiedKeys
                ) -> AppContext:
    """What the API's services are given, with the runtimes `settings` choose (made, never started here)."""
    return AppContext(settings, database, hasher, verified_keys, clickhouse_runtime(settings, hasher),
                      postgres_runtime(settings, hasher))
