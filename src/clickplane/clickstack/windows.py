"""An alert's windows: the aligned stretches of time it is evaluated over, as HyperDX lays them out
(checkAlerts `getScheduledWindowStart`).

Windows sit on a grid of the alert's interval counted from the Unix epoch in UTC, so a 5m alert's windows start
at :00, :05, ... The grid is shifted by `scheduleOffsetMinutes` (a 5m alert with offset 2 has windows at :02, :07,
...) or, when `scheduleStartAt` is set, anchored there instead (the offset then counts for nothing). A window is
[start, end): its start is in it, its end is not.

An interval is a name ("5m") or its length in seconds; offsets are in seconds. The controller passes seconds so
that its tests can shrink a minute; everything else passes names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

INTERVAL_SECONDS = {
    "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "6h": 6 * 3600, "12h": 12 * 3600, "1d": 86400,
}  # fmt: skip
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Window = tuple[datetime, datetime]


def interval_seconds(interval: str) -> int:
    """The length of a named alert interval, in seconds."""
    try:
        return INTERVAL_SECONDS[interval]
    except KeyError:
        raise ValueError(f"unknown alert interval {interval!r}; one of {', '.join(INTERVAL_SECONDS)}") from None


def window_start(now: datetime, interval: str | int, offset_seconds: int = 0,
                 start_at: datetime | None = None) -> datetime:
    """The grid point at or before `now`: where the window that holds `now` starts, which is where the newest
    closed window ends. Before `start_at`, it is `start_at` itself (no window has closed yet)."""
    step = _step(interval)
    _check_aware(now, "now")
    if start_at is not None:
        _check_aware(start_at, "start_at")
        elapsed = max(now - start_at, timedelta(0))
        return (start_at + (elapsed // step) * step).astimezone(UTC)
    # HyperDX folds an offset of a whole interval or more back into one interval, and ignores a negative one.
    offset = timedelta(seconds=max(0, offset_seconds)) % step
    return EPOCH + offset + ((now - EPOCH - offset) // step) * step


def windows_due(last_evaluated_end: datetime | None, now: datetime, interval: str | int, offset_seconds: int = 0,
                start_at: datetime | None = None, max_backfill: int = 1) -> list[Window]:
    """The closed windows not yet evaluated, oldest first.

    With no history, only the newest closed window: an alert does not judge the time before it existed. After a
    pause (a restart, an idle service), every window closed since `last_evaluated_end`, but at most
    `max_backfill` of them, the newest ones: a long outage must not turn into an unbounded query and a burst of
    stale notifications. When the grid moved (the interval or offset was changed), the first window is the first
    grid window that starts at or after `last_evaluated_end`, so that no time is evaluated twice and no window is
    cut short."""
    if max_backfill < 1:
        raise ValueError("max_backfill must be at least 1")
    step = _step(interval)
    newest_end = window_start(now, interval, offset_seconds, start_at)
    if last_evaluated_end is None:
        first_start = newest_end - step
    else:
        _check_aware(last_evaluated_end, "last_evaluated_end")
        first_start = newest_end - ((newest_end - last_evaluated_end) // step) * step
    first_start = max(first_start, newest_end - max_backfill * step)
    if start_at is not None:
        first_start = max(first_start, start_at)
    count = max(0, (newest_end - first_start) // step)
    return [(first_start + index * step, first_start + (index + 1) * step) for index in range(count)]


def _step(interval: str | int) -> timedelta:
    seconds = interval_seconds(interval) if isinstance(interval, str) else interval
    if seconds < 1:
        raise ValueError(f"an alert interval must be at least one second, not {seconds}")
    return timedelta(seconds=seconds)


def _check_aware(moment: datetime, name: str) -> None:
    # A naive datetime would be read in the machine's zone and shift every window by it.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, not {moment.isoformat()}")
