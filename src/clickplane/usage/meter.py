"""Metering: every few seconds, what each service used since the last look is added to its usage of the day.

What is counted, and how, is in usage/service.py. Each look reads the services from the store, samples the
storage of the running ones from their servers (as the control plane's own queries, which never keep a
service from idling), and writes one row per service in one statement. Time when `serve` was not running is
not metered: the first look after a start only samples.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import cast

from clickplane.kit.context import AppContext
from clickplane.services import engine
from clickplane.services.repository import ServiceRows
from clickplane.store.database import Database
from clickplane.store.models import Service, UsageDay, utcnow
from clickplane.usage import service as usage
from clickplane.usage.repository import UsageDays

log = logging.getLogger(__name__)

# `bytes_on_disk` is the column's name on 18.16 and on today's servers (18.16 also calls it `bytes`).
STORAGE_SQL = "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database != 'system' FORMAT TSV"

# The bytes a running service's tables hold, read from its server; None when it does not answer.
Measure = Callable[[uuid.UUID], Awaitable[int | None]]


def storage_measure(context: AppContext) -> Measure:
    async def measure(service_id: uuid.UUID) -> int | None:
        answer = await engine.ask(context, service_id, STORAGE_SQL)
        text = answer.text.strip() if answer is not None and answer.ok else ""
        return int(text) if text.isdigit() else None

    return measure


class Meter:
    def __init__(self, database: Database, measure: Measure, interval_seconds: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.measure = measure
        self.interval_seconds = interval_seconds
        self.clock = clock
        self._last_look: datetime | None = None
        # Each service's storage as last sampled, from the store until its server answers.
        self._storage: dict[uuid.UUID, int] | None = None

    @classmethod
    def of(cls, context: AppContext) -> Meter:
        return cls(context.database, storage_measure(context), context.settings.metering_interval_seconds)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.look()
            except Exception:  # a store or network hiccup must not end metering
                log.exception("metering failed")
            await asyncio.sleep(self.interval_seconds)

    async def look(self) -> None:
        """Sample every service, and record what each used since the last look (nothing on the first)."""
        now = self.clock()
        with self.database.reading() as connection:  # Core rows: an ORM load of thousands stalled the API
            services = [cast(Service, row) for row in ServiceRows(connection).all()]
        with self.database.looking() as session:
            backups = UsageDays(session).backup_bytes()
            if self._storage is None:
                self._storage = UsageDays(session).last_storage_bytes()
        storage = self._storage
        running = [service for service in services if service.state == "running"]
        for service, sampled in zip(running, await asyncio.gather(*(self.measure(s.id) for s in running)),
                                    strict=True):
            if sampled is not None:
                storage[service.id] = sampled
        if self._last_look is not None:
            start = self._last_look
            used = [day for service in services for day in self._used(
                service, storage.get(service.id, 0), backups.get(service.id, 0), start, now)]
            with self.database.transaction() as session:
                UsageDays(session).add(used)
        self._last_look = now

    @staticmethod
    def _used(service: Service, storage_bytes: int, backup_bytes: int, start: datetime, end: datetime
              ) -> list[UsageDay]:
        sample = usage.Sample(service.state == "running", service.max_replica_memory_gb, service.num_replicas,
                              storage_bytes, backup_bytes)
        return [UsageDay(service_id=service.id, day=use.day, organization_id=service.organization_id,
                         data_warehouse_id=service.data_warehouse_id, service_name=service.name,
                         compute_gib_seconds=use.compute_gib_seconds, storage_gib_seconds=use.storage_gib_seconds,
                         backup_gib_seconds=use.backup_gib_seconds, storage_bytes=storage_bytes)
                for use in usage.accrue(sample, start, end)]
