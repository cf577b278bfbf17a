"""The reconcile loop's controller of ClickPipes: one worker per pipe that is asked to run, in the serve that holds
the reconciler's lease (another replica's loop takes the pipes over when that serve dies, from the checkpoints the
workers keep in the store).

A pipe's worker is one long task of the loop. It moves data until the pipe's intent changes (a stop, an edit, a
resync, a delete: a new generation or desired state), it finishes (a one-shot load, a snapshot-only pipe) or it
fails. The next pass then does what the new intent asks: a new worker, the pause or stop shown, or the pipe's
leftovers in its source removed (a Postgres pipe's slot and publication) and its row with them. A worker that hits
a passing trouble (the service's server down, the source restarting) is started again, later and later; one that
hits what only the user can mend (a table gone, a slot lost) shows Failed with the reason and waits for a command.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import httpx

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.auth.secrets import SecretBox
from clickplane.clickpipes.defaults import DEFAULT_SETTINGS
from clickplane.clickpipes.lifecycle import Observed, table_of
from clickplane.clickpipes.repository import CdcScalings, ClickPipeFiles, ClickPipes
from clickplane.kit.enums import ClickPipeDesiredState, ClickPipeState, RecordedActivityType
from clickplane.reconcile.loop import Work
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.runtime.pipes.destination import Destination
from clickplane.store.database import Database
from clickplane.store.models import ClickPipe

log = logging.getLogger(__name__)

_WANTED_CHECK_SECONDS = 0.5
_ACTIVITIES: dict[Observed, RecordedActivityType] = {"failed": "clickpipe_failed", "completed": "clickpipe_completed"}


class PipeFailed(RuntimeFailure):
    """What only the user can mend (a source table gone, the slot lost, a destination that cannot hold the data):
    the pipe shows Failed with this reason until a start or a resync."""


class DestinationDown(RuntimeFailure):
    """The pipe's service has no server answering now (stopped, idle, starting): the worker waits for it."""


@dataclass(frozen=True)
class PipeIntent:
    """A pipe as read at the start of its worker's run, detached from the session; credentials opened."""

    pipe_id: uuid.UUID
    organization_id: uuid.UUID
    service_id: uuid.UUID
    kind: str
    state: ClickPipeState
    desired_state: ClickPipeDesiredState
    generation: int
    source: dict[str, Any]
    credentials: dict[str, Any]
    destination: dict[str, Any]
    field_mappings: list[Any]
    settings: dict[str, Any]  # with the defaults of those never set
    scaling: dict[str, Any]
    checkpoint: dict[str, Any]
    resync: bool
    # The CPUs of the service's CDC compute (clickpipesCdcScaling): how many tables a snapshot copies at once.
    cdc_cpus: int = 1

    @property
    def database(self) -> str:
        """The destination's database (a create sets it: `default` unless given)."""
        return str(self.destination["database"])


