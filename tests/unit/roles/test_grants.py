"""The rule that nobody grants more than they hold, on policies alone (roles/grants.py)."""

from __future__ import annotations

import uuid

import pytest

from clickplane.auth.permissions import (
    ADMIN,
    ALL_PERMISSIONS,
    DEVELOPER,
    KEYS_MANAGE,
    QUERY_ENDPOINTS_ROLE,
    ROLES_MANAGE,
    SERVICE_MANAGE,
    SERVICE_VIEW,
    Policy,
)
from clickplane.kit.errors import Forbidden
from clickplane.roles import grants

ORGANIZATION = uuid.uuid4()
SERVICE = uuid.uuid4()
HOLDER = "apiKey/holder"


def allow(permissions: tuple[str, ...], resources: tuple[str, ...] = ("*",)) -> Policy:
    return Policy("ALLOW", permissions, resources)


def deny(permissions: tuple[str, ...], resources: tuple[str, ...]) -> Policy:
    return Policy("DENY", permissions, resources)


def gained(caller: tuple[Policy, ...], before: tuple[Policy, ...], after: tuple[Policy, ...]) -> grants.Grant | None:
    return grants.ungranted(caller, {HOLDER: before}, {HOLDER: after}, ORGANIZATION)


def test_a_key_manager_cannot_give_the_admin_role() -> None:
    grant = gained((allow((KEYS_MANAGE,)),), (), ADMIN.policies)
    assert grant is not None
    assert grant.holder == HOLDER
    assert grant.permission != KEYS_MANAGE


def test_an_admin_may_give_any_system_role() -> None:
    for role in (ADMIN, DEVELOPER, QUERY_ENDPOINTS_ROLE):
        assert gained(ADMIN.policies, (), role.policies) is None


def test_a_deny_on_the_caller_is_held_against_granting_admin() -> None:
    caller = (allow(("*",)), deny(("control-plane:service:*",), (f"instance/{SERVICE}",)))
    grant = gained(caller, caller, ADMIN.policies)
    assert grant is not None
    assert grant.resource == f"instance/{SERVICE}"
    assert grant.permission.startswith("control-plane:service:")


def test_taking_away_a_deny_is_a_grant() -> None:
    """A holder of Admin and a DENY loses the DENY: it gains what the DENY held back."""
    restriction = deny((SERVICE_VIEW,), (f"instance/{SERVICE}",))
    caller = (allow(("*",)), restriction)
    grant = gained(caller, (*ADMIN.policies, restriction), ADMIN.policies)
    assert grant == grants.Grant(HOLDER, SERVICE_VIEW, f"instance/{SERVICE}")
    assert gained(ADMIN.policies, (*ADMIN.policies, restriction), ADMIN.policies) is None


def test_a_wildcard_grants_tomorrows_permissions_too() -> None:
    """Holding every permission known today by name is not holding `*`."""
    caller = (allow(tuple(sorted(ALL_PERMISSIONS))),)
    grant = gained(caller, (), (allow(("*",)),))
    assert grant is not None
    assert grant.permission not in ALL_PERMISSIONS
    assert gained(caller, (), DEVELOPER.policies) is None


def test_a_pattern_is_held_by_a_wider_pattern() -> None:
    caller = (allow(("control-plane:*",)),)
    assert gained(caller, (), (allow(("control-plane:service:*",)),)) is None
    assert gained(caller, (), (allow(("sql-console:*",)),)) is not None


def test_one_service_does_not_hold_every_service() -> None:
    caller = (allow((SERVICE_VIEW, SERVICE_MANAGE), (f"instance/{SERVICE}",)),)
    assert gained(caller, (), (allow((SERVICE_VIEW,), (f"instance/{SERVICE}",)),)) is None
    grant = gained(caller, (), (allow((SERVICE_VIEW,), ("instance/*",)),))
    assert grant is not None
    assert grant.resource != f"instance/{SERVICE}"


def test_a_holder_whose_policies_do_not_change_is_not_judged() -> None:
    caller = (allow((ROLES_MANAGE,)),)
    everyone = {HOLDER: ADMIN.policies, "user/other": DEVELOPER.policies}
    assert grants.ungranted(caller, everyone, dict(everyone), ORGANIZATION) is None


def test_a_role_is_judged_as_a_holder_of_its_own_policies() -> None:
    authority = grants.authority({}, {"r1": [{"allowDeny": "ALLOW", "permissions": ["*"], "resources": ["*"]}]})
    assert authority == {"role/r1": ADMIN.policies}
    assert grants.ungranted((allow((ROLES_MANAGE,)),), {}, authority, ORGANIZATION) is not None


def test_the_refusal_names_the_holder_permission_and_resource() -> None:
    with pytest.raises(Forbidden) as refused:
        grants.ensure_granted_only_held((allow((KEYS_MANAGE,)),), {}, {HOLDER: DEVELOPER.policies}, ORGANIZATION)
    message = refused.value.message
    assert HOLDER in message
    assert f"organization/{ORGANIZATION}" in message or "instance/" in message
    assert "does not hold" in message
