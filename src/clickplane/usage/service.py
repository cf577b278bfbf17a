"""Usage and cost: what each service used each UTC day, and what that costs in ClickHouse Credits (CHC).

Metering (usage/meter.py) looks at every service every few seconds and adds what it used since the
last look to its row for the day, in GiB-seconds:

* compute: seconds the service was running (state `running`) x the memory of a replica (its
  maxReplicaMemoryGb, the memory limit the runtime gives each replica) x its replicas. A stopped or idle
  service uses none.
* storage: the bytes on disk of its tables' active parts (`system.parts`, leaving out the server's own
  `system` database), sampled from its running server, x seconds. A stopped or idle service keeps the last
  sample (its data cannot change while its server is down), so it goes on paying for storage.
* backups: the sizes of its finished backups x seconds.

So a day's storage is charged for what was held on average during the day, for the time it was held; a
GiB-month is one GiB held for 30 days. A ClickPipe's day is what it read from its source (its workers count it
as they go: an initial load apart from the changes and files after it), per GiB. Prices are clickplane's own
settings, not ClickHouse Cloud's.
`UsageService` answers the API's usageCost report from the rows the metering wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID

from clickplane.activities.service import plain_date
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest
from clickplane.services.repository import Services
from clickplane.services.service import has_tags, tag_filters
from clickplane.settings import Settings
from clickplane.store.models import ClickPipeUsageDay, UsageDay
from clickplane.usage.repository import UsageDays
from clickplane.usage.schemas import UsageCost, UsageCostMetrics, UsageCostRecord

GIB = 1 << 30
SECONDS_PER_HOUR = 3600
SECONDS_PER_MONTH = 30 * 24 * SECONDS_PER_HOUR
# The longest period one usage report may cover, both ends included.
MAX_REPORT_DAYS = 31
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Prices:
    """CHC per unit of what is metered."""

    compute_per_gib_hour: float
    storage_per_gib_month: float
    backup_per_gib_month: float
    clickpipes_per_gib: float

    @classmethod
    def of(cls, settings: Settings) -> Prices:
        return cls(settings.price_compute_per_gib_hour, settings.price_storage_per_gib_month,
                   settings.price_backup_per_gib_month, settings.price_clickpipes_per_gib)


@dataclass(frozen=True)
class Sample:
    """A service as one look of the metering sees it."""

    running: bool
    replica_memory_gib: float
    replicas: int
    storage_bytes: int
    backup_bytes: int


@dataclass(frozen=True)
class Use:
    """What a service used in one UTC day, in GiB-seconds."""

    day: date
    compute_gib_seconds: float = 0.0
    storage_gib_seconds: float = 0.0
    backup_gib_seconds: float = 0.0


@dataclass(frozen=True)
class Cost:
    """What a Use costs, in CHC."""

    compute: float
    storage: float
    backup: float

    @property
    def total(self) -> float:
        return self.compute + self.storage + self.backup


def days_between(start: datetime, end: datetime) -> Iterator[tuple[date, float]]:
    """The UTC days from `start` to `end`, each with the seconds of that span that fall in it."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    while start < end:
        stop = min(end, datetime.combine(start.date() + ONE_DAY, time(), UTC))
        yield start.date(), (stop - start).total_seconds()
        start = stop


def accrue(sample: Sample, start: datetime, end: datetime) -> list[Use]:
    """What a service used from `start` to `end` being as `sample` says throughout, by UTC day; nothing
    for a service that used nothing (stopped, with no data and no backups)."""
    compute_gib = sample.replica_memory_gib * sample.replicas if sample.running else 0.0
    if not (compute_gib or sample.storage_bytes or sample.backup_bytes):
        return []
    return [Use(day, compute_gib * seconds, sample.storage_bytes / GIB * seconds, sample.backup_bytes / GIB * seconds)
            for day, seconds in days_between(start, end)]


def cost(use: Use, prices: Prices) -> Cost:
    return Cost(compute=use.compute_gib_seconds / SECONDS_PER_HOUR * prices.compute_per_gib_hour,
                storage=use.storage_gib_seconds / SECONDS_PER_MONTH * prices.storage_per_gib_month,
                backup=use.backup_gib_seconds / SECONDS_PER_MONTH * prices.backup_per_gib_month)