class PipeRun:
    """What a worker may do with its pipe: tell whether it is still wanted, show its progress, keep its checkpoint
    (what a later worker resumes from), count what it moved and record the files it dealt with."""

    def __init__(self, database: Database, intent: PipeIntent) -> None:
        self.database = database
        self.intent = intent
        self.state: ClickPipeState = intent.state
        self.checkpoint: dict[str, Any] = dict(intent.checkpoint)

    def _stored_checkpoint(self) -> dict[str, Any]:
        """A copy of the checkpoint for its column: a new object, so the store sees it changed."""
        return dict(json.loads(json.dumps(self.checkpoint)))

    def wanted(self) -> bool:
        """Whether the pipe still asks for this run: same generation, still to run."""
        with self.database.looking() as session:
            row = ClickPipes(session).get(self.intent.organization_id, self.intent.pipe_id)
            return (row is not None and row.generation == self.intent.generation
                    and row.desired_state == self.intent.desired_state)

    def observe(self, event: Observed, reason: str | None = None) -> bool:
        """Show the state `event` leads to (lifecycle.py), with an activity for a pipe failing or completing."""
        transition = table_of(self.intent.kind).apply(self.state, event)
        values: dict[str, Any] = {"state_reason": reason, "observed_generation": self.intent.generation,
                                  **table_of(self.intent.kind).values(transition)}
        with self.database.transaction() as session:
            written = ClickPipes(session).write(self.intent.pipe_id, self.intent.generation, values)
            if written and event in _ACTIVITIES and (transition is not None and transition.state != self.state):
                record_system(Activities(session), self.intent.organization_id, _ACTIVITIES[event],
                              service_id=self.intent.service_id, details={"clickPipeId": str(self.intent.pipe_id)})
        if written and transition is not None and transition.state is not None:
            self.state = transition.state
        return written

    async def wait(self, seconds: float) -> bool:
        """Wait `seconds` (the pipe's polling interval), looking every half second whether the pipe is still
        wanted, so that a stop or an edit is acted on at once; whether it still is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            await asyncio.sleep(min(_WANTED_CHECK_SECONDS, max(0.0, deadline - loop.time())))
            if not self.wanted():
                return False
        return True

    def resynced(self) -> None:
        """The resync is done: the pipe goes on streaming from its new slot."""
        self.checkpoint.pop("resync_slot", None)
        with self.database.transaction() as session:
            ClickPipes(session).write(self.intent.pipe_id, self.intent.generation,
                                      {"resync_requested": False,
                                       "checkpoint": self._stored_checkpoint()})

    def note(self, reason: str | None) -> None:
        """Say what the pipe is waiting on, without changing its state."""
        with self.database.transaction() as session:
            ClickPipes(session).write(self.intent.pipe_id, self.intent.generation, {"state_reason": reason})

    def save(self, rows: int = 0, size: int = 0, lag_bytes: int | None = None, initial_load: bool = False,
             **checkpoint: Any) -> None:
        """Keep the checkpoint's new values and count what was moved, in one transaction: a later worker resumes
        from exactly what this one had durably done."""
        self.checkpoint.update(checkpoint)
        with self.database.transaction() as session:
            pipes = ClickPipes(session)
            values: dict[str, Any] = {"checkpoint": self._stored_checkpoint()}
            if lag_bytes is not None:
                values["lag_bytes"] = lag_bytes
            pipes.write(self.intent.pipe_id, self.intent.generation, values)
            if rows or size:
                pipes.add_moved(self.intent.pipe_id, rows, size, initial_load)

    def file_done(self, key: str, rows: int, size: int, error: str | None = None, **checkpoint: Any) -> None:
        """Record a file loaded (counted) or failed, with the checkpoint, in one transaction."""
        self.checkpoint.update(checkpoint)
        with self.database.transaction() as session:
            ClickPipeFiles(session).record(self.intent.pipe_id, key, rows, size, error)
            pipes = ClickPipes(session)
            pipes.write(self.intent.pipe_id, self.intent.generation,
                        {"checkpoint": self._stored_checkpoint()})
            if error is None:
                pipes.add_moved(self.intent.pipe_id, rows, size)

    def file_known(self, key: str) -> bool:
        with self.database.looking() as session:
            return ClickPipeFiles(session).done(self.intent.pipe_id, key)

    def last_file(self) -> str | None:
        with self.database.looking() as session:
            return ClickPipeFiles(session).last_key(self.intent.pipe_id)


class Worker(Protocol):
    """One kind of pipe's mover of data."""

    async def run(self, run: PipeRun, destination: Destination) -> None:
        """Move data until the pipe is no longer wanted (return), is done (observe completed, return) or fails
        (raise PipeFailed; any other RuntimeFailure is tried again later)."""
        ...

    async def remove(self, intent: PipeIntent) -> None:
        """Undo what the pipe made in its source (a slot, a publication) once it is deleted; the destination's
        tables stay, as on the real service."""
        ...


@dataclass(frozen=True)
class PipePolicy:
    first_backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    # How many times a deleted pipe tries to drop its slot in an unreachable source (about two minutes with the
    # backoff) before it goes anyway, saying so: a source that is gone for good must not keep the pipe forever.
    remove_attempts: int = 7


@dataclass
class _Backoff:
    failures: int = 0
    not_before: float = 0.0


