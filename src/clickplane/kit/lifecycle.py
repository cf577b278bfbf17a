"""The machinery of a lifecycle table, shared by every kind of resource that has one.

A kind's table is a tuple of rows `(event, states, outcome)`: in any of `states`, `event` leads to `outcome`, a
`Transition` (the state shown from now on and the intent handed to the reconciler) or a `Refusal` (what to do
instead). The first row that matches wins; an event with no row for a state changes nothing. Each kind keeps its
table, its states and its events in its own package (services/lifecycle.py, postgres/lifecycle.py).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from clickplane.kit.errors import ApiError, Conflict

State = TypeVar("State", bound=str)
Desired = TypeVar("Desired", bound=str)
Event = TypeVar("Event", bound=Hashable)


@dataclass(frozen=True)
class Transition(Generic[State, Desired]):
    """The state shown from now on, and the intent handed to the reconciler (None: unchanged)."""

    state: State | None
    desired_state: Desired | None = None


@dataclass(frozen=True)
class Refusal:
    """A command refused in a state: 409 with the state and `advice`, or, with `error`, that error with `advice`
    as its whole text (where clients match the reference's words, such as ClickPipes' 400s)."""

    advice: str
    error: type[ApiError] | None = None


class LifecycleTable(Generic[State, Desired, Event]):
    def __init__(self, noun: str, rows: tuple[tuple[Event, frozenset[State], Transition[State, Desired] | Refusal],
                                             ...]) -> None:
        self.noun = noun  # how a refusal names the resource: "service", "Postgres service"
        self.rows = rows

    def outcome(self, state: State, event: Event) -> Transition[State, Desired] | Refusal | None:
        """What `event` leads to from `state`; None when the table has no row for it (nothing happens)."""
        return next((result for row_event, states, result in self.rows if row_event == event and state in states),
                    None)

    def apply(self, state: State, event: Event) -> Transition[State, Desired] | None:
        """The transition `event` makes from `state`, None when it has nothing to do; raises Conflict for a
        refused command."""
        result = self.outcome(state, event)
        if isinstance(result, Refusal) and result.error is not None:
            raise result.error(result.advice)
        if isinstance(result, Refusal):
            raise Conflict(f"{self.noun} is {state}; {result.advice}. Current state: '{state}'")
        if result is None or result == Transition(None):
            return None
        return result

    @staticmethod
    def values(transition: Transition[State, Desired] | None) -> dict[str, str]:
        """The columns a transition writes (those it sets)."""
        if transition is None:
            return {}
        values: dict[str, str] = {}
        if transition.state is not None:
            values["state"] = transition.state
        if transition.desired_state is not None:
            values["desired_state"] = transition.desired_state
        return values
