"""The service lifecycle table: every command from every state, and what the reconciler's observations do."""

from __future__ import annotations

from typing import get_args

import pytest

from clickplane.kit.enums import ServiceState
from clickplane.kit.errors import Conflict
from clickplane.services import lifecycle
from clickplane.services.lifecycle import Transition

STATES: tuple[ServiceState, ...] = get_args(ServiceState)

# Written out, independently of the table: (state, command) -> next (state, desired), None for nothing to do,
# or the refusal's advice.
EXPECTED_COMMANDS: dict[tuple[str, str], tuple[str, str] | str | None] = {
    **{(state, "start"): None for state in lifecycle.UP},
    ("stopping", "start"): "wait until it is stopped, then start it",
    ("terminating", "start"): "it is being deleted and cannot be started",
    ("idle", "start"): ("awaking", "running"),
    **{(state, "start"): ("starting", "running") for state in ("stopped", "failed", "terminated", "softdeleting",
                                                                "softdeleted")},
    ("stopped", "stop"): None, ("stopping", "stop"): None,
    ("terminating", "stop"): "it is being deleted",
    ("idle", "stop"): ("stopped", "stopped"),
    **{(state, "stop"): ("stopping", "stopped") for state in (*lifecycle.UP, "failed", "terminated", "softdeleting",
                                                               "softdeleted")},
    ("idle", "awake"): ("awaking", "running"),
    **{(state, "awake"): None for state in lifecycle.UP},
    ("stopped", "awake"): "only an idle service can be woken; start it instead",
    ("failed", "awake"): "only an idle service can be woken; start it instead",
    **{(state, "awake"): "wait until it is stopped or idle" for state in ("stopping", "terminating", "terminated",
                                                                           "softdeleting", "softdeleted")},
    ("terminating", "delete"): None,
    **{(state, "delete"): ("terminating", "deleted") for state in lifecycle.DELETABLE},
    **{(state, "delete"): "stop it first" for state in (*lifecycle.UP - {"provisioning"}, "stopping", "softdeleting",
                                                         "softdeleted")},
}


@pytest.mark.parametrize("command", ["start", "stop", "awake", "delete"])
@pytest.mark.parametrize("state", STATES)
def test_every_command_from_every_state(state: ServiceState, command: lifecycle.Command) -> None:
    expected = EXPECTED_COMMANDS[state, command]
    if isinstance(expected, str):
        with pytest.raises(Conflict) as refused:
            lifecycle.apply(state, command)
        assert refused.value.message == f"service is {state}; {expected}. Current state: '{state}'"
        return
    transition = lifecycle.apply(state, command)
    assert transition == (Transition(*expected) if expected else None)


def test_the_reconcilers_observations() -> None:
    assert lifecycle.apply("starting", "came_up") == Transition("running")
    assert lifecycle.apply("stopping", "halted") == Transition("stopped")
    assert lifecycle.apply("stopping", "went_idle") == Transition("idle")
    assert lifecycle.apply("running", "died") == Transition("degraded")
    assert lifecycle.apply("stopped", "died") is None  # nothing was serving
    assert lifecycle.apply("degraded", "gave_up") == Transition("failed")
    assert lifecycle.apply("running", "timed_out_idle") == Transition("stopping", "idle")
    assert lifecycle.apply("stopped", "timed_out_idle") is None
    assert lifecycle.apply("terminating", "removed") == Transition("terminated")
    assert lifecycle.apply("terminating", "gave_up") == Transition("failed")  # a delete failed
    # A service being deleted is not brought back by a late observation.
    for late in ("came_up", "halted", "went_idle"):
        assert lifecycle.apply("terminating", late) is None


def test_every_settled_intent_is_reached_by_an_observation() -> None:
    reached = {"running": "came_up", "stopped": "halted", "idle": "went_idle"}
    for desired, state in lifecycle.SETTLED.items():
        transition = lifecycle.apply("starting", reached[desired])
        assert transition is not None
        assert transition.state == state
