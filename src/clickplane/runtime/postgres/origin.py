"""What the runtime notes of a cluster copied from another service's, beside it in the service's directory (paths.py).
Blocking: call these in a thread.

- `login-of`: a copy holds its origin's roles, the internal role with its password among them; and a replica, being
  read-only, cannot be given another. The runtime logs in to the copy with the password of the service named there,
  for good (no secret is written: the name suffices to derive it). A copy of a copy names the first origin.
- `replica-of.json`: a replica's primary and its replication slot there, until the replica is promoted: its server
  streams WAL from that primary, and its delete or promotion drops that slot.
- `restore.json`: a restore's source (whose archive its WAL comes from) and where its recovery stops, until its
  recovery is done and the server is a primary of its own.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clickplane.runtime.files import write_atomically
from clickplane.runtime.postgres.paths import ServicePaths
from clickplane.runtime.postgres.wal import RecoveryStop

_SLOT_PREFIX = "replica_"


def login_of(paths: ServicePaths) -> str:
    """The service whose internal password the cluster's internal role has: its own unless it is a copy."""
    try:
        return paths.login_of.read_text().strip() or paths.service_id
    except FileNotFoundError:
        return paths.service_id


def note_login_of(paths: ServicePaths, origin: ServicePaths) -> None:
    write_atomically(paths.login_of, f"{login_of(origin)}\n".encode(), mode=0o644)


@dataclass(frozen=True)
class ReplicaLink:
    primary_id: str
    slot: str


def slot_of(replica_id: str) -> str:
    """The replication slot on its primary of a replica (a slot's name is at most 63 lowercase letters, digits
    and underscores)."""
    return f"{_SLOT_PREFIX}{uuid.UUID(replica_id).hex}"


def replica_of_slot(slot: str) -> str | None:
    """The id of the replica whose slot is `slot`; None for a slot that is no replica's."""
    if not slot.startswith(_SLOT_PREFIX):
        return None
    try:
        return str(uuid.UUID(hex=slot.removeprefix(_SLOT_PREFIX)))
    except ValueError:
        return None


def load_link(paths: ServicePaths) -> ReplicaLink | None:
    """The replica's link; None for a cluster that is no replica. ValueError for a record that cannot be read."""
    with _reading(paths.replica_of) as recorded:
        return ReplicaLink(str(recorded["primary_id"]), str(recorded["slot"])) if recorded is not None else None


def save_link(paths: ServicePaths, link: ReplicaLink) -> None:
    _save(paths.replica_of, asdict(link))


def promoted(paths: ServicePaths) -> ReplicaLink | None:
    """The link of a replica that has been promoted (PostgreSQL removed its standby.signal), which is to go."""
    link = load_link(paths)
    if link is None or not paths.version_file.exists() or paths.standby_signal.exists():
        return None
    return link


@dataclass(frozen=True)
class Restore:
    source_id: str
    stop: RecoveryStop


def load_restore(paths: ServicePaths) -> Restore | None:
    """The restore's record; None for a cluster that is no restore in recovery. ValueError for a record that
    cannot be read (which must not be taken for none: the server would recover without its archive and target)."""
    with _reading(paths.restore) as recorded:
        if recorded is None:
            return None
        stop = recorded["stop"]
        return Restore(str(recorded["source_id"]),
                       RecoveryStop(int(stop["timeline"]), str(stop["lsn"]), bool(stop["inclusive"])))


def save_restore(paths: ServicePaths, restore: Restore) -> None:
    _save(paths.restore, asdict(restore))


def forget_finished_restore(paths: ServicePaths) -> None:
    """Forget the restore of a cluster whose recovery is done (PostgreSQL removed its recovery.signal)."""
    if paths.version_file.exists() and not paths.recovery_signal.exists():
        paths.restore.unlink(missing_ok=True)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[dict[str, Any] | None]:
    """The JSON object in `path` (None when there is no such file) for the caller to read its fields from;
    ValueError when it is not a record of the runtime's (a field missing or of another type)."""
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        recorded = None
    except ValueError as error:
        raise ValueError(f"{path} is no record of the runtime's: {error}") from error
    if recorded is not None and not isinstance(recorded, dict):
        raise ValueError(f"{path} is no record of the runtime's: not a JSON object")
    try:
        yield recorded
    except (KeyError, TypeError) as error:
        raise ValueError(f"{path} is no record of the runtime's: {error!r}") from error


def _save(path: Path, record: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(record, indent=2).encode() + b"\n", mode=0o644)
