"""Roles: resolving role ids and legacy names, validating custom roles' policies, who holds a role, the grant
check; and `RoleService`, whose methods are the API's use cases, each in a transaction of its own."""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.permissions import (
    ALL_PERMISSIONS,
    SYSTEM_ROLES,
    SYSTEM_ROLES_BY_ID,
    SYSTEM_ROLES_BY_LEGACY_NAME,
    Policy,
    SystemRole,
)
from clickplane.keys.repository import ApiKeys
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.members.repository import Invitations, Members
from clickplane.organizations.repository import Organizations
from clickplane.roles import grants
from clickplane.roles.repository import Roles
from clickplane.roles.schemas import RBACPolicy, RBACPolicyCreateRequest, RBACRole, RoleCreateRequest, RoleUpdateRequest
from clickplane.store import models


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


class RoleHolder(Protocol):
    """Anything that holds roles: an API key or a member."""

    role_ids: list[Any]


_RESOURCE = re.compile(r"^(\*|organization/(\*|[0-9a-fA-F-]{36})|instance/(\*|[0-9a-fA-F-]{36}))$")


def validate_policies(requested: list[RBACPolicyCreateRequest], role_id: uuid.UUID,
                      organization_id: uuid.UUID) -> list[dict[str, Any]]:
    """Policies as stored: each permission must be known (or a pattern matching one), each resource well formed."""
    stored = []
    for index, policy in enumerate(requested):
        for permission in policy.permissions:
            if not any(fnmatch.fnmatchcase(known, permission) for known in ALL_PERMISSIONS):
                known_list = ", ".join(sorted(ALL_PERMISSIONS))
                raise BadRequest(f"policies[{index}].permissions: {permission!r} is not a permission "
                                 f"(known: {known_list}; * patterns allowed)")
        for resource in policy.resources:
            if not _RESOURCE.match(resource):
                raise BadRequest(f"policies[{index}].resources: {resource!r} is not a resource; use *, "
                                 "organization/<id>, instance/<id> or instance/*")
        stored.append({"id": str(uuid.uuid4()), "roleId": str(role_id), "tenantId": f"organization/{organization_id}",
                       "allowDeny": policy.allowDeny, "permissions": policy.permissions,
                       "resources": policy.resources,
                       "tags": policy.tags.model_dump(exclude_none=True) if policy.tags else None})
    return stored


def assign(role_id: uuid.UUID, actors: list[str], holders: dict[str, RoleHolder]) -> None:
    """Make exactly `actors` (apiKey/<id>, user/<id>) hold the role; `holders` are the organization's, by actor."""
    unknown = [actor for actor in actors if actor not in holders]
    if unknown:
        raise BadRequest(f"actors: {unknown[0]!r} is not an API key (apiKey/<id>) or member (user/<id>) of "
                         "this organization")
    wanted = set(actors)
    for actor, holder in holders.items():
        held = str(role_id) in holder.role_ids
        if actor in wanted and not held:
            holder.role_ids = [*holder.role_ids, str(role_id)]
        elif actor not in wanted and held:
            holder.role_ids = [r for r in holder.role_ids if r != str(role_id)]


def actors_of(role_id: uuid.UUID, holders: dict[str, RoleHolder]) -> list[str]:
    return [actor for actor, holder in holders.items() if str(role_id) in holder.role_ids]


def check_custom_name(name: str, organization_id: uuid.UUID, roles: Roles, except_id: uuid.UUID | None = None) -> str:
    if any(role.name.lower() == name.lower() for role in SYSTEM_ROLES):
        raise Conflict(f"{name!r} is the name of a system role; choose another name")
    existing = roles.by_name(organization_id, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"a role named {name!r} already exists in this organization; choose another name")
    return name


def organization_authority(organization_id: uuid.UUID, keys: ApiKeys, members: Members, invitations: Invitations,
                           roles: Roles) -> grants.Authority:
    """What every holder of roles in the organization is given: keys, members, pending invitations (what the
    invitee will hold) and custom roles themselves."""
    holders: dict[str, list[str]] = {f"apiKey/{key.id}": key.role_ids for key in keys.list(organization_id)}
    holders.update({f"user/{member.user_id}": member.role_ids for member in members.list(organization_id)})
    holders.update({f"invitation/{invitation.id}": invitation.role_ids
                    for invitation in invitations.list(organization_id)})
    return grants.authority(holders, {str(role.id): role.policies for role in roles.list(organization_id)})


@contextmanager
def granting_only_held(caller: tuple[Policy, ...], organization_id: uuid.UUID,
                       snapshot: Callable[[], grants.Authority]) -> Iterator[None]:
    """Around a change of roles or holders: Forbidden, before anything is committed, when it gives any holder
    a permission `caller` does not hold (`snapshot` reads the organization's authority as it stands)."""
    before = snapshot()
    yield
    grants.ensure_granted_only_held(caller, before, snapshot(), organization_id)


def granting(session: Session, caller: Caller, organization_id: uuid.UUID) -> AbstractContextManager[None]:
    """Around a change of roles or their holders in `session`: refuses it when it gives anyone more than `caller`
    holds."""
    return granting_only_held(caller.policies, organization_id, lambda: organization_authority(
        organization_id, ApiKeys(session), Members(session), Invitations(session), Roles(session)))


