"""The files of a switchover, which moves a service onto a new server (blocking: call these in a thread).

A service with no standby is switched over as the real service does it: a new server is made, a successor that
streams the primary's WAL from a copy of its cluster, on a port of its own, in `successor/` (paths.py). Once it
streams, the primary is stopped: a clean shutdown sends its last WAL, up to its shutdown checkpoint, to every
standby. The successor, holding all of it, is stopped too, marked `taking-over`, and its cluster moved into the
primary's place; it starts there on the service's port, recovering from its own WAL without a signal file: a primary
that goes on from where the old one stopped, on the same timeline, so that base backups and archived WAL from
before the switchover still restore to any moment. The old cluster is then removed.

What a control plane that died midway leaves is settled at the service's next start (`settle`): a successor not
taking over is removed (the primary was not touched, or is started again as it was), one taking over is moved into
place.
"""

from __future__ import annotations

import re
import shutil

from clickplane.runtime.postgres import origin
from clickplane.runtime.postgres.paths import ServicePaths
from clickplane.runtime.postgres.server_user import ServerUser

_CLUSTER_STATE = re.compile(r"^Database cluster state:\s+(?P<state>.+)$", re.MULTILINE)
_LATEST_CHECKPOINT = re.compile(r"^Latest checkpoint location:\s+(?P<lsn>[0-9A-F]+/[0-9A-F]+)$", re.MULTILINE)
_REPLICATION_SLOTS = "pg_replslot"


def shutdown_checkpoint(controldata: str) -> str | None:
    """The location of the shutdown checkpoint of a cluster cleanly shut down, from what `pg_controldata` prints;
    None for one that was not (it crashed or was killed: its last WAL may not have reached any standby)."""
    state = _CLUSTER_STATE.search(controldata)
    checkpoint = _LATEST_CHECKPOINT.search(controldata)
    if state is None or checkpoint is None or state["state"].strip() != "shut down":
        return None
    return checkpoint["lsn"]


def prepare_take_over(paths: ServicePaths, user: ServerUser) -> None:
    """Make the stopped successor, which holds all of the primary's WAL, the service's cluster to be: a primary
    (no standby signal), with the replication slots of the service's read replicas (copied from the old cluster: the
    same WAL positions mean the same on the same timeline), then marked as taking over."""
    successor = paths.successor
    successor.standby_signal.unlink(missing_ok=True)
    old_slots = paths.data / _REPLICATION_SLOTS
    for slot in sorted(old_slots.iterdir()) if old_slots.is_dir() else []:
        if origin.replica_of_slot(slot.name) is not None:
            copied = successor.data / _REPLICATION_SLOTS / slot.name
            shutil.rmtree(copied, ignore_errors=True)
            shutil.copytree(slot, copied)
            for each in (copied, *copied.iterdir()):
                user.own(each)
    successor.taking_over.touch()


def take_over(paths: ServicePaths) -> None:
    """Move the successor's cluster into the primary's place and remove the old one, the successor's directory
    with it; each step can be redone after a crash during an earlier one."""
    successor = paths.successor
    if successor.data.is_dir():
        if paths.data.is_dir():
            shutil.rmtree(paths.replaced_data, ignore_errors=True)
            paths.data.rename(paths.replaced_data)
        successor.data.rename(paths.data)
    shutil.rmtree(paths.replaced_data, ignore_errors=True)
    shutil.rmtree(successor.root, ignore_errors=True)


def taking_over(paths: ServicePaths) -> bool:
    return paths.successor.taking_over.exists()


def abandon(paths: ServicePaths) -> None:
    """Remove a successor that is not taking over (its server stopped first)."""
    shutil.rmtree(paths.successor.root, ignore_errors=True)
