"""The reconcile loop: one for every kind of resource, each kind's work in a controller of its own.

API handlers record intent and return at once, waking the loop. Each pass asks every controller what is due
(resources whose observed state lags their intent, running ones due a check) and runs each piece of work as a
task, one at a time per resource: work on a resource still under way is not started again. Controllers take a
slot from the loop's `Slots` for what costs the machine (starting or stopping a server), not for waiting.

The loop runs only in the `serve` that holds the lease (leadership.py); a pass that fails is logged and the
next one starts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from clickplane.observability.metrics import ReconcilerMetrics

log = logging.getLogger(__name__)

Work = Callable[[], Coroutine[Any, Any, None]]


class Controller(Protocol):
    """One kind of resource's reconciliation."""

    async def prepare(self) -> None:
        """Once, before the first pass: recover what an earlier holder of the lease left half done."""
        ...

    def due(self, busy: Callable[[Hashable], bool]) -> Iterable[tuple[Hashable, Work]]:
        """The work due now, by the key of the resource it is for; `busy` tells whether work on a resource is
        still under way (that work is not started again)."""
        ...


class Slots:
    """How many costly steps (a server's start or stop) run at once, across every controller."""

    def __init__(self, concurrency: int) -> None:
        self._semaphore = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()


@dataclass(frozen=True)
class LoopPolicy:
    interval_seconds: float = 2.0


class ReconcileLoop:
    def __init__(self, controllers: Sequence[Controller], wake: asyncio.Event, policy: LoopPolicy | None = None,
                 metrics: ReconcilerMetrics | None = None) -> None:
        self.controllers = controllers
        self.wake = wake
        self.policy = policy or LoopPolicy()
        self.metrics = metrics or ReconcilerMetrics()
        self._in_flight: dict[Hashable, asyncio.Task[None]] = {}

    async def run_forever(self) -> None:
        for controller in self.controllers:
            await controller.prepare()
        while True:
            try:
                with self.metrics.measuring_pass():
                    self.pass_once()
            except Exception:  # a store hiccup must not end reconciliation
                log.exception("reconciler pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.policy.interval_seconds)
            self.wake.clear()

    def pass_once(self) -> None:
        """Start every controller's due work, unless work on the same resource is under way."""
        for controller in self.controllers:
            for key, work in controller.due(self.busy):
                if key not in self._in_flight:
                    self._spawn(key, work)

    def busy(self, key: Hashable) -> bool:
        """Whether work on the resource is under way."""
        return key in self._in_flight

    def _spawn(self, key: Hashable, work: Work) -> None:
        task = asyncio.create_task(work(), name=f"reconcile {key}")
        self._in_flight[key] = task
        task.add_done_callback(partial(self._finished, key))

    def _finished(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(key, None)
        if not task.cancelled() and (error := task.exception()) is not None:  # said now, not when collected
            self.metrics.service_failed()
            log.error("reconciling %s failed", key, exc_info=error)

    async def drain(self) -> None:
        """Wait for the tasks under way (tests and shutdown)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def shutdown(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)
