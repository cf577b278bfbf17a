"""Queries of ClickStack objects and of what the alert evaluator keeps: alert status, evaluated windows and the
deliveries outbox. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clickplane.store.models import (
    ClickStackAlertStatus,
    ClickStackAlertWindow,
    ClickStackDelivery,
    ClickStackObject,
)

# How many recent execution errors an alert shows: enough to see a pattern, bounded as it runs every minute.
KEPT_EXECUTION_ERRORS = 10


class ClickStackObjects:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_service(self, service_id: uuid.UUID, kind: str, limit: int | None = None, offset: int = 0
                   ) -> Sequence[ClickStackObject]:
        query = (select(ClickStackObject).where(ClickStackObject.service_id == service_id,
                                                ClickStackObject.kind == kind)
                 .order_by(ClickStackObject.created_at, ClickStackObject.id).offset(offset))
        return self.session.scalars(query if limit is None else query.limit(limit)).all()

    def get(self, service_id: uuid.UUID, kind: str, object_id: str, for_update: bool = False
            ) -> ClickStackObject | None:
        row = self.session.get(ClickStackObject, object_id, with_for_update=for_update)
        return row if row is not None and row.service_id == service_id and row.kind == kind else None

    def alert(self, alert_id: str) -> ClickStackObject | None:
        row = self.session.get(ClickStackObject, alert_id)
        return row if row is not None and row.kind == "alerts" else None

    def webhook(self, webhook_id: str) -> ClickStackObject | None:
        row = self.session.get(ClickStackObject, webhook_id)
        return row if row is not None and row.kind == "webhooks" else None

    def count(self, service_id: uuid.UUID, kind: str) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ClickStackObject).where(
            ClickStackObject.service_id == service_id, ClickStackObject.kind == kind)) or 0)

    def add(self, row: ClickStackObject) -> ClickStackObject:
        self.session.add(row)
        self.session.flush()
        return row

    def remove(self, rows: Sequence[ClickStackObject]) -> None:
        for row in rows:
            self.session.delete(row)
        self.session.flush()

    def alerts(self) -> Sequence[tuple[ClickStackObject, ClickStackAlertStatus]]:
        """Every alert of every service, with its status: what the evaluator looks at each pass."""
        query = (select(ClickStackObject, ClickStackAlertStatus)
                 .join(ClickStackAlertStatus, ClickStackAlertStatus.alert_id == ClickStackObject.id)
                 .where(ClickStackObject.kind == "alerts").order_by(ClickStackObject.created_at))
        return [(row, status) for row, status in self.session.execute(query)]


class AlertRecords:
    """An alert's status, its windows and its deliveries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def status(self, alert_id: str) -> ClickStackAlertStatus | None:
        return self.session.get(ClickStackAlertStatus, alert_id)

    def recent_windows(self, alert_id: str, group_key: str, count: int) -> list[ClickStackAlertWindow]:
        """The group's last `count` windows, oldest first."""
        query = (select(ClickStackAlertWindow)
                 .where(ClickStackAlertWindow.alert_id == alert_id, ClickStackAlertWindow.group_key == group_key)
                 .order_by(ClickStackAlertWindow.window_start.desc()).limit(count))
        return list(reversed(self.session.scalars(query).all()))

    def groups_not_ok(self, alert_id: str) -> list[str]:
        """The groups whose last window was not OK: a group that has no rows in a window counts as 0 then (and
        resolves if 0 does not violate)."""
        latest = (select(ClickStackAlertWindow.group_key, func.max(ClickStackAlertWindow.window_start).label("at"))
                  .where(ClickStackAlertWindow.alert_id == alert_id)
                  .group_by(ClickStackAlertWindow.group_key).subquery())
        query = (select(ClickStackAlertWindow.group_key).join(
            latest, (ClickStackAlertWindow.group_key == latest.c.group_key)
            & (ClickStackAlertWindow.window_start == latest.c.at))
            .where(ClickStackAlertWindow.alert_id == alert_id, ClickStackAlertWindow.state != "OK"))
        return list(self.session.scalars(query))

    def forget_windows_before(self, alert_id: str, moment: datetime) -> None:
        self.session.execute(delete(ClickStackAlertWindow).where(ClickStackAlertWindow.alert_id == alert_id,
                                                                 ClickStackAlertWindow.window_start < moment))

    def pending_deliveries(self, alert_id: str) -> Sequence[ClickStackDelivery]:
        query = (select(ClickStackDelivery)
                 .where(ClickStackDelivery.alert_id == alert_id, ClickStackDelivery.outcome == "pending")
                 .order_by(ClickStackDelivery.id))
        return self.session.scalars(query).all()

    def alerts_with_pending_deliveries(self) -> set[str]:
        query = select(ClickStackDelivery.alert_id).where(ClickStackDelivery.outcome == "pending").distinct()
        return set(self.session.scalars(query))

    def deliveries(self, alert_id: str) -> Sequence[ClickStackDelivery]:
        query = select(ClickStackDelivery).where(ClickStackDelivery.alert_id == alert_id).order_by(
            ClickStackDelivery.id)
        return self.session.scalars(query).all()

    def forget_deliveries_before(self, alert_id: str, moment: datetime) -> None:
        self.session.execute(delete(ClickStackDelivery).where(ClickStackDelivery.alert_id == alert_id,
                                                              ClickStackDelivery.outcome != "pending",
                                                              ClickStackDelivery.created_at < moment))

    def add_error(self, status: ClickStackAlertStatus, error: dict[str, str]) -> None:
        status.execution_errors = [*status.execution_errors, error][-KEPT_EXECUTION_ERRORS:]
