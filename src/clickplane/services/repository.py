"""Queries of services. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, not_, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session

from clickplane.store.models import Service


class Services:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, service_id: uuid.UUID, for_update: bool = False) -> Service | None:
        """With for_update, the row stays locked until the transaction ends, so that a change is decided on
        the state no other writer is changing meanwhile (two deletes, a start during a stop)."""
        service = self.session.get(Service, service_id, with_for_update=for_update)
        if service is None or service.organization_id != organization_id:
            return None
        return service

    def list(self, organization_id: uuid.UUID) -> Sequence[Service]:
        query = (select(Service).where(Service.organization_id == organization_id)
                 .order_by(Service.created_at, Service.id))
        return self.session.scalars(query).all()

    def warehouse_exists(self, organization_id: uuid.UUID, warehouse_id: uuid.UUID) -> bool:
        query = select(Service.id).where(Service.organization_id == organization_id,
                                         Service.data_warehouse_id == warehouse_id).limit(1)
        return self.session.scalar(query) is not None

    def needing_work(self) -> Sequence[Service]:
        """Services whose observed state or applied spec lags what was asked for. A failed service
        waits for a new request (a new generation) instead of being retried forever."""
        lagging = or_(Service.desired_state != Service.state, Service.observed_generation != Service.generation)
        given_up = and_(Service.state == "failed", Service.observed_generation == Service.generation)
        query = select(Service).where(lagging, not_(given_up)).order_by(Service.created_at)
        return self.session.scalars(query).all()

    def settled_running(self) -> Sequence[Service]:
        """Services that are running as asked: the ones to watch for crashes and idleness."""
        query = select(Service).where(Service.state == "running", Service.desired_state == "running",
                                      Service.observed_generation == Service.generation)
        return self.session.scalars(query).all()

    def ids(self) -> Sequence[uuid.UUID]:
        return self.session.scalars(select(Service.id)).all()

    def write_if_intent(self, service_id: uuid.UUID, generation: int, desired_state: str, values: dict[str, Any]
                        ) -> bool:
        """Write `values` only if the service still has the intent they answer (compare and set); whether it did."""
        result = self.session.execute(
            update(Service).where(Service.id == service_id, Service.generation == generation,
                                  Service.desired_state == desired_state).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def remove_deleted(self, service_id: uuid.UUID) -> None:
        """Remove the row of a service whose deletion is done, unless a request changed its intent meanwhile."""
        self.session.execute(delete(Service).where(Service.id == service_id, Service.desired_state == "deleted"))

    def all(self) -> Sequence[Service]:
        return self.session.scalars(select(Service).order_by(Service.created_at)).all()

    def add(self, service: Service) -> Service:
        self.session.add(service)
        self.session.flush()
        return service


class ServiceRows:
    """Services read with Core on a plain connection: the API's hot reads (a few times cheaper than the ORM).
    The statements are built once; only their parameters change."""

    _table = Service.__table__
    _one = select(_table).where(_table.c.id == bindparam("service_id"),
                                _table.c.organization_id == bindparam("organization_id"))
    _all = (select(_table).where(_table.c.organization_id == bindparam("organization_id"))
            .order_by(_table.c.created_at, _table.c.id))

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def get(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> Row[Any] | None:
        return self.connection.execute(self._one, {"service_id": service_id,
                                                   "organization_id": organization_id}).first()

    def list(self, organization_id: uuid.UUID) -> Sequence[Row[Any]]:
        return self.connection.execute(self._all, {"organization_id": organization_id}).all()

    def all(self) -> Sequence[Row[Any]]:
        """Every service of every organization (the meter's look)."""
        return self.connection.execute(select(self._table).order_by(self._table.c.created_at)).all()
