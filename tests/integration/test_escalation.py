"""Nobody grants more than they hold, through a running `clickplane serve`: the escalation paths an outside probe
found (a key manager making itself Admin, a role manager rewriting its own role, a key lifting a DENY placed
on it), and the same through members, invitations, role holders and role deletion.

Each refusal is a 403 that names the permission the caller lacks, and leaves the store as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from clickplane.server import accept_invitation
from tests.integration.harness import ClickplaneServer, Credentials

ADMIN_ROLE = "00000000-0000-4000-8000-000000000001"
DEVELOPER_ROLE = "00000000-0000-4000-8000-000000000002"
KEYS_ALL = "control-plane:organization:api-keys:*"
KEYS_VIEW = "control-plane:organization:api-keys:view"
ROLES_MANAGE = "control-plane:organization:roles:manage"
MEMBERS_MANAGE = "control-plane:organization:members:manage"
SERVICE_VIEW = "control-plane:service:view"


def result(response: httpx.Response) -> Any:
    assert response.status_code == 200, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json()["result"]


def refused(response: httpx.Response, permission_part: str) -> str:
    """The 403 of a grant beyond the caller's own permissions, naming what it lacks."""
    assert response.status_code == 403, response.text
    error: str = response.json()["error"]
    assert error.startswith("FORBIDDEN: this change would give "), error
    assert permission_part in error, error
    return error


@dataclass
class Key:
    id: str
    client: httpx.Client

    @property
    def actor(self) -> str:
        return f"apiKey/{self.id}"


class Organization:
    """An organization of its own for each test, its admin key, and keys made with chosen policies."""

    def __init__(self, server: ClickplaneServer) -> None:
        self.server = server
        self.credentials = server.create_organization(f"escalation-{uuid.uuid4().hex[:8]}")
        self.admin = server.client(self.credentials)
        self.clients: list[httpx.Client] = [self.admin]

    def path(self, suffix: str = "") -> str:
        return f"/v1/organizations/{self.credentials.organization_id}{suffix}"

    def role(self, policies: list[dict[str, Any]], actors: tuple[str, ...] = ()) -> str:
        made = result(self.admin.post(self.path("/roles"), json={
            "name": f"role {uuid.uuid4().hex[:8]}", "actors": list(actors), "policies": policies}))
        return str(made["id"])

    def key(self, *role_ids: str) -> Key:
        made = result(self.admin.post(self.path("/keys"), json={
            "name": f"key {uuid.uuid4().hex[:8]}", "assignedRoleIds": list(role_ids)}))
        client = self.server.client(Credentials(self.credentials.organization_id, made["keyId"], made["keySecret"]))
        self.clients.append(client)
        return Key(str(made["key"]["id"]), client)

    def key_with(self, *policies: dict[str, Any]) -> Key:
        return self.key(self.role(list(policies)))

    def roles_of(self, key: Key) -> list[str]:
        return sorted(r["roleId"] for r in result(self.admin.get(self.path(f"/keys/{key.id}")))["assignedRoles"])

    def close(self) -> None:
        for client in self.clients:
            client.close()


