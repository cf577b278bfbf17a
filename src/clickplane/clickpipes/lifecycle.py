"""The lifecycles of ClickPipes: one table of `(state, event) -> (next state, desired state)` per kind of pipe.

The states are the reference's. A database pipe (Postgres CDC) goes Provisioning → Setup → Snapshot → Running (or
Completed, for a snapshot-only one); `stop` pauses it (Pausing → Paused), an edit of its mappings goes through
Modifying, a resync through Resync. An object-storage pipe goes Provisioning → Running, and Completed once a
one-shot load is done; `stop` ends in Stopped. Both:
- commands: `start` (only from Stopped, Paused or Failed: "ClickPipe is already running" otherwise, the 400
  Terraform matches), `stop` (from any state), `resync` (database pipes, any state), `edit` (a database pipe's
  mappings or sync settings: only while paused, the 400 Terraform retries on), `delete` (any state; shown
  Stopping until what the pipe made in its source is gone, then 404);
- observations, written by the pipe's controller: `set_up`, `snapshotting`, `swapping`, `streaming`, `halted`,
  `completed`, `failed`.
"""

from __future__ import annotations

from typing import Literal, get_args

from clickplane.kit.enums import ClickPipeDesiredState, ClickPipeState
from clickplane.kit.errors import BadRequest
from clickplane.kit.lifecycle import LifecycleTable, Refusal, Transition

Command = Literal["start", "stop", "resync", "edit", "delete"]
Observed = Literal["set_up", "snapshotting", "swapping", "streaming", "halted", "completed", "failed"]
Event = Command | Observed
Table = LifecycleTable[ClickPipeState, ClickPipeDesiredState, Event]
PipeTransition = Transition[ClickPipeState, ClickPipeDesiredState]

ALL_STATES: frozenset[ClickPipeState] = frozenset(get_args(ClickPipeState))
ALREADY_RUNNING = Refusal("ClickPipe is already running", BadRequest)
_NOTHING: PipeTransition = Transition(None)
_DELETE: PipeTransition = Transition("Stopping", "deleted")

# What a running database pipe passes through; `start` there is refused.
DATABASE_MOVING: frozenset[ClickPipeState] = frozenset({"Provisioning", "Setup", "Snapshot", "Running", "Modifying",
                                                        "Resync"})
DATABASE_PIPES: Table = LifecycleTable("ClickPipe", (
    ("start", frozenset({"Paused", "Pausing", "Stopped", "Failed"}), Transition("Provisioning", "running")),
    ("start", frozenset({"Completed"}), Refusal("ClickPipe has completed its snapshot; resync it to load the tables "
                                                "again", BadRequest)),
    ("start", ALL_STATES, ALREADY_RUNNING),
    ("stop", frozenset({"Paused", "Pausing"}), _NOTHING),
    ("stop", ALL_STATES, Transition("Pausing", "stopped")),
    ("resync", ALL_STATES, Transition("Resync", "running")),
    ("edit", frozenset({"Paused"}), Transition("Modifying", "running")),  # the edit resumes it, as the real API does
    ("edit", ALL_STATES, Refusal("Postgres ClickPipe must be paused to edit", BadRequest)),
    ("delete", ALL_STATES, _DELETE),
    ("set_up", ALL_STATES, Transition("Setup")),
    ("snapshotting", ALL_STATES, Transition("Snapshot")),
    ("swapping", ALL_STATES, Transition("Resync")),
    ("streaming", ALL_STATES, Transition("Running")),
    ("halted", ALL_STATES, Transition("Paused")),
    ("completed", ALL_STATES, Transition("Completed")),
    ("failed", ALL_STATES, Transition("Failed")),
))

OBJECT_STORAGE_PIPES: Table = LifecycleTable("ClickPipe", (
    ("start", frozenset({"Stopped", "Stopping", "Failed"}), Transition("Provisioning", "running")),
    ("start", frozenset({"Completed"}), Refusal("ClickPipe has completed: a one-shot pipe loads its files once; "
                                                "create one with isContinuous to keep loading new files",
                                                BadRequest)),
    ("start", ALL_STATES, ALREADY_RUNNING),
    ("stop", frozenset({"Stopped", "Stopping"}), _NOTHING),
    ("stop", ALL_STATES, Transition("Stopping", "stopped")),
    ("resync", ALL_STATES, Refusal("resync is for database ClickPipes (Postgres); an object-storage pipe loads "
                                   "each file once: delete it and create it again to load every file anew",
                                   BadRequest)),
    ("edit", ALL_STATES, _NOTHING),
    ("delete", ALL_STATES, _DELETE),
    ("streaming", ALL_STATES, Transition("Running")),
    ("halted", ALL_STATES, Transition("Stopped")),
    ("completed", ALL_STATES, Transition("Completed")),
    ("failed", ALL_STATES, Transition("Failed")),
))

TABLES: dict[str, Table] = {"postgres": DATABASE_PIPES, "objectStorage": OBJECT_STORAGE_PIPES}


def table_of(kind: str) -> Table:
    return TABLES[kind]
