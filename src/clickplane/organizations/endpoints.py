"""Organizations: list, get, update."""

from __future__ import annotations

from typing import get_args
from uuid import UUID

from blacksheep import Response

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.enums import REGIONS_BY_PROVIDER, Region
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.organizations import service as rules
from clickplane.organizations.repository import Organizations
from clickplane.organizations.schemas import (
    Organization,
    OrganizationCloudRegionPrivateEndpointConfig,
    OrganizationPatchRequest,
)
from clickplane.kit.enums import check_provider_region
from clickplane.store import models

TAG = "Organization"
REGIONS = list(get_args(Region))


def to_wire(organization: models.Organization) -> Organization:
    return Organization(id=organization.id, createdAt=organization.created_at, name=organization.name,
                        privateEndpoints=organization.private_endpoints, byocConfig=[],
                        enableCoreDumps=organization.enable_core_dumps)


def add_routes(api: Api, context: AppContext) -> None:

    @api.route("GET", "/v1/organizations",
               "organizationGetList", "Get list of available organizations", TAG,
               "The organization the API key belongs to, as a one-element list.", list[Organization])
    async def list_organizations(caller: Caller) -> Response:
        with context.database.transaction() as session:
            organization = rules.visible(Organizations(session), caller, caller.organization_id)
            return ok([to_wire(organization)])

    @api.route("GET", "/v1/organizations/{organizationId}",
               "organizationGet", "Get organization details", TAG,
               "One organization; only the API key's own organization is visible.", Organization)
    async def get_organization(caller: Caller, organizationId: UUID) -> Response:
        with context.database.transaction() as session:
            return ok(to_wire(rules.visible(Organizations(session), caller, organizationId)))

    @api.route("PATCH", "/v1/organizations/{organizationId}",
               "organizationUpdate", "Update organization details", TAG,
               "Rename the organization or change its core-dump policy.", Organization,
               errors=(400, 401, 403, 404, 500))
    async def update_organization(caller: Caller, organizationId: UUID,
                                  body: JsonBody[OrganizationPatchRequest]) -> Response:
        with context.database.transaction() as session:
            organization = rules.visible(Organizations(session), caller, organizationId)
            details = body.value.model_dump(exclude_none=True, mode="json")
            for activity_type in rules.update(organization, body.value):
                record(Activities(session), caller, activity_type, details=details)
            return ok(to_wire(organization))

    @api.route("GET", "/v1/organizations/{organizationId}/privateEndpointConfig",
               "organizationPrivateEndpointConfigGetList",
               "Get private endpoint configuration for region within cloud provider for an organization", TAG,
               "clickplane has no private link: for any valid provider and region the endpoint service id is "
               "empty.", OrganizationCloudRegionPrivateEndpointConfig,
               parameters={"cloud_provider": {"enum": sorted(REGIONS_BY_PROVIDER)}, "region_id": {"enum": REGIONS}})
    async def get_private_endpoint_config(caller: Caller, organizationId: UUID, cloud_provider: str,
                                          region_id: str) -> Response:
        check_provider_region(cloud_provider, region_id)
        with context.database.transaction() as session:
            rules.visible(Organizations(session), caller, organizationId)
        return ok(OrganizationCloudRegionPrivateEndpointConfig(endpointServiceId=""))