def allow(*permissions: str, resources: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    return {"allowDeny": "ALLOW", "permissions": list(permissions), "resources": list(resources)}


def deny(*permissions: str, resources: tuple[str, ...]) -> dict[str, Any]:
    return {"allowDeny": "DENY", "permissions": list(permissions), "resources": list(resources)}


@pytest.fixture
def org(server: ClickplaneServer) -> Iterator[Organization]:
    made = Organization(server)
    try:
        yield made
    finally:
        made.close()


def test_a_key_manager_cannot_make_a_key_admin_nor_itself(org: Organization) -> None:
    manager = org.key_with(allow(KEYS_ALL))
    keys_before = result(org.admin.get(org.path("/keys")))

    refused(manager.client.post(org.path("/keys"), json={"name": "escalated", "assignedRoleIds": [ADMIN_ROLE]}),
            "on ")
    refused(manager.client.post(org.path("/keys"), json={"name": "escalated", "roles": ["developer"]}),
            "control-plane:")
    own_roles = org.roles_of(manager)
    refused(manager.client.patch(org.path(f"/keys/{manager.id}"), json={"assignedRoleIds": [ADMIN_ROLE]}), "on ")
    assert org.roles_of(manager) == own_roles
    assert len(result(org.admin.get(org.path("/keys")))) == len(keys_before)
    # What it holds it may hand on: a key with its own role, or none.
    made = result(manager.client.post(org.path("/keys"), json={"name": "peer", "assignedRoleIds": own_roles}))
    assert sorted(r["roleId"] for r in made["key"]["assignedRoles"]) == own_roles
    result(manager.client.post(org.path("/keys"), json={"name": "powerless"}))


def test_a_role_manager_cannot_rewrite_its_own_role(org: Organization) -> None:
    role_id = org.role([allow(ROLES_MANAGE)])
    manager = org.key(role_id)
    assert manager.client.get(org.path("/keys")).status_code == 403

    refused(manager.client.patch(org.path(f"/roles/{role_id}"), json={"policies": [allow("*")]}), "on ")
    policies = result(org.admin.get(org.path(f"/roles/{role_id}")))["policies"]
    assert [p["permissions"] for p in policies] == [[ROLES_MANAGE]]
    assert manager.client.get(org.path("/keys")).status_code == 403
    # Nor write a new role wider than itself, with or without holders.
    refused(manager.client.post(org.path("/roles"), json={"name": "wide", "actors": [], "policies": [
        allow(KEYS_VIEW)]}), KEYS_VIEW)
    refused(manager.client.post(org.path("/roles"), json={"name": "mine", "actors": [manager.actor], "policies": [
        allow(KEYS_VIEW)]}), KEYS_VIEW)
    # Nor hand itself a role that exists already.
    wider = org.role([allow(KEYS_VIEW)])
    refused(manager.client.patch(org.path(f"/roles/{wider}"), json={"actors": [manager.actor]}), KEYS_VIEW)
    assert result(org.admin.get(org.path(f"/roles/{wider}")))["actors"] == []
    # A role within what it holds is fine.
    result(manager.client.post(org.path("/roles"), json={"name": "narrow", "actors": [], "policies": [
        allow(ROLES_MANAGE)]}))


def test_a_deny_cannot_be_lifted_by_the_key_it_holds_back(server: ClickplaneServer, org: Organization) -> None:
    service = result(org.admin.post(org.path("/services"), json={
        "name": "denied", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}))
    service_id = service["service"]["id"]
    denied = f"instance/{service_id}"
    try:
        key = org.key_with(allow("*"), deny("control-plane:service:*", resources=(denied,)))
        assert key.client.get(org.path(f"/services/{service_id}")).status_code == 403

        refused(key.client.patch(org.path(f"/keys/{key.id}"), json={"assignedRoleIds": [ADMIN_ROLE]}), denied)
        refused(key.client.post(org.path("/roles"), json={"name": "lift", "actors": [key.actor],
                                                          "policies": [allow("*")]}), denied)
        refused(key.client.post(org.path("/keys"), json={"name": "proxy", "assignedRoleIds": [ADMIN_ROLE]}), denied)
        assert key.client.get(org.path(f"/services/{service_id}")).status_code == 403
        # What it may do elsewhere is untouched: another service, keys without that service.
        assert key.client.get(org.path("/keys")).status_code == 200
    finally:
        org.admin.delete(org.path(f"/services/{service_id}"))


def test_taking_a_deny_away_is_granting(org: Organization) -> None:
    """A key with Admin and a DENY role: neither it nor another key without the denied permission may drop the
    DENY (by re-roling the key, emptying the role's holders or policies, or deleting the role); an admin may."""
    target = f"instance/{uuid.uuid4()}"
    restriction = org.role([deny(SERVICE_VIEW, resources=(target,))])
    held_back = org.key(ADMIN_ROLE, restriction)
    limited = org.key_with(allow("*"), deny(SERVICE_VIEW, resources=(target,)))  # may manage, holds the DENY too

    for key in (held_back, limited):
        refused(key.client.patch(org.path(f"/keys/{held_back.id}"), json={"assignedRoleIds": [ADMIN_ROLE]}),
                f"{SERVICE_VIEW} on {target}")
        refused(key.client.patch(org.path(f"/roles/{restriction}"), json={"actors": []}), target)
        refused(key.client.patch(org.path(f"/roles/{restriction}"), json={"policies": []}), target)
        refused(key.client.delete(org.path(f"/roles/{restriction}")), target)
    assert org.roles_of(held_back) == sorted([ADMIN_ROLE, restriction])

    assert org.admin.delete(org.path(f"/roles/{restriction}")).status_code == 200
    assert org.roles_of(held_back) == [ADMIN_ROLE]


def test_members_and_invitations_get_no_more_than_the_caller_holds(server: ClickplaneServer,
                                                                  org: Organization) -> None:
    invited = result(org.admin.post(org.path("/invitations"), json={
        "email": f"dev-{uuid.uuid4().hex[:6]}@example.com", "assignedRoleIds": [DEVELOPER_ROLE]}))
    member = accept_invitation(server.operator_settings, uuid.UUID(str(invited["id"])), "Dev")
    manager = org.key_with(allow(MEMBERS_MANAGE, "control-plane:organization:members:view"))

    refused(manager.client.patch(org.path(f"/members/{member.userId}"), json={"assignedRoleIds": [ADMIN_ROLE]}),
            "on ")
    refused(manager.client.patch(org.path(f"/members/{member.userId}"), json={"role": "admin"}), "on ")
    roles = result(org.admin.get(org.path(f"/members/{member.userId}")))["assignedRoles"]
    assert [role["roleId"] for role in roles] == [DEVELOPER_ROLE]

    email = f"new-{uuid.uuid4().hex[:6]}@example.com"
    refused(manager.client.post(org.path("/invitations"), json={"email": email, "assignedRoleIds": [ADMIN_ROLE]}),
            "on ")
    assert all(i["email"] != email for i in result(org.admin.get(org.path("/invitations"))))
    # Inviting with nothing more than it holds is fine.
    result(manager.client.post(org.path("/invitations"), json={"email": email}))
