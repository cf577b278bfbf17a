"""Wire models of usage costs."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from pydantic import Field

from clickplane.kit.enums import UsageEntityType
from clickplane.kit.schemas import ResponseModel


class UsageCostMetrics(ResponseModel):
    storageCHC: float = Field(description="Cost of the service's table data kept that day, in CHC.")
    backupCHC: float = Field(description="Cost of the service's backups kept that day, in CHC.")
    computeCHC: float = Field(description="Cost of the service's running replicas that day, in CHC.")
    dataTransferCHC: float = Field(description="For a ClickPipe: the cost of what it read from its source that day "
                                               "past its initial load (changes, files), in CHC; 0 for a service.")
    initialLoadCHC: float = Field(description="For a ClickPipe: the cost of its initial load (snapshot) that day, "
                                              "in CHC; 0 for a service.")
    publicDataTransferCHC: float = Field(description="Cost of data sent out to the internet, in CHC; not metered: 0.")
    interRegionTier1DataTransferCHC: float = Field(description="Cost of tier 1 inter-region transfer; not metered: 0.")
    interRegionTier2DataTransferCHC: float = Field(description="Cost of tier 2 inter-region transfer; not metered: 0.")
    interRegionTier3DataTransferCHC: float = Field(description="Cost of tier 3 inter-region transfer; not metered: 0.")
    interRegionTier4DataTransferCHC: float = Field(description="Cost of tier 4 inter-region transfer; not metered: 0.")


class UsageCostRecord(ResponseModel):
    dataWarehouseId: UUID = Field(description="ID of the data warehouse the service belongs to.")
    serviceId: UUID | None = Field(description="ID of the service (a ClickPipe's: the one it loads into); absent "
                                               "for a data warehouse entity.")
    date: dt.date = Field(description="The day of the usage (YYYY-MM-DD, UTC).")
    entityType: UsageEntityType = Field(description="What the entity is: a service or a ClickPipe.")
    entityId: UUID = Field(description="ID of the entity: the service's or the ClickPipe's.")
    entityName: str = Field(description="Name of the entity, as of its latest usage that day.")
    metrics: UsageCostMetrics
    totalCHC: float = Field(description="The entity's cost that day, in ClickHouse Credits (CHC).")
    locked: bool = Field(description="True once the day (UTC) is over: the record no longer changes.")


class UsageCost(ResponseModel):
    grandTotalCHC: float = Field(description="Total cost of every record, in ClickHouse Credits (CHC).")
    costs: list[UsageCostRecord] = Field(description="Daily cost records, one per service or ClickPipe and day it used "
                                                     "anything, by day, services first, then name.")
