"""Queries of activities. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import Activity


class Activities:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, activity: Activity) -> Activity:
        self.session.add(activity)
        return activity

    def list(self, organization_id: uuid.UUID, start: datetime | None = None,
             end: datetime | None = None) -> Sequence[Activity]:
        """The organization's activities created in [start, end) (open where None), newest first."""
        query = select(Activity).where(Activity.organization_id == organization_id)
        if start is not None:
            query = query.where(Activity.created_at >= start)
        if end is not None:
            query = query.where(Activity.created_at < end)
        return self.session.scalars(query.order_by(Activity.created_at.desc(), Activity.id.desc())).all()

    def get(self, organization_id: uuid.UUID, activity_id: uuid.UUID) -> Activity | None:
        activity = self.session.get(Activity, activity_id)
        return activity if activity is not None and activity.organization_id == organization_id else None
