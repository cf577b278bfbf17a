"""Organizations: list, get, update."""

from __future__ import annotations

from typing import get_args
from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.enums import REGIONS_BY_PROVIDER, Region
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.organizations.schemas import (
    Organization,
    OrganizationCloudRegionPrivateEndpointConfig,
    OrganizationPatchRequest,
)
from clickplane.organizations.service import OrganizationService

TAG = "Organization"
REGIONS = list(get_args(Region))


def add_routes(api: Api, context: AppContext) -> None:
    organizations = OrganizationService(context)

    @api.route("GET", "/v1/organizations",
               "organizationGetList", "Get list of available organizations", TAG,
               "The organization the API key belongs to, as a one-element list.", list[Organization])
    async def list_organizations(caller: Caller) -> Response:
        return ok(organizations.list(caller))

    @api.route("GET", "/v1/organizations/{organizationId}",
               "organizationGet", "Get organization details", TAG,
               "One organization; only the API key's own organization is visible.", Organization)
    async def get_organization(caller: Caller, organizationId: UUID) -> Response:
        return ok(organizations.get(caller, organizationId))

    @api.route("PATCH", "/v1/organizations/{organizationId}",
               "organizationUpdate", "Update organization details", TAG,
               "Rename the organization or change its core-dump policy.", Organization,
               errors=(400, 401, 403, 404, 500))
    async def update_organization(caller: Caller, organizationId: UUID,
                                  body: JsonBody[OrganizationPatchRequest]) -> Response:
        return ok(organizations.update(caller, organizationId, body.value))

    @api.route("GET", "/v1/organizations/{organizationId}/privateEndpointConfig",
               "organizationPrivateEndpointConfigGetList",
               "Get private endpoint configuration for region within cloud provider for an organization", TAG,
               "clickplane has no private link: for any valid provider and region the endpoint service id is "
               "empty.", OrganizationCloudRegionPrivateEndpointConfig,
               parameters={"cloud_provider": {"enum": sorted(REGIONS_BY_PROVIDER)}, "region_id": {"enum": REGIONS}})
    async def get_private_endpoint_config(caller: Caller, organizationId: UUID, cloud_provider: str,
                                          region_id: str) -> Response:
        return ok(organizations.private_endpoint_config(caller, organizationId, cloud_provider, region_id))
