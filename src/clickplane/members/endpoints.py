"""User management: an organization's members (list, get, change roles, remove) and invitations (list,
create, get, delete). Invitations are accepted by the operator: `clickplane invitation accept`."""

from __future__ import annotations

from typing import get_args
from uuid import UUID

from blacksheep import Response

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.keys.schemas import AssignedRole
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import NotFound
from clickplane.kit.routes import Api
from clickplane.members import service as rules
from clickplane.members.repository import Invitations, Members
from clickplane.members.schemas import Invitation, InvitationPostRequest, Member, MemberPatchRequest, MemberRole
from clickplane.organizations import service as organization_rules
from clickplane.organizations.repository import Organizations
from clickplane.roles.repository import Roles
from clickplane.roles.service import describe, granting
from clickplane.store import models
from clickplane.store.models import utcnow

TAG = "User management"
MEMBERS = "/v1/organizations/{organizationId}/members"
INVITATIONS = "/v1/organizations/{organizationId}/invitations"
CHANGE_ERRORS = (400, 401, 404, 409, 500)


def _roles_fields(role_ids: list[str], organization_id: UUID, roles: Roles) -> dict[str, object]:
    """`assignedRoles`, and the deprecated `role`: the legacy name of the first Admin or Developer role."""
    assigned = describe(role_ids, organization_id, roles)
    legacy = next((role.legacy_name for role in assigned if role.legacy_name in get_args(MemberRole)), None)
    return {"role": legacy,
            "assignedRoles": [AssignedRole(roleId=r.id, roleName=r.name, roleType=r.type) for r in assigned]}


def member_to_wire(member: models.Member, roles: Roles) -> Member:
    return Member.model_validate({"userId": str(member.user_id), "name": member.name, "email": member.email,
                                  "joinedAt": member.joined_at,
                                  **_roles_fields(member.role_ids, member.organization_id, roles)})


def invitation_to_wire(invitation: models.Invitation, roles: Roles) -> Invitation:
    return Invitation.model_validate({"id": invitation.id, "email": invitation.email,
                                      "createdAt": invitation.created_at, "expireAt": invitation.expire_at,
                                      **_roles_fields(invitation.role_ids, invitation.organization_id, roles)})


def find_member(members: Members, organization_id: UUID, user_id: UUID) -> models.Member:
    member = members.get(organization_id, user_id)
    if member is None:
        raise NotFound(f"user {user_id} is not a member of organization {organization_id}")
    return member


def find_invitation(invitations: Invitations, organization_id: UUID, invitation_id: UUID) -> models.Invitation:
    invitation = invitations.get(organization_id, invitation_id)
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} does not exist in organization {organization_id}; it may "
                       "have been accepted or deleted")
    return invitation


