"""Wire models of BYOC infrastructure requests (the answer is the organization's ByocConfig)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from clickplane.kit.enums import Region
from clickplane.kit.schemas import PRINTABLE, RequestModel

DisplayName = Annotated[str, PRINTABLE, Field(min_length=1, max_length=255)]


class ByocInfrastructurePostRequest(RequestModel):
    regionId: Region | None = Field(default=None, description="Region of the infrastructure (required).")
    accountId: str | None = Field(default=None, max_length=128, description=(
        "Cloud account it is for (required): an AWS account id, a GCP project id or an Azure subscription id."))
    availabilityZoneSuffixes: list[Literal["a", "b", "c", "d", "e", "f"]] | None = Field(
        default=None, max_length=6, description="Availability zones by suffix, each once.")
    vpcCidrRange: str | None = Field(default=None, max_length=64,
                                     description="A private IPv4 range for its VPC, /16 to /24 (10.0.0.0/16).")
    displayName: DisplayName | None = Field(default=None, description="A name for it (default: the account id).")


class ByocInfrastructurePatchRequest(RequestModel):
    displayName: DisplayName | None = Field(default=None, description="A new name for it.")
