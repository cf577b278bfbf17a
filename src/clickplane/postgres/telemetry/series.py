"""Time-series metrics from a service's samples: the window cut into buckets (at most MAX_POINTS), counters as rates
per second and gauges as averages in each bucket.

A counter's rate in a bucket is what it counted between each two consecutive samples of which the later one falls
in the bucket, over the time those pairs span (the first bucket's first pair starts at the last sample before the
window). A bucket without a sample has no data point: the server was not running, or not yet sampled."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickplane.activities.service import instant
from clickplane.kit.errors import BadRequest
from clickplane.postgres.telemetry import schemas
from clickplane.postgres.telemetry.readings import Reading, Sample, delta

MAX_POINTS = 250
# Bucket sizes a derived one is rounded up to (beyond a day: whole days).
ROUND_SIZES = (1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
DAY = 86400
NOT_SAMPLED = ("clickplane samples what PostgreSQL's statistics views report, so it has no CPU, memory, disk or "
               "network series: its runtime has no honest measure of them yet.")


def sampled_window(from_date: str, to_date: str) -> tuple[datetime, datetime]:
    """[from_date, to_date): the reference's window, its end excluded (from_date = to_date: empty)."""
    start, end = instant("from_date", from_date), instant("to_date", to_date)
    if start > end:
        raise BadRequest(f"from_date {from_date} is after to_date {to_date}; give from_date no later than to_date")
    return start, end


@dataclass(frozen=True)
class Buckets:
    start: datetime
    size_seconds: int
    count: int

    def index(self, moment: datetime) -> int | None:
        """The bucket `moment` falls in; None outside the window."""
        offset = (moment - self.start).total_seconds()
        index = math.floor(offset / self.size_seconds)
        return index if 0 <= index < self.count else None

    def timestamp(self, index: int) -> int:
        return math.floor((self.start + timedelta(seconds=index * self.size_seconds)).timestamp())


def buckets(start: datetime, end: datetime, size_seconds: int | None, sampling_seconds: float) -> Buckets:
    """The buckets of [start, end): of the size asked for, or else the smallest round size that keeps to MAX_POINTS
    and is no finer than the sampling; BadRequest when the size asked for makes more than MAX_POINTS."""
    span = (end - start).total_seconds()
    size = size_seconds or derived_size(span, sampling_seconds)
    count = 1 if size >= span else math.ceil(span / size)  # a size of any magnitude, never made a float
    if count > MAX_POINTS:
        raise BadRequest(f"bucket_size_seconds {size} cuts the {span:g} s window into {count} buckets, more than the "
                         f"{MAX_POINTS} allowed: give at least {math.ceil(span / MAX_POINTS)}, or leave it out to "
                         "have one chosen")
    return Buckets(start, size, count)


def derived_size(span_seconds: float, sampling_seconds: float) -> int:
    needed = max(span_seconds / MAX_POINTS, sampling_seconds)
    for size in ROUND_SIZES:
        if size >= needed:
            return size
    return math.ceil(needed / DAY) * DAY


@dataclass(frozen=True)
class _Definition:
    key: str
    name: str
    unit: str
    description: str
    series: SeriesOf


def metrics(samples: Sequence[Sample], window: Buckets) -> schemas.PostgresMetrics:
    """Every metric over the window, from its samples in time order (the last one before the window first, when
    there is one)."""
    return schemas.PostgresMetrics(metrics=[
        schemas.PostgresMetric(key=metric.key, name=metric.name, unit=metric.unit, description=metric.description,
                               series=metric.series(samples, window))
        for metric in DEFINITIONS])


def _points(values: dict[int, float], window: Buckets) -> list[schemas.PostgresMetricDataPoint]:
    return [schemas.PostgresMetricDataPoint(timestamp=window.timestamp(index), value=value)
            for index, value in sorted(values.items())]


def _pairs(samples: Sequence[Sample], window: Buckets) -> list[tuple[int, Sample, Sample]]:
    """Each two consecutive samples, with the bucket of the later one (pairs whose later one is outside left out)."""
    pairs = []
    for before, after in itertools.pairwise(samples):
        index = window.index(after.taken_at)
        if index is not None:
            pairs.append((index, before, after))
    return pairs


def rates(samples: Sequence[Sample], window: Buckets, counter: str) -> list[schemas.PostgresMetricDataPoint]:
    counted: dict[int, float] = {}
    seconds: dict[int, float] = {}
    for index, before, after in _pairs(samples, window):
        counted[index] = counted.get(index, 0.0) + delta(before.reading.counters.get(counter, 0),
                                                         after.reading.counters.get(counter, 0))
        seconds[index] = seconds.get(index, 0.0) + (after.taken_at - before.taken_at).total_seconds()
    return _points({index: counted[index] / seconds[index] for index in counted if seconds[index] > 0}, window)


