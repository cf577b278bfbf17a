"""The reconcile loop's controller of ClickHouse services: the one writer of their observed state, and the only
caller of the ClickHouse runtime.

Each pass it drives every service whose observed state lags its intent toward it, and watches the running ones:
a server that died is restarted (and after repeated deaths the service is marked failed), one that has served no
query for its idle timeout is stopped and shown idle, and each is backed up on its schedule, its backups past
their retention deleted (backups/jobs.py). What each observation does to a service's state is the lifecycle
table's (lifecycle.py).

A write lands only if the intent it acted on is still the current one, so a request that arrived meanwhile is
never overwritten: the next pass acts on it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.backups.jobs import BackupJobs
from clickplane.backups.service import backup_uri
from clickplane.kit.enums import DesiredState, RecordedActivityType, ServiceState
from clickplane.reconcile.loop import Slots, Work
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime, Observation, ServiceSpec
from clickplane.services import lifecycle
from clickplane.services.lifecycle import Observed
from clickplane.services.releases import channel_binary, never_ran
from clickplane.services.repository import Releases, Services
from clickplane.store.database import Database
from clickplane.store.models import Service

log = logging.getLogger(__name__)

GIB = 1 << 30
# The observation that ends each intent but running.
REACHED: dict[DesiredState, Observed] = {"stopped": "halted", "idle": "went_idle"}


@dataclass(frozen=True)
class Intent:
    """A service's wishes as read at the start of a pass, detached from the session."""

    service_id: uuid.UUID
    organization_id: uuid.UUID
    state: ServiceState
    desired_state: DesiredState
    generation: int
    idle_scaling: bool
    idle_timeout_minutes: int
    spec: ServiceSpec
    # Whether `spec.binary` is the release channel's of a service that never ran: recorded as its release when
    # it is first started, so that the upgrade controller gates only later changes by the upgrade window.
    first_release: bool = False


def intent_of(service: Service, binary: str | None = None, first_release: bool = False) -> Intent:
    """The service's intent, to run on `binary` (None: the runtime's default)."""
    spec = ServiceSpec(
        service_id=str(service.id),
        password_sha256_hex=service.password_sha256_hex,
        ip_access_list=tuple(entry["source"] for entry in service.ip_access_list),
        max_memory_bytes=int(service.max_replica_memory_gb * GIB),
        settings=tuple(sorted(service.clickhouse_settings.items())),
        restore_from=backup_uri(service.restore_from) if service.restore_from is not None else None,
        replicas=service.num_replicas,
        binary=binary,
    )
    return Intent(service.id, service.organization_id, service.state, service.desired_state, service.generation,
                  service.idle_scaling, service.idle_timeout_minutes, spec, first_release)


def work_key(service_id: uuid.UUID) -> str:
    """The key of a service's work in the loop (and in its log lines)."""
    return f"service {service_id}"


def endpoints_of(observation: Observation) -> list[dict[str, Any]]:
    return [{"protocol": e.protocol, "host": e.host, "port": e.port} for e in observation.endpoints]


@dataclass
class Watch:
    """What the controller remembers of a running service between passes."""

    last_queries: int | None = None
    last_active: float = field(default_factory=time.monotonic)
    restarts: deque[float] = field(default_factory=deque)
    checked_at: float = float("-inf")
    # Checks in a row at which the server's process ran but did not answer.
    unanswered: int = 0


@dataclass(frozen=True)
class ServicePolicy:
    # How often each running service is checked (two requests to its server and a look at its backups): a
    # change wakes the loop at once, but a healthy service needs no look every pass.
    watch_interval_seconds: float = 5.0
    # A server whose process runs but does not answer this many checks in a row is hung (or stopped: SIGSTOP)
    # and is replaced; fewer may be a moment's starvation. One whose process is gone is restarted at once.
    unanswered_checks: int = 3
    # A server that dies this many times within the window is given up on (state failed).
    max_restarts: int = 3
    restart_window_seconds: float = 300.0
    # Seconds in an idle-timeout "minute": 60, except in tests that cannot wait minutes.
    idle_minute_seconds: float = 60.0


