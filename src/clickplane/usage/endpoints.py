"""Usage costs: what the organization's services cost each day, from what the metering recorded."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.services.schemas import TAG_FILTER
from clickplane.usage.schemas import UsageCost
from clickplane.usage.service import UsageService

TAG = "Billing"


def add_routes(api: Api, context: AppContext) -> None:
    usage = UsageService(context)

    @api.route("GET", "/v1/organizations/{organizationId}/usageCost", "usageCostGet",
               "Get organization usage costs", TAG,
               "The organization's costs in ClickHouse Credits (CHC) from `from_date` to `to_date` (YYYY-MM-DD, "
               "days in UTC, both included, at most 31 days): one record per service and day it used anything "
               "(compute while running, storage of its tables, its backups; deleted services included), and "
               "their grand total. Today's records are still growing; earlier days' are locked. Prices are "
               "clickplane's settings, not ClickHouse Cloud's. `filter=tag:KEY` or `filter=tag:KEY=VALUE` "
               "(repeatable) keeps the services that carry all the given tags now.", UsageCost,
               parameters={"from_date": {"format": "date"}, "to_date": {"format": "date"}, **TAG_FILTER})
    async def get_usage_cost(caller: Caller, organizationId: UUID, from_date: str, to_date: str,
                             filter: list[str] | None = None) -> Response:
        return ok(usage.cost_report(organizationId, from_date, to_date, filter or []))
