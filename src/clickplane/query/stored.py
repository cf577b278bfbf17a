"""The use cases of SQL a service keeps by name, to run later: saved queries and Query API endpoints. Both are listed
a page at a time (kit/paging.py, oldest first), made and replaced whole (the SQL checked as query/statements.py
says, the name unique in the service) and deleted; each change is recorded as an activity. A package subclasses
`StoredSqlService` with its repository, what its requests hold beside name, SQL, database and parameters, and who
may change one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import Page
from clickplane.kit.errors import Conflict, NotFound
from clickplane.kit.paging import page_of
from clickplane.kit.repository import ServiceItems
from clickplane.query.statements import check_on_service
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.store.models import StoredSql


class StoredRequest(Protocol):
    name: str
    sql: str
    database: str
    parameters: dict[str, str] | None


Row = TypeVar("Row", bound=StoredSql)
Request = TypeVar("Request", bound=StoredRequest)


class StoredSqlService(Generic[Row, Request]):
    """`noun` names the kind in errors, `items` is its repository class, `activities` the types recorded for a
    create, a replace and a delete."""

    noun: ClassVar[str]
    items: ClassVar[type[ServiceItems[Any]]]
    activities: ClassVar[tuple[RecordedActivityType, RecordedActivityType, RecordedActivityType]]

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def fill(self, session: Session, row: Row, request: Request) -> None:
        """Set what the request gives beside name, SQL, database and parameters (checking it)."""

    def check_change(self, row: Row) -> None:
        """Raise when the caller may not change or delete this one."""

    def list(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, limit: int | None,
             cursor: str | None) -> tuple[Sequence[Row], Page | None]:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return page_of(self.items(session).list(service_id), limit, cursor, lambda row: str(row.id),
                           f"a {self.noun} of this service")

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, item_id: uuid.UUID) -> Row:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return self._existing(session, service_id, item_id)

    async def create(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, request: Request
                     ) -> Row:
        await self._check(caller, organization_id, service_id, request)
        with self.context.database.transaction() as session:
            changeable(Services(session), caller, organization_id, service_id)
            row: Row = self.items.model(organization_id=organization_id, service_id=service_id)
            self._apply(session, row, request)
            self.items(session).add(row)
            self._record(session, caller, self.activities[0], row)
            return row

    async def replace(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, item_id: uuid.UUID,
                      request: Request) -> Row:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            self.check_change(self._existing(session, service_id, item_id))
        await self._check(caller, organization_id, service_id, request)
        with self.context.database.transaction() as session:
            changeable(Services(session), caller, organization_id, service_id)
            row = self._existing(session, service_id, item_id, for_update=True)
            self.check_change(row)
            self._apply(session, row, request)
            session.flush()
            self._record(session, caller, self.activities[1], row)
            return row

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, item_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            changeable(Services(session), caller, organization_id, service_id)
            row = self._existing(session, service_id, item_id, for_update=True)
            self.check_change(row)
            self._record(session, caller, self.activities[2], row)
            self.items(session).delete(row)

    async def _check(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, request: Request
                     ) -> None:
        with self.context.database.looking() as session:
            state = visible(Services(session), caller, organization_id, service_id).state
        await check_on_service(self.context, service_id, state, request.sql, request.database,
                               request.parameters or {})

    def _apply(self, session: Session, row: Row, request: Request) -> None:
        """The request's fields on the row (a full replacement), its name unique in the service."""
        same_name = self.items(session).named(row.service_id, request.name)
        if same_name is not None and same_name is not row:
            raise Conflict(f"the service already has a {self.noun} named {request.name!r} ({same_name.id}); choose "
                           "another name, or change that one")
        row.name, row.sql, row.database = request.name, request.sql, request.database
        row.parameters = dict(request.parameters or {})
        self.fill(session, row, request)

    def _existing(self, session: Session, service_id: uuid.UUID, item_id: uuid.UUID, for_update: bool = False
                  ) -> Row:
        found: Row | None = self.items(session).get(service_id, item_id, for_update)
        if found is None:
            raise NotFound(f"{self.noun} {item_id} does not exist in service {service_id}; list them to find its id")
        return found

    def _record(self, session: Session, caller: Caller, activity_type: RecordedActivityType, row: Row) -> None:
        record(Activities(session), caller, activity_type, service_id=row.service_id,
               details={"id": str(row.id), "name": row.name})
