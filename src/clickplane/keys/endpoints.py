"""API keys: list (paged on request), create, get, update, delete; and `whoami` for the calling key."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.keys.schemas import ApiKey, ApiKeyPatchRequest, ApiKeyPostRequest, ApiKeyPostResponse, Whoami
from clickplane.keys.service import KeyService
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.paging import MAX_PAGE
from clickplane.kit.routes import Api

TAG = "OpenAPI"
PATH = "/v1/organizations/{organizationId}/keys"


def add_routes(api: Api, context: AppContext) -> None:
    keys = KeyService(context)

    @api.route("GET", "/v1/whoami", "whoami", "Who is calling", "OpenAPI",
               "The API key the request authenticated with, and its organization.", Whoami)
    async def whoami(caller: Caller) -> Response:
        return ok(keys.whoami(caller))

    @api.route("GET", PATH, "openapiKeyGetList", "Get list of all keys", TAG,
               "Every API key of the organization, oldest first; with `limit`, one page at a time (follow "
               "`nextCursor`).", list[ApiKey], paged=True, parameters={"limit": {"minimum": 1, "maximum": MAX_PAGE}})
    async def list_keys(caller: Caller, organizationId: UUID, limit: int | None = None,
                        cursor: str | None = None) -> Response:
        page, paging = keys.list(organizationId, limit, cursor)
        return ok(page, page=paging)

    @api.route("POST", PATH, "openapiKeyCreate", "Create key", TAG,
               "A new key. Its id and secret are shown only in this response, unless the client sent hashData "
               "(then they never leave the client).", ApiKeyPostResponse, errors=(400, 401, 404, 409, 500),
               produces=Produces("keyId", "/result/key/id"))
    async def create_key(caller: Caller, organizationId: UUID, body: JsonBody[ApiKeyPostRequest]) -> Response:
        return ok(keys.create(caller, organizationId, body.value))

    @api.route("GET", PATH + "/{keyId}", "openapiKeyGet", "Get key details", TAG,
               "One API key of the organization.", ApiKey)
    async def get_key(caller: Caller, organizationId: UUID, keyId: str) -> Response:
        return ok(keys.get(organizationId, keyId))

    @api.route("PATCH", PATH + "/{keyId}", "openapiKeyUpdate", "Update key", TAG,
               "Rename, re-role, enable or disable a key, change its expiry (null: never) or its IP access list. "
               "Takes effect at once in this process and within seconds everywhere.", ApiKey,
               errors=(400, 401, 404, 409, 500))
    async def update_key(caller: Caller, organizationId: UUID, keyId: str,
                         body: JsonBody[ApiKeyPatchRequest]) -> Response:
        return ok(keys.update(caller, organizationId, keyId, body.value))

    @api.route("DELETE", PATH + "/{keyId}", "openapiKeyDelete", "Delete key", TAG,
               "Deletes a key; it is refused from then on. A key cannot delete itself.", None)
    async def delete_key(caller: Caller, organizationId: UUID, keyId: str) -> Response:
        keys.delete(caller, organizationId, keyId)
        return acknowledged()
