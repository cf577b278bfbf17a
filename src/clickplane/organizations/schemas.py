"""Wire models of organizations."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from clickplane.kit.enums import ByocState, Provider, Region
from clickplane.kit.schemas import DEPRECATED, RequestModel, ResponseModel, Timestamp


class OrganizationPrivateEndpoint(ResponseModel):
    id: str | None = Field(default=None, description="Identifier of the private endpoint.")
    description: str | None = Field(default=None, description="What the endpoint is for.")
    cloudProvider: Provider | None = Field(default=None, description="Provider the endpoint lives in.")
    region: Region | None = Field(default=None, description="Region the endpoint lives in.")


class ByocConfig(ResponseModel):
    id: str | None = Field(default=None, description="Identifier of the BYOC infrastructure.")
    state: ByocState | None = Field(default=None, description="Provisioning state of the infrastructure.")
    accountName: str | None = Field(default=None, description="Cloud account holding the infrastructure.")
    regionId: Region | None = Field(default=None, description="Region where services can be created.")
    cloudProvider: Provider | None = Field(default=None, description="Provider of the region.")
    displayName: str | None = Field(default=None, description="Human-readable name.")


class Organization(ResponseModel):
    id: UUID = Field(description="Organization id.")
    createdAt: Timestamp = Field(description="When the organization was created (RFC 3339, UTC).")
    name: str = Field(description="Organization name.")
    privateEndpoints: list[OrganizationPrivateEndpoint] = Field(
        default_factory=list, description="Private endpoints registered for the organization.")
    byocConfig: list[ByocConfig] = Field(
        default_factory=list, description="Bring-your-own-cloud infrastructures of the organization.")
    enableCoreDumps: bool = Field(description="Whether services of the organization may collect core dumps.")


class OrganizationPatchPrivateEndpoint(RequestModel):
    id: str | None = Field(default=None, description="Identifier of the private endpoint.")
    cloudProvider: Provider | None = Field(default=None, description="Provider of the endpoint.")
    region: Region | None = Field(default=None, description="Region of the endpoint.")
    description: str | None = Field(default=None, description="What the endpoint is for.")


class OrganizationPrivateEndpointsPatch(RequestModel):
    add: list[OrganizationPatchPrivateEndpoint] | None = Field(
        default=None, json_schema_extra=DEPRECATED, description="Endpoints to add (deprecated: add them per service).")
    remove: list[OrganizationPatchPrivateEndpoint] | None = Field(
        default=None, description="Endpoints to remove from the organization.")


class OrganizationPatchRequest(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=50,
                             description="New organization name, 1 to 50 characters.")
    privateEndpoints: OrganizationPrivateEndpointsPatch | None = Field(
        default=None, description="Private endpoints to add or remove.")
    enableCoreDumps: bool | None = Field(default=None, description="Allow services to collect core dumps.")


class OrganizationCloudRegionPrivateEndpointConfig(ResponseModel):
    endpointServiceId: str = Field(description="Private link service id; empty, as clickplane has no private link.")
