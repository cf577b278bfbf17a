"""Alert windows (clickstack/windows.py): the aligned grid, its offset and anchor, and which closed windows are due
after none, one or many evaluations were missed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from clickplane.clickstack.windows import INTERVAL_SECONDS, interval_seconds, window_start, windows_due


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


FIVE_MINUTES = timedelta(minutes=5)


@pytest.mark.parametrize(("interval", "seconds"), [
    ("1m", 60), ("5m", 300), ("15m", 900), ("30m", 1800), ("1h", 3600), ("6h", 21600), ("12h", 43200),
    ("1d", 86400),
])
def test_interval_seconds_of_each_named_interval(interval: str, seconds: int) -> None:
    assert interval_seconds(interval) == seconds


def test_every_interval_of_the_reference_is_known() -> None:
    assert set(INTERVAL_SECONDS) == {"1m", "5m", "15m", "30m", "1h", "6h", "12h", "1d"}


@pytest.mark.parametrize("interval", ["2m", "1w", "", "5M"])
def test_an_unknown_interval_is_refused(interval: str) -> None:
    with pytest.raises(ValueError, match="unknown alert interval"):
        interval_seconds(interval)


# The grid, as HyperDX's own tests of getScheduledWindowStart lay it out.

def test_the_grid_is_the_interval_counted_from_the_epoch() -> None:
    assert window_start(at("2024-01-01T12:13:45"), "5m") == at("2024-01-01T12:10:00")


def test_a_moment_on_the_grid_starts_its_own_window() -> None:
    assert window_start(at("2024-01-01T12:15:00"), "5m") == at("2024-01-01T12:15:00")


def test_a_day_window_starts_at_midnight_utc() -> None:
    assert window_start(at("2024-03-10T23:59:59"), "1d") == at("2024-03-10T00:00:00")


def test_an_offset_shifts_the_grid() -> None:
    assert window_start(at("2024-01-01T12:13:45"), "5m", offset_seconds=120) == at("2024-01-01T12:12:00")


def test_with_an_offset_the_previous_window_lasts_until_the_next_offset_point() -> None:
    assert window_start(at("2024-01-01T12:11:59"), "5m", offset_seconds=120) == at("2024-01-01T12:07:00")


def test_an_offset_of_a_whole_interval_or_more_folds_back_into_one() -> None:
    assert window_start(at("2024-01-01T12:13:45"), "5m", offset_seconds=420) == at("2024-01-01T12:12:00")


def test_start_at_anchors_the_grid() -> None:
    assert window_start(at("2024-01-01T12:13:45"), "5m", start_at=at("2024-01-01T12:02:30")) \
        == at("2024-01-01T12:12:30")


def test_start_at_overrides_the_offset() -> None:
    assert window_start(at("2024-01-01T12:13:45"), "5m", offset_seconds=120, start_at=at("2024-01-01T12:02:30")) \
        == at("2024-01-01T12:12:30")


def test_before_start_at_the_grid_starts_at_start_at() -> None:
    assert window_start(at("2024-01-01T11:00:00"), "5m", start_at=at("2024-01-01T12:02:30")) \
        == at("2024-01-01T12:02:30")


def test_an_interval_in_seconds_is_the_same_grid_as_its_name() -> None:
    now = at("2024-01-01T12:13:45")
    assert window_start(now, 300, offset_seconds=120) == window_start(now, "5m", offset_seconds=120)


def test_a_time_in_another_zone_gives_the_utc_grid_point() -> None:
    now = datetime(2024, 1, 1, 14, 13, 45, tzinfo=timezone(timedelta(hours=2)))
    start = window_start(now, "1h")
    assert start == at("2024-01-01T12:00:00")
    assert start.utcoffset() == timedelta(0)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_start(datetime(2024, 1, 1, 12, 0), "5m")


def test_an_interval_below_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one second"):
        window_start(at("2024-01-01T12:00:00"), 0)


# Windows due.

def test_with_no_history_only_the_last_closed_window_is_due() -> None:
    assert windows_due(None, at("2024-01-01T12:13:45"), "5m", max_backfill=10) == [
        (at("2024-01-01T12:05:00"), at("2024-01-01T12:10:00"))]


def test_nothing_is_due_while_the_current_window_is_open() -> None:
    assert windows_due(at("2024-01-01T12:10:00"), at("2024-01-01T12:14:59"), "5m", max_backfill=10) == []


def test_the_window_that_just_closed_is_due() -> None:
    assert windows_due(at("2024-01-01T12:10:00"), at("2024-01-01T12:15:00"), "5m", max_backfill=10) == [
        (at("2024-01-01T12:10:00"), at("2024-01-01T12:15:00"))]


def test_after_a_pause_the_missed_windows_are_due_oldest_first() -> None:
    due = windows_due(at("2024-01-01T12:00:00"), at("2024-01-01T12:16:00"), "5m", max_backfill=10)
    assert due == [(at("2024-01-01T12:00:00"), at("2024-01-01T12:05:00")),
                   (at("2024-01-01T12:05:00"), at("2024-01-01T12:10:00")),
                   (at("2024-01-01T12:10:00"), at("2024-01-01T12:15:00"))]


def test_backfill_keeps_only_the_newest_windows_within_its_bound() -> None:
    due = windows_due(at("2024-01-01T00:00:00"), at("2024-01-01T12:16:00"), "5m", max_backfill=2)
    assert due == [(at("2024-01-01T12:05:00"), at("2024-01-01T12:10:00")),
                   (at("2024-01-01T12:10:00"), at("2024-01-01T12:15:00"))]


def test_due_windows_are_contiguous_and_each_one_interval_long() -> None:
    due = windows_due(at("2024-01-01T09:00:00"), at("2024-01-01T12:16:00"), "15m", max_backfill=100)
    assert len(due) == 13
    assert all(end - start == timedelta(minutes=15) for start, end in due)
    assert all(earlier[1] == later[0] for earlier, later in itertools.pairwise(due))


def test_off_grid_history_resumes_at_the_next_grid_window() -> None:
    # The offset changed since the last evaluation: the part of a window before the new grid is not evaluated.
    due = windows_due(at("2024-01-01T12:02:00"), at("2024-01-01T12:16:00"), "5m", max_backfill=10)
    assert due == [(at("2024-01-01T12:05:00"), at("2024-01-01T12:10:00")),
                   (at("2024-01-01T12:10:00"), at("2024-01-01T12:15:00"))]


def test_history_ahead_of_the_grid_makes_nothing_due() -> None:
    assert windows_due(at("2024-01-01T13:00:00"), at("2024-01-01T12:16:00"), "5m", max_backfill=10) == []


def test_windows_due_follow_the_offset() -> None:
    assert windows_due(None, at("2024-01-01T12:13:45"), "5m", offset_seconds=120, max_backfill=1) == [
        (at("2024-01-01T12:07:00"), at("2024-01-01T12:12:00"))]


def test_no_window_is_due_before_start_at_has_one_closed() -> None:
    start_at = at("2024-01-01T12:02:30")
    assert windows_due(None, at("2024-01-01T12:06:00"), "5m", start_at=start_at, max_backfill=10) == []
    assert windows_due(None, at("2024-01-01T12:07:30"), "5m", start_at=start_at, max_backfill=10) == [
        (start_at, at("2024-01-01T12:07:30"))]


def test_backfill_never_reaches_before_start_at() -> None:
    start_at = at("2024-01-01T12:00:00")
    due = windows_due(at("2024-01-01T11:00:00"), at("2024-01-01T12:11:00"), "5m", start_at=start_at,
                      max_backfill=50)
    assert due == [(start_at, at("2024-01-01T12:05:00")), (at("2024-01-01T12:05:00"), at("2024-01-01T12:10:00"))]


def test_windows_due_in_seconds_as_the_controller_passes_them() -> None:
    due = windows_due(at("2024-01-01T12:00:00"), at("2024-01-01T12:00:03.5"), 1, max_backfill=60)
    assert due == [(at("2024-01-01T12:00:00") + timedelta(seconds=index),
                    at("2024-01-01T12:00:00") + timedelta(seconds=index + 1)) for index in range(3)]


def test_a_backfill_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_backfill"):
        windows_due(None, at("2024-01-01T12:00:00"), "5m", max_backfill=0)


def test_a_naive_last_evaluated_end_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        windows_due(datetime(2024, 1, 1, 12, 0), at("2024-01-01T12:16:00"), "5m", max_backfill=10)
