"""Roles: the built-in system roles and an organization's custom roles, with their policies and holders."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.roles.schemas import RBACRole, RoleCreateRequest, RoleUpdateRequest
from clickplane.roles.service import RoleService

TAG = "Role Management"
PATH = "/v1/organizations/{organizationId}/roles"


def add_routes(api: Api, context: AppContext) -> None:
    roles = RoleService(context)

    @api.route("GET", PATH, "organizationRolesGetList", "List all available roles for an organization", TAG,
               "The system roles (Admin, Developer, Query endpoints) and the organization's custom roles.",
               list[RBACRole])
    async def list_roles(caller: Caller, organizationId: UUID) -> Response:
        return ok(roles.list(organizationId))

    @api.route("GET", PATH + "/{roleId}", "organizationRoleGet", "Get role details", TAG,
               "One role, system or custom, with its policies and holders.", RBACRole)
    async def get_role(caller: Caller, organizationId: UUID, roleId: UUID) -> Response:
        return ok(roles.get(organizationId, roleId))

    @api.route("POST", PATH, "organizationRolePost", "Create a new role", TAG,
               "A custom role: ALLOW/DENY policies over permissions and resources, held by the given API keys "
               "and members.", RBACRole, errors=(400, 401, 404, 409, 500), produces=Produces("roleId", "/result/id"))
    async def create_role(caller: Caller, organizationId: UUID, body: JsonBody[RoleCreateRequest]) -> Response:
        return ok(roles.create(caller, organizationId, body.value))

    @api.route("PATCH", PATH + "/{roleId}", "organizationRolePatch", "Update a role", TAG,
               "Rename a custom role, or replace its holders or policies.", RBACRole,
               errors=(400, 401, 404, 409, 500))
    async def update_role(caller: Caller, organizationId: UUID, roleId: UUID,
                          body: JsonBody[RoleUpdateRequest]) -> Response:
        return ok(roles.update(caller, organizationId, roleId, body.value))

    @api.route("DELETE", PATH + "/{roleId}", "organizationRoleDelete", "Delete a role", TAG,
               "Deletes a custom role; its holders lose what it granted.", None)
    async def delete_role(caller: Caller, organizationId: UUID, roleId: UUID) -> Response:
        roles.delete(caller, organizationId, roleId)
        return acknowledged()