def add_routes(api: Api, context: AppContext) -> None:

    @api.route("GET", MEMBERS, "memberGetList", "List organization members", TAG,
               "Every member of the organization, in the order they joined.", list[Member],
               produces=Produces("userId", "/result/0/userId"))
    async def list_members(caller: Caller, organizationId: UUID) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            return ok([member_to_wire(member, Roles(session)) for member in Members(session).list(organizationId)])

    @api.route("GET", MEMBERS + "/{userId}", "memberGet", "Get member details", TAG,
               "One member of the organization, by user id.", Member)
    async def get_member(caller: Caller, organizationId: UUID, userId: UUID) -> Response:
        with context.database.transaction() as session:
            return ok(member_to_wire(find_member(Members(session), organizationId, userId), Roles(session)))

    @api.route("PATCH", MEMBERS + "/{userId}", "memberUpdate", "Update organization member", TAG,
               "Replace the member's roles with assignedRoleIds (system or custom roles of the organization), or "
               "with the Admin or Developer role named by the deprecated `role`. The organization's last Admin "
               "keeps the Admin role (409).", Member, errors=CHANGE_ERRORS)
    async def update_member(caller: Caller, organizationId: UUID, userId: UUID,
                            body: JsonBody[MemberPatchRequest]) -> Response:
        request = body.value
        with context.database.transaction() as session:
            members, roles = Members(session), Roles(session)
            member = find_member(members, organizationId, userId)
            role_ids = rules.requested_role_ids(request.assignedRoleIds, request.role, organizationId, roles)
            if role_ids is not None and role_ids != member.role_ids:
                rules.ensure_an_admin_remains(member, members.list(organizationId), role_ids)
                with granting(session, caller, organizationId):
                    member.role_ids = role_ids
                activity: RecordedActivityType = ("organization_member_update_roles"
                                                  if request.assignedRoleIds is not None
                                                  else "organization_member_update_role")
                record(Activities(session), caller, activity,
                       details={"userId": str(member.user_id), "email": member.email, "roleIds": role_ids})
            return ok(member_to_wire(member, roles))

    @api.route("DELETE", MEMBERS + "/{userId}", "memberDelete", "Remove an organization member", TAG,
               "Removes the user from the organization at once; the organization's last Admin cannot be "
               "removed (409).", None, errors=CHANGE_ERRORS)
    async def delete_member(caller: Caller, organizationId: UUID, userId: UUID) -> Response:
        with context.database.transaction() as session:
            members = Members(session)
            member = find_member(members, organizationId, userId)
            rules.ensure_an_admin_remains(member, members.list(organizationId), None)
            record(Activities(session), caller, "organization_member_delete",
                   details={"userId": str(member.user_id), "email": member.email})
            members.delete(member)
        return acknowledged()

    @api.route("GET", INVITATIONS, "invitationGetList", "List all invitations", TAG,
               "The organization's invitations not yet accepted or deleted, oldest first; an expired one stays "
               "listed until it is deleted or the address is invited again.", list[Invitation])
    async def list_invitations(caller: Caller, organizationId: UUID) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            return ok([invitation_to_wire(invitation, Roles(session))
                       for invitation in Invitations(session).list(organizationId)])

    @api.route("POST", INVITATIONS, "invitationCreate", "Create an invitation", TAG,
               f"Invites an email address (stored in lowercase) with the given roles, for "
               f"{rules.INVITATION_LIFETIME.days} days. 409 when the address is already a member or has a "
               "pending invitation. clickplane sends no mail: the operator accepts on the invitee's behalf with "
               "`clickplane invitation accept INVITATION_ID --name NAME`.", Invitation, errors=CHANGE_ERRORS,
               produces=Produces("invitationId", "/result/id"))
    async def create_invitation(caller: Caller, organizationId: UUID,
                                body: JsonBody[InvitationPostRequest]) -> Response:
        request = body.value
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            roles = Roles(session)
            role_ids = rules.requested_role_ids(request.assignedRoleIds, request.role, organizationId, roles) or []
            with granting(session, caller, organizationId):
                invitation = rules.invite(organizationId, request.email, role_ids, Members(session),
                                          Invitations(session), utcnow())
            record(Activities(session), caller, "organization_invite_create",
                   details={"invitationId": str(invitation.id), "email": invitation.email, "roleIds": role_ids})
            return ok(invitation_to_wire(invitation, roles))

    @api.route("GET", INVITATIONS + "/{invitationId}", "invitationGet", "Get invitation details", TAG,
               "One invitation of the organization.", Invitation)
    async def get_invitation(caller: Caller, organizationId: UUID, invitationId: UUID) -> Response:
        with context.database.transaction() as session:
            invitation = find_invitation(Invitations(session), organizationId, invitationId)
            return ok(invitation_to_wire(invitation, Roles(session)))

    @api.route("DELETE", INVITATIONS + "/{invitationId}", "invitationDelete", "Delete organization invitation", TAG,
               "Withdraws the invitation; it can no longer be accepted.", None)
    async def delete_invitation(caller: Caller, organizationId: UUID, invitationId: UUID) -> Response:
        with context.database.transaction() as session:
            invitations = Invitations(session)
            invitation = find_invitation(invitations, organizationId, invitationId)
            record(Activities(session), caller, "organization_invite_delete",
                   details={"invitationId": str(invitation.id), "email": invitation.email})
            invitations.delete(invitation)
        return acknowledged()
