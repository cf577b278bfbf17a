"""Postgres metrics from samples: the buckets of a window, counters as rates between samples (a restart counts from
0), gauges averaged, the cache hit ratio of each bucket's block reads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.postgres.telemetry import series
from clickplane.postgres.telemetry.readings import Reading, Sample, delta
from clickplane.postgres.telemetry.schemas import PostgresMetric

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: float, counters: Mapping[str, int] | None = None, connections: Mapping[str, int] | None = None,
       sizes: Mapping[str, int] | None = None) -> Sample:
    return Sample(START + timedelta(seconds=seconds), Reading(counters or {}, connections or {}, sizes or {}))


def points(metric: PostgresMetric, label: str) -> list[tuple[int, float]]:
    [found] = [one for one in metric.series if one.label == label]
    return [(point.timestamp, point.value) for point in found.dataPoints]


def by_key(samples: list[Sample], window: series.Buckets) -> dict[str, PostgresMetric]:
    return {metric.key: metric for metric in series.metrics(samples, window).metrics}


def test_a_counter_that_went_down_was_reset_and_counts_from_zero() -> None:
    assert delta(100, 160) == 60
    assert delta(160, 7) == 7  # restarted, then counted 7


def test_a_derived_bucket_size_keeps_to_250_points_and_to_the_sampling_interval() -> None:
    hour = series.buckets(START, START + timedelta(hours=1), None, sampling_seconds=60)
    assert (hour.size_seconds, hour.count) == (60, 60)
    day = series.buckets(START, START + timedelta(days=1), None, sampling_seconds=60)
    assert (day.size_seconds, day.count) == (600, 144)
    month = series.buckets(START, START + timedelta(days=30), None, sampling_seconds=60)
    assert (month.size_seconds, month.count) == (10800, 240)
    years = series.buckets(START, START + timedelta(days=1000), None, sampling_seconds=60)
    assert years.size_seconds == 4 * 86400
    assert years.count <= series.MAX_POINTS
    fine = series.buckets(START, START + timedelta(minutes=2), None, sampling_seconds=1)
    assert (fine.size_seconds, fine.count) == (1, 120)


def test_a_bucket_size_making_more_than_250_points_is_refused_naming_the_least_that_fits() -> None:
    assert series.buckets(START, START + timedelta(seconds=250), 1, 60).count == 250
    with pytest.raises(BadRequest, match="251 buckets, more than the 250 allowed: give at least 2"):
        series.buckets(START, START + timedelta(seconds=251), 1, 60)


def test_the_window_is_from_date_to_date_excluded_and_may_be_empty_but_not_reversed() -> None:
    assert series.sampled_window("2026-12-01T12:00:00.000Z", "2026-12-01T12:04:10.000Z") == (
        START, START + timedelta(seconds=250))
    assert series.sampled_window("2026-12-01", "2026-12-01T12:00:00+00:00") == (START - timedelta(hours=12), START)
    assert series.sampled_window("2026-12-01T12:00:00Z", "2026-12-01T12:00:00Z") == (START, START)
    with pytest.raises(BadRequest, match="after to_date"):
        series.sampled_window("2026-12-01T12:00:01Z", "2026-12-01T12:00:00Z")
    with pytest.raises(BadRequest, match="to_date 'soon' is neither a date"):
        series.sampled_window("2026-12-01", "soon")


def test_an_empty_window_has_one_bucket_and_buckets_start_at_the_window() -> None:
    window = series.buckets(START, START, 60, 60)
    assert window.count == 1
    assert window.timestamp(0) == int(START.timestamp())
    assert window.index(START - timedelta(microseconds=1)) is None
    assert series.buckets(START, START + timedelta(minutes=10), 60, 60).timestamp(3) == int(START.timestamp()) + 180
    assert series.buckets(START, START + timedelta(days=1), 10**400, 60).count == 1


def test_counters_are_rates_per_second_between_samples_the_first_from_the_sample_before_the_window() -> None:
    window = series.buckets(START, START + timedelta(minutes=3), 60, 60)
    samples = [at(-30, {"xact_commit": 1000}),  # before the window: only the start of the first pair
               at(30, {"xact_commit": 1600}), at(90, {"xact_commit": 1660}), at(150, {"xact_commit": 1780})]

    commits = points(by_key(samples, window)["transactions"], "Commits")

    base = int(START.timestamp())
    assert commits == [(base, 10.0), (base + 60, 1.0), (base + 120, 2.0)]


def test_a_restart_between_samples_counts_the_new_value_and_a_bucket_without_samples_has_no_point() -> None:
    window = series.buckets(START, START + timedelta(minutes=4), 60, 60)
    samples = [at(0, {"tup_inserted": 500}), at(60, {"tup_inserted": 560}),
               at(180, {"tup_inserted": 120})]  # restarted in between; nothing sampled from 60 to 120

    inserted = points(by_key(samples, window)["throughput"], "Inserted")

    base = int(START.timestamp())
    assert inserted == [(base + 60, 1.0), (base + 180, 1.0)]  # 120 rows over the 120 s since the last sample


def test_gauges_are_averaged_per_bucket_a_missing_state_as_zero_and_a_missing_database_left_out() -> None:
    window = series.buckets(START, START + timedelta(minutes=2), 60, 60)
    samples = [at(10, connections={"active": 2, "idle": 4}, sizes={"postgres": 100}),
               at(40, connections={"active": 4}, sizes={"postgres": 300, "shop": 50}),
               at(70, connections={"idle in transaction": 1}, sizes={"postgres": 500})]

    metrics = by_key(samples, window)

    base = int(START.timestamp())
    connections = metrics["connection_count"]
    assert [one.label for one in connections.series] == ["active", "idle", "idle in transaction"]
    assert points(connections, "active") == [(base, 3.0), (base + 60, 0.0)]
    assert points(connections, "idle") == [(base, 2.0), (base + 60, 0.0)]
    assert points(connections, "idle in transaction") == [(base, 0.0), (base + 60, 1.0)]
    assert points(metrics["database_size"], "postgres") == [(base, 200.0), (base + 60, 500.0)]
    assert points(metrics["database_size"], "shop") == [(base, 50.0)]


def test_the_cache_hit_ratio_is_of_each_buckets_block_reads_and_absent_without_any() -> None:
    window = series.buckets(START, START + timedelta(minutes=3), 60, 60)
    samples = [at(0, {"blks_hit": 100, "blks_read": 100}), at(30, {"blks_hit": 190, "blks_read": 110}),
               at(90, {"blks_hit": 190, "blks_read": 110}), at(150, {"blks_hit": 210, "blks_read": 110})]

    ratio = points(by_key(samples, window)["cache_hit_ratio"], "Cache hit ratio")

    base = int(START.timestamp())
    assert ratio == [(base, 90.0), (base + 120, 100.0)]


def test_every_metric_is_answered_with_its_key_unit_and_description_even_without_samples() -> None:
    metrics = series.metrics([], series.buckets(START, START + timedelta(hours=1), None, 60)).metrics

    assert [(metric.key, metric.unit) for metric in metrics] == [
        ("connection_count", "count"), ("transactions", "transactions/s"), ("throughput", "rows/s"),
        ("cache_hit_ratio", "%"), ("deadlocks", "deadlocks/s"), ("database_size", "bytes")]
    assert all(metric.name and metric.description for metric in metrics)
    assert "no CPU, memory, disk or network series" in metrics[0].description
    assert all(not one.dataPoints for metric in metrics for one in metric.series)
