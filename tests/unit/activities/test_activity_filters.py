"""from_date and to_date of the activity list: plain dates or RFC 3339 date-times, both ends included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clickplane.activities.service import Window, window
from clickplane.kit.errors import BadRequest


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def refused(from_date: str | None, to_date: str | None) -> str:
    with pytest.raises(BadRequest) as caught:
        window(from_date, to_date)
    return caught.value.message


def test_no_dates_select_everything() -> None:
    assert window(None, None) == Window(None, None)


def test_plain_dates_are_whole_days_in_utc_and_to_date_is_included() -> None:
    assert window("2024-01-02", "2024-01-03") == Window(at(2024, 1, 2), at(2024, 1, 4))
    assert window("2024-01-02", "2024-01-02") == Window(at(2024, 1, 2), at(2024, 1, 3))
    assert window(None, "2024-02-29") == Window(None, at(2024, 3, 1))


def test_date_times_are_included_to_the_precision_they_are_written_in() -> None:
    assert window("2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z") == Window(at(2024, 1, 2, 3, 4, 5),
                                                                             at(2024, 1, 2, 3, 4, 6))
    assert window(None, "2024-01-02T03:04:05.25Z").end == at(2024, 1, 2, 3, 4, 5, 250_001)


def test_offsets_are_converted_to_utc() -> None:
    assert window("2024-01-02T03:04:05+02:00", None).start == at(2024, 1, 2, 1, 4, 5)
    assert window("2024-01-02t03:04:05-01:30", None).start == at(2024, 1, 2, 4, 34, 5)
    # An unencoded `+` in a query string arrives as a space.
    assert window("2024-01-02T03:04:05 02:00", None).start == at(2024, 1, 2, 1, 4, 5)


def test_a_date_and_a_date_time_mix() -> None:
    assert window("2024-01-02T12:00:00Z", "2024-01-02") == Window(at(2024, 1, 2, 12), at(2024, 1, 3))


@pytest.mark.parametrize("value", ["yesterday", "2024-1-2", "2024-02-30", "2024-01-02T25:00:00Z",
                                   "2024-01-02T03:04:05", "2024-01-02 03:04:05Z", "1704164645", ""])
def test_a_bad_value_is_refused_naming_the_parameter(value: str) -> None:
    assert refused(value, None).startswith(f"from_date {value!r} is neither a date")
    assert refused(None, value).startswith(f"to_date {value!r} is neither a date")


def test_from_date_after_to_date_is_refused() -> None:
    assert "from_date 2024-01-03 is after to_date 2024-01-02" in refused("2024-01-03", "2024-01-02")
    assert "from_date" in refused("2024-01-02T03:04:06Z", "2024-01-02T03:04:05Z")
