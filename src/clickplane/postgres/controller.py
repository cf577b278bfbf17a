"""The reconcile loop's controller of Postgres services: the one writer of their observed state, and the only
caller of the Postgres runtime's lifecycle methods.

Each pass it drives every service whose observed state or applied spec lags its intent toward it: a new one is
initialized and started, a changed one (password, access list, parameters) has the change applied by a reload, a
restart is done, a deleted one is stopped and removed. A running server is checked once a watch interval; one that
stopped accepting connections is shown unavailable and started again on the next pass. A service whose start fails
is tried again later and later (up to `max_backoff_seconds` apart), never given up on: as on the real service, an
unavailable database heals itself once the cause is gone.

A write lands only if the intent it acted on is still the current one (compare and set), so a request that arrived
meanwhile is never overwritten: the next pass acts on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.kit.enums import PostgresDesiredState, PostgresState, RecordedActivityType
from clickplane.postgres import lifecycle
from clickplane.postgres.config import restart_message
from clickplane.postgres.lifecycle import Observed
from clickplane.postgres.repository import PostgresServices
from clickplane.reconcile.loop import Slots, Work
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import ConfigRejected, PostgresObservation, PostgresRuntime, PostgresSpec
from clickplane.store.database import Database
from clickplane.store.models import PostgresService

log = logging.getLogger(__name__)
_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Intent:
    """A service's wishes as read at the start of a pass, detached from the session."""

    service_id: uuid.UUID
    organization_id: uuid.UUID
    state: PostgresState
    desired_state: PostgresDesiredState
    generation: int
    spec: PostgresSpec


def intent_of(found: PostgresService) -> Intent:
    spec = PostgresSpec(
        service_id=str(found.id), version=found.postgres_version, superuser_verifier=found.superuser_verifier,
        ip_access_list=tuple(rule["source"] for rule in found.ip_access_list),
        config=tuple(sorted((name, str(value)) for name, value in found.pg_config.items())))
    return Intent(found.id, found.organization_id, found.state, found.desired_state, found.generation, spec)


def work_key(postgres_id: uuid.UUID) -> str:
    return f"postgres {postgres_id}"


@dataclass(frozen=True)
class PostgresPolicy:
    watch_interval_seconds: float = 5.0
    # How long a started server may take to accept connections (crash recovery of a big one takes a while).
    start_timeout_seconds: float = 60.0
    first_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0


@dataclass
class Backoff:
    failures: int = 0
    not_before: float = 0.0


