"""Queries of services. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from clickplane.clickpipes.repository import ClickPipes
from clickplane.kit.repository import ReconciledRepository
from clickplane.store.models import ScalingSchedule, Service, ServiceRelease


class Services(ReconciledRepository[Service]):
    model = Service
    given_up = "failed"
    noun = "service"
    deleting = "terminating"

    def remove_deleted(self, resource_id: uuid.UUID) -> None:
        """As for every kind, once the service's pipes are gone: the rows of those that remain hold what their
        workers need to drop the slots they made in their sources, and would go with the service's."""
        if not ClickPipes(self.session).any_of(resource_id):
            super().remove_deleted(resource_id)

    def warehouse_exists(self, organization_id: uuid.UUID, warehouse_id: uuid.UUID) -> bool:
        query = select(Service.id).where(Service.organization_id == organization_id,
                                         Service.data_warehouse_id == warehouse_id).limit(1)
        return self.session.scalar(query) is not None

    def schedule_of(self, service_id: uuid.UUID) -> ScalingSchedule | None:
        """The service's scaling schedule (how it shows: scaling_view.py)."""
        return self.session.get(ScalingSchedule, service_id)


class Releases:
    """The ClickHouse binaries services were upgraded to (the others run the runtime's default)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def binaries(self) -> dict[uuid.UUID, str]:
        return {release.service_id: release.binary for release in self.session.scalars(select(ServiceRelease))}

    def any(self) -> bool:
        return self.session.scalar(select(ServiceRelease.service_id).limit(1)) is not None

    def binary_of(self, service_id: uuid.UUID) -> str | None:
        release = self.session.get(ServiceRelease, service_id)
        return None if release is None else release.binary

    def of_services(self) -> Sequence[Row[Any]]:
        """Every service with what choosing its binary takes (whether it is being deleted; its options, which
        name its release channel; whether it ever ran; its warehouse and whether it is the primary) and the binary
        recorded for it (None: the runtime's default): one query of the columns needed, at each pass."""
        query = (select(Service.id, Service.organization_id, Service.desired_state, Service.options,
                        Service.observed_generation, Service.data_warehouse_id, Service.is_primary,
                        ServiceRelease.binary)
                 .outerjoin(ServiceRelease, ServiceRelease.service_id == Service.id))
        return self.session.execute(query).all()

    def put(self, service_id: uuid.UUID, binary: str) -> None:
        release = self.session.get(ServiceRelease, service_id)
        if release is None:
            self.session.add(ServiceRelease(service_id=service_id, binary=binary))
        else:
            release.binary = binary


class ServiceRows:
    """Services read with Core on a plain connection: the API's hot reads (a few times cheaper than the ORM).
    The statements are built once; only their parameters change."""

    _table = Service.__table__
    _one = select(_table).where(_table.c.id == bindparam("service_id"),
                                _table.c.organization_id == bindparam("organization_id"))
    _all = (select(_table).where(_table.c.organization_id == bindparam("organization_id"))
            .order_by(_table.c.created_at, _table.c.id))
    _schedules = ScalingSchedule.__table__
    _schedule_of_one = select(_schedules).where(_schedules.c.service_id == bindparam("service_id"))
    _schedules_of_all = select(_schedules).where(_schedules.c.organization_id == bindparam("organization_id"))

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> Row[Any] | None:
        return self.connection.execute(self._one, {"service_id": service_id,
                                                   "organization_id": organization_id}).first()

    def list(self, organization_id: uuid.UUID) -> Sequence[Row[Any]]:
        return self.connection.execute(self._all, {"organization_id": organization_id}).all()

    def schedule(self, service_id: uuid.UUID) -> Row[Any] | None:
        """The service's scaling schedule, if it has one."""
        return self.connection.execute(self._schedule_of_one, {"service_id": service_id}).first()

    def schedules(self, organization_id: uuid.UUID) -> dict[uuid.UUID, Row[Any]]:
        """The scaling schedules of the organization's services, by service id."""
        rows = self.connection.execute(self._schedules_of_all, {"organization_id": organization_id})
        return {row.service_id: row for row in rows}

    def all(self) -> Sequence[Row[Any]]:
        """Every service of every organization (the meter's look)."""
        return self.connection.execute(select(self._table).order_by(self._table.c.created_at)).all()
