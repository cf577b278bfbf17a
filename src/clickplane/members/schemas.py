"""Wire models of organization members and invitations."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from clickplane.keys.schemas import AssignedRole
from clickplane.kit.schemas import DEPRECATED, RequestModel, ResponseModel, Timestamp

# The deprecated single role of a member or invitation: the legacy names of the Admin and Developer roles.
MemberRole = Literal["admin", "developer"]
EMAIL: dict[str, Any] = {"format": "email"}


class Member(ResponseModel):
    userId: str = Field(description="The user's id; the same in every organization the user belongs to.")
    name: str = Field(description="The member's name, as given when joining.")
    email: str = Field(json_schema_extra=EMAIL, description="The member's email address, in lowercase.")
    role: MemberRole | None = Field(default=None, json_schema_extra=DEPRECATED,
                                    description="Legacy name of the member's Admin or Developer role; see "
                                                "assignedRoles.")
    joinedAt: Timestamp = Field(description="When the member joined the organization (RFC 3339, UTC).")
    assignedRoles: list[AssignedRole] = Field(default_factory=list, description="The member's roles.")


class MemberPatchRequest(RequestModel):
    role: MemberRole | None = Field(default=None, json_schema_extra=DEPRECATED,
                                    description="Legacy role name; use assignedRoleIds.")
    assignedRoleIds: list[str] | None = Field(
        default=None, description="Ids of system or custom roles of the organization (replaces the member's).")


class Invitation(ResponseModel):
    role: MemberRole | None = Field(default=None, json_schema_extra=DEPRECATED,
                                    description="Legacy name of the Admin or Developer role the invitation "
                                                "gives; see assignedRoles.")
    id: UUID = Field(description="Invitation id.")
    email: str = Field(json_schema_extra=EMAIL, description="Who is invited, in lowercase.")
    createdAt: Timestamp = Field(description="When the invitation was made (RFC 3339, UTC).")
    expireAt: Timestamp = Field(description="When the invitation can no longer be accepted (RFC 3339, UTC).")
    assignedRoles: list[AssignedRole] = Field(default_factory=list,
                                              description="Roles the invited user gets on joining.")


class InvitationPostRequest(RequestModel):
    email: str = Field(json_schema_extra=EMAIL, max_length=254, description="Email address to invite.")
    role: MemberRole | None = Field(default=None, json_schema_extra=DEPRECATED,
                                    description="Legacy role name; use assignedRoleIds.")
    assignedRoleIds: list[str] | None = Field(
        default=None, description="Ids of system or custom roles the invited user gets on joining.")
