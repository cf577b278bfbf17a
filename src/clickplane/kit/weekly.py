"""Weekly windows in UTC, as the Cloud API writes them: weekdays numbered from 0 = Sunday, a start hour (0-23,
inclusive) and an end hour (1-24, exclusive; 24 is midnight). An end before the start spans midnight, into the
next day: {weekdays [5], 22 to 2} is Friday 22:00 to Saturday 02:00."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def weekday_of(moment: datetime) -> int:
    """The Cloud API's weekday of a moment, in UTC: 0 = Sunday (Python counts from Monday)."""
    return (moment.astimezone(UTC).weekday() + 1) % 7


def hours_of_week(weekdays: Iterable[int], start_hour: int, end_hour: int) -> frozenset[int]:
    """The hours a window covers, numbered from Sunday 00:00 (0) to Saturday 23:00 (167)."""
    length = (end_hour - start_hour) % 24 or 24
    return frozenset((day * 24 + start_hour + offset) % 168 for day in weekdays for offset in range(length))


def covers(weekdays: Iterable[int], start_hour: int, end_hour: int, moment: datetime) -> bool:
    """Whether the window is in force at `moment`."""
    return weekday_of(moment) * 24 + moment.astimezone(UTC).hour in hours_of_week(weekdays, start_hour, end_hour)
