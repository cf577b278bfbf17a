"""ClickStack: a service's sources, saved searches, dashboards, alerts, webhooks and roles (HyperDX's objects; each
service is one ClickStack team), and the dry runs of a dashboard and of a webhook.

The six collections have the same five operations (a webhook has no get), so they are registered from one table
(COLLECTIONS) by one function; each operation keeps the reference's operationId, summary, path and path parameter.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from blacksheep import FromRoute, Response
from pydantic import BaseModel

from clickplane.auth.authentication import Caller
from clickplane.clickstack import schemas
from clickplane.clickstack.service import ClickStackApi, Kind
from clickplane.kit.binders import JsonBody, RawJsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest
from clickplane.kit.routes import Api, Handler

TAG = "ClickStack"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/clickstack"
CHANGE_ERRORS = (400, 401, 404, 409, 424, 500)
# The most a page of alerts, saved searches or webhooks holds, and what it holds when `limit` is not given.
MAX_PAGE = 1000
# Beyond any collection a service holds, and within the 64-bit integers every store takes for an OFFSET.
MAX_OFFSET = 2**31 - 1
PAGE_PARAMETERS = {"limit": {"minimum": 1, "maximum": MAX_PAGE, "default": MAX_PAGE},
                   "offset": {"minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
PAGED = (f"At most `limit` of them (1 to {MAX_PAGE}, {MAX_PAGE} when absent) from `offset` (0 when absent): ask "
         "again from offset + limit while a page is full.")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    description: str


@dataclass(frozen=True)
class Collection:
    """One collection under .../clickstack/: its path segment, the path parameter naming one of it, its wire models
    and its operations as the reference names them."""

    kind: Kind
    path_id: str
    shown: Any
    create_body: type[BaseModel]
    update_body: type[BaseModel]
    list: Operation
    create: Operation
    get: Operation | None
    update: Operation
    delete: Operation
    paged: bool = False


COLLECTIONS = (
    Collection(
        "sources", "clickStackSourceId", schemas.ClickStackSource, schemas.ClickStackSourceInput,
        schemas.ClickStackSourceInput,
        Operation("clickStackListSources", "ClickStack: List Sources",
                  "The service's sources, oldest first. A source says how to read one kind of telemetry (logs, "
                  "traces, metrics, sessions, PromQL) from a table of the service's ClickHouse."),
        Operation("clickStackCreateSource", "ClickStack: Create Source",
                  "Records a source once it checks out: its connection is the service's only one (its ClickHouse, "
                  "whose id is the service id's first 24 hex digits), the sources it links to are the service's, "
                  "and its table exists in the service's ClickHouse with every expression resolving there (424 "
                  "while the service is not running). An id in the body is dropped; granularities are short "
                  "(15s, 5m, 1h, 1d)."),
        Operation("clickStackGetSource", "ClickStack: Get Source", "One source."),
        Operation("clickStackUpdateSource", "ClickStack: Update Source",
                  "Replaces the source with the body, checked as a create is."),
        Operation("clickStackDeleteSource", "ClickStack: Delete Source",
                  "Deletes the source; 409 while saved searches, dashboards or other sources read it."),
    ),
    Collection(
        "saved-searches", "clickStackSavedSearchId", schemas.ClickStackSavedSearch,
        schemas.ClickStackSavedSearchInput, schemas.ClickStackSavedSearchInput,
        Operation("clickStackListSavedSearches", "ClickStack: List Saved Searches",
                  "The service's saved searches, oldest first. " + PAGED),
        Operation("clickStackCreateSavedSearch", "ClickStack: Create Saved Search",
                  "Records a search of one of the service's sources once its query (a Lucene `where` translated "
                  "to SQL, and its filters) runs on the service's ClickHouse (424 while the service is not "
                  "running)."),
        Operation("clickStackGetSavedSearch", "ClickStack: Get Saved Search", "One saved search."),
        Operation("clickStackUpdateSavedSearch", "ClickStack: Update Saved Search",
                  "Replaces the saved search, checked as a create is: a field left out takes its default rather "
                  "than keeping its value."),
        Operation("clickStackDeleteSavedSearch", "ClickStack: Delete Saved Search",
                  "Deletes the saved search and the alerts on it."),
        paged=True,
    ),
    Collection(
        "dashboards", "clickStackDashboardId", schemas.ClickStackDashboardResponse,
        schemas.ClickStackCreateDashboardRequest, schemas.ClickStackUpdateDashboardRequest,
        Operation("clickStackListDashboards", "ClickStack: List Dashboards",
                  "The service's dashboards, oldest first, with their tiles."),
        Operation("clickStackCreateDashboard", "ClickStack: Create Dashboard",
                  "Records a dashboard once HyperDX's checks pass: tiles in containers and tabs it declares, "
                  "sources and connections of the service, heatmaps of trace sources, click targets that exist. "
                  "A tile without an id gets one; every filter gets one."),
        Operation("clickStackGetDashboard", "ClickStack: Get Dashboard", "One dashboard."),
        Operation("clickStackUpdateDashboard", "ClickStack: Update Dashboard",
                  "Replaces the dashboard, checked as a create is. Tiles are matched by id (one with an id the "
                  "dashboard lacks is new); the alerts of tiles it drops, or that can no longer carry one, are "
                  "deleted. Each filter gives the id the dashboard shows. No concurrency control: the last write "
                  "wins."),
        Operation("clickStackDeleteDashboard", "ClickStack: Delete Dashboard",
                  "Deletes the dashboard and the alerts on its tiles."),
    ),
    Collection(
        "alerts", "clickStackAlertId", schemas.ClickStackAlertResponse, schemas.ClickStackCreateAlertRequest,
        schemas.ClickStackUpdateAlertRequest,
        Operation("clickStackListAlerts", "ClickStack: List Alerts",
                  "The service's alerts, oldest first, with their state and recent execution errors. " + PAGED),
        Operation("clickStackCreateAlert", "ClickStack: Create Alert",
                  "Records an alert on a saved search (its rows counted) or on a line, stacked_bar or number tile "
                  "built from a source, notifying one of the service's webhooks (clickplane has no mail "
                  "transport: an email channel is refused). It starts OK; then each window of its interval, once "
                  "closed, is measured on the service's ClickHouse and moves it between OK, PENDING and ALERT, "
                  "notifying on ALERT and again when it resolves. An idle or stopped service is not woken: its "
                  "windows pass unevaluated, and stateReason says so."),
        Operation("clickStackGetAlert", "ClickStack: Get Alert",
                  "One alert, with its state, why it is not being evaluated (stateReason) and its recent execution "
                  "errors."),
        Operation("clickStackUpdateAlert", "ClickStack: Update Alert",
                  "Replaces the alert, checked as a create is."),
        Operation("clickStackDeleteAlert", "ClickStack: Delete Alert", "Deletes the alert."),
        paged=True,
    ),
    Collection(
        "webhooks", "clickStackWebhookId", schemas.ClickStackWebhook, schemas.ClickStackWebhookInput,
        schemas.ClickStackWebhookInput,
        Operation("clickStackListWebhooks", "ClickStack: List Webhooks",
                  "The service's webhooks, oldest first, never with their headers or query parameters. " + PAGED),
        Operation("clickStackCreateWebhook", "ClickStack: Create Webhook",
                  "Records a webhook, its name unique among the service's webhooks of its service type. Its "
                  "headers and query parameters are stored sealed and never shown. A notification is a POST with "
                  "an Idempotency-Key, tried again on a 5xx, 408, 429 or timeout, never redirected: a Slack "
                  "webhook gets a Slack message, the others their body template rendered."),
        None,
        Operation("clickStackUpdateWebhook", "ClickStack: Update Webhook",
                  "Replaces the webhook, checked as a create is. Headers and query parameters left out are kept, "
                  "unless the url or the service changes (then they are cleared); {} clears them."),
        Operation("clickStackDeleteWebhook", "ClickStack: Delete Webhook",
                  "Deletes the webhook; 409 while alerts notify it."),
        paged=True,
    ),
    Collection(
        "roles", "clickStackRoleId", schemas.ClickStackRole, schemas.ClickStackCreateRoleRequest,
        schemas.ClickStackUpdateRoleRequest,
        Operation("clickStackListRoles", "ClickStack: List Roles",
                  "HyperDX's predefined roles (Admin, Member, ReadOnly), then the service's own, oldest first. "
                  "clickplane keeps and shows them; no request to it is judged by them (API keys' roles are)."),
        Operation("clickStackCreateRole", "ClickStack: Create Role",
                  "Records a role of CASL permissions under a name that is not a predefined role's; reading "
                  "connections is always added."),
        Operation("clickStackGetRole", "ClickStack: Get Role", "One role, predefined or the service's own."),
        Operation("clickStackUpdateRole", "ClickStack: Update Role",
                  "Replaces a role's permissions (and its name and description); a predefined role is refused "
                  "(400)."),
        Operation("clickStackDeleteRole", "ClickStack: Delete Role",
                  "Deletes a role of the service's own; a predefined role is refused (400)."),
    ),
)


def add_routes(api: Api, context: AppContext) -> None:
    stack = ClickStackApi(context)
    for collection in COLLECTIONS:
        add_collection(api, stack, collection)

    @api.route("POST", PATH + "/dashboards/validate", "clickStackValidateDashboard", "ClickStack: Validate Dashboard",
               TAG, "A create's dry run, for a plan (Terraform's): the body is checked as a create checks it, and "
               "the answer is 200 whether it passes or not, with `valid`, the errors (a dotted path, empty for "
               "the dashboard as a whole, and a message) and the dashboard as it would be created (null when "
               "invalid). Nothing is stored. A body that is not JSON is a 400.",
               schemas.ClickStackValidateDashboardResponse)
    async def validate_dashboard(caller: Caller, organizationId: UUID, serviceId: UUID,
                                 body: RawJsonBody[schemas.ClickStackCreateDashboardRequest]) -> Response:
        return ok(await stack.validate_dashboard(caller, organizationId, serviceId, body.value))

    @api.route("POST", PATH + "/webhooks/validate", "clickStackValidateWebhook", "ClickStack: Validate Webhook", TAG,
               "A webhook create's dry run (clickhousectl's `webhook validate`; the reference lacks it): the body "
               "is checked as a create checks it, its name's uniqueness included, and the answer is 200 whether "
               "it passes or not, with `valid`, the errors and the webhook as it would be created, without its "
               "headers and query parameters (null when invalid). Nothing is stored. A body that is not JSON is "
               "a 400.", schemas.ClickStackValidateWebhookResponse)
    async def validate_webhook(caller: Caller, organizationId: UUID, serviceId: UUID,
                               body: RawJsonBody[schemas.ClickStackWebhookInput]) -> Response:
        return ok(await stack.validate_webhook(caller, organizationId, serviceId, body.value))


def add_collection(api: Api, stack: ClickStackApi, collection: Collection) -> None:
    """The collection's operations: list and create at .../clickstack/<kind>, get, update and delete at
    .../clickstack/<kind>/{<path_id>}."""
    kind, many = collection.kind, f"{PATH}/{collection.kind}"
    one = f"{many}/{{{collection.path_id}}}"
    object_id = path_parameter(collection.path_id)

    def route(method: str, path: str, operation: Operation, result: Any, handler: Handler, **options: Any) -> None:
        api.route(method, path, operation.operation_id, operation.summary, TAG, operation.description, result,
                  **options)(handler)

    if collection.paged:
        async def list_page(caller: Caller, organizationId: UUID, serviceId: UUID, limit: int | None = None,
                            offset: int | None = None) -> Response:
            return ok(stack.list(caller, organizationId, serviceId, kind, *page(limit, offset)))
        route("GET", many, collection.list, of(list, collection.shown), list_page, parameters=PAGE_PARAMETERS)
    else:
        async def list_all(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
            return ok(stack.list(caller, organizationId, serviceId, kind))
        route("GET", many, collection.list, of(list, collection.shown), list_all)

    async def create(caller: Caller, organizationId: UUID, serviceId: UUID, body: JsonBody[BaseModel]) -> Response:
        return ok(await stack.create(caller, organizationId, serviceId, kind, body.value))
    route("POST", many, collection.create, collection.shown, bound(create, body=of(JsonBody, collection.create_body)),
          errors=CHANGE_ERRORS, produces=Produces(collection.path_id, "/result/id"))

    if collection.get is not None:
        async def get(caller: Caller, organizationId: UUID, serviceId: UUID, item: FromRoute[str]) -> Response:
            return ok(stack.get(caller, organizationId, serviceId, kind, item.value))
        route("GET", one, collection.get, collection.shown, bound(get, item=object_id))

    async def update(caller: Caller, organizationId: UUID, serviceId: UUID, item: FromRoute[str],
                     body: JsonBody[BaseModel]) -> Response:
        return ok(await stack.replace(caller, organizationId, serviceId, kind, item.value, body.value))
    route("PUT", one, collection.update, collection.shown,
          bound(update, item=object_id, body=of(JsonBody, collection.update_body)), errors=CHANGE_ERRORS)

    async def delete(caller: Caller, organizationId: UUID, serviceId: UUID, item: FromRoute[str]) -> Response:
        stack.delete(caller, organizationId, serviceId, kind, item.value)
        return acknowledged()
    route("DELETE", one, collection.delete, None, bound(delete, item=object_id), errors=CHANGE_ERRORS)


def path_parameter(name: str) -> type[FromRoute[str]]:
    """A path parameter bound by its name in the route (clickStackSourceId, ...) rather than by the handler
    parameter's: one handler serves every collection, each with its own name for an object's id (a 24-hex id,
    not a UUID: a string)."""
    return types.new_class(name, (FromRoute[str],), exec_body=lambda namespace: namespace.update(name=name))


def bound(handler: Handler, **parameter_types: Any) -> Handler:
    """`handler` with some of its parameters' types set to what BlackSheep binds them by: the collection's path
    parameter and body model, which a handler written once for all collections cannot name in its signature."""
    handler.__annotations__.update(parameter_types)
    return handler


def of(generic: Any, argument: Any) -> Any:
    """`generic[argument]` (list[...], JsonBody[...]) for a type known only when the program runs."""
    return generic[argument]


def page(limit: int | None, offset: int | None) -> tuple[int, int]:
    """The page a list asks for, with the defaults; a 400 for a bound it breaks."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise BadRequest(f"offset must be between 0 and {MAX_OFFSET}, not {offset}")
    return (MAX_PAGE if limit is None else limit), (offset or 0)