def holders(session: Session, organization_id: uuid.UUID) -> dict[str, RoleHolder]:
    """Everything in the organization that can hold a role, by actor name: API keys and members."""
    found: dict[str, RoleHolder] = {f"apiKey/{key.id}": key for key in ApiKeys(session).list(organization_id)}
    found.update({f"user/{member.user_id}": member for member in Members(session).list(organization_id)})
    return found


def system_role_wire(role: SystemRole, organization: models.Organization, actors: list[str]) -> RBACRole:
    tenant = f"organization/{organization.id}"
    policies = [RBACPolicy(id=str(uuid.uuid5(role.id, str(index))), roleId=str(role.id), tenantId=tenant,
                           allowDeny=policy.effect, permissions=list(policy.permissions),
                           resources=list(policy.resources)) for index, policy in enumerate(role.policies)]
    return _wire(str(role.id), organization.id, role.name, "system", actors, policies, organization.created_at,
                 organization.created_at)


def custom_role_wire(role: models.Role, actors: list[str]) -> RBACRole:
    policies = [RBACPolicy.model_validate(policy) for policy in role.policies]
    return _wire(str(role.id), role.organization_id, role.name, "custom", actors, policies, role.created_at,
                 role.updated_at)


def _wire(role_id: str, organization_id: uuid.UUID, name: str, kind: str, actors: list[str],
          policies: list[RBACPolicy], created: datetime, updated: datetime) -> RBACRole:
    tenant = f"organization/{organization_id}"
    return RBACRole.model_validate({"id": role_id, "tenantId": tenant, "ownerId": tenant, "name": name,
                                    "type": kind, "actors": actors, "policies": policies, "createdAt": created,
                                    "updatedAt": updated})


def to_wire(session: Session, organization_id: uuid.UUID, role_id: uuid.UUID) -> RBACRole:
    """A system or custom role of the organization, with its holders."""
    actors = actors_of(role_id, holders(session, organization_id))
    system = SYSTEM_ROLES_BY_ID.get(role_id)
    if system is not None:
        organization = Organizations(session).get(organization_id)
        assert organization is not None  # the guard checked it is the caller's
        return system_role_wire(system, organization, actors)
    return custom_role_wire(find_custom_role(Roles(session), organization_id, role_id), actors)


def find_custom_role(roles: Roles, organization_id: uuid.UUID, role_id: uuid.UUID) -> models.Role:
    role = roles.get(organization_id, role_id)
    if role is None:
        if role_id in SYSTEM_ROLES_BY_ID:
            raise BadRequest(f"role {role_id} is a system role; system roles cannot be changed or deleted")
        raise NotFound(f"role {role_id} does not exist in organization {organization_id}")
    return role


class RoleService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list(self, organization_id: uuid.UUID) -> list[RBACRole]:
        with self.context.database.looking() as session:
            ids = [role.id for role in SYSTEM_ROLES] + [role.id for role in Roles(session).list(organization_id)]
            return [to_wire(session, organization_id, role_id) for role_id in ids]

    def get(self, organization_id: uuid.UUID, role_id: uuid.UUID) -> RBACRole:
        with self.context.database.looking() as session:
            return to_wire(session, organization_id, role_id)

    def create(self, caller: Caller, organization_id: uuid.UUID, request: RoleCreateRequest) -> RBACRole:
        with self.context.database.transaction() as session, granting(session, caller, organization_id):
            roles, role_id = Roles(session), uuid.uuid4()
            role = roles.add(models.Role(
                id=role_id, organization_id=organization_id,
                name=check_custom_name(request.name, organization_id, roles),
                policies=validate_policies(request.policies, role_id, organization_id)))
            assign(role.id, request.actors, holders(session, organization_id))
            _record(session, caller, "role_create", role)
            session.flush()
            created = to_wire(session, organization_id, role.id)
        self._holders_changed()
        return created

    def update(self, caller: Caller, organization_id: uuid.UUID, role_id: uuid.UUID, request: RoleUpdateRequest
               ) -> RBACRole:
        with self.context.database.transaction() as session, granting(session, caller, organization_id):
            roles = Roles(session)
            role = find_custom_role(roles, organization_id, role_id)
            if request.name is not None:
                role.name = check_custom_name(request.name, organization_id, roles, except_id=role.id)
            if request.policies is not None:
                role.policies = validate_policies(request.policies, role.id, organization_id)
            if request.actors is not None:
                assign(role.id, request.actors, holders(session, organization_id))
            _record(session, caller, "role_update", role)
            session.flush()
            updated = to_wire(session, organization_id, role.id)
        self._holders_changed()
        return updated

    def delete(self, caller: Caller, organization_id: uuid.UUID, role_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session, granting(session, caller, organization_id):
            roles = Roles(session)
            role = find_custom_role(roles, organization_id, role_id)
            assign(role.id, [], holders(session, organization_id))
            _record(session, caller, "role_delete", role)
            roles.delete(role)
        self._holders_changed()

    def _holders_changed(self) -> None:
        """Committed: holders' permissions may have changed, so every key is verified afresh."""
        self.context.verified_keys.clear()


def _record(session: Session, caller: Caller, activity_type: RecordedActivityType, role: models.Role) -> None:
    record(Activities(session), caller, activity_type, details={"roleId": str(role.id), "name": role.name})
