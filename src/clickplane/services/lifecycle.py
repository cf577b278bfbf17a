"""The service state machine: which command is allowed from which state, and what it asks for.

A service has an observed `state` (the reference's 14 values, written by the reconciler) and a
`desired_state` (running, stopped, idle or deleted: the intent). A command checks the observed state,
then records a new intent and the state to show until the reconciler reports back. Every refusal says
what the service is doing and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import Conflict

# States in which the service's server is up, or on its way up.
UP = frozenset({"running", "starting", "awaking", "provisioning", "partially_running", "degraded"})
# States from which a service may be deleted: nothing is serving, or it never got going.
DELETABLE = frozenset({"stopped", "idle", "failed", "provisioning", "terminated"})


@dataclass(frozen=True)
class Transition:
    """What a command leads to: the state shown now and the intent handed to the reconciler."""

    state: str
    desired_state: str


def _refuse(state: str, advice: str) -> Conflict:
    return Conflict(f"service is {state}; {advice}. Current state: '{state}'")


def _start(state: str) -> Transition | None:
    if state in UP:
        return None  # already running or on its way
    if state == "stopping":
        raise _refuse(state, "wait until it is stopped, then start it")
    if state == "terminating":
        raise _refuse(state, "it is being deleted and cannot be started")
    return Transition("awaking" if state == "idle" else "starting", "running")


def _stop(state: str) -> Transition | None:
    if state in ("stopped", "stopping"):
        return None
    if state == "terminating":
        raise _refuse(state, "it is being deleted")
    if state == "idle":
        return Transition("stopped", "stopped")  # nothing runs; only the intent changes
    return Transition("stopping", "stopped")


def _awake(state: str) -> Transition | None:
    if state == "idle":
        return Transition("awaking", "running")
    if state in UP:
        return None
    if state in ("stopped", "failed"):
        raise _refuse(state, "only an idle service can be woken; start it instead")
    raise _refuse(state, "wait until it is stopped or idle")


COMMANDS = {"start": _start, "stop": _stop, "awake": _awake}
COMMAND_ACTIVITIES: dict[str, RecordedActivityType] = {
    "start": "service_start", "stop": "service_stop", "awake": "service_awaken"}


def apply_command(state: str, command: str) -> Transition | None:
    """The transition `command` makes from `state`, None when it has nothing to do; raises Conflict."""
    return COMMANDS[command](state)


def delete(state: str) -> Transition | None:
    """Deleting is allowed once nothing serves; None when a delete is already under way."""
    if state == "terminating":
        return None
    if state not in DELETABLE:
        raise _refuse(state, "stop it first")
    return Transition("terminating", "deleted")
