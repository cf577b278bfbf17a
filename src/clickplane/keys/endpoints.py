"""API keys: list (paged on request), create, get, update, delete; and `whoami` for the calling key."""

from __future__ import annotations

import uuid
from uuid import UUID

from blacksheep import Response
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import key_id_hash
from clickplane.keys import service as rules
from clickplane.keys.repository import ApiKeys
from clickplane.keys.schemas import (
    ApiKey,
    ApiKeyPatchRequest,
    ApiKeyPostRequest,
    ApiKeyPostResponse,
    AssignedRole,
    Whoami,
)
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.kit.routes import Api
from clickplane.organizations import service as organization_rules
from clickplane.organizations.repository import Organizations
from clickplane.roles.endpoints import granting
from clickplane.roles.repository import Roles
from clickplane.roles.service import describe
from clickplane.store import models

TAG = "OpenAPI"
PATH = "/v1/organizations/{organizationId}/keys"
MAX_PAGE = 100


def to_wire(key: models.ApiKey, roles: Roles) -> ApiKey:
    assigned = describe(key.role_ids, key.organization_id, roles)
    return ApiKey.model_validate({
        "id": key.id, "name": key.name, "state": key.state, "keySuffix": key.key_suffix,
        "roles": [role.legacy_name for role in assigned if role.legacy_name],
        "assignedRoles": [AssignedRole(roleId=r.id, roleName=r.name, roleType=r.type) for r in assigned],
        "createdAt": key.created_at, "expireAt": key.expire_at, "usedAt": key.used_at,
        "ipAccessList": key.ip_access_list,
    })


def find_key(keys: ApiKeys, organization_id: UUID, key_ref: str) -> models.ApiKey:
    """A key by its id, or (leniently, as clickhousectl may pass it) by its Basic-auth user name."""
    try:
        key = keys.get(organization_id, uuid.UUID(key_ref))
    except ValueError:
        by_credential = keys.by_key_id_hash(key_id_hash(key_ref))
        key = by_credential if by_credential and by_credential.organization_id == organization_id else None
    if key is None:
        raise NotFound(f"API key {key_ref} does not exist in organization {organization_id}")
    return key


def add_routes(api: Api, context: AppContext) -> None:
    def key_activity(session: Session, caller: Caller, activity_type: RecordedActivityType, key: models.ApiKey,
                     update_type: str | None = None) -> None:
        record(Activities(session), caller, activity_type,
               target_key_id=key.id, key_update_type=update_type, details={"name": key.name})

    @api.route("GET", "/v1/whoami", "whoami", "Who is calling", "OpenAPI",
               "The API key the request authenticated with, and its organization.", Whoami)
    async def whoami(caller: Caller) -> Response:
        with context.database.transaction() as session:
            key = find_key(ApiKeys(session), caller.organization_id, str(caller.key_uuid))
            return ok(Whoami(actorType="apiKey", keyId=key.id, name=key.name, organizationId=key.organization_id))

    @api.route("GET", PATH, "openapiKeyGetList", "Get list of all keys", TAG,
               "Every API key of the organization, oldest first; with `limit`, one page at a time (follow "
               "`nextCursor`).", list[ApiKey], paged=True, parameters={"limit": {"minimum": 1, "maximum": MAX_PAGE}})
    async def list_keys(caller: Caller, organizationId: UUID, limit: int | None = None,
                        cursor: str | None = None) -> Response:
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        with context.database.transaction() as session:
            keys = list(ApiKeys(session).list(organizationId))
            start = _cursor_position(keys, cursor)
            page = keys[start:start + limit] if limit else keys[start:]
            more = limit is not None and start + limit < len(keys)
            paging = {"limit": limit, "totalCount": len(keys), "nextCursor": str(page[-1].id) if more else None}
            return ok([to_wire(key, Roles(session)) for key in page], page=paging if limit or cursor else None)

    @api.route("POST", PATH, "openapiKeyCreate", "Create key", TAG,
               "A new key. Its id and secret are shown only in this response, unless the client sent hashData "
               "(then they never leave the client).", ApiKeyPostResponse, errors=(400, 401, 404, 409, 500),
               produces=Produces("keyId", "/result/key/id"))
    async def create_key(caller: Caller, organizationId: UUID, body: JsonBody[ApiKeyPostRequest]) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId, for_update=True)
            with granting(session, caller, organizationId):
                new = rules.create_key(body.value, organizationId, ApiKeys(session), Roles(session), context.hasher)
            key_activity(session, caller, "key_create", new.key, "created")
            return ok(ApiKeyPostResponse(key=to_wire(new.key, Roles(session)), keyId=new.key_id,
                                         keySecret=new.key_secret))

    @api.route("GET", PATH + "/{keyId}", "openapiKeyGet", "Get key details", TAG,
               "One API key of the organization.", ApiKey)
    async def get_key(caller: Caller, organizationId: UUID, keyId: str) -> Response:
        with context.database.transaction() as session:
            return ok(to_wire(find_key(ApiKeys(session), organizationId, keyId), Roles(session)))

    @api.route("PATCH", PATH + "/{keyId}", "openapiKeyUpdate", "Update key", TAG,
               "Rename, re-role, enable or disable a key, change its expiry (null: never) or its IP access list. "
               "Takes effect at once in this process and within seconds everywhere.", ApiKey,
               errors=(400, 401, 404, 409, 500))
    async def update_key(caller: Caller, organizationId: UUID, keyId: str,
                         body: JsonBody[ApiKeyPatchRequest]) -> Response:
        with context.database.transaction() as session:
            key = find_key(ApiKeys(session), organizationId, keyId)
            with granting(session, caller, organizationId):
                update_types = rules.update_key(key, body.value, ApiKeys(session), Roles(session))
            for update_type in update_types:
                key_activity(session, caller, "openapi_key_update", key, update_type)
            response = ok(to_wire(key, Roles(session)))
        context.verified_keys.forget_key(key.id)
        return response

    @api.route("DELETE", PATH + "/{keyId}", "openapiKeyDelete", "Delete key", TAG,
               "Deletes a key; it is refused from then on. A key cannot delete itself.", None)
    async def delete_key(caller: Caller, organizationId: UUID, keyId: str) -> Response:
        with context.database.transaction() as session:
            key = find_key(ApiKeys(session), organizationId, keyId)
            rules.check_deletable(key, caller)
            key_activity(session, caller, "key_delete", key, "deleted")
            ApiKeys(session).delete(key)
        context.verified_keys.forget_key(key.id)
        return acknowledged()


def _cursor_position(keys: list[models.ApiKey], cursor: str | None) -> int:
    """Where a page starts: just after the key the cursor names."""
    if cursor is None:
        return 0
    for index, key in enumerate(keys):
        if str(key.id) == cursor:
            return index + 1
    raise BadRequest("cursor does not name a key of this organization; start again without a cursor")
