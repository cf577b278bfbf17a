"""ClickStack through the API: a service's sources, saved searches, dashboards, alerts, webhooks and roles. Each
request is checked (its shape by schemas.py; what it names, and for sources and saved searches the service's
ClickHouse, by checks.py), stored with its activity in one transaction, and shown in the reference's shapes. The
alert evaluator (evaluator.py) does the rest."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import SecretBox
from clickplane.clickstack import schemas
from clickplane.clickstack.checks import (
    LINKED_SOURCE_FIELDS,
    alertable_tile_ids,
    check_alert_links,
    check_source_links,
    check_source_tables,
    dashboard_problem,
    neighbours_of,
    search_query,
    source_of,
    sources_named_by_dashboard,
    team_id,
)
from clickplane.clickstack.delivery import check_webhook_url
from clickplane.clickstack.messages import TemplateError, check_template
from clickplane.clickstack.repository import AlertRecords, ClickStackObjects
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, FailedDependency, NotFound
from clickplane.kit.schemas import rfc3339
from clickplane.runtime.pipes.destination import Destination
from clickplane.services.lookup import visible
from clickplane.services.repository import Services
from clickplane.store.models import ClickStackAlertStatus, ClickStackObject, Service

# The collections under .../services/{serviceId}/clickstack/, by their path segment.
Kind = Literal["sources", "saved-searches", "dashboards", "alerts", "webhooks", "roles"]
Created = TypeVar("Created", bound=BaseModel)
# The discriminator values of the dashboard's unions, which pydantic puts in an error's place.
_VARIANT_TAGS = frozenset({"line", "stacked_bar", "table", "number", "pie", "bar", "heatmap", "search",
                           "event_patterns", "markdown", "builder", "sql", "raw_sql"})
# A webhook's write-only fields: they may hold tokens, so they are sealed and never shown.
WEBHOOK_SECRETS = ("headers", "queryParams")
# HyperDX's roles every team has; shown, never changed.
PREDEFINED_ROLES: dict[str, list[dict[str, Any]]] = {
    "Admin": [{"action": "manage", "subject": "all"}],
    "Member": [{"action": "manage", "subject": subject} for subject in
               ("Alert", "Dashboard", "SavedSearch", "Source", "Webhook", "Notebook")]
    + [{"action": "read", "subject": "all"}],
    "ReadOnly": [{"action": "read", "subject": "all"}],
}
READ_CONNECTIONS = {"action": "read", "subject": "Connection"}


@dataclass(frozen=True)
class Collection:
    kind: Kind
    noun: str
    activity: str  # the activity types' stem: clickstack_<stem>_create, _update, _delete
    shown: TypeAdapter[Any]


COLLECTIONS: dict[Kind, Collection] = {collection.kind: collection for collection in (
    Collection("sources", "source", "clickstack_source", TypeAdapter(schemas.ClickStackSource)),
    Collection("saved-searches", "saved search", "clickstack_saved_search", TypeAdapter(schemas.ClickStackSavedSearch)),
    Collection("dashboards", "dashboard", "clickstack_dashboard", TypeAdapter(schemas.ClickStackDashboardResponse)),
    Collection("alerts", "alert", "clickstack_alert", TypeAdapter(schemas.ClickStackAlertResponse)),
    Collection("webhooks", "webhook", "clickstack_webhook", TypeAdapter(schemas.ClickStackWebhook)),
    Collection("roles", "role", "clickstack_role", TypeAdapter(schemas.ClickStackRole)),
)}


def new_object_id() -> str:
    """A 24-hex id in the manner of a Mongo ObjectId (HyperDX's): the time in seconds, then 8 random bytes."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


def predefined_role_id(service_id: uuid.UUID, name: str) -> str:
    """The same id for a predefined role of a service every time it is listed."""
    return uuid.uuid5(service_id, f"clickstack-role:{name}").hex[:24]


class ClickStackApi:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.box = SecretBox(context.hasher)

    # Reads.

    def list(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, kind: Kind,
             limit: int | None = None, offset: int | None = None) -> list[Any]:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            shown = [self._wire(session, row) for row in
                     ClickStackObjects(session).of_service(service_id, kind, limit, offset or 0)]
        if kind == "roles":
            shown = [*_predefined_roles(service_id), *shown]
        return shown

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, kind: Kind,
            object_id: str) -> Any:
        if kind == "roles" and (role := _predefined_role(service_id, object_id)) is not None:
            with self.context.database.looking() as session:
                visible(Services(session), caller, organization_id, service_id)
            return role
        with self.context.database.looking() as session:
            return self._wire(session, self._object(session, caller, organization_id, service_id, kind, object_id))

    # Changes.

    async def create(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, kind: Kind,
                     body: BaseModel) -> Any:
        document, sealed = self._document(kind, body, None)
        service = self._service(caller, organization_id, service_id)
        await self._check_engine(kind, document, service)
        with self.context.database.transaction() as session:
            objects = ClickStackObjects(session)
            document = self._prepared(session, service_id, kind, document, None)
            row = objects.add(ClickStackObject(id=new_object_id(), organization_id=organization_id,
                                               service_id=service_id, kind=kind, name=_name_of(kind, document),
                                               document=document, sealed_secrets=sealed))
            if kind == "alerts":
                session.add(ClickStackAlertStatus(alert_id=row.id, state="OK", execution_errors=[]))
                session.flush()
            self._record(session, caller, kind, "create", row)
            wire = self._wire(session, row)
        if kind == "alerts":
            self.context.reconcile_now.set()
        return wire

    async def replace(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, kind: Kind,
                      object_id: str, body: BaseModel) -> Any:
        _refuse_predefined(service_id, kind, object_id, "changed")
        with self.context.database.looking() as session:
            before = self._object(session, caller, organization_id, service_id, kind, object_id)
            document, sealed = self._document(kind, body, before)
            service = self._service(caller, organization_id, service_id)
        await self._check_engine(kind, document, service)
        with self.context.database.transaction() as session:
            row = self._object(session, caller, organization_id, service_id, kind, object_id, for_update=True)
            document = self._prepared(session, service_id, kind, document, row)
            if kind == "dashboards":
                _drop_orphaned_tile_alerts(session, service_id, row.id, document)
            row.document, row.sealed_secrets, row.name = document, sealed, _name_of(kind, document)
            session.flush()
            self._record(session, caller, kind, "update", row)
            return self._wire(session, row)

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, kind: Kind,
               object_id: str) -> None:
        _refuse_predefined(service_id, kind, object_id, "deleted")
        with self.context.database.transaction() as session:
            row = self._object(session, caller, organization_id, service_id, kind, object_id, for_update=True)
            objects = ClickStackObjects(session)
            _refuse_if_in_use(objects, service_id, kind, row)
            dependants = _alerts_of(objects, service_id, kind, row.id)
            self._record(session, caller, kind, "delete", row)
            objects.remove([*dependants, row])

    async def validate_dashboard(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                                 body: Any) -> schemas.ClickStackValidateDashboardResponse:
        """HyperDX's dry run of a dashboard create: the body's shape, then the references; nothing stored."""
        self._service(caller, organization_id, service_id)
        try:
            request = _as_created(schemas.ClickStackCreateDashboardRequest, body)
            normalized = request.model_dump(mode="json", by_alias=True, exclude_none=True)
            _refuse_series(normalized)
        except ValidationError as error:
            return _invalid([_error(item) for item in error.errors()])
        except BadRequest as error:
            return _invalid([{"path": "tiles", "message": error.message}])
        with self.context.database.looking() as session:
            problem = dashboard_problem(normalized, neighbours_of(session, service_id))
        if problem:
            return _invalid([{"path": "", "message": problem}])
        return schemas.ClickStackValidateDashboardResponse.model_validate(
            {"valid": True, "errors": [], "normalized": normalized})

    async def validate_webhook(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                               body: Any) -> schemas.ClickStackValidateWebhookResponse:
        """A webhook create's dry run (clickhousectl's `webhook validate`): its shape and its name's uniqueness."""
        self._service(caller, organization_id, service_id)
        try:
            request = _as_created(schemas.ClickStackWebhookInput, body)
        except ValidationError as error:
            return schemas.ClickStackValidateWebhookResponse.model_validate(
                {"valid": False, "errors": [_error(item) for item in error.errors()], "normalized": None})
        normalized = request.model_dump(mode="json", by_alias=True, exclude_none=True)
        with self.context.database.looking() as session:
            try:
                _check_webhook(ClickStackObjects(session), service_id, normalized, None)
            except BadRequest as error:
                return schemas.ClickStackValidateWebhookResponse.model_validate(
                    {"valid": False, "errors": [{"path": "name", "message": error.message}], "normalized": None})
        for secret in WEBHOOK_SECRETS:
            normalized.pop(secret, None)
        return schemas.ClickStackValidateWebhookResponse.model_validate(
            {"valid": True, "errors": [], "normalized": normalized})

    # Helpers.

    def _service(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> Service:
        with self.context.database.looking() as session:
            service = visible(Services(session), caller, organization_id, service_id)
            session.expunge(service)
            return service

    def _object(self, session: Session, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                kind: Kind, object_id: str, for_update: bool = False) -> ClickStackObject:
        visible(Services(session), caller, organization_id, service_id)
        row = ClickStackObjects(session).get(service_id, kind, object_id, for_update)
        if row is None:
            raise NotFound(f"ClickStack {COLLECTIONS[kind].noun} {object_id} does not exist in service {service_id}")
        return row

    def _document(self, kind: Kind, body: BaseModel, before: ClickStackObject | None
                  ) -> tuple[dict[str, Any], str | None]:
        """The body as stored, and a webhook's secrets sealed apart: on a replace, those not given are kept unless
        the url or the service changed (then they are cleared); `{}` clears them."""
        document = body.model_dump(mode="json", by_alias=True, exclude_none=True)
        document.pop("id", None)  # a source's id in its body is dropped (the reference says so); the path has it
        if kind == "roles" and before is not None:  # a role's update may leave its name and description out
            document = {key: before.document[key] for key in ("name", "description") if key in before.document} \
                | document
        if kind != "webhooks":
            return document, None
        given = {secret: document.pop(secret) for secret in WEBHOOK_SECRETS if secret in document}
        kept: dict[str, Any] = {}
        if before is not None and before.sealed_secrets and all(
                before.document.get(key) == document.get(key) for key in ("url", "service")):
            kept = json.loads(self.box.open(before.sealed_secrets))
        secrets_now = {key: value for key, value in (kept | given).items() if value}
        return document, self.box.seal(json.dumps(secrets_now)) if secrets_now else None

    async def _check_engine(self, kind: Kind, document: dict[str, Any], service: Service) -> None:
        """What a source or a saved search reads must be there in the service's ClickHouse."""
        if kind not in ("sources", "saved-searches"):
            return
        destination = await self._destination(service)
        if kind == "sources":
            await check_source_tables(document, destination)
            return
        with self.context.database.looking() as session:
            source = source_of(document.get("sourceId"), neighbours_of(session, service.id))
        await (await search_query(document, source, destination)).check(destination)

    async def _destination(self, service: Service) -> Destination:
        access = await self.context.runtime.sql_access(str(service.id)) if service.state == "running" else None
        if access is None:
            raise FailedDependency(f"service {service.id} is not running, and this is checked against its "
                                   f"ClickHouse; start it and try again. Current state: {service.state}")
        return Destination(self.context.http_client(), access)

    def _prepared(self, session: Session, service_id: uuid.UUID, kind: Kind, document: dict[str, Any],
                  before: ClickStackObject | None) -> dict[str, Any]:
        """The document checked against the service's other objects, with the ids the server gives."""
        objects = ClickStackObjects(session)
        neighbours = neighbours_of(session, service_id)
        own_id = before.id if before is not None else None
        if kind == "sources":
            check_source_links(document, neighbours, own_id)
        elif kind == "saved-searches":
            source_of(document.get("sourceId"), neighbours)
        elif kind == "dashboards":
            _refuse_series(document)
            document = _dashboard_with_ids(document, replacing=before is not None)
            if problem := dashboard_problem(document, neighbours, own_id):
                raise BadRequest(problem)
        elif kind == "alerts":
            check_alert_links(document, neighbours)
            _check_templates(document)
        elif kind == "webhooks":
            _check_webhook(objects, service_id, document, own_id)
        else:
            document = _role(document)
        return document

    def _wire(self, session: Session, row: ClickStackObject) -> Any:
        shown: dict[str, Any] = {**row.document, "id": row.id, "teamId": team_id(row.service_id),
                                 "createdAt": rfc3339(row.created_at),
                                 "updatedAt": rfc3339(row.updated_at or row.created_at)}
        if row.kind == "roles":
            shown["isPredefined"] = False
        if row.kind == "alerts":
            status = AlertRecords(session).status(row.id)
            shown |= {"state": status.state if status else "OK",
                      "executionErrors": status.execution_errors if status else [],
                      "stateReason": status.reason if status else None}
        return COLLECTIONS[cast(Kind, row.kind)].shown.validate_python(shown)

    @staticmethod
    def _record(session: Session, caller: Caller, kind: Kind, change: str, row: ClickStackObject) -> None:
        activity = cast(RecordedActivityType, f"{COLLECTIONS[kind].activity}_{change}")
        record(Activities(session), caller, activity, service_id=row.service_id,
               details={"clickStackId": row.id, "name": row.name})


def _name_of(kind: Kind, document: dict[str, Any]) -> str:
    return str(document.get("name") or "")


def _refuse_series(dashboard: dict[str, Any]) -> None:
    """The deprecated `series` form of a tile: shown by no response model, so it is refused rather than kept."""
    for index, tile in enumerate(dashboard.get("tiles") or ()):
        if tile.get("series") and not tile.get("config"):
            raise BadRequest(f"tiles.{index}.series: the series form of a tile is deprecated; describe the tile "
                             "with config (displayType, sourceId, select)")


def _as_created(model: type[Created], body: Any) -> Created:
    """A dry run's body parsed as the create's binder parses it: strictly, as JSON."""
    return model.model_validate_json(json.dumps(body), strict=True)


def _dashboard_with_ids(document: dict[str, Any], replacing: bool) -> dict[str, Any]:
    """Tiles keep the ids given (a replace matches tiles by id) and get one when they have none. Filters may not
    bring an id to a create and must on a replace; either way the server gives each its own."""
    filters = document.get("filters") or []
    with_ids = [index for index, item in enumerate(filters) if item.get("id")]
    if not replacing and with_ids:
        raise BadRequest(f"filters.{with_ids[0]}.id: a new dashboard's filters have no ids; leave them out "
                         "(the server gives them)")
    if replacing and len(with_ids) != len(filters):
        missing = next(index for index in range(len(filters)) if index not in with_ids)
        raise BadRequest(f"filters.{missing}.id: a replace names each filter by its id; give the ids the "
                         "dashboard shows")
    tiles = [tile | {"id": tile.get("id") or new_object_id()} for tile in document.get("tiles") or []]
    return document | {"tiles": tiles, "filters": [item | {"id": new_object_id()} for item in filters]}


def _drop_orphaned_tile_alerts(session: Session, service_id: uuid.UUID, dashboard_id: str,
                               document: dict[str, Any]) -> None:
    """A replace removes the alerts of tiles it drops and of tiles that can no longer carry one (HyperDX)."""
    objects = ClickStackObjects(session)
    keep = alertable_tile_ids(document)
    objects.remove([alert for alert in _alerts_of(objects, service_id, "dashboards", dashboard_id)
                    if alert.document.get("tileId") not in keep])


def _alerts_of(objects: ClickStackObjects, service_id: uuid.UUID, kind: Kind, object_id: str
               ) -> list[ClickStackObject]:
    """The alerts that go with a saved search or a dashboard when it is deleted."""
    field = {"saved-searches": "savedSearchId", "dashboards": "dashboardId"}.get(kind)
    if field is None:
        return []
    return [alert for alert in objects.of_service(service_id, "alerts") if alert.document.get(field) == object_id]


def _refuse_if_in_use(objects: ClickStackObjects, service_id: uuid.UUID, kind: Kind, row: ClickStackObject) -> None:
    """A webhook that alerts deliver to, or a source that searches, dashboards or other sources read, stays."""
    users: list[ClickStackObject] = []
    if kind == "webhooks":
        users = [alert for alert in objects.of_service(service_id, "alerts")
                 if (alert.document.get("channel") or {}).get("webhookId") == row.id]
        if users:
            raise Conflict(f"Cannot delete webhook: {len(users)} alert(s) still reference it "
                           f"({', '.join(alert.id for alert in users)}); delete them or point them at another "
                           "webhook first")
    if kind == "sources":
        users = [*(search for search in objects.of_service(service_id, "saved-searches")
                   if search.document.get("sourceId") == row.id),
                 *(board for board in objects.of_service(service_id, "dashboards")
                   if row.id in sources_named_by_dashboard(board.document)),
                 *(source for source in objects.of_service(service_id, "sources")
                   if row.id in (source.document.get(key) for key in LINKED_SOURCE_FIELDS))]
        if users:
            raise Conflict(f"Cannot delete source: {', '.join(f'{user.kind} {user.id}' for user in users)} still "
                           "read it; delete or change them first")


def _refuse_predefined(service_id: uuid.UUID, kind: Kind, object_id: str, change: str) -> None:
    if kind == "roles" and _predefined_role(service_id, object_id) is not None:
        raise BadRequest(f"role {object_id} is predefined and cannot be {change}; create a role of your own")


def _role(document: dict[str, Any]) -> dict[str, Any]:
    """A role of the user's: not named as a predefined one, and always able to read connections (HyperDX)."""
    if document.get("name") in PREDEFINED_ROLES:
        raise BadRequest(f"name: {document['name']!r} is a predefined role's name; choose another")
    permissions = list(document.get("permissions") or [])
    if not any(item.get("action") == "read" and item.get("subject") == "Connection" and not item.get("inverted")
               for item in permissions):
        permissions.append(READ_CONNECTIONS)
    return document | {"permissions": permissions}


def _predefined_roles(service_id: uuid.UUID) -> list[Any]:
    return [role for name in PREDEFINED_ROLES
            if (role := _predefined_role(service_id, predefined_role_id(service_id, name))) is not None]


def _predefined_role(service_id: uuid.UUID, role_id: str) -> Any:
    for name, permissions in PREDEFINED_ROLES.items():
        if predefined_role_id(service_id, name) == role_id:
            return COLLECTIONS["roles"].shown.validate_python(
                {"id": role_id, "name": name, "description": f"HyperDX's predefined {name} role",
                 "permissions": [*permissions, READ_CONNECTIONS], "isPredefined": True})
    return None


def _check_webhook(objects: ClickStackObjects, service_id: uuid.UUID, document: dict[str, Any],
                   own_id: str | None) -> None:
    """The URL one a delivery may go to, the body template one that renders, the name not yet taken."""
    if problem := check_webhook_url(str(document.get("service")), str(document.get("url"))):
        raise BadRequest(f"url: {problem}")
    if document.get("body"):
        try:
            check_template(document["body"])
        except TemplateError as error:
            raise BadRequest(f"body: {error}") from None
    for other in objects.of_service(service_id, "webhooks"):
        if other.id != own_id and other.name == document.get("name") and \
                other.document.get("service") == document.get("service"):
            raise BadRequest("A webhook with this service and name already exists; choose another name")


def _check_templates(alert: dict[str, Any]) -> None:
    for field in ("name", "message"):
        if alert.get(field):
            try:
                check_template(alert[field])
            except TemplateError as error:
                raise BadRequest(f"{field}: {error}") from None


def _invalid(errors: Sequence[dict[str, str]]) -> schemas.ClickStackValidateDashboardResponse:
    return schemas.ClickStackValidateDashboardResponse.model_validate(
        {"valid": False, "errors": list(errors), "normalized": None})


def _error(item: Any) -> dict[str, str]:
    """A pydantic error as HyperDX's validate shows one: the dotted path of the body's fields (without the names
    of the union variants pydantic tried, which are not in the body) and the message."""
    path = [str(part) for part in item["loc"] if isinstance(part, int) or not _is_variant(str(part))]
    return {"path": ".".join(path), "message": str(item["msg"])}


def _is_variant(part: str) -> bool:
    """pydantic's names of union variants in an error's place: a tag value (`line`, `builder`) or a model's name."""
    return part in _VARIANT_TAGS or part.startswith(("ClickStack", "function-"))

