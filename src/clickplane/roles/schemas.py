"""Wire models of roles and their policies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clickplane.kit.schemas import PRINTABLE, RequestModel, ResponseModel, Timestamp


class RBACPolicyTags(RequestModel):
    grants: list[str] | None = Field(default=None, description="Database grants the policy carries, if any.")
    roleV2: Literal["sql-console-readonly", "sql-console-admin"] | None = Field(
        default=None, description="SQL console role the policy stands for, if any.")


class RBACPolicy(ResponseModel):
    id: str = Field(description="Policy id.")
    roleId: str = Field(description="The role the policy belongs to.")
    tenantId: str = Field(description="organization/<id> of the role's organization.")
    allowDeny: Literal["ALLOW", "DENY"] = Field(description="Whether the policy grants or withholds; DENY wins.")
    permissions: list[str] = Field(description="Permissions, e.g. control-plane:service:manage; * patterns allowed.")
    resources: list[str] = Field(description="Resources: *, organization/<id>, instance/<id>, instance/*.")
    tags: RBACPolicyTags | None = Field(default=None, description="Extra tags of the policy.")


class RBACRole(ResponseModel):
    id: str = Field(description="Role id.")
    tenantId: str = Field(description="organization/<id> of the role's organization.")
    ownerId: str = Field(description="organization/<id> owning the role.")
    name: str = Field(description="Role name, unique in the organization.")
    type: Literal["system", "custom"] = Field(description="system roles are built in and fixed.")
    actors: list[str] = Field(description="Who holds the role: apiKey/<id> and user/<id>.")
    policies: list[RBACPolicy] = Field(description="What the role allows and denies.")
    createdAt: Timestamp = Field(description="When the role was created.")
    updatedAt: Timestamp = Field(description="When the role last changed.")


class RBACPolicyCreateRequest(RequestModel):
    allowDeny: Literal["ALLOW", "DENY"] = Field(description="ALLOW or DENY.")
    permissions: list[str] = Field(min_length=1, description="Permissions the policy is about.")
    resources: list[str] = Field(min_length=1, description="Resources the policy applies to.")
    tags: RBACPolicyTags | None = Field(default=None, description="Extra tags.")


class RoleCreateRequest(RequestModel):
    name: Annotated[str, PRINTABLE] = Field(min_length=1, max_length=128,
                                            description="Role name, unique in the organization.")
    actors: list[str] = Field(description="apiKey/<id> and user/<id> to hold the role.")
    policies: list[RBACPolicyCreateRequest] = Field(description="The role's policies.")


class RoleUpdateRequest(RequestModel):
    name: Annotated[str | None, PRINTABLE] = Field(default=None, min_length=1, max_length=128, description="New name.")
    actors: list[str] | None = Field(default=None, description="Holders of the role (replaces).")
    policies: list[RBACPolicyCreateRequest] | None = Field(default=None, description="Policies (replaces).")
