"""The reconcile loop's controller of scaling schedules: at each pass, every schedule whose entry in force (by
the clock) is not the one applied is switched to it, and one whose service was scaled by hand meanwhile has its
entry applied again over the base that scaling changed (scaling_schedules/service.py says how); then the loop is
woken for the service controller to apply the new scaling to the service's server."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Hashable, Iterator
from datetime import datetime
from functools import partial

from clickplane.kit.errors import BadRequest
from clickplane.quotas.service import Limits
from clickplane.reconcile.loop import Work
from clickplane.scaling_schedules.repository import ScalingSchedules
from clickplane.scaling_schedules.service import apply_in_force, manually_scaled
from clickplane.services.repository import Services
from clickplane.services.scaling_view import entry_in_force
from clickplane.store.database import Database
from clickplane.store.models import utcnow

log = logging.getLogger(__name__)


class ScalingScheduleController:
    def __init__(self, database: Database, wake: Callable[[], None], clock: Callable[[], datetime] = utcnow,
                 limits: Limits | None = None) -> None:
        """`limits`: the quotas an entry's scaling must keep within, as a manual scaling's (None: unchecked)."""
        self.database = database
        self.wake = wake
        self.clock = clock
        self.limits = limits
        # (service, entry) pairs the scaling rules refused when applied, said once each, not every pass.
        self._refused: set[tuple[uuid.UUID, str | None]] = set()

    async def prepare(self) -> None:
        return

    def due(self, busy: Callable[[Hashable], bool]) -> Iterator[tuple[Hashable, Work]]:
        moment = self.clock()
        with self.database.looking() as session:
            lagging = []
            for schedule, service in ScalingSchedules(session).with_services():
                entry = entry_in_force(schedule.entries, moment)
                wanted = None if entry is None else entry["id"]
                if (schedule.service_id, wanted) in self._refused:
                    continue
                if wanted != schedule.active_entry_id or (wanted is not None and manually_scaled(schedule, service)):
                    lagging.append(schedule.service_id)
        for service_id in lagging:
            yield f"scaling schedule {service_id}", partial(self._apply, service_id)

    async def _apply(self, service_id: uuid.UUID) -> None:
        moment = self.clock()
        wanted: str | None = None
        try:
            with self.database.transaction() as session:
                # The service is locked before its schedule, as the API's changes of the schedule lock them: the
                # other order deadlocks against them.
                found = ScalingSchedules(session).get(service_id)
                service = None if found is None else Services(session).get(found.organization_id, service_id,
                                                                           for_update=True)
                schedule = None if service is None else ScalingSchedules(session).get(service_id, for_update=True)
                if schedule is None or service is None or service.desired_state == "deleted":
                    return
                entry = entry_in_force(schedule.entries, moment)
                wanted = None if entry is None else entry["id"]
                applied = apply_in_force(session, schedule, service, moment, self.limits)
        except BadRequest as refusal:
            self._refused.add((service_id, wanted))
            log.warning("service %s: its scaling schedule could not be applied: %s", service_id, refusal)
            return
        if applied:
            log.info("service %s: scaling schedule applied (%s)", service_id, wanted or "base configuration")
            self.wake()
