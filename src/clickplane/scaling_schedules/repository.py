"""Queries of scaling schedules. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import ScalingSchedule


class ScalingSchedules:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID, for_update: bool = False) -> ScalingSchedule | None:
        return self.session.get(ScalingSchedule, service_id, with_for_update=for_update)

    def all(self) -> Sequence[ScalingSchedule]:
        return self.session.scalars(select(ScalingSchedule)).all()

    def add(self, schedule: ScalingSchedule) -> None:
        self.session.add(schedule)

    def remove(self, schedule: ScalingSchedule) -> None:
        self.session.delete(schedule)
