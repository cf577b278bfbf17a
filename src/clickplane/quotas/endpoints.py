"""Quotas: the organization's limits, with what it uses of each."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.quotas.schemas import OrganizationQuota
from clickplane.quotas.service import QuotaService

TAG = "Organization"
PATH = "/v1/organizations/{organizationId}/quotas"


def add_routes(api: Api, context: AppContext) -> None:
    quotas = QuotaService(context)

    @api.route("GET", PATH, "organizationQuotasGetList", "Get organization quotas", TAG,
               "Every quota of the organization: its limit and how much is in use.", list[OrganizationQuota],
               produces=Produces("quotaCode", "/result/0/quotaCode"))
    async def list_quotas(caller: Caller, organizationId: UUID) -> Response:
        return ok(quotas.list(organizationId))

    @api.route("GET", PATH + "/{quotaCode}", "organizationQuotaGet", "Get organization quota details", TAG,
               "One quota of the organization, by its code; 404 for a code that does not exist.", OrganizationQuota)
    async def get_quota(caller: Caller, organizationId: UUID, quotaCode: str) -> Response:
        return ok(quotas.get(organizationId, quotaCode))
