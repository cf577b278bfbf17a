"""Queries of usage. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from clickplane.store.models import Backup, ClickPipeUsageDay, UsageDay

# INSERT ... ON CONFLICT DO UPDATE, in each store's dialect.
_UPSERTS: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class UsageDays:
    def __init__(self, session: Session) -> None:
        self.session = session

    def between(self, organization_id: uuid.UUID, first: date, last: date) -> Sequence[UsageDay]:
        """The organization's usage from day `first` to day `last`, both included, by day then service name."""
        query = select(UsageDay).where(UsageDay.organization_id == organization_id, UsageDay.day >= first,
                                       UsageDay.day <= last)
        return self.session.scalars(query.order_by(UsageDay.day, UsageDay.service_name, UsageDay.service_id)).all()

    def pipes_between(self, organization_id: uuid.UUID, first: date, last: date) -> Sequence[ClickPipeUsageDay]:
        """The organization's ClickPipes' usage from day `first` to day `last`, both included."""
        query = select(ClickPipeUsageDay).where(ClickPipeUsageDay.organization_id == organization_id,
                                                ClickPipeUsageDay.day >= first, ClickPipeUsageDay.day <= last)
        return self.session.scalars(query.order_by(ClickPipeUsageDay.day, ClickPipeUsageDay.pipe_name)).all()

    def add(self, days: Sequence[UsageDay]) -> None:
        """Add each day's usage to the service's row for that day (made if missing), in one statement; the
        name and storage sample are replaced. At most one of `days` per service and day."""
        if not days:
            return
        columns = [column.key for column in UsageDay.__table__.columns]
        statement = _UPSERTS[self.session.get_bind().dialect.name](UsageDay).values(
            [{column: getattr(day, column) for column in columns} for day in days])
        added = statement.excluded
        self.session.execute(statement.on_conflict_do_update(
            index_elements=[UsageDay.service_id, UsageDay.day],
            set_={"compute_gib_seconds": UsageDay.compute_gib_seconds + added.compute_gib_seconds,
                  "storage_gib_seconds": UsageDay.storage_gib_seconds + added.storage_gib_seconds,
                  "backup_gib_seconds": UsageDay.backup_gib_seconds + added.backup_gib_seconds,
                  "service_name": added.service_name, "storage_bytes": added.storage_bytes}))

    def last_storage_bytes(self) -> dict[uuid.UUID, int]:
        """Each service's storage as last sampled: from its newest row."""
        newest = (select(UsageDay.service_id, func.max(UsageDay.day).label("day"))
                  .group_by(UsageDay.service_id).subquery())
        query = select(UsageDay.service_id, UsageDay.storage_bytes).join(
            newest, and_(UsageDay.service_id == newest.c.service_id, UsageDay.day == newest.c.day))
        return dict(self.session.execute(query).all())

    def backup_bytes(self) -> dict[uuid.UUID, int]:
        """The total size of each service's finished backups, as they are metered."""
        query = (select(Backup.service_id, func.sum(Backup.size_in_bytes)).where(Backup.status == "done")
                 .group_by(Backup.service_id))
        return {service_id: int(size or 0) for service_id, size in self.session.execute(query)}