class ServiceController:
    def __init__(self, database: Database, runtime: ClickHouseRuntime, backups: BackupJobs, slots: Slots,
                 wake: Callable[[], None], policy: ServicePolicy | None = None,
                 channel_binaries: dict[str, str] | None = None) -> None:
        """`channel_binaries`: the ClickHouse binary of each release channel that names one (settings'
        clickhouse_release_channels); a new service starts on its channel's at once."""
        self.database = database
        self.channel_binaries = channel_binaries or {}
        self.runtime = runtime
        self.backups = backups
        self.slots = slots
        self.wake = wake
        self.policy = policy or ServicePolicy()
        self._watches: dict[uuid.UUID, Watch] = {}

    async def prepare(self) -> None:
        self.backups.fail_interrupted()
        await self._remove_orphans()

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        """Converging every service that lags its intent; a check of each running one once a watch interval,
        however often changes to other services wake the loop, and not while its last task is under way (that
        pass would start no check, and the service would wait a whole interval more)."""
        with self.database.looking() as session:
            binaries = Releases(session).binaries()
            lagging = [self._intent(s, binaries) for s in Services(session).needing_work()]
            running = [intent_of(s, binaries.get(s.id)) for s in Services(session).settled_running()]
        for gone in set(self._watches) - {intent.service_id for intent in running + lagging}:
            self._watches.pop(gone, None)
        for intent in lagging:
            yield work_key(intent.service_id), partial(self._converge, intent)
        now = time.monotonic()
        for intent in running:
            watch = self._watches.setdefault(intent.service_id, Watch())
            if not busy(work_key(intent.service_id)) and now - watch.checked_at >= self.policy.watch_interval_seconds:
                watch.checked_at = now
                yield work_key(intent.service_id), partial(self._watch, intent)

    def _intent(self, service: Service, binaries: dict[uuid.UUID, str]) -> Intent:
        """The intent of a service to converge: on its recorded release, else, one that never ran, on its release
        channel's binary (recorded when it starts), else on the runtime's default."""
        if service.id in binaries:
            return intent_of(service, binaries[service.id])
        channel = channel_binary(service.options, self.channel_binaries)
        if channel is not None and never_ran(service) and service.desired_state == "running":
            return intent_of(service, channel, first_release=True)
        return intent_of(service)

    # Driving a service toward its intent.

    async def _converge(self, intent: Intent) -> None:
        try:
            if intent.desired_state == "running":
                await self._bring_up(intent)
                return
            async with self.slots:
                if intent.desired_state == "deleted":
                    await self.runtime.delete(intent.spec.service_id)
                    await self.backups.remove_all(intent.service_id)
                    self._forget(intent)
                else:
                    await self.runtime.stop(intent.spec.service_id)
                    self._observe(intent, REACHED[intent.desired_state], reason=None)
        except RuntimeFailure as failure:
            self._fail(intent, str(failure))

    async def _bring_up(self, intent: Intent) -> None:
        """Start the server in a slot, then wait for it outside of one: a server coming up is mostly waiting,
        and slots bound the work of many starting at once, not the waiting."""
        if intent.first_release and intent.spec.binary is not None:
            self._record_first_release(intent.service_id, intent.spec.binary)
        async with self.slots:
            await self.runtime.start(intent.spec)
        observation = await self.runtime.wait_until_up(intent.spec.service_id)
        started = intent.state != "running"
        self._observe(intent, "came_up", "service_running" if started else None, reason=None,
                      endpoints=endpoints_of(observation), clickhouse_version=observation.clickhouse_version)
        if started:
            self._watches[intent.service_id] = Watch()

    # Watching a running service.

    async def _watch(self, intent: Intent) -> None:
        watch = self._watches.setdefault(intent.service_id, Watch())
        async with self.slots:
            observation = await self.runtime.observe(intent.spec.service_id)
            if observation.running:
                watch.unanswered = 0
                if intent.idle_scaling:
                    await self._check_idle(intent, watch)
                await self.backups.run_schedule(intent.service_id)
        if not observation.running:  # out of the slot: a restart takes one of its own
            await self._unhealthy(intent, watch, observation)

    async def _unhealthy(self, intent: Intent, watch: Watch, observation: Observation) -> None:
        """Restart a server that is gone at once; replace one whose process runs (its pid is seen) once it has
        not answered `unanswered_checks` checks in a row."""
        reason = observation.reason or "ClickHouse stopped answering"
        hung = observation.pid is not None
        if hung:
            watch.unanswered += 1
            if watch.unanswered < self.policy.unanswered_checks:
                log.warning("service %s: %s (%d of %d checks in a row)", intent.service_id, reason,
                            watch.unanswered, self.policy.unanswered_checks)
                return
            reason = f"{reason} at {watch.unanswered} checks in a row"
            watch.unanswered = 0
        await self._recover(intent, watch, reason, hung)

    async def _recover(self, intent: Intent, watch: Watch, reason: str, hung: bool) -> None:
        """Restart the service's server, ending a `hung` one first: a start would adopt it and wait for it."""
        now = time.monotonic()
        while watch.restarts and now - watch.restarts[0] > self.policy.restart_window_seconds:
            watch.restarts.popleft()
        if len(watch.restarts) >= self.policy.max_restarts:
            message = (f"{reason}; it died {len(watch.restarts) + 1} times within "
                       f"{self.policy.restart_window_seconds:.0f} s, so clickplane stopped restarting it. "
                       "Start the service again once the cause is fixed")
            await self.runtime.stop(intent.spec.service_id)
            self._fail(intent, message)
            return
        watch.restarts.append(now)
        log.warning("service %s: %s; restarting it", intent.service_id, reason)
        self._observe(intent, "died", reason=f"{reason}; restarting it")
        try:
            if hung:
                await self.runtime.stop(intent.spec.service_id)
            await self._bring_up(intent)
        except RuntimeFailure as failure:
            self._fail(intent, str(failure))

    async def _check_idle(self, intent: Intent, watch: Watch) -> None:
        queries = await self.runtime.query_count(intent.spec.service_id)
        now = time.monotonic()
        # Our own count query is one query: only more than that is a client's activity.
        if queries is None or watch.last_queries is None or queries > watch.last_queries + 1:
            watch.last_active = now
        watch.last_queries = queries
        timed_out = now - watch.last_active >= intent.idle_timeout_minutes * self.policy.idle_minute_seconds
        if timed_out and self._observe(intent, "timed_out_idle", "service_idle", keep_generation=True):
            self.wake()

    # Writes.

    def _fail(self, intent: Intent, reason: str) -> None:
        """Mark the service failed, with the reason in the log as well: the API does not show the stored one."""
        log.warning("service %s failed: %s", intent.service_id, reason)
        self._observe(intent, "gave_up", reason=reason)

    def _observe(self, intent: Intent, event: Observed, activity: RecordedActivityType | None = None, *,
                 reason: str | None = None, keep_generation: bool = False, **values: Any) -> bool:
        """Record what was seen, as the lifecycle table has `event` change the state, unless the intent changed
        meanwhile (then the next pass acts on the new one); with `activity` in the same transaction, so that a
        control plane killed in between leaves neither without the other. Returns whether it was written."""
        transition = lifecycle.apply(intent.state, event)
        if transition is not None:
            values.update({"state": transition.state} if transition.state else {})
            values.update({"desired_state": transition.desired_state} if transition.desired_state else {})
        if not keep_generation:  # the intent is done with: seen at its generation
            values.update(observed_generation=intent.generation, state_reason=reason)
        with self.database.transaction() as session:
            written = Services(session).write_if_intent(intent.service_id, intent.generation, intent.desired_state,
                                                        values)
            if written and activity is not None:
                record_system(Activities(session), intent.organization_id, activity, service_id=intent.service_id)
        return written

    def _record_first_release(self, service_id: uuid.UUID, binary: str) -> None:
        """The binary a new service first starts on, as its release (unless one was recorded meanwhile)."""
        with self.database.transaction() as session:
            releases = Releases(session)
            if releases.binary_of(service_id) is None:
                releases.put(service_id, binary)

    def _forget(self, intent: Intent) -> None:
        with self.database.transaction() as session:
            Services(session).remove_deleted(intent.service_id)
        self._watches.pop(intent.service_id, None)

    async def _remove_orphans(self) -> None:
        """Delete what the runtime holds for services the store no longer knows (a crash between a
        runtime delete and the row's removal leaves the row, so this only catches stray leftovers)."""
        with self.database.looking() as session:
            known = {str(service_id) for service_id in Services(session).ids()}
        for service_id in set(await self.runtime.list_service_ids()) - known:
            log.warning("removing leftovers of unknown service %s", service_id)
            await self.runtime.delete(service_id)