class PostgresController:
    def __init__(self, database: Database, runtime: PostgresRuntime, slots: Slots, wake: Callable[[], None],
                 policy: PostgresPolicy | None = None) -> None:
        self.database = database
        self.runtime = runtime
        self.slots = slots
        self.wake = wake
        self.policy = policy or PostgresPolicy()
        self._checked_at: dict[uuid.UUID, float] = {}
        self._backoff: dict[uuid.UUID, Backoff] = {}

    async def prepare(self) -> None:
        """Remove what the runtime holds for services the store no longer knows (a crash between the runtime's
        delete and the row's removal leaves the row, so this only catches stray leftovers)."""
        with self.database.looking() as session:
            known = {str(found_id) for found_id in PostgresServices(session).ids()}
        for service_id in set(await self.runtime.list_service_ids()) - known:
            log.warning("removing leftovers of unknown Postgres service %s", service_id)
            await self.runtime.delete(service_id)

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        with self.database.looking() as session:
            lagging = [intent_of(found) for found in PostgresServices(session).needing_work()]
            running = [intent_of(found) for found in PostgresServices(session).settled_running()]
        now = time.monotonic()
        for intent in lagging:
            if self._backoff.get(intent.service_id, Backoff()).not_before <= now:
                yield work_key(intent.service_id), partial(self._converge, intent)
        for intent in running:
            checked = self._checked_at.get(intent.service_id, float("-inf"))
            if not busy(work_key(intent.service_id)) and now - checked >= self.policy.watch_interval_seconds:
                self._checked_at[intent.service_id] = now
                yield work_key(intent.service_id), partial(self._watch, intent)

    async def _converge(self, intent: Intent) -> None:
        try:
            if intent.desired_state == "running":
                await self._bring_up(intent)
            elif intent.desired_state == "deleted":
                async with self.slots:
                    await self.runtime.delete(intent.spec.service_id)
                self._forget(intent)
            else:
                async with self.slots:
                    await self.runtime.stop(intent.spec.service_id)
                self._observe(intent, "halted")
        except (RuntimeFailure, ConfigRejected) as failure:
            self._failed(intent, str(failure))
        else:
            self._backoff.pop(intent.service_id, None)

    async def _bring_up(self, intent: Intent) -> None:
        """Start (or restart) the server in a slot, wait outside of one until it accepts connections, then bring
        it to the spec by a reload."""
        async with self.slots:
            if intent.state == "restarting":
                await self.runtime.restart(intent.spec.service_id)
            else:
                await self.runtime.start(intent.spec)
        observation = await self._until_accepting(intent.spec.service_id)
        applied = await self.runtime.apply(intent.spec)
        newly_up = intent.state != "running"
        self._observe(intent, "came_up", "postgres_service_running" if newly_up else None,
                      reason=restart_message(applied.pending_restart), **_address(observation))

    async def _until_accepting(self, service_id: str) -> PostgresObservation:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.start_timeout_seconds
        while True:
            observation = await self.runtime.observe(service_id)
            if observation.running:
                return observation
            if loop.time() >= deadline:
                raise RuntimeFailure(f"PostgreSQL did not accept connections within "
                                     f"{self.policy.start_timeout_seconds:g} s: {observation.reason}")
            await asyncio.sleep(_POLL_SECONDS)

    async def _watch(self, intent: Intent) -> None:
        observation = await self.runtime.observe(intent.spec.service_id)
        if not observation.running:
            reason = observation.reason or "PostgreSQL stopped accepting connections"
            log.warning("Postgres service %s: %s; starting it again", intent.service_id, reason)
            if self._observe(intent, "died", "postgres_service_unavailable", reason=reason, keep_generation=True):
                self.wake()

    # Writes.

    def _failed(self, intent: Intent, reason: str) -> None:
        backoff = self._backoff.setdefault(intent.service_id, Backoff())
        delay = min(self.policy.max_backoff_seconds, self.policy.first_backoff_seconds * 2 ** backoff.failures)
        backoff.failures += 1
        backoff.not_before = time.monotonic() + delay
        log.warning("Postgres service %s: %s; trying again in %.0f s", intent.service_id, reason, delay)
        self._observe(intent, "gave_up", "postgres_service_unavailable" if intent.state != "unavailable" else None,
                      reason=reason, keep_generation=True)

    def _observe(self, intent: Intent, event: Observed, activity: RecordedActivityType | None = None, *,
                 reason: str | None = None, keep_generation: bool = False, **values: Any) -> bool:
        """Record what was seen, as the lifecycle table has `event` change the state, unless the intent changed
        meanwhile; with `activity` in the same transaction. Returns whether it was written."""
        values.update(lifecycle.TABLE.values(lifecycle.apply(intent.state, event)), state_reason=reason)
        if not keep_generation:  # the intent is done with: seen at its generation
            values.update(observed_generation=intent.generation)
        with self.database.transaction() as session:
            written = PostgresServices(session).write_if_intent(intent.service_id, intent.generation,
                                                                intent.desired_state, values)
            if written and activity is not None:
                record_system(Activities(session), intent.organization_id, activity, service_id=intent.service_id)
        return written

    def _forget(self, intent: Intent) -> None:
        with self.database.transaction() as session:
            PostgresServices(session).remove_deleted(intent.service_id)
        self._checked_at.pop(intent.service_id, None)
        self._backoff.pop(intent.service_id, None)


def _address(observation: PostgresObservation) -> dict[str, Any]:
    values: dict[str, Any] = {"server_version": observation.server_version}
    if observation.host is not None and observation.port is not None:
        values.update(hostname=observation.host, port=observation.port)
    return values
