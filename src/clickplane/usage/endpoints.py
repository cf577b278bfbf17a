"""Usage costs: what the organization's services cost each day, from what the metering recorded."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.services import service as service_rules
from clickplane.services.schemas import TAG_FILTER
from clickplane.services.repository import Services
from clickplane.store import models
from clickplane.usage import service as usage
from clickplane.usage.repository import UsageDays
from clickplane.usage.schemas import UsageCost, UsageCostMetrics, UsageCostRecord

TAG = "Billing"


def to_wire(day: models.UsageDay, prices: usage.Prices, today: date) -> UsageCostRecord:
    cost = usage.cost(usage.Use(day.day, day.compute_gib_seconds, day.storage_gib_seconds, day.backup_gib_seconds),
                      prices)
    metrics = UsageCostMetrics(
        storageCHC=cost.storage, backupCHC=cost.backup, computeCHC=cost.compute, dataTransferCHC=0.0,
        initialLoadCHC=0.0, publicDataTransferCHC=0.0, interRegionTier1DataTransferCHC=0.0,
        interRegionTier2DataTransferCHC=0.0, interRegionTier3DataTransferCHC=0.0, interRegionTier4DataTransferCHC=0.0)
    return UsageCostRecord(dataWarehouseId=day.data_warehouse_id, serviceId=day.service_id, date=day.day,
                           entityType="service", entityId=day.service_id, entityName=day.service_name,
                           metrics=metrics, totalCHC=cost.total, locked=usage.locked(day.day, today))


def add_routes(api: Api, context: AppContext) -> None:
    prices = usage.Prices.of(context.settings)

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
        first, last = usage.report_days(from_date, to_date)
        wanted = service_rules.tag_filters(filter or [])
        today = datetime.now(UTC).date()
        with context.database.transaction() as session:
            days = UsageDays(session).between(organizationId, first, last)
            if wanted:
                tagged = {service.id for service in Services(session).list(organizationId)
                          if service_rules.has_tags(service.tags, wanted)}
                days = [day for day in days if day.service_id in tagged]
        records = [to_wire(day, prices, today) for day in days]
        return ok(UsageCost(grandTotalCHC=sum(record.totalCHC for record in records), costs=records))
