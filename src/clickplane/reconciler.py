"""The reconciler: the one writer of observed state, and the only caller of the runtime.

API handlers record intent (desired state, a new generation) and return at once. Each pass, the
reconciler reads the services whose observed state lags that intent, drives each toward it through
the runtime, and writes back what it saw. A service is worked on by one task at a time; a write only
lands if the intent it acted on is still the current one, so a newer request is never overwritten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import delete, update

from clickplane.runtime.base import Observation, Runtime, RuntimeFailure, ServiceSpec
from clickplane.store.database import Database
from clickplane.store.models import Service
from clickplane.store.repositories import Services

log = logging.getLogger(__name__)

GIB = 1 << 30


@dataclass(frozen=True)
class Intent:
    """A service's wishes as read at the start of a pass, detached from the session."""

    service_id: uuid.UUID
    desired_state: str
    generation: int
    spec: ServiceSpec


def intent_of(service: Service) -> Intent:
    spec = ServiceSpec(
        service_id=str(service.id),
        password_sha256_hex=service.password_sha256_hex,
        password_double_sha1_hex=service.password_double_sha1_hex,
        ip_access_list=tuple(entry["source"] for entry in service.ip_access_list),
        max_memory_bytes=int(service.max_replica_memory_gb * GIB),
    )
    return Intent(service.id, service.desired_state, service.generation, spec)


def endpoints_of(observation: Observation) -> list[dict[str, Any]]:
    return [{"protocol": e.protocol, "host": e.host, "port": e.port} for e in observation.endpoints]


class Reconciler:
    def __init__(self, database: Database, runtime: Runtime, wake: asyncio.Event, *,
                 interval_seconds: float = 2.0, concurrency: int = 8) -> None:
        self.database = database
        self.runtime = runtime
        self.wake = wake
        self.interval_seconds = interval_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run_forever(self) -> None:
        while True:
            try:
                self.pass_once()
            except Exception:  # a store hiccup must not end reconciliation
                log.exception("reconciler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.interval_seconds)
            self.wake.clear()

    def pass_once(self) -> None:
        """Start a task for every service that lags its intent and is not being worked on already."""
        with self.database.transaction() as session:
            intents = [intent_of(service) for service in Services(session).needing_work()]
        for intent in intents:
            if intent.service_id not in self._in_flight:
                task = asyncio.create_task(self._converge(intent), name=f"reconcile {intent.service_id}")
                self._in_flight[intent.service_id] = task
                task.add_done_callback(partial(self._finished, intent.service_id))

    def _finished(self, service_id: uuid.UUID, _task: asyncio.Task[None]) -> None:
        self._in_flight.pop(service_id, None)

    async def drain(self) -> None:
        """Wait for the tasks under way (tests and shutdown)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def _converge(self, intent: Intent) -> None:
        async with self._slots:
            try:
                if intent.desired_state == "running":
                    await self._bring_up(intent)
                elif intent.desired_state == "stopped":
                    await self.runtime.stop(intent.spec.service_id)
                    self._observe(intent, state="stopped", endpoints=[], reason=None)
                elif intent.desired_state == "deleted":
                    await self.runtime.delete(intent.spec.service_id)
                    self._forget(intent)
            except RuntimeFailure as failure:
                log.warning("service %s failed: %s", intent.service_id, failure)
                self._observe(intent, state="failed", reason=str(failure))

    async def _bring_up(self, intent: Intent) -> None:
        observation = await self.runtime.ensure_running(intent.spec)
        self._observe(intent, state="running", endpoints=endpoints_of(observation), reason=None,
                      clickhouse_version=observation.clickhouse_version)

    def _observe(self, intent: Intent, **values: Any) -> None:
        """Record what was seen, unless the intent changed meanwhile (then the next pass acts on the new one)."""
        with self.database.transaction() as session:
            session.execute(
                update(Service)
                .where(Service.id == intent.service_id, Service.generation == intent.generation,
                       Service.desired_state == intent.desired_state)
                .values(observed_generation=intent.generation, state_reason=values.pop("reason", None), **values)
            )

    def _forget(self, intent: Intent) -> None:
        with self.database.transaction() as session:
            session.execute(delete(Service).where(Service.id == intent.service_id,
                                                  Service.desired_state == "deleted"))
