"""Rules for API keys: making them (from generated or client-hashed credentials), changing, deleting."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import (
    SECRET_OF_DIGEST,
    SecretHasher,
    key_id_hash,
    new_key_id,
    new_key_secret,
    sha256_digest,
)
from clickplane.keys.repository import ApiKeys
from clickplane.keys.schemas import ApiKeyPatchRequest, ApiKeyPostRequest
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.roles.repository import Roles
from clickplane.roles.service import role_ids_from
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
