"""The queries every reconciled kind of resource needs (ClickHouse services, Postgres services, ...): a row of
the organization, its list, what lags its intent, what runs as asked, and the reconciler's compare-and-set write.
Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import and_, delete, not_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from clickplane.kit.errors import Conflict, NotFound


class Reconciled(Protocol):
    """The columns the reconciler's queries read."""

    id: InstrumentedAttribute[uuid.UUID]
    organization_id: InstrumentedAttribute[uuid.UUID]
    state: InstrumentedAttribute[Any]
    desired_state: InstrumentedAttribute[Any]
    generation: InstrumentedAttribute[int]
    observed_generation: InstrumentedAttribute[int]
    created_at: InstrumentedAttribute[Any]


Row = TypeVar("Row")


class ReconciledRepository(Generic[Row]):
    """Subclasses name their `model`, the state in which a resource waits for a new request (`given_up`; None
    for a kind that is never given up on), and for requests that name one, how errors name the kind (`noun`) and
    the state it shows while being deleted (`deleting`)."""

    model: ClassVar[Any]
    given_up: ClassVar[str | None]
    noun: ClassVar[str] = "resource"
    deleting: ClassVar[str] = "deleting"

    def __init__(self, session: Session) -> None:
        self.session = session

    def visible(self, caller_organization_id: uuid.UUID, organization_id: uuid.UUID, resource_id: uuid.UUID,
                for_update: bool = False) -> Row:
        """The resource if it belongs to the caller's organization; any other id is reported as not found."""
        found = self.get(organization_id, resource_id, for_update) if organization_id == caller_organization_id \
            else None
        if found is None:
            raise self.not_found(organization_id, resource_id)
        return found

    def changeable(self, caller_organization_id: uuid.UUID, organization_id: uuid.UUID, resource_id: uuid.UUID
                   ) -> Row:
        """The visible resource, locked for the change, unless it is being deleted (Conflict)."""
        found = self.visible(caller_organization_id, organization_id, resource_id, for_update=True)
        if found.state == self.deleting:  # type: ignore[attr-defined]
            raise Conflict(f"{self.noun} {resource_id} is being deleted and can no longer be changed. "
                           f"Current state: '{self.deleting}'")
        return found

    @classmethod
    def not_found(cls, organization_id: uuid.UUID, resource_id: uuid.UUID) -> NotFound:
        return NotFound(f"{cls.noun} {resource_id} does not exist in organization {organization_id} "
                        "or is not visible to this API key")

    def get(self, organization_id: uuid.UUID, resource_id: uuid.UUID, for_update: bool = False) -> Row | None:
        """With for_update, the row stays locked until the transaction ends, so that a change is decided on
        the state no other writer is changing meanwhile (two deletes, a start during a stop)."""
        row = self.session.get(self.model, resource_id, with_for_update=for_update)
        if row is None or row.organization_id != organization_id:
            return None
        return row  # type: ignore[no-any-return]

    def list(self, organization_id: uuid.UUID) -> Sequence[Row]:
        query = (select(self.model).where(self.model.organization_id == organization_id)
                 .order_by(self.model.created_at, self.model.id))
        return self.session.scalars(query).all()

    def count(self, organization_id: uuid.UUID) -> int:
        return len(self.session.scalars(select(self.model.id).where(
            self.model.organization_id == organization_id)).all())

    def needing_work(self) -> Sequence[Row]:
        """Rows whose observed state or applied spec lags what was asked for. One given up on waits for a new
        request (a new generation) instead of being retried forever."""
        model = self.model
        query = select(model).where(or_(model.desired_state != model.state,
                                        model.observed_generation != model.generation))
        if self.given_up is not None:
            query = query.where(not_(and_(model.state == self.given_up,
                                          model.observed_generation == model.generation)))
        return self.session.scalars(query.order_by(model.created_at)).all()

    def settled_running(self) -> Sequence[Row]:
        """Rows running as asked: the ones to watch."""
        model = self.model
        query = select(model).where(model.state == "running", model.desired_state == "running",
                                    model.observed_generation == model.generation)
        return self.session.scalars(query).all()

    def ids(self) -> Sequence[uuid.UUID]:
        return self.session.scalars(select(self.model.id)).all()

    def all(self) -> Sequence[Row]:
        return self.session.scalars(select(self.model).order_by(self.model.created_at)).all()

    def add(self, row: Row) -> Row:
        self.session.add(row)
        self.session.flush()
        return row

    def write_if_intent(self, resource_id: uuid.UUID, generation: int, desired_state: str, values: dict[str, Any]
                        ) -> bool:
        """Write `values` only if the row still has the intent they answer (compare and set); whether it did."""
        model = self.model
        result = self.session.execute(
            update(model).where(model.id == resource_id, model.generation == generation,
                                model.desired_state == desired_state).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def remove_deleted(self, resource_id: uuid.UUID) -> None:
        """Remove the row of a resource whose deletion is done, unless a request changed its intent meanwhile."""
        model = self.model
        self.session.execute(delete(model).where(model.id == resource_id, model.desired_state == "deleted"))


class ServiceItems(Generic[Row]):
    """The items a service holds by name (saved queries, Query API endpoints): subclasses name their `model`, whose
    rows have an id, a service_id, a name unique in the service and a created_at."""

    model: ClassVar[Any]

    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, service_id: uuid.UUID) -> Sequence[Row]:
        """Oldest first, the order pages follow."""
        model = self.model
        return self.session.scalars(select(model).where(model.service_id == service_id)
                                    .order_by(model.created_at, model.id)).all()

    def get(self, service_id: uuid.UUID, item_id: uuid.UUID, for_update: bool = False) -> Row | None:
        found = self.session.get(self.model, item_id, with_for_update=for_update)
        return found if found is not None and found.service_id == service_id else None

    def named(self, service_id: uuid.UUID, name: str) -> Row | None:
        model = self.model
        return self.session.scalars(select(model).where(model.service_id == service_id, model.name == name)).first()

    def add(self, item: Row) -> Row:
        self.session.add(item)
        self.session.flush()
        return item

    def delete(self, item: Row) -> None:
        self.session.delete(item)
