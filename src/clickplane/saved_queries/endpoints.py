"""Saved queries of a service: clickhousectl's `saved-query` commands. The reference document has none of these
operations; the served document describes them as clickplane serves them."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.paging import MAX_PAGE
from clickplane.kit.routes import Api
from clickplane.saved_queries.schemas import SavedQuery, SavedQueryListItem, SavedQueryRequest
from clickplane.saved_queries.service import SavedQueryService, to_list_item, to_wire

TAG = "Saved query"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/saved-queries"
ONE = PATH + "/{savedQueryId}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)
CHECKED = ("The SQL is checked on the service's ClickHouse when the service is running (its placeholders filled "
           "with `parameters`): the database must exist, and the server must accept the SQL; a service that is not "
           "running is not woken, and the SQL is kept unchecked.")


def add_routes(api: Api, context: AppContext) -> None:
    saved = SavedQueryService(context)

    @api.route("GET", PATH, "savedQueryGetList", "List saved queries", TAG,
               "The service's saved queries, oldest first; a page at a time with `limit` (1 to 100) and `cursor` (the "
               "`nextCursor` of the page before). Absent from the reference; clickhousectl's `saved-query list`.",
               list[SavedQueryListItem], paged=True, parameters={"limit": {"minimum": 1, "maximum": MAX_PAGE}},
               produces=Produces("savedQueryId", "/result/0/id"))
    async def list_saved_queries(caller: Caller, organizationId: UUID, serviceId: UUID, limit: int | None = None,
                                 cursor: str | None = None) -> Response:
        page, paging = saved.list(caller, organizationId, serviceId, limit, cursor)
        return ok([to_list_item(row) for row in page], page=paging)

    @api.route("POST", PATH, "savedQueryCreate", "Create a saved query", TAG,
               f"Saves SQL under a name unique in the service. {CHECKED}", SavedQuery, errors=CHANGE_ERRORS,
               produces=Produces("savedQueryId", "/result/id"))
    async def create_saved_query(caller: Caller, organizationId: UUID, serviceId: UUID,
                                 body: JsonBody[SavedQueryRequest]) -> Response:
        return ok(to_wire(await saved.create(caller, organizationId, serviceId, body.value)))

    @api.route("GET", ONE, "savedQueryGet", "Get a saved query", TAG, "One saved query, with its SQL.", SavedQuery)
    async def get_saved_query(caller: Caller, organizationId: UUID, serviceId: UUID, savedQueryId: UUID) -> Response:
        return ok(to_wire(saved.get(caller, organizationId, serviceId, savedQueryId)))

    @api.route("PUT", ONE, "savedQueryUpdate", "Replace a saved query", TAG,
               f"A full replacement: what the body leaves out is not kept (parameters left out become none). "
               f"{CHECKED}", SavedQuery, errors=CHANGE_ERRORS)
    async def update_saved_query(caller: Caller, organizationId: UUID, serviceId: UUID, savedQueryId: UUID,
                                 body: JsonBody[SavedQueryRequest]) -> Response:
        return ok(to_wire(await saved.replace(caller, organizationId, serviceId, savedQueryId, body.value)))

    @api.route("DELETE", ONE, "savedQueryDelete", "Delete a saved query", TAG, "Removes the saved query.", None,
               errors=CHANGE_ERRORS)
    async def delete_saved_query(caller: Caller, organizationId: UUID, serviceId: UUID,
                                 savedQueryId: UUID) -> Response:
        saved.delete(caller, organizationId, serviceId, savedQueryId)
        return acknowledged()
