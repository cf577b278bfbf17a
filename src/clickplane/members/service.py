"""Rules for members and invitations: who may be invited, who joins with which roles, and that an
organization never loses its last Admin; and `MemberService`, whose methods are the API's use cases, each in a
transaction of its own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import get_args

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record, record_system
from clickplane.auth.authentication import Caller
from clickplane.auth.permissions import ADMIN
from clickplane.keys.schemas import AssignedRole
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.kit.schemas import rfc3339
from clickplane.members import schemas
from clickplane.members.repository import Invitations, Members
from clickplane.members.schemas import InvitationPostRequest, MemberPatchRequest, MemberRole
from clickplane.organizations.lookup import visible
from clickplane.organizations.repository import Organizations
from clickplane.roles.repository import Roles
from clickplane.roles.service import describe, granting, role_ids_from
from clickplane.store.models import Invitation, Member, utcnow

INVITATION_LIFETIME = timedelta(days=7)
DEFAULT_ADMIN_EMAIL = "admin@localhost"
MAX_NAME_LENGTH = 128
ADMIN_ROLE_ID = str(ADMIN.id)
# A plausible address: RFC 5322 "atext" and dots before the @, host name labels after (a dot is not
# required, so that admin@localhost is one).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*")
MAX_EMAIL_LENGTH = 254


def normalize_email(email: str) -> str:
    """The address in lowercase, the form it is stored and compared in; BadRequest if it is not one."""
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise BadRequest(f"email: {email!r} is not an email address (like name@example.com)")
    return email.lower()


def check_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_NAME_LENGTH or name != name.strip() or not name.isprintable():
        raise BadRequest(f"name must be 1 to {MAX_NAME_LENGTH} printable characters, without leading or "
                         "trailing spaces")
    return name


def requested_role_ids(assigned: list[str] | None, legacy: MemberRole | None, organization_id: uuid.UUID,
                       roles: Roles) -> list[str] | None:
    """The role ids a request names (assignedRoleIds, and the deprecated single role), each checked to be a
    system role or a custom role of the organization; None when it names none."""
    parsed: list[uuid.UUID] = []
    for value in assigned or []:
        try:
            parsed.append(uuid.UUID(value))
        except ValueError:
            raise BadRequest(f"assignedRoleIds: {value!r} is not a role id; GET /v1/organizations/"
                             f"{organization_id}/roles lists the organization's roles and their ids") from None
    return role_ids_from(parsed if assigned is not None else None, [legacy] if legacy else None, organization_id,
                         roles)


def ensure_an_admin_remains(member: Member, members: Sequence[Member], new_role_ids: list[str] | None) -> None:
    """Refuse to take the Admin role from the organization's last member holding it. `members` are the
    organization's; `new_role_ids` None means the member is being removed."""
    if ADMIN_ROLE_ID not in member.role_ids or (new_role_ids is not None and ADMIN_ROLE_ID in new_role_ids):
        return
    if any(ADMIN_ROLE_ID in other.role_ids for other in members if other.id != member.id):
        return
    change = "be removed" if new_role_ids is None else "lose the Admin role"
    raise Conflict(f"member {member.user_id} ({member.email}) is the organization's last Admin and cannot {change}; "
                   f"assign the Admin role ({ADMIN_ROLE_ID}) to another member first")


def invite(organization_id: uuid.UUID, email: str, role_ids: list[str], members: Members, invitations: Invitations,
           now: datetime) -> Invitation:
    """A pending invitation for `email`, valid for INVITATION_LIFETIME. An expired invitation for the same
    address makes way for it; a pending one, or membership already, is a conflict."""
    address = normalize_email(email)
    if members.by_email(organization_id, address) is not None:
        raise Conflict(f"{address} is already a member of this organization")
    for earlier in invitations.for_email(organization_id, address):
        if earlier.expire_at > now:
            raise Conflict(f"{address} already has a pending invitation ({earlier.id}, valid until "
                           f"{rfc3339(earlier.expire_at)}); delete it first to invite again")
        invitations.delete(earlier)
    # clickplane sends no mail: the operator accepts by invitation id (`clickplane invitation accept`).
    return invitations.add(Invitation(id=uuid.uuid4(), organization_id=organization_id, email=address,
                                      role_ids=role_ids, created_at=now, expire_at=now + INVITATION_LIFETIME))


def join(organization_id: uuid.UUID, email: str, name: str, role_ids: list[str], members: Members) -> Member:
    """Make the user with `email` a member: with the user id they have in another organization, if any."""
    address = normalize_email(email)
    if members.by_email(organization_id, address) is not None:
        raise Conflict(f"{address} is already a member of this organization")
    return members.add(Member(id=uuid.uuid4(), organization_id=organization_id,
                              user_id=members.user_id_of(address) or uuid.uuid4(), email=address,
                              name=check_name(name), role_ids=role_ids))


def accept(invitation_id: uuid.UUID, name: str, members: Members, invitations: Invitations, roles: Roles,
           activities: Activities, now: datetime) -> Member:
    """Turn a pending invitation into a member with its roles (those that still exist), and delete it."""
    invitation = invitations.by_id(invitation_id)
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} does not exist; it may have been accepted or deleted")
    if invitation.expire_at <= now:
        raise Conflict(f"invitation {invitation_id} for {invitation.email} expired at "
                       f"{rfc3339(invitation.expire_at)}; invite {invitation.email} again")
    role_ids = [str(role.id) for role in describe(invitation.role_ids, invitation.organization_id, roles)]
    member = join(invitation.organization_id, invitation.email, name, role_ids, members)
    invitations.delete(invitation)
    record_system(activities, invitation.organization_id, "organization_member_join",
                  details={"userId": str(member.user_id), "email": member.email, "invitationId": str(invitation_id)})
    return member


