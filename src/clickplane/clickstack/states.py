"""An alert's state machine, one window at a time (HyperDX checkAlerts `processAlert`).

- A violating window is ALERT, or PENDING while `numConsecutiveWindows` = N > 1 and the N-1 windows before it
  were not all ALERT or PENDING. Every ALERT window notifies: an alert re-notifies each window it goes on
  violating.
- A clean window is OK. It notifies once, "resolved", when it ends a run of ALERT or PENDING windows in which a
  notification was sent; a run that only ever was PENDING told no one, so it resolves silently.

The history is one group's (the caller keeps a history per group); its states are the ones this returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

AlertState = Literal["ALERT", "PENDING", "OK"]
NotificationState = Literal["ALERT", "OK"]
FIRING = ("ALERT", "PENDING")


@dataclass(frozen=True)
class Step:
    """The state a window leads to, and the notification it sends: ALERT, OK (resolved) or none."""

    state: AlertState
    notify: NotificationState | None


def next_state(history: Sequence[str], violating: bool, consecutive_windows: int = 1) -> Step:
    """The state of the window after `history` (the group's earlier windows' states, oldest first).

    The history needs the last N-1 states to decide on ALERT; to decide on resolving it needs the run of ALERT
    and PENDING states back to its first ALERT, which, with N fixed, lies within the last N states (N-1 PENDING
    windows in a row are followed by an ALERT one)."""
    if consecutive_windows < 1:
        raise ValueError("numConsecutiveWindows must be at least 1")
    if violating:
        if _long_enough(history, consecutive_windows):
            return Step("ALERT", "ALERT")
        return Step("PENDING", None)
    return Step("OK", "OK" if _notified(history) else None)


def _long_enough(history: Sequence[str], consecutive_windows: int) -> bool:
    """Whether the N-1 windows before this one were all ALERT or PENDING."""
    needed = consecutive_windows - 1
    before = history[len(history) - needed:] if needed else ()
    return len(before) == needed and all(state in FIRING for state in before)


def _notified(history: Sequence[str]) -> bool:
    """Whether the run of ALERT and PENDING windows that the history ends with holds an ALERT one, which sent a
    notification that a resolved one must now follow."""
    for state in reversed(history):
        if state == "ALERT":
            return True
        if state != "PENDING":
            return False
    return False
