"""Roles as callers and actors see them: resolving role ids and legacy role names."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from clickplane.domain.errors import BadRequest
from clickplane.domain.permissions import SYSTEM_ROLES, SYSTEM_ROLES_BY_ID, SYSTEM_ROLES_BY_LEGACY_NAME
from clickplane.store.repositories import Roles


@dataclass(frozen=True)
class RoleRef:
    id: uuid.UUID
    name: str
    type: Literal["system", "custom"]
    legacy_name: str | None = None


def role_ids_from(assigned: list[uuid.UUID] | None, legacy: Sequence[str] | None, organization_id: uuid.UUID,
                  roles: Roles, field: str = "assignedRoleIds") -> list[str] | None:
    """Role ids for a request that names roles by id or (legacy) by name; None when it names none."""
    if assigned is None and legacy is None:
        return None
    chosen = [SYSTEM_ROLES_BY_LEGACY_NAME[name].id for name in legacy or []] + list(assigned or [])
    for role_id in chosen:
        if role_id not in SYSTEM_ROLES_BY_ID and roles.get(organization_id, role_id) is None:
            system = ", ".join(f"{r.name} {r.id}" for r in SYSTEM_ROLES)
            raise BadRequest(f"{field}: role {role_id} does not exist in this organization (system roles: {system})")
    return list(dict.fromkeys(str(role_id) for role_id in chosen))


def describe(role_ids: list[str], organization_id: uuid.UUID, roles: Roles) -> list[RoleRef]:
    """The roles behind stored ids, skipping any that no longer exist."""
    found: list[RoleRef] = []
    for raw in role_ids:
        role_id = uuid.UUID(raw)
        system = SYSTEM_ROLES_BY_ID.get(role_id)
        if system is not None:
            found.append(RoleRef(system.id, system.name, "system", system.legacy_name))
            continue
        custom = roles.get(organization_id, role_id)
        if custom is not None:
            found.append(RoleRef(custom.id, custom.name, "custom"))
    return found