def locked(day: date, today: date) -> bool:
    """A day's record no longer changes once the day is over (in UTC)."""
    return day < today


def _day(parameter: str, text: str) -> date:
    day = plain_date(text)
    if day is None:
        raise BadRequest(f"{parameter} {text!r} is not a date: give YYYY-MM-DD, a day in UTC")
    return day


def report_days(from_date: str, to_date: str) -> tuple[date, date]:
    """The first and last day (both included) a usage report covers; raises BadRequest naming the parameter
    that is wrong, or a period of more than MAX_REPORT_DAYS days."""
    first, last = _day("from_date", from_date), _day("to_date", to_date)
    if first > last:
        raise BadRequest(f"from_date {first} is after to_date {last}; give from_date no later than to_date")
    if (last - first).days >= MAX_REPORT_DAYS:
        raise BadRequest(f"to_date {last} is more than {MAX_REPORT_DAYS - 1} days after from_date {first}; a report "
                         f"covers at most {MAX_REPORT_DAYS} days")
    return first, last


def _metrics(storage: float = 0.0, backup: float = 0.0, compute: float = 0.0, transfer: float = 0.0,
             initial_load: float = 0.0) -> UsageCostMetrics:
    return UsageCostMetrics(
        storageCHC=storage, backupCHC=backup, computeCHC=compute, dataTransferCHC=transfer,
        initialLoadCHC=initial_load, publicDataTransferCHC=0.0, interRegionTier1DataTransferCHC=0.0,
        interRegionTier2DataTransferCHC=0.0, interRegionTier3DataTransferCHC=0.0, interRegionTier4DataTransferCHC=0.0)


def to_wire(day: UsageDay, prices: Prices, today: date) -> UsageCostRecord:
    used = cost(Use(day.day, day.compute_gib_seconds, day.storage_gib_seconds, day.backup_gib_seconds), prices)
    return UsageCostRecord(dataWarehouseId=day.data_warehouse_id, serviceId=day.service_id, date=day.day,
                           entityType="service", entityId=day.service_id, entityName=day.service_name,
                           metrics=_metrics(used.storage, used.backup, used.compute), totalCHC=used.total,
                           locked=locked(day.day, today))


def pipe_to_wire(day: ClickPipeUsageDay, prices: Prices, today: date) -> UsageCostRecord:
    """A ClickPipe's day: what it read from its source, an initial load's bytes apart from the rest."""
    transfer = day.transfer_bytes / GIB * prices.clickpipes_per_gib
    initial_load = day.initial_load_bytes / GIB * prices.clickpipes_per_gib
    return UsageCostRecord(dataWarehouseId=day.data_warehouse_id, serviceId=day.service_id, date=day.day,
                           entityType="clickpipe", entityId=day.pipe_id, entityName=day.pipe_name,
                           metrics=_metrics(transfer=transfer, initial_load=initial_load),
                           totalCHC=transfer + initial_load, locked=locked(day.day, today))


class UsageService:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.prices = Prices.of(context.settings)

    def cost_report(self, organization_id: UUID, from_date: str, to_date: str, filters: list[str]) -> UsageCost:
        """The organization's costs from `from_date` to `to_date`, of the services that carry every tag the
        `filters` ask for now."""
        first, last = report_days(from_date, to_date)
        wanted = tag_filters(filters)
        today = datetime.now(UTC).date()
        with self.context.database.looking() as session:
            days = UsageDays(session).between(organization_id, first, last)
            pipe_days = UsageDays(session).pipes_between(organization_id, first, last)
            if wanted:
                tagged = {service.id for service in Services(session).list(organization_id)
                          if has_tags(service.tags, wanted)}
                days = [day for day in days if day.service_id in tagged]
                pipe_days = [day for day in pipe_days if day.service_id in tagged]
            records = sorted([*(to_wire(day, self.prices, today) for day in days),
                              *(pipe_to_wire(day, self.prices, today) for day in pipe_days)],
                             key=lambda record: (record.date, record.entityType != "service", record.entityName))
        return UsageCost(grandTotalCHC=sum(record.totalCHC for record in records), costs=records)
