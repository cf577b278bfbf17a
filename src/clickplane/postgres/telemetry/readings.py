"""What one sample of a Postgres server holds, and the rule every counter is read by.

A sample's counters are cumulative, as the server reports them (pg_stat_database's sums over every database); the
gauges are what they were at that moment (connections by state, each database's size). A counter that went down
between two samples was reset (a crash restart, `pg_stat_reset()`): it counted from 0 since, so its new value is
what happened in between."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# pg_stat_database's counters, by their names there.
COUNTERS = ("xact_commit", "xact_rollback", "tup_fetched", "tup_inserted", "tup_updated", "tup_deleted",
            "blks_hit", "blks_read", "deadlocks")


@dataclass(frozen=True)
class Reading:
    counters: Mapping[str, int] = field(default_factory=dict)
    # Client connections by pg_stat_activity.state (active, idle, idle in transaction, ...).
    connections: Mapping[str, int] = field(default_factory=dict)
    database_sizes: Mapping[str, int] = field(default_factory=dict)  # bytes, by database

    def as_json(self) -> dict[str, Any]:
        return {"counters": dict(self.counters), "connections": dict(self.connections),
                "database_sizes": dict(self.database_sizes)}

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Reading:
        return cls(counters=dict(stored.get("counters", {})), connections=dict(stored.get("connections", {})),
                   database_sizes=dict(stored.get("database_sizes", {})))


@dataclass(frozen=True)
class Sample:
    taken_at: datetime
    reading: Reading


def delta(before: float, after: float) -> float:
    """What a cumulative counter counted between two readings."""
    return after - before if after >= before else after
