"""Wire models of API keys, their roles and `whoami`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import (
    DEPRECATED,
    MAX_IP_ACCESS_LIST_ENTRIES,
    PRINTABLE,
    IpAccessListEntry,
    RequestModel,
    ResponseModel,
    Timestamp,
)

LegacyRole = Literal["admin", "developer", "query_endpoints"]


class AssignedRole(ResponseModel):
    roleId: UUID = Field(description="Role id.")
    roleName: str = Field(description="Role name.")
    roleType: Literal["system", "custom"] = Field(description="system roles are built in; custom ones are made.")


class ApiKey(ResponseModel):
    id: UUID = Field(description="The key's id, used in /keys/{keyId}; not the Basic-auth user name.")
    name: str = Field(description="Key name.")
    state: Literal["enabled", "disabled"] = Field(description="A disabled key is refused.")
    roles: list[LegacyRole] = Field(default_factory=list, json_schema_extra=DEPRECATED,
                                    description="Legacy names of the key's system roles; see assignedRoles.")
    assignedRoles: list[AssignedRole] = Field(default_factory=list, description="Roles the key acts with.")
    keySuffix: str = Field(description="Last 4 characters of the key id.")
    createdAt: Timestamp = Field(description="When the key was created.")
    expireAt: Timestamp | None = Field(default=None, description="When the key stops working; absent: never.")
    usedAt: Timestamp | None = Field(default=None, description="When the key was last used (about a minute).")
    ipAccessList: list[IpAccessListEntry] = Field(default_factory=list,
                                                  description="Where the key may be used from; empty: anywhere.")


class ApiKeyHashData(RequestModel):
    keyIdHash: str = Field(description="Base64 of the SHA-256 of the key id.")
    keyIdSuffix: str = Field(min_length=4, max_length=4, description="Last 4 characters of the key id.")
    keySecretHash: str = Field(description="Base64 of the SHA-256 of the key secret.")


class ApiKeyPostRequest(RequestModel):
    name: Annotated[str, PRINTABLE] = Field(min_length=1, max_length=128,
                                            description="Key name, unique in the organization.")
    expireAt: datetime | None = Field(default=None, description="When the key stops working; null: never.")
    state: Literal["enabled", "disabled"] | None = Field(default=None, description="enabled unless given.")
    hashData: ApiKeyHashData | None = Field(
        default=None, description="Hashes of an id and secret made by the client, so the secret never travels.")
    roles: list[LegacyRole] | None = Field(default=None, json_schema_extra=DEPRECATED,
                                           description="Legacy role names; use assignedRoleIds.")
    assignedRoleIds: list[UUID] | None = Field(default=None, description="Roles the key acts with.")
    ipAccessList: list[IpAccessListEntry] | None = Field(default=None, max_length=MAX_IP_ACCESS_LIST_ENTRIES,
                                                         description="Where the key may be used from.")


class ApiKeyPatchRequest(RequestModel):
    name: Annotated[str | None, PRINTABLE] = Field(default=None, min_length=1, max_length=128, description="New name.")
    roles: list[LegacyRole] | None = Field(default=None, json_schema_extra=DEPRECATED,
                                           description="Legacy role names; use assignedRoleIds.")
    assignedRoleIds: list[UUID] | None = Field(default=None, description="Roles the key acts with (replaces).")
    expireAt: datetime | None = Field(default=None, description="New expiry; null: never expires.")
    state: Literal["enabled", "disabled"] | None = Field(default=None, description="enabled or disabled.")
    ipAccessList: list[IpAccessListEntry] | None = Field(default=None, max_length=MAX_IP_ACCESS_LIST_ENTRIES,
                                                         description="Where the key may be used from (replaces).")


class ApiKeyPostResponse(ResponseModel):
    key: ApiKey = Field(description="The new key.")
    keyId: str | None = Field(default=None, description="The Basic-auth user name; shown only here.")
    keySecret: str | None = Field(default=None, description="The Basic-auth password; shown only here.")


class Whoami(ResponseModel):
    actorType: Literal["apiKey"] = Field(description="Who is calling: an API key.")
    keyId: UUID = Field(description="The calling key's id (as in /keys/{keyId}).")
    name: str = Field(description="The calling key's name.")
    organizationId: UUID = Field(description="The organization the key belongs to.")
