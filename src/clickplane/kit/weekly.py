"""Weekly windows in UTC, as the Cloud API writes them: weekdays numbered from 0 = Sunday, a start hour (0-23,
inclusive) and an end hour (1-24, exclusive; 24 is midnight). An end before the start spans midnight, into the
next day: {weekdays [5], 22 to 2} is Friday 22:00 to Saturday 02:00."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a JSON integer (such as 3), not true or false")
    if isinstance(value, str):
        raise PydanticCustomError("int_type", "Input should be a JSON integer (such as 3), not the string {given}; "
                                  "send the number without quotes", {"given": repr(value)})
    return int(value) if isinstance(value, float) and value.is_integer() else value


# For a weekday or an hour of a request, after its constraints: a JSON integer (2.0 too, an integer to JSON
# Schema), never true/false (which Python counts as 1 and 0) nor a numeric string, however the body is validated.
INTEGER = BeforeValidator(_integer)


def weekday_of(moment: datetime) -> int:
    """The Cloud API's weekday of a moment, in UTC: 0 = Sunday (Python counts from Monday)."""
    return (moment.astimezone(UTC).weekday() + 1) % 7


def hours_of_week(weekdays: Iterable[int], start_hour: int, end_hour: int) -> frozenset[int]:
    """The hours a window covers, numbered from Sunday 00:00 (0) to Saturday 23:00 (167)."""
    length = _length(start_hour, end_hour)
    return frozenset((day * 24 + start_hour + offset) % 168 for day in weekdays for offset in range(length))


def covers(weekdays: Iterable[int], start_hour: int, end_hour: int, moment: datetime) -> bool:
    """Whether the window is in force at `moment`: the hour of the week is at most its length past one of the
    window's starts (the reconciler asks at every pass, so no set of hours is made)."""
    hour, length = weekday_of(moment) * 24 + moment.astimezone(UTC).hour, _length(start_hour, end_hour)
    return any((hour - day * 24 - start_hour) % 168 < length for day in weekdays)


def _length(start_hour: int, end_hour: int) -> int:
    """How many hours a window lasts: an end before the start spans midnight; start and end alike, a whole day."""
    return (end_hour - start_hour) % 24 or 24