def _roles_fields(role_ids: list[str], organization_id: uuid.UUID, roles: Roles) -> dict[str, object]:
    """`assignedRoles`, and the deprecated `role`: the legacy name of the first Admin or Developer role."""
    assigned = describe(role_ids, organization_id, roles)
    legacy = next((role.legacy_name for role in assigned if role.legacy_name in get_args(MemberRole)), None)
    return {"role": legacy,
            "assignedRoles": [AssignedRole(roleId=r.id, roleName=r.name, roleType=r.type) for r in assigned]}


def member_to_wire(member: Member, roles: Roles) -> schemas.Member:
    return schemas.Member.model_validate({"userId": str(member.user_id), "name": member.name,
                                          "email": member.email, "joinedAt": member.joined_at,
                                          **_roles_fields(member.role_ids, member.organization_id, roles)})


def invitation_to_wire(invitation: Invitation, roles: Roles) -> schemas.Invitation:
    return schemas.Invitation.model_validate({"id": invitation.id, "email": invitation.email,
                                              "createdAt": invitation.created_at, "expireAt": invitation.expire_at,
                                              **_roles_fields(invitation.role_ids, invitation.organization_id,
                                                              roles)})


def find_member(members: Members, organization_id: uuid.UUID, user_id: uuid.UUID) -> Member:
    member = members.get(organization_id, user_id)
    if member is None:
        raise NotFound(f"user {user_id} is not a member of organization {organization_id}")
    return member


def find_invitation(invitations: Invitations, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation:
    invitation = invitations.get(organization_id, invitation_id)
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} does not exist in organization {organization_id}; it may "
                       "have been accepted or deleted")
    return invitation


def _visible(session: Session, caller: Caller, organization_id: uuid.UUID) -> None:
    visible(Organizations(session), caller, organization_id)


def accept_invitation(session: Session, invitation_id: uuid.UUID, name: str) -> schemas.Member:
    """The operator's use case (`clickplane invitation accept`), in the operator command's transaction: the
    invited user joins, as clickplane sends no invitation mail."""
    joined = accept(invitation_id, name, Members(session), Invitations(session), Roles(session),
                    Activities(session), datetime.now(UTC))
    return member_to_wire(joined, Roles(session))


class MemberService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list_members(self, caller: Caller, organization_id: uuid.UUID) -> list[schemas.Member]:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id)
            return [member_to_wire(member, Roles(session)) for member in Members(session).list(organization_id)]

    def get_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> schemas.Member:
        with self.context.database.looking() as session:
            return member_to_wire(find_member(Members(session), organization_id, user_id), Roles(session))

    def update_member(self, caller: Caller, organization_id: uuid.UUID, user_id: uuid.UUID,
                      request: MemberPatchRequest) -> schemas.Member:
        with self.context.database.transaction() as session:
            members, roles = Members(session), Roles(session)
            member = find_member(members, organization_id, user_id)
            role_ids = requested_role_ids(request.assignedRoleIds, request.role, organization_id, roles)
            if role_ids is not None and role_ids != member.role_ids:
                ensure_an_admin_remains(member, members.list(organization_id), role_ids)
                with granting(session, caller, organization_id):
                    member.role_ids = role_ids
                activity: RecordedActivityType = ("organization_member_update_roles"
                                                  if request.assignedRoleIds is not None
                                                  else "organization_member_update_role")
                record(Activities(session), caller, activity,
                       details={"userId": str(member.user_id), "email": member.email, "roleIds": role_ids})
            return member_to_wire(member, roles)

    def delete_member(self, caller: Caller, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            members = Members(session)
            member = find_member(members, organization_id, user_id)
            ensure_an_admin_remains(member, members.list(organization_id), None)
            record(Activities(session), caller, "organization_member_delete",
                   details={"userId": str(member.user_id), "email": member.email})
            members.delete(member)

    def list_invitations(self, caller: Caller, organization_id: uuid.UUID) -> list[schemas.Invitation]:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id)
            return [invitation_to_wire(invitation, Roles(session))
                    for invitation in Invitations(session).list(organization_id)]

    def create_invitation(self, caller: Caller, organization_id: uuid.UUID, request: InvitationPostRequest
                          ) -> schemas.Invitation:
        with self.context.database.transaction() as session:
            _visible(session, caller, organization_id)
            roles = Roles(session)
            role_ids = requested_role_ids(request.assignedRoleIds, request.role, organization_id, roles) or []
            with granting(session, caller, organization_id):
                invitation = invite(organization_id, request.email, role_ids, Members(session), Invitations(session),
                                    utcnow())
            record(Activities(session), caller, "organization_invite_create",
                   details={"invitationId": str(invitation.id), "email": invitation.email, "roleIds": role_ids})
            return invitation_to_wire(invitation, roles)

    def get_invitation(self, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> schemas.Invitation:
        with self.context.database.looking() as session:
            invitation = find_invitation(Invitations(session), organization_id, invitation_id)
            return invitation_to_wire(invitation, Roles(session))

    def delete_invitation(self, caller: Caller, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            invitations = Invitations(session)
            invitation = find_invitation(invitations, organization_id, invitation_id)
            record(Activities(session), caller, "organization_invite_delete",
                   details={"invitationId": str(invitation.id), "email": invitation.email})
            invitations.delete(invitation)
