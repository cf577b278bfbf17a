"""The lifecycle of a Postgres service: one table of `(state, event) -> (next state, desired state)`.

The states are the reference's. A service is asked to be running (from its create on) or deleted; the API's
commands and the reconciler's observations both read this table:
- commands: `restart`, `switchover` (a primary's, onto a new server: a restart as far as states go) and `promote`
  (a replica's), only while running, as the real service allows; `delete` (from any state);
- observations: `restoring` (a restore's base backup is being copied), `replaying` (its server replays WAL up to
  the target), `came_up` (its server accepts connections, a restore's recovery done), `died` (it stopped doing so),
  `gave_up` (it could not be started: unavailable, tried again later), `halted` (stopped by an operator command),
  `removed` (its deletion is done).
"""

from __future__ import annotations

from typing import Literal, get_args

from clickplane.kit.enums import PostgresDesiredState, PostgresState
from clickplane.kit.lifecycle import LifecycleTable, Refusal, Transition

Command = Literal["restart", "switchover", "promote", "delete"]
Observed = Literal["restoring", "replaying", "came_up", "died", "gave_up", "halted", "removed"]
Event = Command | Observed

ALL_STATES: frozenset[PostgresState] = frozenset(get_args(PostgresState))
# On its way up: the server is being created, restored or restarted.
STARTING: frozenset[PostgresState] = frozenset({"creating", "restarting", "restoring_backup", "replaying_wal",
                                                "finalizing_restore"})
PostgresTransition = Transition[PostgresState, PostgresDesiredState]
_NOTHING: PostgresTransition = Transition(None)
_ALIVE = ALL_STATES - {"deleting"}

TABLE: LifecycleTable[PostgresState, PostgresDesiredState, Event] = LifecycleTable("Postgres service", (
    ("restart", frozenset({"running"}), Transition("restarting", "running")),
    ("restart", frozenset({"restarting"}), _NOTHING),
    ("restart", frozenset({"deleting"}), Refusal("it is being deleted")),
    ("restart", ALL_STATES, Refusal("a service is restarted only while it is running; wait until it is")),
    ("switchover", frozenset({"running"}), Transition("restarting", "running")),
    ("switchover", frozenset({"deleting"}), Refusal("it is being deleted")),
    ("switchover", ALL_STATES, Refusal("a service is switched over only while it is running; wait until it is")),
    ("promote", frozenset({"running"}), _NOTHING),  # the service stays running; isPrimary turns true once done
    ("promote", frozenset({"deleting"}), Refusal("it is being deleted")),
    ("promote", ALL_STATES, Refusal("a replica is promoted only while it is running; wait until it is")),
    ("delete", frozenset({"deleting"}), _NOTHING),
    ("delete", ALL_STATES, Transition("deleting", "deleted")),
    ("restoring", _ALIVE, Transition("restoring_backup")),
    ("replaying", _ALIVE, Transition("replaying_wal")),
    ("came_up", _ALIVE, Transition("running")),
    ("died", frozenset({"running", "restarting"}), Transition("unavailable")),
    ("gave_up", _ALIVE, Transition("unavailable")),
    ("halted", _ALIVE, Transition("stopped")),
    ("removed", frozenset({"deleting"}), _NOTHING),
))
apply = TABLE.apply