@dataclass
class ClickPipesController:
    database: Database
    runtime: ClickHouseRuntime
    box: SecretBox
    workers: dict[str, Worker]
    policy: PipePolicy = field(default_factory=PipePolicy)
    _backoff: dict[uuid.UUID, _Backoff] = field(default_factory=dict)
    _http: httpx.AsyncClient | None = None

    async def prepare(self) -> None:
        """Nothing to recover here: each worker resumes from its pipe's checkpoint."""

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        now = time.monotonic()
        with self.database.looking() as session:
            # A pipe whose worker runs, or that waits out a backoff, is passed over before its credentials are
            # opened: most pipes are the first, every pass.
            pipes = [row for row in ClickPipes(session).all() if self._needs_work(row) and not busy(work_key(row.id))
                     and self._backoff.get(row.id, _Backoff()).not_before <= now]
            intents = [self._intent_of(row, CdcScalings(session).of(row.service_id)[0]) for row in pipes]
        for intent in intents:
            yield work_key(intent.pipe_id), partial(self._converge, intent)

    @staticmethod
    def _needs_work(row: ClickPipe) -> bool:
        if row.desired_state == "stopped":
            return row.state not in ("Paused", "Stopped")
        # A failed or finished pipe waits for a command; any other asked to run has a worker.
        return row.desired_state == "deleted" or not (row.state in ("Failed", "Completed")
                                                      and row.observed_generation == row.generation)

    def _intent_of(self, row: ClickPipe, cdc_millicores: int) -> PipeIntent:
        credentials = json.loads(self.box.open(row.sealed_credentials)) if row.sealed_credentials else {}
        return PipeIntent(row.id, row.organization_id, row.service_id, row.kind, row.state, row.desired_state,
                          row.generation, dict(row.source), credentials, dict(row.destination),
                          list(row.field_mappings), DEFAULT_SETTINGS | row.settings, dict(row.scaling),
                          dict(row.checkpoint),
                          row.resync_requested, max(1, cdc_millicores // 1000))

    async def _converge(self, intent: PipeIntent) -> None:
        worker = self.workers[intent.kind]
        if intent.desired_state == "deleted":
            try:
                await worker.remove(intent)
            except RuntimeFailure as failure:
                if self._backoff.get(intent.pipe_id, _Backoff()).failures < self.policy.remove_attempts:
                    self._retry_later(intent, PipeRun(self.database, intent),
                                      f"what the pipe made in its source is not removed yet: {failure}")
                    return
                log.warning("ClickPipe %s deleted without removing what it made in its source (%s): drop it "
                            "there by hand", intent.pipe_id, failure)
            with self.database.transaction() as session:
                ClickPipes(session).remove(intent.pipe_id)
            self._backoff.pop(intent.pipe_id, None)
            return
        if intent.desired_state == "stopped":
            PipeRun(self.database, intent).observe("halted")
            return
        await self._run(worker, intent)

    async def _run(self, worker: Worker, intent: PipeIntent) -> None:
        run = PipeRun(self.database, intent)
        try:
            await worker.run(run, await self._destination(intent))
        except PipeFailed as failure:
            log.warning("ClickPipe %s failed: %s", intent.pipe_id, failure)
            run.observe("failed", str(failure))
        except RuntimeFailure as failure:
            self._retry_later(intent, run, str(failure))
        else:
            self._backoff.pop(intent.pipe_id, None)

    def _retry_later(self, intent: PipeIntent, run: PipeRun, reason: str) -> None:
        backoff = self._backoff.setdefault(intent.pipe_id, _Backoff())
        delay = min(self.policy.max_backoff_seconds, self.policy.first_backoff_seconds * 2 ** backoff.failures)
        backoff.failures += 1
        backoff.not_before = time.monotonic() + delay
        log.warning("ClickPipe %s: %s; trying again in %.0f s", intent.pipe_id, reason, delay)
        run.note(reason)

    async def _destination(self, intent: PipeIntent) -> Destination:
        access = await self.runtime.sql_access(str(intent.service_id))
        if access is None:
            raise DestinationDown(f"the service {intent.service_id} has no ClickHouse server running; the pipe "
                                  "goes on once it runs")
        return Destination(self._client(), access)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(300.0, connect=10.0))
        return self._http


def work_key(pipe_id: uuid.UUID) -> str:
    return f"clickpipe {pipe_id}"
