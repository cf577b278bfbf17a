"""Queries of upgrade windows. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import UpgradeWindow


class UpgradeWindows:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> UpgradeWindow | None:
        return self.session.get(UpgradeWindow, service_id)

    def all(self) -> Sequence[UpgradeWindow]:
        return self.session.scalars(select(UpgradeWindow)).all()

    def add(self, window: UpgradeWindow) -> None:
        self.session.add(window)

    def remove(self, window: UpgradeWindow) -> None:
        self.session.delete(window)
