"""Services' ClickHouse metrics in the Prometheus text exposition format (0.0.4), named and labelled as
ClickHouse Cloud's Prometheus endpoints name them.

A running service's server is read live (READINGS_SQL): `system.metrics` become gauges named
`ClickHouseMetrics_<metric>`, `system.events` counters named `ClickHouseProfileEvents_<event>`, and
`system.asynchronous_metrics` gauges named `ClickHouseAsyncMetrics_<metric>` (that table is empty for
about a minute after a server starts). Every sample is labelled with `clickhouse_org`,
`clickhouse_service` and `clickhouse_service_name`, and with the server's `hostname` (also as
`instance`) and the `table` it came from.

Every service, running or not, has one `ClickHouse_ServiceInfo` sample of value 1, labelled with its
state (`clickhouse_cluster_status`: running, idle, stopped, ...), its ClickHouse version and `scrape`:
`full`, or `partial` when the server of a running service could not be read. A stopped or idle service is
reported that way, never as an error, and reading metrics does not wake it.

With `filtered_metrics=true` only ClickHouse_ServiceInfo and the FILTERED subset are returned: query
counts and failures, rows and bytes read and written, merges, connections, memory and uptime, part
counts and replica health.

`PrometheusService` reads the services the caller may view and answers their exposition.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.kit import exposition
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest
from clickplane.kit.exposition import Family, Labels
from clickplane.organizations.lookup import visible
from clickplane.organizations.repository import Organizations
from clickplane.services import engine
from clickplane.services import lookup as service_lookup
from clickplane.services.repository import Services
from clickplane.store.models import Service

METRICS, EVENTS, ASYNC_METRICS = "system.metrics", "system.events", "system.asynchronous_metrics"
# Source table -> (metric name prefix, Prometheus type).
SOURCES = {
    METRICS: ("ClickHouseMetrics_", "gauge"),
    EVENTS: ("ClickHouseProfileEvents_", "counter"),
    ASYNC_METRICS: ("ClickHouseAsyncMetrics_", "gauge"),
}

# One query reads all three tables; the columns are what `Reading` holds. Values are Float64 (what
# Prometheus stores); non-finite asynchronous metrics are left out, as JSON cannot carry them.
READINGS_SQL = """
SELECT 'system.metrics' AS source, metric AS name, toFloat64(value) AS value, description, hostName() AS host
FROM system.metrics
UNION ALL
SELECT 'system.events', event, toFloat64(value), description, hostName() FROM system.events
UNION ALL
SELECT 'system.asynchronous_metrics', metric, value, '', hostName() FROM system.asynchronous_metrics
WHERE isFinite(value)
FORMAT JSONEachRow
"""

# What `filtered_metrics=true` keeps, by source table (names absent from a server's tables are skipped).
FILTERED = {
    METRICS: frozenset({
        "Query", "Merge", "PartMutation", "BackgroundPoolTask", "TCPConnection", "HTTPConnection",
        "MySQLConnection", "MemoryTracking", "ReadonlyReplica", "DelayedInserts",
    }),
    EVENTS: frozenset({
        "Query", "SelectQuery", "InsertQuery", "FailedQuery", "FailedSelectQuery", "FailedInsertQuery",
        "QueryTimeMicroseconds", "SelectQueryTimeMicroseconds", "InsertQueryTimeMicroseconds",
        "InsertedRows", "InsertedBytes", "SelectedRows", "SelectedBytes", "ReadCompressedBytes",
        "MergedRows", "MergedUncompressedBytes", "DelayedInserts", "RejectedInserts",
    }),
    ASYNC_METRICS: frozenset({
        "Uptime", "MemoryResident", "MaxPartCountForPartition", "NumberOfDatabases", "NumberOfTables",
        "TotalRowsOfMergeTreeTables", "TotalBytesOfMergeTreeTables", "TotalPartsOfMergeTreeTables",
        "ReplicasMaxAbsoluteDelay", "MarkCacheBytes", "UncompressedCacheBytes", "LoadAverage1",
        "OSMemoryAvailable", "OSMemoryTotal",
    }),
}

SERVICE_INFO = "ClickHouse_ServiceInfo"
SERVICE_INFO_HELP = ("The service as clickplane sees it: its state, its ClickHouse version and whether its "
                     "metrics could be read; always 1")


@dataclass(frozen=True)
class Reading:
    """One row of a server's system tables."""

    source: str  # the table
    name: str
    value: float
    description: str
    host: str


