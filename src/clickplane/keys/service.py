"""API keys: the rules for making them (from generated or client-hashed credentials), changing and deleting
them, and `KeyService`, whose methods are the API's use cases, each in a transaction of its own."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import (
    SECRET_OF_DIGEST,
    SecretHasher,
    key_id_hash,
    new_key_id,
    new_key_secret,
    sha256_digest,
)
from clickplane.keys import schemas
from clickplane.keys.repository import ApiKeys
from clickplane.keys.schemas import ApiKeyPatchRequest, ApiKeyPostRequest
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import Page
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.kit.paging import page_of
from clickplane.organizations.lookup import visible
from clickplane.organizations.repository import Organizations
from clickplane.roles.repository import Roles
from clickplane.roles.service import describe, granting, role_ids_from
from clickplane.services.service import validate_ip_access_list
from clickplane.store.models import ApiKey

MAX_KEYS_PER_ORGANIZATION = 100


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    key_id: str | None  # None when the client sent hashData: it holds the credentials itself
    key_secret: str | None


def _digest_of(encoded: str, field: str) -> bytes:
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 32:
        raise BadRequest(f"hashData.{field} must be the base64 of a SHA-256 digest "
                         '(echo -n "$VALUE" | sha256sum | xxd -r -p | base64)')
    return digest


def _future(moment: datetime | None, field: str) -> datetime | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise BadRequest(f"{field} must be in the future")
    return moment


def _unique_name(keys: ApiKeys, organization_id: uuid.UUID, name: str, except_id: uuid.UUID | None = None) -> str:
    if any(key.name == name and key.id != except_id for key in keys.list(organization_id)):
        raise Conflict(f"an API key named {name!r} already exists in this organization; choose another name")
    return name


def create_key(request: ApiKeyPostRequest, organization_id: uuid.UUID, keys: ApiKeys, roles: Roles,
               hasher: SecretHasher) -> NewKey:
    if keys.count(organization_id) >= MAX_KEYS_PER_ORGANIZATION:
        raise BadRequest(f"the organization already holds {MAX_KEYS_PER_ORGANIZATION} API keys, the most it may; "
                         "delete keys it no longer needs first")
    role_ids = role_ids_from(request.assignedRoleIds, request.roles, organization_id, roles) or []
    key_id: str | None = None
    secret: str | None = None
    if request.hashData is None:
        key_id, secret = new_key_id(), new_key_secret()
        id_hash, secret_digest, suffix = key_id_hash(key_id), sha256_digest(secret), key_id[-4:]
    else:
        id_hash = _digest_of(request.hashData.keyIdHash, "keyIdHash").hex()
        secret_digest = _digest_of(request.hashData.keySecretHash, "keySecretHash")
        suffix = request.hashData.keyIdSuffix
        if keys.by_key_id_hash(id_hash) is not None:
            raise Conflict("hashData.keyIdHash: a key with this id already exists; generate a new key id")
    key = keys.add(ApiKey(
        id=uuid.uuid4(), organization_id=organization_id, name=_unique_name(keys, organization_id, request.name),
        key_id_hash=id_hash, secret_hash=hasher.hash(secret_digest), secret_scheme=SECRET_OF_DIGEST,
        key_suffix=suffix, state=request.state or "enabled", role_ids=role_ids,
        ip_access_list=validate_ip_access_list(request.ipAccessList or []),
        expire_at=_future(request.expireAt, "expireAt"),
    ))
    return NewKey(key, key_id, secret)


def update_key(key: ApiKey, patch: ApiKeyPatchRequest, keys: ApiKeys, roles: Roles) -> list[str]:
    """Apply a PATCH; returns the reference's keyUpdateType of each change."""
    changes: list[str] = []
    if patch.name is not None and patch.name != key.name:
        key.name = _unique_name(keys, key.organization_id, patch.name, except_id=key.id)
        changes.append("name-changed")
    role_ids = role_ids_from(patch.assignedRoleIds, patch.roles, key.organization_id, roles)
    if role_ids is not None and role_ids != key.role_ids:
        key.role_ids = role_ids
        changes.append("roles-v2-changed" if patch.assignedRoleIds is not None else "role-changed")
    if "expireAt" in patch.model_fields_set:
        key.expire_at = _future(patch.expireAt, "expireAt")
        changes.append("date-changed")
    if patch.state is not None and patch.state != key.state:
        key.state = patch.state
        changes.append("state-changed")
    if patch.ipAccessList is not None:
        networks = validate_ip_access_list(patch.ipAccessList)
        if networks != key.ip_access_list:
            key.ip_access_list = networks
            changes.append("ip-access-list-changed")
    return changes


