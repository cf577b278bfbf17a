"""Queries of scaling schedules. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import ScalingSchedule, Service


class ScalingSchedules:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID, for_update: bool = False) -> ScalingSchedule | None:
        return self.session.get(ScalingSchedule, service_id, with_for_update=for_update)

    def with_services(self) -> Sequence[tuple[ScalingSchedule, Service]]:
        """Every schedule with its service, in one query (the reconciler's look at each pass)."""
        query = select(ScalingSchedule, Service).join(Service, Service.id == ScalingSchedule.service_id)
        return [(schedule, service) for schedule, service in self.session.execute(query)]

    def add(self, schedule: ScalingSchedule) -> None:
        self.session.add(schedule)

    def remove(self, schedule: ScalingSchedule) -> None:
        self.session.delete(schedule)
