"""Alert thresholds (clickstack/thresholds.py): each type's comparison at, below and above its bounds, and the
wording notifications use."""

from __future__ import annotations

import pytest

from clickplane.clickstack.thresholds import THRESHOLD_TYPES, bounds, describe, format_number, verb, violates

# (type, threshold, thresholdMax, value, violates): each type at its bound and on both sides of it.
CASES = [
    ("above", 5, None, 4.99, False), ("above", 5, None, 5, True), ("above", 5, None, 6, True),
    ("above_exclusive", 5, None, 5, False), ("above_exclusive", 5, None, 5.01, True),
    ("below", 5, None, 4.99, True), ("below", 5, None, 5, False), ("below", 5, None, 6, False),
    ("below_or_equal", 5, None, 5, True), ("below_or_equal", 5, None, 5.01, False),
    ("equal", 5, None, 5, True), ("equal", 5, None, 5.000001, False),
    ("not_equal", 5, None, 5, False), ("not_equal", 5, None, 4, True),
    ("between", 5, 10, 4.99, False), ("between", 5, 10, 5, True), ("between", 5, 10, 7, True),
    ("between", 5, 10, 10, True), ("between", 5, 10, 10.01, False),
    ("not_between", 5, 10, 4.99, True), ("not_between", 5, 10, 5, False), ("not_between", 5, 10, 10, False),
    ("not_between", 5, 10, 10.01, True),
    ("above", 0, None, 0, True),  # a count of zero fires an `above 0` alert: HyperDX's ≥
]


@pytest.mark.parametrize(("threshold_type", "threshold", "upper", "value", "expected"), CASES)
def test_violates(threshold_type: str, threshold: float, upper: float | None, value: float, expected: bool) -> None:
    assert violates(value, threshold_type, threshold, upper) is expected


@pytest.mark.parametrize("threshold_type", ["between", "not_between"])
def test_a_range_needs_its_upper_bound(threshold_type: str) -> None:
    with pytest.raises(ValueError, match="thresholdMax is required"):
        violates(7, threshold_type, 5, None)


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown threshold type 'over'"):
        violates(7, "over", 5, None)
    with pytest.raises(ValueError, match="unknown threshold type 'over'"):
        describe("over", 5, None)


@pytest.mark.parametrize(("threshold_type", "upper", "violated", "clean"), [
    ("above", None, "meets or exceeds 5", "falls below 5"),
    ("above_exclusive", None, "exceeds 5", "falls to or below 5"),
    ("below", None, "falls below 5", "meets or exceeds 5"),
    ("below_or_equal", None, "falls to or below 5", "exceeds 5"),
    ("equal", None, "equals 5", "does not equal 5"),
    ("not_equal", None, "does not equal 5", "equals 5"),
    ("between", 10, "falls between 5 and 10", "falls outside 5 and 10"),
    ("not_between", 10, "falls outside 5 and 10", "falls between 5 and 10"),
])
def test_describe_in_hyperdx_words(threshold_type: str, upper: float | None, violated: str, clean: str) -> None:
    assert describe(threshold_type, 5, upper) == violated
    assert describe(threshold_type, 5, upper, violated=False) == clean


def test_every_type_has_words() -> None:
    assert all(verb(threshold_type) != verb(threshold_type, violated=False) for threshold_type in THRESHOLD_TYPES)


def test_bounds_write_numbers_as_javascript_does() -> None:
    assert bounds("above", 5.0, None) == "5"
    assert bounds("between", 0.5, 2.0) == "0.5 and 2"


@pytest.mark.parametrize(("number", "written"), [(5, "5"), (5.0, "5"), (-3.0, "-3"), (2.5, "2.5"), (0.1, "0.1"),
                                                 (1e21, "1e+21")])
def test_format_number(number: float, written: str) -> None:
    assert format_number(number) == written
