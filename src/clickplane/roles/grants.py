"""Nobody grants more than they hold: the check every change of roles, policies or holders passes.

A change (a key's roles, a role's policies or holders, a member's roles, an invitation, a role deleted) is
judged by what it does to every holder in the organization: each (permission, resource) that a holder is
allowed after the change and was not before must be allowed to the caller too. Comparing holders before and
after, rather than looking at the granted role alone, also catches grants made by taking something away: a
role with a DENY removed from a key, or a DENY policy deleted from a role.

Policies are patterns, so "allowed" is decided on a finite set of representatives, one per class of
(permission, resource) pairs that no policy tells apart:
- permissions: every known one, plus an instance of each pattern the holders are given (`control-plane:*` stands
  for a `control-plane:` permission not yet known), so that a pattern grants no more than the caller's
  patterns cover, today's permissions or tomorrow's;
- resources: the organization, `instance/*` (what a listing asks about), each service any of the policies
  names, and one service none of them names (any other service).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clickplane.auth.permissions import ALL_PERMISSIONS, Policy, allows, policies_of
from clickplane.kit.errors import Forbidden

# Policies of each holder, by actor (`apiKey/<id>`, `user/<id>`, `invitation/<id>`), and of each custom role
# (`role/<id>`): a role is judged as a holder of its own policies, so that writing a policy grants no more
# than its author holds even before anyone holds the role.
Authority = Mapping[str, tuple[Policy, ...]]

# Stands for the part of a name a pattern leaves open, in a permission no code knows yet.
_UNKNOWN = "\x00unknown"
# A service that no policy names: every such service is allowed alike.
_UNNAMED_SERVICE = f"instance/{uuid.UUID(int=0)}"


def authority(holders: Mapping[str, Iterable[str]], custom_roles: Mapping[str, list[Any]]) -> Authority:
    """The policies of each holder (its role ids, by actor) and of each custom role (stored policies, by id)."""
    found = {actor: policies_of(tuple(role_ids), custom_roles) for actor, role_ids in holders.items()}
    found.update({f"role/{role_id}": policies_of((role_id,), custom_roles) for role_id in custom_roles})
    return found


@dataclass(frozen=True)
class Grant:
    holder: str
    permission: str
    resource: str


def _unknown_instance(pattern: str) -> str | None:
    """A name that `pattern` matches but no known permission is; None for a pattern without wildcards."""
    if not any(char in pattern for char in "*?[") or "[" in pattern:
        return None
    return pattern.replace("*", _UNKNOWN).replace("?", _UNKNOWN[0])


def _representatives(organization_id: uuid.UUID, policies: Iterable[Policy]) -> tuple[list[str], list[str]]:
    permissions = set(ALL_PERMISSIONS)
    resources = {f"organization/{organization_id}", "instance/*", _UNNAMED_SERVICE}
    for policy in policies:
        permissions.update(name for name in map(_unknown_instance, policy.permissions) if name)
        resources.update(r for r in policy.resources if r.startswith("instance/") and "*" not in r)
    return sorted(permissions), sorted(resources)


def _allowed(policies: tuple[Policy, ...], permissions: list[str], resources: list[str]) -> set[tuple[str, str]]:
    return {(permission, resource) for permission in permissions for resource in resources
            if allows(policies, permission, resource)}


def ungranted(caller: tuple[Policy, ...], before: Authority, after: Authority,
              organization_id: uuid.UUID) -> Grant | None:
    """The first permission some holder gains from `before` to `after` that `caller` is not allowed, if any."""
    everything = [*caller, *(p for policies in (*before.values(), *after.values()) for p in policies)]
    permissions, resources = _representatives(organization_id, everything)
    held = _allowed(caller, permissions, resources)
    for holder in sorted(after):
        if after[holder] == before.get(holder, ()):
            continue
        gained = _allowed(after[holder], permissions, resources) - _allowed(before.get(holder, ()), permissions,
                                                                           resources)
        missing = sorted(gained - held)
        if missing:
            return Grant(holder, *missing[0])
    return None


def ensure_granted_only_held(caller: tuple[Policy, ...], before: Authority, after: Authority,
                             organization_id: uuid.UUID) -> None:
    """Forbidden, naming the permission, when the change gives a holder something the caller does not hold."""
    grant = ungranted(caller, before, after, organization_id)
    if grant is not None:
        permission = grant.permission.replace(_UNKNOWN, "*")
        raise Forbidden(f"this change would give {grant.holder} {permission} on {grant.resource}, which this API "
                        "key does not hold itself; a key may only grant permissions it holds, so ask a key that "
                        "holds it to make the change")
