"""Roles: the built-in system roles and an organization's custom roles, with their policies and holders."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from blacksheep import Response
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.permissions import SYSTEM_ROLES, SYSTEM_ROLES_BY_ID, SystemRole
from clickplane.keys.repository import ApiKeys
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.kit.routes import Api
from clickplane.members.repository import Members
from clickplane.organizations.repository import Organizations
from clickplane.roles import service as rules
from clickplane.roles.repository import Roles
from clickplane.roles.schemas import RBACPolicy, RBACRole, RoleCreateRequest, RoleUpdateRequest
from clickplane.store import models

TAG = "Role Management"
PATH = "/v1/organizations/{organizationId}/roles"


def holders(session: Session, organization_id: UUID) -> dict[str, rules.RoleHolder]:
    """Everything in the organization that can hold a role, by actor name: API keys and members."""
    found: dict[str, rules.RoleHolder] = {f"apiKey/{key.id}": key for key in ApiKeys(session).list(organization_id)}
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


def _wire(role_id: str, organization_id: UUID, name: str, kind: str, actors: list[str], policies: list[RBACPolicy],
          created: datetime, updated: datetime) -> RBACRole:
    tenant = f"organization/{organization_id}"
    return RBACRole.model_validate({"id": role_id, "tenantId": tenant, "ownerId": tenant, "name": name,
                                    "type": kind, "actors": actors, "policies": policies, "createdAt": created,
                                    "updatedAt": updated})


def add_routes(api: Api, context: AppContext) -> None:
    def role_wire(session: Session, organization_id: UUID, role_id: UUID) -> RBACRole:
        actors = rules.actors_of(role_id, holders(session, organization_id))
        system = SYSTEM_ROLES_BY_ID.get(role_id)
        if system is not None:
            organization = Organizations(session).get(organization_id)
            assert organization is not None  # the guard checked it is the caller's
            return system_role_wire(system, organization, actors)
        return custom_role_wire(custom_role(session, organization_id, role_id), actors)

    def custom_role(session: Session, organization_id: UUID, role_id: UUID) -> models.Role:
        role = Roles(session).get(organization_id, role_id)
        if role is None:
            if role_id in SYSTEM_ROLES_BY_ID:
                raise BadRequest(f"role {role_id} is a system role; system roles cannot be changed or deleted")
            raise NotFound(f"role {role_id} does not exist in organization {organization_id}")
        return role

    def changed(session: Session, caller: Caller, activity_type: RecordedActivityType, role: models.Role) -> None:
        record(Activities(session), caller, activity_type, details={"roleId": str(role.id), "name": role.name})
        # Holders' permissions may have changed: verify keys afresh.
        context.verified_keys.clear()

    @api.route("GET", PATH, "organizationRolesGetList", "List all available roles for an organization", TAG,
               "The system roles (Admin, Developer, Query endpoints) and the organization's custom roles.",
               list[RBACRole])
    async def list_roles(caller: Caller, organizationId: UUID) -> Response:
        with context.database.transaction() as session:
            ids = [role.id for role in SYSTEM_ROLES] + [role.id for role in Roles(session).list(organizationId)]
            return ok([role_wire(session, organizationId, role_id) for role_id in ids])

    @api.route("GET", PATH + "/{roleId}", "organizationRoleGet", "Get role details", TAG,
               "One role, system or custom, with its policies and holders.", RBACRole)
    async def get_role(caller: Caller, organizationId: UUID, roleId: UUID) -> Response:
        with context.database.transaction() as session:
            return ok(role_wire(session, organizationId, roleId))

    @api.route("POST", PATH, "organizationRolePost", "Create a new role", TAG,
               "A custom role: ALLOW/DENY policies over permissions and resources, held by the given API keys "
               "and members.", RBACRole, errors=(400, 401, 404, 409, 500), produces=Produces("roleId", "/result/id"))
    async def create_role(caller: Caller, organizationId: UUID, body: JsonBody[RoleCreateRequest]) -> Response:
        request = body.value
        with context.database.transaction() as session, rules.granting(session, caller, organizationId):
            role_id = uuid.uuid4()
            role = Roles(session).add(models.Role(
                id=role_id, organization_id=organizationId,
                name=rules.check_custom_name(request.name, organizationId, Roles(session)),
                policies=rules.validate_policies(request.policies, role_id, organizationId)))
            rules.assign(role.id, request.actors, holders(session, organizationId))
            changed(session, caller, "role_create", role)
            session.flush()
            return ok(role_wire(session, organizationId, role.id))

    @api.route("PATCH", PATH + "/{roleId}", "organizationRolePatch", "Update a role", TAG,
               "Rename a custom role, or replace its holders or policies.", RBACRole,
               errors=(400, 401, 404, 409, 500))
    async def update_role(caller: Caller, organizationId: UUID, roleId: UUID,
                          body: JsonBody[RoleUpdateRequest]) -> Response:
        request = body.value
        with context.database.transaction() as session, rules.granting(session, caller, organizationId):
            role = custom_role(session, organizationId, roleId)
            if request.name is not None:
                role.name = rules.check_custom_name(request.name, organizationId, Roles(session), except_id=role.id)
            if request.policies is not None:
                role.policies = rules.validate_policies(request.policies, role.id, organizationId)
            if request.actors is not None:
                rules.assign(role.id, request.actors, holders(session, organizationId))
            changed(session, caller, "role_update", role)
            session.flush()
            return ok(role_wire(session, organizationId, role.id))

    @api.route("DELETE", PATH + "/{roleId}", "organizationRoleDelete", "Delete a role", TAG,
               "Deletes a custom role; its holders lose what it granted.", None)
    async def delete_role(caller: Caller, organizationId: UUID, roleId: UUID) -> Response:
        with context.database.transaction() as session, rules.granting(session, caller, organizationId):
            role = custom_role(session, organizationId, roleId)
            rules.assign(role.id, [], holders(session, organizationId))
            changed(session, caller, "role_delete", role)
            Roles(session).delete(role)
        return acknowledged()
