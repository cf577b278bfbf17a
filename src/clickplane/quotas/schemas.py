"""Wire models of organization quotas."""

from __future__ import annotations

from pydantic import Field

from clickplane.kit.enums import QuotaCode, QuotaScope
from clickplane.kit.schemas import ResponseModel


class OrganizationQuota(ResponseModel):
    quotaCode: QuotaCode = Field(description="Which quota this is; the code to read it alone with.")
    name: str = Field(description="Name of the quota, for people.")
    description: str = Field(description="What the quota limits, and how.")
    scope: QuotaScope = Field(description="What one limit applies to: the whole organization, or each warehouse.")
    value: int = Field(ge=0, description="The limit in force.")
    usage: int | None = Field(default=None, ge=0, description="How much is in use; may exceed a lowered limit.")
    adjustable: bool = Field(description="Whether the limit can be raised (in clickplane, by the operator).")
