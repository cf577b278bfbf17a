"""The lifecycle of a ClickHouse service: one table of `(state, event) -> (next state, desired state)`.

A service has an observed `state` (the reference's 14 values) and a `desired_state` (the intent: running,
stopped, idle or deleted). Events come from two sides, and both read this table:
- the API's commands (`start`, `stop`, `awake`, `delete`) record a new intent and the state to show until the
  reconciler reports back; a refusal says what the service is doing and what to do instead;
- the reconciler's observations (`came_up`, `halted`, `went_idle`, `died`, `gave_up`, `timed_out_idle`,
  `removed`) record what happened to the server.

An event absent for a state changes nothing (a command already under way, a server already up).
"""

from __future__ import annotations

from typing import Literal, get_args

from clickplane.kit.enums import DesiredState, RecordedActivityType, ServiceState
from clickplane.kit.lifecycle import LifecycleTable, Refusal, Transition
from clickplane.store.models import Service

Command = Literal["start", "stop", "awake", "delete"]
Observed = Literal["came_up", "halted", "went_idle", "died", "gave_up", "timed_out_idle", "removed"]
Event = Command | Observed

# States in which the service's server is up, or on its way up.
UP: frozenset[ServiceState] = frozenset({"running", "starting", "awaking", "provisioning", "partially_running",
                                         "degraded"})
# On its way up: a query waits for these to end in running.
STARTING: frozenset[ServiceState] = frozenset({"starting", "awaking", "provisioning"})
# States from which a service may be deleted: nothing is serving, or it never got going.
DELETABLE: frozenset[ServiceState] = frozenset({"stopped", "idle", "failed", "provisioning", "terminated"})
ALL_STATES: frozenset[ServiceState] = frozenset(get_args(ServiceState))
# What the observed state settles at once the reconciler has reached each intent.
SETTLED: dict[DesiredState, ServiceState] = {"running": "running", "stopped": "stopped", "idle": "idle"}


ServiceTransition = Transition[ServiceState, DesiredState]
Outcome = ServiceTransition | Refusal
# A row: the event, the states it applies in, and what it leads to. The first row that matches wins.
Row = tuple[Event, frozenset[ServiceState], Outcome]
_NOTHING: Outcome = Transition(None)  # allowed, with nothing to do


def _states(*states: ServiceState) -> frozenset[ServiceState]:
    return frozenset(states)


ROWS: tuple[Row, ...] = (
    # The API's commands.
    ("start", UP, _NOTHING),
    ("start", _states("stopping"), Refusal("wait until it is stopped, then start it")),
    ("start", _states("terminating"), Refusal("it is being deleted and cannot be started")),
    ("start", _states("idle"), Transition("awaking", "running")),
    ("start", ALL_STATES, Transition("starting", "running")),
    ("stop", _states("stopped", "stopping"), _NOTHING),
    ("stop", _states("terminating"), Refusal("it is being deleted")),
    ("stop", _states("idle"), Transition("stopped", "stopped")),  # nothing runs; only the intent changes
    ("stop", ALL_STATES, Transition("stopping", "stopped")),
    ("awake", _states("idle"), Transition("awaking", "running")),
    ("awake", UP, _NOTHING),
    ("awake", _states("stopped", "failed"), Refusal("only an idle service can be woken; start it instead")),
    ("awake", ALL_STATES, Refusal("wait until it is stopped or idle")),
    ("delete", _states("terminating"), _NOTHING),
    ("delete", DELETABLE, Transition("terminating", "deleted")),
    ("delete", ALL_STATES, Refusal("stop it first")),
    # What the reconciler sees.
    ("came_up", ALL_STATES - {"terminating"}, Transition("running")),
    ("halted", ALL_STATES - {"terminating"}, Transition("stopped")),
    ("went_idle", ALL_STATES - {"terminating"}, Transition("idle")),
    ("died", UP, Transition("degraded")),
    ("gave_up", ALL_STATES, Transition("failed")),  # a delete that fails too: it waits for a new request
    ("timed_out_idle", _states("running"), Transition("stopping", "idle")),
    ("removed", _states("terminating"), Transition("terminated")),
)

# The activity an API command records when it changes something.
COMMAND_ACTIVITIES: dict[Command, RecordedActivityType] = {
    "start": "service_start", "stop": "service_stop", "awake": "service_awaken", "delete": "service_delete"}


TABLE: LifecycleTable[ServiceState, DesiredState, Event] = LifecycleTable("service", ROWS)
outcome = TABLE.outcome
apply = TABLE.apply


def enter(service: Service, transition: ServiceTransition) -> None:
    """Write the transition's state and intent (those it sets) to the service."""
    if transition.state is not None:
        service.state = transition.state
    if transition.desired_state is not None:
        service.desired_state = transition.desired_state
