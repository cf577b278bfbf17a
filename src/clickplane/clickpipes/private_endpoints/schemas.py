"""Wire models of ClickPipes' reverse private endpoints: the reference document's schemas, plus what clickhousectl
0.5.0 sends or reads beyond them (each marked "clickhousectl sends it; the reference lacks it")."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import PRINTABLE, RequestModel, ResponseModel

ReversePrivateEndpointType = Literal["VPC_ENDPOINT_SERVICE", "VPC_RESOURCE", "MSK_MULTI_VPC",
                                     "GCP_PSC_SERVICE_ATTACHMENT"]
MskAuthentication = Literal["SASL_IAM", "SASL_SCRAM"]
ReversePrivateEndpointStatus = Literal["Unknown", "Provisioning", "Deleting", "Ready", "Failed", "PendingAcceptance",
                                       "Rejected", "Expired"]
# The reference gives 255 characters as the most a description may hold.
Description = Annotated[str, Field(max_length=255), PRINTABLE]


class CustomPrivateDnsMapping(ResponseModel):
    privateDnsName: str | None = None
    # clickhousectl reads it; the reference lacks it.
    targetId: str | None = Field(default=None, description="The DNS target the name resolves to.")


class CustomPrivateDnsMappingInput(RequestModel):
    privateDnsName: str | None = None
    # clickhousectl sends it; the reference lacks it.
    targetId: str | None = Field(default=None, description="The DNS target the name resolves to.")


class ReversePrivateEndpointDnsTarget(ResponseModel):
    """clickhousectl reads it; the reference lacks it."""

    id: str | None = None
    internalDnsName: str | None = None
    kind: str | None = None


class ReversePrivateEndpointPrivateDnsMapping(ResponseModel):
    """clickhousectl reads it; the reference lacks it."""

    privateDnsName: str | None = None
    internalDnsName: str | None = None


class ReversePrivateEndpoint(ResponseModel):
    description: str | None = None
    type: ReversePrivateEndpointType | None = None
    vpcEndpointServiceName: str | None = None
    vpcResourceConfigurationId: str | None = None
    vpcResourceShareArn: str | None = None
    mskClusterArn: str | None = None
    mskAuthentication: MskAuthentication | None = None
    gcpServiceAttachment: str | None = None
    customPrivateDnsMappings: list[CustomPrivateDnsMapping] | None = None
    id: UUID | None = None
    serviceId: UUID | None = None
    endpointId: str | None = None
    dnsNames: list[str] | None = None
    privateDnsNames: list[str] | None = None
    status: ReversePrivateEndpointStatus | None = None
    # The two below: clickhousectl reads them; the reference lacks them.
    dnsTargets: list[ReversePrivateEndpointDnsTarget] | None = None
    privateDnsMappings: list[ReversePrivateEndpointPrivateDnsMapping] | None = None


class CreateReversePrivateEndpoint(RequestModel):
    description: Description | None = None
    type: ReversePrivateEndpointType | None = None
    vpcEndpointServiceName: str | None = None
    vpcResourceConfigurationId: str | None = None
    vpcResourceShareArn: str | None = None
    mskClusterArn: str | None = None
    mskAuthentication: MskAuthentication | None = None
    gcpServiceAttachment: str | None = None
    customPrivateDnsMappings: list[CustomPrivateDnsMappingInput] | None = None


class UpdateReversePrivateEndpoint(RequestModel):
    customPrivateDnsMappings: list[CustomPrivateDnsMappingInput] | None = None