@dataclass(frozen=True)
class ServiceMetrics:
    organization_id: str
    service_id: str
    service_name: str
    state: str
    clickhouse_version: str | None
    readings: tuple[Reading, ...] = ()
    # False when the service should have been read but its server did not answer.
    complete: bool = True


def parse_filtered(text: str | None) -> bool:
    """The `filtered_metrics` query parameter: true or false (or 1 or 0), false when absent."""
    if text is None or text.strip().lower() in ("false", "0", ""):
        return False
    if text.strip().lower() in ("true", "1"):
        return True
    raise BadRequest(f"filtered_metrics must be true or false, not {text!r}")


def parse_readings(text: str) -> tuple[Reading, ...]:
    """The rows of READINGS_SQL's output; ValueError if it is not that."""
    readings = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            readings.append(Reading(str(row["source"]), str(row["name"]), float(row["value"]),
                                    str(row["description"]), str(row["host"])))
    return tuple(readings)


def render(services: Sequence[ServiceMetrics], filtered: bool) -> str:
    """The exposition of every service's metrics: each family's HELP and TYPE once, then its samples."""
    info = Family(SERVICE_INFO, "gauge", SERVICE_INFO_HELP)
    families: dict[str, Family] = {}
    for service in services:
        labels: Labels = (("clickhouse_org", service.organization_id), ("clickhouse_service", service.service_id),
                          ("clickhouse_service_name", service.service_name))
        info.samples.append(((*labels, ("clickhouse_cluster_status", service.state),
                              ("clickhouse_version", service.clickhouse_version or ""),
                              ("scrape", "full" if service.complete else "partial")), 1.0))
        seen: set[str] = set()
        for reading in service.readings:
            if reading.source not in SOURCES or (filtered and reading.name not in FILTERED[reading.source]):
                continue
            prefix, kind = SOURCES[reading.source]
            name = prefix + re.sub(r"[^A-Za-z0-9_:]", "_", reading.name)
            if name in seen:  # two names that differ only in characters Prometheus does not allow
                continue
            seen.add(name)
            family = families.setdefault(name, Family(name, kind, reading.description or reading.name))
            family.samples.append(((*labels, ("hostname", reading.host), ("instance", reading.host),
                                    ("table", reading.source)), reading.value))
    return exposition.render((info, *families.values()))


def described(service: Service) -> ServiceMetrics:
    """What the store knows of the service's metrics: no readings yet."""
    return ServiceMetrics(organization_id=str(service.organization_id), service_id=str(service.id),
                          service_name=service.name, state=service.state,
                          clickhouse_version=service.clickhouse_version)


class PrometheusService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    async def organization_metrics(self, caller: Caller, organization_id: uuid.UUID, filtered_metrics: str | None
                                   ) -> str:
        """The exposition of every service of the organization the caller may view."""
        with self.context.database.looking() as session:
            visible(Organizations(session), caller, organization_id)
            services = [described(service) for service in Services(session).list(organization_id)
                        if permissions.allows(caller.policies, permissions.SERVICE_VIEW, f"instance/{service.id}")]
        return await self._exposition(services, filtered_metrics)

    async def service_metrics(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                              filtered_metrics: str | None) -> str:
        with self.context.database.looking() as session:
            service = described(service_lookup.visible(Services(session), caller, organization_id, service_id))
        return await self._exposition([service], filtered_metrics)

    async def _exposition(self, services: Sequence[ServiceMetrics], filtered_metrics: str | None) -> str:
        """The services' exposition; a bad `filtered_metrics` is refused only once the services are found."""
        filtered = parse_filtered(filtered_metrics)
        return render(await asyncio.gather(*(self._read(service) for service in services)), filtered)

    async def _read(self, metrics: ServiceMetrics) -> ServiceMetrics:
        """The service's metrics: read from its server when it runs, else only what the store knows."""
        if metrics.state != "running":
            return metrics
        answer = await engine.ask(self.context, uuid.UUID(metrics.service_id), READINGS_SQL)
        try:
            readings = parse_readings(answer.text) if answer is not None and answer.ok else None
        except (ValueError, KeyError):
            readings = None
        return replace(metrics, complete=False) if readings is None else replace(metrics, readings=readings)
