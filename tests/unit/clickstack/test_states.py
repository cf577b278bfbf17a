"""The alert state machine (clickstack/states.py): ALERT and PENDING with numConsecutiveWindows, a notification
for each ALERT window, and exactly one resolved notification after a notified run."""

from __future__ import annotations

import pytest

from clickplane.clickstack.states import Step, next_state


def run(violations: list[bool], consecutive_windows: int = 1, history: list[str] | None = None) -> list[Step]:
    """The steps of a sequence of windows, each fed the states before it, as the controller feeds them."""
    states = list(history or [])
    steps = []
    for violating in violations:
        step = next_state(states, violating, consecutive_windows)
        states.append(step.state)
        steps.append(step)
    return steps


def test_a_clean_window_with_no_history_is_ok_and_silent() -> None:
    assert next_state([], False, 1) == Step("OK", None)


def test_a_violating_window_alerts_at_once_with_one_window() -> None:
    assert next_state([], True, 1) == Step("ALERT", "ALERT")


def test_an_alert_renotifies_every_window_it_goes_on_violating() -> None:
    assert run([True, True, True]) == [Step("ALERT", "ALERT")] * 3


def test_one_resolved_notification_then_silence() -> None:
    assert run([True, False, False, False]) == [
        Step("ALERT", "ALERT"), Step("OK", "OK"), Step("OK", None), Step("OK", None)]


def test_consecutive_windows_hold_the_alert_pending_first() -> None:
    assert run([True, True, True, True], consecutive_windows=3) == [
        Step("PENDING", None), Step("PENDING", None), Step("ALERT", "ALERT"), Step("ALERT", "ALERT")]


def test_a_pending_run_that_never_alerted_resolves_silently() -> None:
    assert run([True, True, False], consecutive_windows=3) == [
        Step("PENDING", None), Step("PENDING", None), Step("OK", None)]


def test_a_clean_window_restarts_the_count() -> None:
    steps = run([True, False, True, True, True], consecutive_windows=3)
    assert [step.state for step in steps] == ["PENDING", "OK", "PENDING", "PENDING", "ALERT"]


def test_an_alert_resolves_once_after_consecutive_windows() -> None:
    steps = run([True, True, True, False, False], consecutive_windows=2)
    assert steps == [Step("PENDING", None), Step("ALERT", "ALERT"), Step("ALERT", "ALERT"), Step("OK", "OK"),
                     Step("OK", None)]


def test_pending_after_a_notification_resolves_with_a_notification() -> None:
    # The alert fired with one window, then its numConsecutiveWindows was raised: the run goes on PENDING, and
    # its end must still tell the receiver, which was told it fired.
    steps = run([True, False], consecutive_windows=3, history=["OK", "ALERT"])
    assert steps == [Step("PENDING", None), Step("OK", "OK")]


def test_only_the_last_windows_count_toward_consecutive() -> None:
    assert next_state(["ALERT", "OK", "PENDING"], True, 3) == Step("PENDING", None)
    assert next_state(["OK", "PENDING", "PENDING"], True, 3) == Step("ALERT", "ALERT")


def test_a_history_shorter_than_the_windows_needed_is_pending() -> None:
    assert next_state(["PENDING"], True, 3) == Step("PENDING", None)


def test_fewer_than_one_consecutive_window_is_refused() -> None:
    with pytest.raises(ValueError, match="numConsecutiveWindows"):
        next_state([], True, 0)
