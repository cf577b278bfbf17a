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
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.kit.enums import PostgresDesiredState, PostgresState, RecordedActivityType
from clickplane.postgres import lifecycle
from clickplane.postgres.config import restart_message
from clickplane.postgres.lifecycle import Observed
from clickplane.postgres.repository import PostgresServices
from clickplane.postgres.telemetry.sampler import PostgresSampler
from clickplane.reconcile.loop import Slots, Work
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import (
    ConfigRejected,
    PostgresObservation,
    PostgresRuntime,
    PostgresSpec,
    ReplicaOf,
    RestoredFrom,
)
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
    is_replica: bool = False
    # Its restart is a switchover onto a new server.
    switchover: bool = False


def intent_of(found: PostgresService) -> Intent:
    spec = PostgresSpec(
        service_id=str(found.id), version=found.postgres_version, superuser_verifier=found.superuser_verifier,
        ip_access_list=tuple(rule["source"] for rule in found.ip_access_list),
        config=tuple(sorted((name, str(value)) for name, value in found.pg_config.items())),
        origin=_origin(found), promoted=found.promote_requested)
    return Intent(found.id, found.organization_id, found.state, found.desired_state, found.generation, spec,
                  is_replica=found.replica_of is not None, switchover=found.switchover_requested)


def _origin(found: PostgresService) -> ReplicaOf | RestoredFrom | None:
    if found.replica_of is not None:
        return ReplicaOf(str(found.replica_of))
    if found.restored_from is not None and found.restore_target is not None:
        return RestoredFrom(str(found.restored_from), found.restore_target)
    return None


def work_key(postgres_id: uuid.UUID) -> str:
    return f"postgres {postgres_id}"


@dataclass(frozen=True)
class PostgresPolicy:
    watch_interval_seconds: float = 5.0
    # How long a started server may take to accept connections (crash recovery of a big one takes a while).
    start_timeout_seconds: float = 60.0
    first_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 300.0
    # A base backup when a primary first runs and then once a period; those older than the retention are pruned
    # (the real service: daily, kept 7 days).
    backup_period_seconds: float = 24 * 3600.0
    backup_retention_seconds: float = 7 * 24 * 3600.0


@dataclass
class Backoff:
    failures: int = 0
    not_before: float = 0.0


class PostgresController:
    def __init__(self, database: Database, runtime: PostgresRuntime, slots: Slots, wake: Callable[[], None],
                 policy: PostgresPolicy | None = None, sampler: PostgresSampler | None = None) -> None:
        self.database = database
        self.runtime = runtime
        self.sampler = sampler
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
        """Start (or restart) the server in a slot, wait outside of one until it accepts connections (a restore:
        until it has replayed WAL up to its target and been promoted), then bring it to the spec by a reload."""
        restoring = isinstance(intent.spec.origin, RestoredFrom) and intent.state in ("creating", "restoring_backup")
        if restoring:
            intent = self._moved(intent, "restoring")
        async with self.slots:
            if intent.state == "restarting" and intent.switchover:
                await self.runtime.switchover(intent.spec.service_id)
            elif intent.state == "restarting":
                await self.runtime.restart(intent.spec.service_id)
            else:
                await self.runtime.start(intent.spec)
        observation = await self._until_accepting(intent, recovered=restoring)
        applied = await self.runtime.apply(intent.spec)
        values = _address(observation) | {"switchover_requested": False}
        if intent.spec.promoted and intent.is_replica:
            observation = await self._until_accepting(intent, recovered=True)
            values.update(is_primary=True, replica_of=None, promote_requested=False)
        newly_up = intent.state != "running"
        self._observe(intent, "came_up", "postgres_service_running" if newly_up else None,
                      reason=restart_message(applied.pending_restart), **values)

    async def _until_accepting(self, intent: Intent, recovered: bool = False) -> PostgresObservation:
        """Poll until the server accepts connections (and with `recovered`, is out of recovery: a restore or a
        promotion done), showing a restore as replaying its WAL meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.start_timeout_seconds
        while True:
            observation = await self.runtime.observe(intent.spec.service_id)
            if observation.running and not (recovered and observation.in_recovery):
                return observation
            if observation.running and intent.state == "restoring_backup":
                intent = self._moved(intent, "replaying")
            if loop.time() >= deadline:
                raise RuntimeFailure(f"PostgreSQL did not {'finish recovery' if recovered else 'accept connections'} "
                                     f"within {self.policy.start_timeout_seconds:g} s: {observation.reason}")
            await asyncio.sleep(_POLL_SECONDS)

    def _moved(self, intent: Intent, event: Observed) -> Intent:
        """Show progress (restoring, replaying) while the work goes on: the intent stays, only the state moves."""
        transition = lifecycle.apply(intent.state, event)
        if transition is None or transition.state is None:
            return intent
        self._observe(intent, event, keep_generation=True)
        return replace(intent, state=transition.state)

    async def _watch(self, intent: Intent) -> None:
        observation = await self.runtime.observe(intent.spec.service_id)
        if not observation.running:
            reason = observation.reason or "PostgreSQL stopped accepting connections"
            log.warning("Postgres service %s: %s; starting it again", intent.service_id, reason)
            if self._observe(intent, "died", "postgres_service_unavailable", reason=reason, keep_generation=True):
                self.wake()
            return
        if self.sampler is not None:  # metrics, statements: never raises
            await self.sampler.sample_when_due(intent.service_id)
        if intent.is_replica:  # no backups of its own; its logs still rotate out
            await self.runtime.prune(intent.spec.service_id, self._retained_since())
        else:
            await self._back_up_when_due(intent)

    async def _back_up_when_due(self, intent: Intent) -> None:
        """A base backup when none is newer than the backup period, then what the retention no longer needs
        pruned, and the earliest restore time recorded for the API to show."""
        service_id = intent.spec.service_id
        now = datetime.now(UTC)
        backups = await self.runtime.base_backups(service_id)
        finished = [backup.finished_at for backup in backups if backup.finished_at is not None]
        try:
            if not finished or (now - max(finished)).total_seconds() >= self.policy.backup_period_seconds:
                async with self.slots:
                    await self.runtime.take_base_backup(service_id)
                await self.runtime.prune(service_id, self._retained_since())
        except RuntimeFailure as failure:  # the next check tries again
            log.warning("Postgres service %s: backup failed: %s", intent.service_id, failure)
        window = await self.runtime.recovery_window(service_id)
        with self.database.transaction() as session:
            PostgresServices(session).write_earliest_restore_time(intent.service_id,
                                                                  window.earliest if window else None)

    def _retained_since(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.policy.backup_retention_seconds)

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