def check_deletable(key: ApiKey, caller: Caller) -> None:
    if key.id == caller.key_uuid:
        raise BadRequest("an API key cannot delete itself; delete it with another key that may manage keys")


def to_wire(key: ApiKey, roles: Roles) -> schemas.ApiKey:
    assigned = describe(key.role_ids, key.organization_id, roles)
    return schemas.ApiKey.model_validate({
        "id": key.id, "name": key.name, "state": key.state, "keySuffix": key.key_suffix,
        "roles": [role.legacy_name for role in assigned if role.legacy_name],
        "assignedRoles": [schemas.AssignedRole(roleId=r.id, roleName=r.name, roleType=r.type) for r in assigned],
        "createdAt": key.created_at, "expireAt": key.expire_at, "usedAt": key.used_at,
        "ipAccessList": key.ip_access_list,
    })


def find_key(keys: ApiKeys, organization_id: uuid.UUID, key_ref: str) -> ApiKey:
    """A key by its id, or (leniently, as clickhousectl may pass it) by its Basic-auth user name."""
    try:
        key = keys.get(organization_id, uuid.UUID(key_ref))
    except ValueError:
        by_credential = keys.by_key_id_hash(key_id_hash(key_ref))
        key = by_credential if by_credential and by_credential.organization_id == organization_id else None
    if key is None:
        raise NotFound(f"API key {key_ref} does not exist in organization {organization_id}")
    return key


class KeyService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def whoami(self, caller: Caller) -> schemas.Whoami:
        with self.context.database.looking() as session:
            key = find_key(ApiKeys(session), caller.organization_id, str(caller.key_uuid))
            return schemas.Whoami(actorType="apiKey", keyId=key.id, name=key.name, organizationId=key.organization_id)

    def list(self, organization_id: uuid.UUID, limit: int | None, cursor: str | None
             ) -> tuple[list[schemas.ApiKey], Page | None]:
        with self.context.database.looking() as session:
            page, paging = page_of(ApiKeys(session).list(organization_id), limit, cursor, lambda key: str(key.id),
                                   "a key of this organization")
            return [to_wire(key, Roles(session)) for key in page], paging

    def get(self, organization_id: uuid.UUID, key_ref: str) -> schemas.ApiKey:
        with self.context.database.looking() as session:
            return to_wire(find_key(ApiKeys(session), organization_id, key_ref), Roles(session))

    def create(self, caller: Caller, organization_id: uuid.UUID, request: ApiKeyPostRequest
               ) -> schemas.ApiKeyPostResponse:
        with self.context.database.transaction() as session:
            visible(Organizations(session), caller, organization_id, for_update=True)  # one create at a time
            with granting(session, caller, organization_id):
                new = create_key(request, organization_id, ApiKeys(session), Roles(session), self.context.hasher)
            _record(session, caller, "key_create", new.key, "created")
            return schemas.ApiKeyPostResponse(key=to_wire(new.key, Roles(session)), keyId=new.key_id,
                                              keySecret=new.key_secret)

    def update(self, caller: Caller, organization_id: uuid.UUID, key_ref: str, patch: ApiKeyPatchRequest
               ) -> schemas.ApiKey:
        with self.context.database.transaction() as session:
            key = find_key(ApiKeys(session), organization_id, key_ref)
            with granting(session, caller, organization_id):
                update_types = update_key(key, patch, ApiKeys(session), Roles(session))
            for update_type in update_types:
                _record(session, caller, "openapi_key_update", key, update_type)
            updated = to_wire(key, Roles(session))
        self.context.verified_keys.forget_key(key.id)  # committed: verify it afresh
        return updated

    def delete(self, caller: Caller, organization_id: uuid.UUID, key_ref: str) -> None:
        with self.context.database.transaction() as session:
            key = find_key(ApiKeys(session), organization_id, key_ref)
            check_deletable(key, caller)
            _record(session, caller, "key_delete", key, "deleted")
            ApiKeys(session).delete(key)
        self.context.verified_keys.forget_key(key.id)


def _record(session: Session, caller: Caller, activity_type: RecordedActivityType, key: ApiKey,
            update_type: str) -> None:
    record(Activities(session), caller, activity_type, target_key_id=key.id, key_update_type=update_type,
           details={"name": key.name})
