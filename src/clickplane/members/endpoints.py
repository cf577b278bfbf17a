"""User management: an organization's members (list, get, change roles, remove) and invitations (list,
create, get, delete). Invitations are accepted by the operator: `clickplane invitation accept`."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.members.schemas import Invitation, InvitationPostRequest, Member, MemberPatchRequest
from clickplane.members.service import INVITATION_LIFETIME, MemberService

TAG = "User management"
MEMBERS = "/v1/organizations/{organizationId}/members"
INVITATIONS = "/v1/organizations/{organizationId}/invitations"
CHANGE_ERRORS = (400, 401, 404, 409, 500)


def add_routes(api: Api, context: AppContext) -> None:
    members = MemberService(context)

    @api.route("GET", MEMBERS, "memberGetList", "List organization members", TAG,
               "Every member of the organization, in the order they joined.", list[Member],
               produces=Produces("userId", "/result/0/userId"))
    async def list_members(caller: Caller, organizationId: UUID) -> Response:
        return ok(members.list_members(caller, organizationId))

    @api.route("GET", MEMBERS + "/{userId}", "memberGet", "Get member details", TAG,
               "One member of the organization, by user id.", Member)
    async def get_member(caller: Caller, organizationId: UUID, userId: UUID) -> Response:
        return ok(members.get_member(organizationId, userId))

    @api.route("PATCH", MEMBERS + "/{userId}", "memberUpdate", "Update organization member", TAG,
               "Replace the member's roles with assignedRoleIds (system or custom roles of the organization), or "
               "with the Admin or Developer role named by the deprecated `role`. The organization's last Admin "
               "keeps the Admin role (409).", Member, errors=CHANGE_ERRORS)
    async def update_member(caller: Caller, organizationId: UUID, userId: UUID,
                            body: JsonBody[MemberPatchRequest]) -> Response:
        return ok(members.update_member(caller, organizationId, userId, body.value))

    @api.route("DELETE", MEMBERS + "/{userId}", "memberDelete", "Remove an organization member", TAG,
               "Removes the user from the organization at once; the organization's last Admin cannot be "
               "removed (409).", None, errors=CHANGE_ERRORS)
    async def delete_member(caller: Caller, organizationId: UUID, userId: UUID) -> Response:
        members.delete_member(caller, organizationId, userId)
        return acknowledged()

    @api.route("GET", INVITATIONS, "invitationGetList", "List all invitations", TAG,
               "The organization's invitations not yet accepted or deleted, oldest first; an expired one stays "
               "listed until it is deleted or the address is invited again.", list[Invitation])
    async def list_invitations(caller: Caller, organizationId: UUID) -> Response:
        return ok(members.list_invitations(caller, organizationId))

    @api.route("POST", INVITATIONS, "invitationCreate", "Create an invitation", TAG,
               f"Invites an email address (stored in lowercase) with the given roles, for "
               f"{INVITATION_LIFETIME.days} days. 409 when the address is already a member or has a "
               "pending invitation. clickplane sends no mail: the operator accepts on the invitee's behalf with "
               "`clickplane invitation accept INVITATION_ID --name NAME`.", Invitation, errors=CHANGE_ERRORS,
               produces=Produces("invitationId", "/result/id"))
    async def create_invitation(caller: Caller, organizationId: UUID,
                                body: JsonBody[InvitationPostRequest]) -> Response:
        return ok(members.create_invitation(caller, organizationId, body.value))

    @api.route("GET", INVITATIONS + "/{invitationId}", "invitationGet", "Get invitation details", TAG,
               "One invitation of the organization.", Invitation)
    async def get_invitation(caller: Caller, organizationId: UUID, invitationId: UUID) -> Response:
        return ok(members.get_invitation(organizationId, invitationId))

    @api.route("DELETE", INVITATIONS + "/{invitationId}", "invitationDelete", "Delete organization invitation", TAG,
               "Withdraws the invitation; it can no longer be accepted.", None)
    async def delete_invitation(caller: Caller, organizationId: UUID, invitationId: UUID) -> Response:
        members.delete_invitation(caller, organizationId, invitationId)
        return acknowledged()
