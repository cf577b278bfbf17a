"""Postgres services' metrics as Prometheus text, named and labelled as ClickHouse Cloud's Postgres endpoints name
them, from each service's latest sample.

Every service has one `PostgresServiceInfo` sample of value 1, labelled with its state (`postgres_status`) and
major version (`postgres_version`). A running service sampled recently also has pg_stat_database's counters
(`PostgresServer_*_Total`, cumulative since its statistics began: Prometheus's rate() reads them), its client
connections by `state`, its cache hit ratio (percent of block reads served from shared buffers since the
statistics began) and the size of each database but the templates (`database`). Every sample carries
`clickhouse_org`, `postgres_service` and `postgres_service_name`. CPU, memory, disk and network families are not
served: clickplane's runtime has no honest measure of them yet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from clickplane.kit import exposition
from clickplane.kit.exposition import Family, Labels
from clickplane.postgres.telemetry.readings import Reading

SERVICE_INFO = "PostgresServiceInfo"
COUNTER_FAMILIES = (  # name, pg_stat_database counter, help
    ("PostgresServer_TuplesFetched_Total", "tup_fetched", "Rows fetched by queries."),
    ("PostgresServer_TuplesInserted_Total", "tup_inserted", "Rows inserted."),
    ("PostgresServer_TuplesUpdated_Total", "tup_updated", "Rows updated."),
    ("PostgresServer_TuplesDeleted_Total", "tup_deleted", "Rows deleted."),
    ("PostgresServer_TransactionsCommitted_Total", "xact_commit", "Transactions committed."),
    ("PostgresServer_TransactionsRolledBack_Total", "xact_rollback", "Transactions rolled back."),
    ("PostgresServer_Deadlocks_Total", "deadlocks", "Deadlocks detected."),
)
CONNECTIONS = "PostgresServer_ActiveConnections"
# States shown (as 0) even when no connection is in them, so that their series do not come and go.
ALWAYS_SHOWN_STATES = {"active": 0, "idle": 0}
CACHE_HIT_RATIO = "PostgresServer_CacheHitRatio"
DATABASE_SIZE = "PostgresServer_DatabaseSizeBytes"


@dataclass(frozen=True)
class ServiceTelemetry:
    organization_id: str
    service_id: str
    service_name: str
    state: str
    version: str  # major
    latest: Reading | None = None  # None: no recent sample


def render(services: Sequence[ServiceTelemetry]) -> str:
    info = Family(SERVICE_INFO, "gauge", "Information about PostgreSQL service, including status and version.")
    counters = {counter: Family(name, "counter", text) for name, counter, text in COUNTER_FAMILIES}
    connections = Family(CONNECTIONS, "gauge", "Number of active connections by state.")
    cache_hits = Family(CACHE_HIT_RATIO, "gauge",
                        "Buffer cache hit ratio: blocks served from cache vs. total blocks accessed (%).")
    sizes = Family(DATABASE_SIZE, "gauge", "Size of each database on disk, in bytes.")
    for service in services:
        labels: Labels = (("clickhouse_org", service.organization_id), ("postgres_service", service.service_id),
                          ("postgres_service_name", service.service_name))
        info.samples.append(((*labels, ("postgres_status", service.state), ("postgres_version", service.version)),
                             1.0))
        reading = service.latest
        if reading is None:
            continue
        for counter, family in counters.items():
            family.samples.append((labels, float(reading.counters.get(counter, 0))))
        states = {**ALWAYS_SHOWN_STATES, **reading.connections}
        connections.samples.extend(((*labels, ("state", state)), float(count))
                                   for state, count in sorted(states.items()))
        hit, read = reading.counters.get("blks_hit", 0), reading.counters.get("blks_read", 0)
        if hit + read:
            cache_hits.samples.append((labels, 100.0 * hit / (hit + read)))
        sizes.samples.extend(((*labels, ("database", database)), float(size))
                             for database, size in sorted(reading.database_sizes.items()))
    return exposition.render(family for family in (info, connections, cache_hits, *counters.values(), sizes)
                             if family is info or family.samples)