def averages(samples: Sequence[Sample], window: Buckets, value: Callable[[Reading], float | None]
             ) -> list[schemas.PostgresMetricDataPoint]:
    """The mean of `value` over the samples in each bucket (those where it is None left out)."""
    found: dict[int, list[float]] = {}
    for sample in samples:
        index, read = window.index(sample.taken_at), value(sample.reading)
        if index is not None and read is not None:
            found.setdefault(index, []).append(read)
    return _points({index: sum(values) / len(values) for index, values in found.items()}, window)


def cache_hit_ratios(samples: Sequence[Sample], window: Buckets) -> list[schemas.PostgresMetricDataPoint]:
    """Per bucket, the share of block reads its pairs served from shared buffers, in percent; none for a bucket
    whose pairs read no block."""
    hits: dict[int, float] = {}
    reads: dict[int, float] = {}
    for index, before, after in _pairs(samples, window):
        counted = {name: delta(before.reading.counters.get(name, 0), after.reading.counters.get(name, 0))
                   for name in ("blks_hit", "blks_read")}
        hits[index] = hits.get(index, 0.0) + counted["blks_hit"]
        reads[index] = reads.get(index, 0.0) + counted["blks_read"]
    return _points({index: 100.0 * hits[index] / (hits[index] + reads[index])
                    for index in hits if hits[index] + reads[index] > 0}, window)


SeriesOf = Callable[[Sequence[Sample], "Buckets"], list[schemas.PostgresMetricSeries]]


def _rate_series(*labelled: tuple[str, str]) -> SeriesOf:
    """A series per (label, counter), of the counter's rates."""
    def series(samples: Sequence[Sample], window: Buckets) -> list[schemas.PostgresMetricSeries]:
        return [schemas.PostgresMetricSeries(label=label, dataPoints=rates(samples, window, counter))
                for label, counter in labelled]
    return series


def _connection_series(samples: Sequence[Sample], window: Buckets) -> list[schemas.PostgresMetricSeries]:
    """One series per state seen (active and idle always): a state missing from a sample had no connection."""
    states = sorted({"active", "idle"}.union(*(sample.reading.connections for sample in samples)))
    return [schemas.PostgresMetricSeries(label=state, dataPoints=averages(samples, window, _connections_in(state)))
            for state in states]


def _connections_in(state: str) -> Callable[[Reading], float | None]:
    return lambda reading: reading.connections.get(state, 0)


def _database_size_series(samples: Sequence[Sample], window: Buckets) -> list[schemas.PostgresMetricSeries]:
    """One series per database seen; a database missing from a sample did not exist then."""
    databases = sorted(set().union(*(sample.reading.database_sizes for sample in samples)))
    return [schemas.PostgresMetricSeries(label=database, dataPoints=averages(samples, window, _size_of(database)))
            for database in databases]


def _size_of(database: str) -> Callable[[Reading], float | None]:
    return lambda reading: reading.database_sizes.get(database)


def _cache_hit_series(samples: Sequence[Sample], window: Buckets) -> list[schemas.PostgresMetricSeries]:
    return [schemas.PostgresMetricSeries(label="Cache hit ratio", dataPoints=cache_hit_ratios(samples, window))]


DEFINITIONS = (
    _Definition("connection_count", "Connections", "count",
                "Client connections by state (pg_stat_activity's client backends; clickplane's own left out), "
                "averaged over each bucket's samples. " + NOT_SAMPLED, _connection_series),
    _Definition("transactions", "Transactions", "transactions/s",
                "Transactions committed and rolled back per second (pg_stat_database, summed over the databases; "
                "clickplane's sampling adds one per sample).",
                _rate_series(("Commits", "xact_commit"), ("Rollbacks", "xact_rollback"))),
    _Definition("throughput", "Throughput", "rows/s",
                "Rows fetched, inserted, updated and deleted per second (pg_stat_database's tup_* counters, summed "
                "over the databases).",
                _rate_series(("Fetched", "tup_fetched"), ("Inserted", "tup_inserted"), ("Updated", "tup_updated"),
                             ("Deleted", "tup_deleted"))),
    _Definition("cache_hit_ratio", "Cache hit ratio", "%",
                "Share of block reads served from shared buffers in each bucket: blks_hit / (blks_hit + blks_read) "
                "of pg_stat_database (a read that missed may still have come from the OS page cache).",
                _cache_hit_series),
    _Definition("deadlocks", "Deadlocks", "deadlocks/s",
                "Deadlocks detected per second (pg_stat_database).", _rate_series(("Deadlocks", "deadlocks"))),
    _Definition("database_size", "Database size", "bytes",
                "Size on disk of each database but the templates (pg_database_size), averaged over each bucket's "
                "samples.", _database_size_series),
)
