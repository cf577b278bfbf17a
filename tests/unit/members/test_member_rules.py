"""Rules for members and invitations: addresses, roles, the last Admin, inviting and joining (on a real
SQLite store, as the repositories run them)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.auth.permissions import ADMIN, DEVELOPER
from clickplane.auth.secrets import SecretHasher
from clickplane.keys.repository import ApiKeys
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.members import service as rules
from clickplane.members.repository import Invitations, Members
from clickplane.organizations.repository import Organizations
from clickplane.organizations.service import create_organization_with_admin_key
from clickplane.roles.repository import Roles
from clickplane.store.models import Activity, Invitation, Member, Organization, Role, utcnow

HASHER = SecretHasher(b"k" * 32)
ADMIN_ID, DEVELOPER_ID = str(ADMIN.id), str(DEVELOPER.id)


def organization(session: Session) -> uuid.UUID:
    return Organizations(session).add(Organization(id=uuid.uuid4(), name="org")).id


def invite(session: Session, organization_id: uuid.UUID, email: str, role_ids: list[str] | None = None,
           days_ago: int = 0) -> Invitation:
    return rules.invite(organization_id, email, role_ids or [], Members(session), Invitations(session),
                        utcnow() - timedelta(days=days_ago))


def accept(session: Session, invitation_id: uuid.UUID, name: str = "Ada") -> Member:
    return rules.accept(invitation_id, name, Members(session), Invitations(session), Roles(session),
                        Activities(session), utcnow())


@pytest.mark.parametrize(("given", "stored"), [
    ("Ada@Example.COM", "ada@example.com"), ("admin@localhost", "admin@localhost"),
    ("first.last+tag@mail.example.org", "first.last+tag@mail.example.org"),
])
def test_addresses_are_stored_in_lowercase(given: str, stored: str) -> None:
    assert rules.normalize_email(given) == stored


@pytest.mark.parametrize("given", ["", "ada", "ada@", "@example.com", "ada lovelace@example.com", "ada@@example.com",
                                   "ada@exa_mple.com", "ada@-example.com", " ada@example.com", "a" * 65 + "@x.org"])
def test_implausible_addresses_are_refused(given: str) -> None:
    with pytest.raises(BadRequest, match="is not an email address"):
        rules.normalize_email(given)


@pytest.mark.parametrize("name", ["", " Ada", "Ada ", "A\nda", "x" * 129])
def test_names_must_be_printable_and_trimmed(name: str) -> None:
    with pytest.raises(BadRequest, match="name must be"):
        rules.check_name(name)


def member(*role_ids: str) -> Member:
    return Member(id=uuid.uuid4(), user_id=uuid.uuid4(), email="m@example.com", role_ids=list(role_ids))


def test_the_last_admin_can_neither_lose_the_role_nor_be_removed() -> None:
    admin, developer = member(ADMIN_ID), member(DEVELOPER_ID)
    with pytest.raises(Conflict, match="last Admin and cannot lose the Admin role"):
        rules.ensure_an_admin_remains(admin, [admin, developer], [DEVELOPER_ID])
    with pytest.raises(Conflict, match="last Admin and cannot be removed"):
        rules.ensure_an_admin_remains(admin, [admin, developer], None)


def test_an_admin_may_go_when_another_remains_and_others_always_may() -> None:
    admin, other_admin, developer = member(ADMIN_ID), member(DEVELOPER_ID, ADMIN_ID), member(DEVELOPER_ID)
    rules.ensure_an_admin_remains(admin, [admin, other_admin], [DEVELOPER_ID])
    rules.ensure_an_admin_remains(admin, [admin, other_admin], None)
    rules.ensure_an_admin_remains(admin, [admin], [DEVELOPER_ID, ADMIN_ID])  # keeps the role
    rules.ensure_an_admin_remains(developer, [admin, developer], None)


def test_requested_roles_are_checked_against_the_organization(session: Session) -> None:
    org, other = organization(session), organization(session)
    custom = Roles(session).add(Role(id=uuid.uuid4(), organization_id=org, name="viewers"))
    foreign = Roles(session).add(Role(id=uuid.uuid4(), organization_id=other, name="theirs"))
    roles = Roles(session)
    assert rules.requested_role_ids(None, None, org, roles) is None
    assert rules.requested_role_ids([], None, org, roles) == []
    assert rules.requested_role_ids([str(custom.id).upper(), ADMIN_ID, ADMIN_ID], None, org, roles) == [
        str(custom.id), ADMIN_ID]
    assert rules.requested_role_ids(None, "developer", org, roles) == [DEVELOPER_ID]
    with pytest.raises(BadRequest, match=f"role {foreign.id} does not exist"):
        rules.requested_role_ids([str(foreign.id)], None, org, roles)
    with pytest.raises(BadRequest, match="'admin' is not a role id"):
        rules.requested_role_ids(["admin"], None, org, roles)


def test_an_invitation_lasts_seven_days(session: Session) -> None:
    invitation = invite(session, organization(session), "Ada@Example.com", [DEVELOPER_ID])
    assert invitation.email == "ada@example.com"
    assert invitation.expire_at - invitation.created_at == timedelta(days=7)
    assert invitation.role_ids == [DEVELOPER_ID]


def test_a_pending_invitation_or_a_membership_blocks_another(session: Session) -> None:
    org = organization(session)
    pending = invite(session, org, "ada@example.com")
    with pytest.raises(Conflict, match=f"pending invitation \\({pending.id}"):
        invite(session, org, "ADA@example.com")
    invite(session, organization(session), "ada@example.com")  # another organization may invite her too
    rules.join(org, "bob@example.com", "Bob", [], Members(session))
    with pytest.raises(Conflict, match="already a member"):
        invite(session, org, "Bob@Example.com")


def test_an_expired_invitation_makes_way_for_a_new_one(session: Session) -> None:
    org = organization(session)
    expired = invite(session, org, "ada@example.com", days_ago=8)
    renewed = invite(session, org, "ada@example.com")
    assert [i.id for i in Invitations(session).list(org)] == [renewed.id]
    with pytest.raises(NotFound):
        accept(session, expired.id)


def test_accepting_makes_a_member_with_the_roles_that_still_exist(session: Session) -> None:
    org = organization(session)
    custom = Roles(session).add(Role(id=uuid.uuid4(), organization_id=org, name="viewers"))
    gone = Roles(session).add(Role(id=uuid.uuid4(), organization_id=org, name="gone"))
    invitation = invite(session, org, "ada@example.com", [DEVELOPER_ID, str(gone.id), str(custom.id)])
    Roles(session).delete(gone)
    session.flush()
    joined = accept(session, invitation.id, "Ada Lovelace")
    assert (joined.email, joined.name, joined.role_ids) == ("ada@example.com", "Ada Lovelace",
                                                             [DEVELOPER_ID, str(custom.id)])
    assert Invitations(session).list(org) == []
    activity = session.scalars(select(Activity).where(Activity.organization_id == org)).one()
    assert (activity.type, activity.actor_type, activity.details["userId"]) == (
        "organization_member_join", "system", str(joined.user_id))
    with pytest.raises(NotFound, match="accepted or deleted"):
        accept(session, invitation.id)


def test_a_user_keeps_one_id_across_organizations(session: Session) -> None:
    first = rules.join(organization(session), "ada@example.com", "Ada", [], Members(session))
    invitation = invite(session, organization(session), "ada@example.com")
    assert accept(session, invitation.id).user_id == first.user_id
    assert rules.join(organization(session), "bob@example.com", "Bob", [], Members(session)).user_id != first.user_id


def test_an_expired_invitation_cannot_be_accepted(session: Session) -> None:
    invitation = invite(session, organization(session), "ada@example.com", days_ago=7)
    with pytest.raises(Conflict, match="expired at"):
        accept(session, invitation.id)
    assert Members(session).by_email(invitation.organization_id, "ada@example.com") is None


def test_a_new_organization_has_an_admin_member(session: Session) -> None:
    created = create_organization_with_admin_key(Organizations(session), ApiKeys(session), Members(session), HASHER,
                                                 "org", "Root@Example.com")
    [admin] = Members(session).list(created.organization_id)
    assert (admin.email, admin.name, admin.role_ids) == ("root@example.com", "Root", [ADMIN_ID])
