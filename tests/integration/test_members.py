"""Members and invitations against a real `clickplane serve`: the API, the operator's `invitation accept`,
and the official clickhousectl CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy import select, update

from clickplane.auth.permissions import ADMIN, DEVELOPER
from clickplane.members.service import DEFAULT_ADMIN_EMAIL
from clickplane.store.models import Activity, Invitation, Member
from tests.integration.harness import ClickplaneServer, clickplane
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli, cli  # noqa: F401 - cli is a fixture

ADMIN_ID, DEVELOPER_ID = str(ADMIN.id), str(DEVELOPER.id)
INVITATION_FIELDS = {"role", "id", "email", "createdAt", "expireAt", "assignedRoles"}


def call(server: ClickplaneServer, method: str, suffix: str, body: dict[str, Any] | None = None) -> httpx.Response:
    with server.client() as client:
        return client.request(method, server.org_path(suffix), json=body)


def result(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def member_by_email(server: ClickplaneServer, email: str) -> dict[str, Any] | None:
    return next((m for m in result(call(server, "GET", "/members")) if m["email"] == email), None)


def first_admin(server: ClickplaneServer) -> dict[str, Any]:
    admin = member_by_email(server, DEFAULT_ADMIN_EMAIL)
    assert admin is not None
    return admin


def role_ids(member: dict[str, Any]) -> list[str]:
    return [role["roleId"] for role in member["assignedRoles"]]


def invite(server: ClickplaneServer, email: str, *roles: str) -> dict[str, Any]:
    return result(call(server, "POST", "/invitations", {"email": email, "assignedRoleIds": list(roles)}))  # type: ignore[no-any-return]


def accept(server: ClickplaneServer, invitation_id: str, name: str) -> dict[str, Any]:
    done = clickplane("invitation", "accept", invitation_id, "--name", name, env=server.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]  # type: ignore[no-any-return]


def activity_types(server: ClickplaneServer, email: str) -> list[str]:
    with server.store() as session:
        recorded = session.scalars(select(Activity).order_by(Activity.created_at)).all()
        return [activity.type for activity in recorded if activity.details.get("email") == email]


def test_the_first_member_is_an_admin_who_cannot_be_demoted_or_removed(server: ClickplaneServer) -> None:
    admin = first_admin(server)
    assert (admin["role"], role_ids(admin)) == ("admin", [ADMIN_ID])
    assert admin["assignedRoles"][0] == {"roleId": ADMIN_ID, "roleName": "Admin", "roleType": "system"}
    assert result(call(server, "GET", f"/members/{admin['userId']}")) == admin
    path = f"/members/{admin['userId']}"
    assert "last Admin and cannot lose the Admin role" in error(call(server, "PATCH", path, {"role": "developer"}), 409)
    assert "last Admin" in error(call(server, "PATCH", path, {"assignedRoleIds": []}), 409)
    assert "last Admin and cannot be removed" in error(call(server, "DELETE", path), 409)
    assert first_admin(server) == admin
    both = result(call(server, "PATCH", path, {"assignedRoleIds": [DEVELOPER_ID, ADMIN_ID]}))
    assert (both["role"], role_ids(both)) == ("developer", [DEVELOPER_ID, ADMIN_ID])
    assert role_ids(result(call(server, "PATCH", path, {"role": "admin"}))) == [ADMIN_ID]


def test_member_requests_name_what_is_wrong(server: ClickplaneServer) -> None:
    path = f"/members/{first_admin(server)['userId']}"
    unknown_role = "00000000-0000-4000-8000-0000000000ff"
    assert unknown_role in error(call(server, "PATCH", path, {"assignedRoleIds": [unknown_role]}), 400)
    assert "'Admin' is not a role id" in error(call(server, "PATCH", path, {"assignedRoleIds": ["Admin"]}), 400)
    assert "role" in error(call(server, "PATCH", path, {"role": "owner"}), 400)
    assert "is not a member" in error(call(server, "GET", "/members/00000000-0000-4000-8000-000000000000"), 404)
    assert error(call(server, "DELETE", "/members/00000000-0000-4000-8000-000000000000"), 404)


def test_invitations_are_created_listed_and_withdrawn(server: ClickplaneServer) -> None:
    invitation = invite(server, "Grace.Hopper@Example.com", DEVELOPER_ID)
    assert set(invitation) == INVITATION_FIELDS  # no accept token, ever
    assert (invitation["email"], invitation["role"], role_ids(invitation)) == (
        "grace.hopper@example.com", "developer", [DEVELOPER_ID])
    created, expires = (datetime.fromisoformat(invitation[f]) for f in ("createdAt", "expireAt"))
    assert expires - created == timedelta(days=7)
    path = f"/invitations/{invitation['id']}"
    assert result(call(server, "GET", path)) == invitation
    assert invitation in result(call(server, "GET", "/invitations"))

    again = call(server, "POST", "/invitations", {"email": "grace.hopper@EXAMPLE.com", "role": "admin"})
    assert f"pending invitation ({invitation['id']}" in error(again, 409)
    member = call(server, "POST", "/invitations", {"email": DEFAULT_ADMIN_EMAIL.upper()})
    assert "already a member" in error(member, 409)
    assert "not an email address" in error(call(server, "POST", "/invitations", {"email": "grace"}), 400)

    assert call(server, "DELETE", path).json()["status"] == 200
    assert error(call(server, "GET", path), 404)
    assert error(call(server, "DELETE", path), 404)
    assert activity_types(server, "grace.hopper@example.com") == ["organization_invite_create",
                                                                   "organization_invite_delete"]


def test_an_accepted_invitation_makes_a_member_the_last_admin_rule_then_covers(server: ClickplaneServer) -> None:
    invitation = invite(server, "ada@example.com", ADMIN_ID)
    joined = accept(server, invitation["id"], "Ada Lovelace")
    assert (joined["email"], joined["name"], joined["role"], role_ids(joined)) == (
        "ada@example.com", "Ada Lovelace", "admin", [ADMIN_ID])
    assert member_by_email(server, "ada@example.com") == joined
    assert error(call(server, "GET", f"/invitations/{invitation['id']}"), 404)
    twice = clickplane("invitation", "accept", invitation["id"], "--name", "Ada", env=server.env)
    assert twice.returncode == 1
    assert "does not exist" in twice.stderr

    # Two admins: either may step down, but then the other is the last one.
    admin_path, ada_path = f"/members/{first_admin(server)['userId']}", f"/members/{joined['userId']}"
    assert role_ids(result(call(server, "PATCH", admin_path, {"assignedRoleIds": [DEVELOPER_ID]}))) == [DEVELOPER_ID]
    assert "last Admin" in error(call(server, "DELETE", ada_path), 409)
    assert role_ids(result(call(server, "PATCH", admin_path, {"assignedRoleIds": [ADMIN_ID]}))) == [ADMIN_ID]
    assert role_ids(result(call(server, "PATCH", ada_path, {"role": "developer"}))) == [DEVELOPER_ID]
    assert call(server, "DELETE", ada_path).status_code == 200
    assert member_by_email(server, "ada@example.com") is None
    assert activity_types(server, "ada@example.com") == [
        "organization_invite_create", "organization_member_join", "organization_member_update_role",
        "organization_member_delete"]


def test_an_expired_invitation_cannot_be_accepted(server: ClickplaneServer) -> None:
    invitation = invite(server, "late@example.com")
    with server.store() as session:
        session.execute(update(Invitation).where(Invitation.id == UUID(invitation["id"]))
                        .values(expire_at=datetime(2000, 1, 1, tzinfo=UTC)))
    late = clickplane("invitation", "accept", invitation["id"], "--name", "Late", env=server.env)
    assert late.returncode == 1
    assert "expired at 2000-01-01T00:00:00Z" in late.stderr
    assert member_by_email(server, "late@example.com") is None
    renewed = invite(server, "late@example.com")  # the expired invitation makes way
    assert [i["id"] for i in result(call(server, "GET", "/invitations")) if i["email"] == "late@example.com"] == [
        renewed["id"]]
    assert call(server, "DELETE", f"/invitations/{renewed['id']}").status_code == 200


def test_a_new_organizations_admin_member_has_the_given_address(fresh_server: ClickplaneServer) -> None:
    refused = clickplane("org", "create", "--name", "other", "--admin-email", "root", env=fresh_server.env)
    assert refused.returncode == 2
    assert "not an email address" in refused.stderr
    created = clickplane("org", "create", "--name", "other", "--admin-email", "Root@Example.com", "--json",
                         env=fresh_server.env)
    assert created.returncode == 0, created.stderr
    organization_id = json.loads(created.stdout)["organizationId"]
    with fresh_server.store() as session:
        rows = session.execute(select(Member.email, Member.role_ids)
                               .where(Member.organization_id == UUID(organization_id))).all()
    assert [(email, roles) for email, roles in rows] == [("root@example.com", [ADMIN_ID])]


@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed (pip install clickhousectl)")
def test_clickhousectl_member_and_invitation_commands(server: ClickplaneServer, cli: Cli) -> None:  # noqa: F811
    admin = first_admin(server)
    assert DEFAULT_ADMIN_EMAIL in cli.run("member", "list")
    assert admin["userId"] in [m["userId"] for m in cli.json("member", "list")]
    assert cli.json("member", "get", admin["userId"])["email"] == DEFAULT_ADMIN_EMAIL

    created = cli.json("invitation", "create", "--email", "Linus@Example.com", "--role-id", DEVELOPER_ID)
    assert (created["email"], role_ids(created)) == ("linus@example.com", [DEVELOPER_ID])
    assert "linus@example.com" in cli.run("invitation", "list")
    assert created["id"] in [i["id"] for i in cli.json("invitation", "list")]
    assert cli.json("invitation", "get", created["id"])["expireAt"] == created["expireAt"]
    cli.run("invitation", "delete", created["id"])
    assert created["id"] not in [i["id"] for i in cli.json("invitation", "list")]

    joined = accept(server, invite(server, "linus@example.com", DEVELOPER_ID)["id"], "Linus")
    updated = cli.json("member", "update", joined["userId"], "--role-id", ADMIN_ID, "--role-id", DEVELOPER_ID)
    assert role_ids(updated) == [ADMIN_ID, DEVELOPER_ID]
    assert role_ids(cli.json("member", "update", "--email", "linus@example.com", "--clear-roles")) == []
    cli.run("member", "remove", joined["userId"])
    assert member_by_email(server, "linus@example.com") is None
