"""An alert's threshold: whether a window's value violates it (HyperDX checkAlerts `doesExceedThreshold`), and the
words a notification uses for it (HyperDX checkAlerts/template.ts).

`above` is inclusive (a value equal to the threshold fires), `above_exclusive` is not; `between` includes both
bounds and `not_between` is everything outside them. Equality is exact, as in HyperDX."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

THRESHOLD_TYPES = ("above", "above_exclusive", "below", "below_or_equal", "equal", "not_equal", "between",
                   "not_between")
RANGE_TYPES = ("between", "not_between")

# What a violating value does, then what a clean one does, as HyperDX words them.
VERBS = {
    "above": ("meets or exceeds", "falls below"),
    "above_exclusive": ("exceeds", "falls to or below"),
    "below": ("falls below", "meets or exceeds"),
    "below_or_equal": ("falls to or below", "exceeds"),
    "equal": ("equals", "does not equal"),
    "not_equal": ("does not equal", "equals"),
    "between": ("falls between", "falls outside"),
    "not_between": ("falls outside", "falls between"),
}

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "above": operator.ge,
    "above_exclusive": operator.gt,
    "below": operator.lt,
    "below_or_equal": operator.le,
    "equal": operator.eq,
    "not_equal": operator.ne,
}

# JavaScript writes integral numbers below this without an exponent and without ".0"; so does format_number.
_PLAIN_INTEGER_LIMIT = 1e21


def violates(value: float, threshold_type: str, threshold: float, threshold_max: float | None) -> bool:
    """Whether a window's value violates the threshold (and so the alert fires, or goes on firing)."""
    if threshold_type in RANGE_TYPES:
        upper = _upper(threshold_type, threshold_max)
        inside = threshold <= value <= upper
        return inside if threshold_type == "between" else not inside
    compare = COMPARISONS.get(threshold_type)
    if compare is None:
        raise ValueError(f"unknown threshold type {threshold_type!r}; one of {', '.join(THRESHOLD_TYPES)}")
    return compare(value, threshold)


def verb(threshold_type: str, *, violated: bool = True) -> str:
    """What a value does to the threshold: "meets or exceeds" for a violating value of an `above` alert, "falls
    below" for a clean one."""
    try:
        when_violated, when_clean = VERBS[threshold_type]
    except KeyError:
        raise ValueError(f"unknown threshold type {threshold_type!r}; one of {', '.join(THRESHOLD_TYPES)}") from None
    return when_violated if violated else when_clean


def bounds(threshold_type: str, threshold: float, threshold_max: float | None) -> str:
    """The threshold as a notification writes it: "5", or "5 and 10" for a range."""
    if threshold_type in RANGE_TYPES:
        return f"{format_number(threshold)} and {format_number(_upper(threshold_type, threshold_max))}"
    return format_number(threshold)


def describe(threshold_type: str, threshold: float, threshold_max: float | None, *, violated: bool = True) -> str:
    """The value's relation to the threshold, as titles write it: "meets or exceeds 5", "falls between 5 and 10";
    with violated=False, what a clean value does instead ("falls below 5")."""
    return f"{verb(threshold_type, violated=violated)} {bounds(threshold_type, threshold, threshold_max)}"


def format_number(number: float) -> str:
    """A number as HyperDX's messages print one (JavaScript's way): 5 rather than 5.0, 2.5 as 2.5."""
    if isinstance(number, float) and math.isfinite(number) and number.is_integer() \
            and abs(number) < _PLAIN_INTEGER_LIMIT:
        return str(int(number))
    return str(number)


def _upper(threshold_type: str, threshold_max: float | None) -> float:
    if threshold_max is None:
        raise ValueError(f"thresholdMax is required for threshold type {threshold_type!r}")
    return threshold_max
