"""Weekly windows: whether one is in force at a moment, against the hours it covers, for every window of one
weekday and a pair of weekdays, at every hour of the week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickplane.kit import weekly

SUNDAY = datetime(2026, 11, 29, tzinfo=UTC)  # 00:00, hour 0 of the week


def test_covers_is_true_exactly_in_the_hours_of_the_week_the_window_covers() -> None:
    for weekdays in ([0], [6], [1, 5]):
        for start in range(24):
            for end in range(1, 25):
                hours = weekly.hours_of_week(weekdays, start, end)
                for hour in range(168):
                    moment = SUNDAY + timedelta(hours=hour, minutes=30)
                    assert weekly.covers(weekdays, start, end, moment) == (hour in hours), (weekdays, start, end, hour)


def test_a_window_ending_before_it_starts_runs_past_midnight_into_the_next_day() -> None:
    friday_night = weekly.hours_of_week([5], 22, 2)
    assert friday_night == {5 * 24 + 22, 5 * 24 + 23, 6 * 24, 6 * 24 + 1}
    assert weekly.covers([6], 23, 1, SUNDAY)  # Saturday 23:00 to Sunday 01:00 holds Sunday 00:00
