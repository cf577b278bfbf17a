"""A service's base backups, in its `base-backups/` directory (paths.py), one directory each, named by its key (its
start time in UTC to the second, `20261202T150812Z`, so that names sort as times do). Blocking: call these in a
thread.

    <key>/base.tar         the cluster as pg_basebackup copied it, without WAL (the service's archive has that)
    <key>/backup_manifest  pg_basebackup's manifest, which gives the WAL range the copy needs to be consistent
    <key>/backup.json      the runtime's own: start and finish times, size, version, where its WAL starts
    .<key>.partial/        a backup being taken, renamed to <key> once whole: a crash leaves none half made listed

What the backups and the archive can restore to (`window`): any moment from the end of the oldest backup to the
later of the newest backup's end and the completion of the newest archived segment (the runtime has the server
complete and archive its segment once a backup is done, so that nothing committed before that end is left out).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import BaseBackup, RecoveryWindow
from clickplane.runtime.postgres.server_user import ServerUser
from clickplane.runtime.postgres.wal import archived_segments, completed_at, parse_lsn, segment_name

log = logging.getLogger(__name__)

_KEY_FORMAT = "%Y%m%dT%H%M%SZ"
_PARTIAL_SUFFIX = ".partial"
_TAR = "base.tar"
_PG_MANIFEST = "backup_manifest"
_MANIFEST = "backup.json"


@dataclass(frozen=True)
class StoredBackup:
    key: str
    started_at: datetime
    finished_at: datetime
    size_in_bytes: int
    version: str
    # The WAL the copy needs starts there (pg_basebackup's start point).
    timeline: int
    start_lsn: str

    @property
    def start_segment(self) -> str:
        return segment_name(self.timeline, parse_lsn(self.start_lsn))

    def public(self) -> BaseBackup:
        return BaseBackup(self.key, self.started_at, self.finished_at, self.size_in_bytes)

    def record(self) -> dict[str, object]:
        """What backup.json holds (the key is the directory's name)."""
        return {"started_at": self.started_at.isoformat(), "finished_at": self.finished_at.isoformat(),
                "size_in_bytes": self.size_in_bytes, "version": self.version, "timeline": self.timeline,
                "start_lsn": self.start_lsn}


def new_key(store: Path) -> tuple[str, datetime]:
    """The key of a backup starting now, and its start: the current second, or the next one when a backup of
    this second exists already (backups are taken one at a time, and each takes a while)."""
    while True:
        started = datetime.now(UTC)
        key = started.strftime(_KEY_FORMAT)
        if not (store / key).exists():
            return key, started
        time.sleep(1 - started.microsecond / 1_000_000)


def being_taken(store: Path, key: str) -> Path:
    return store / f".{key}{_PARTIAL_SUFFIX}"


def remove_unfinished(store: Path) -> None:
    """Remove what backups stopped halfway left (call it when none is being taken)."""
    for entry in store.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(_PARTIAL_SUFFIX):
            shutil.rmtree(entry, ignore_errors=True)


def finish(store: Path, key: str, started: datetime, finished: datetime, version: str) -> StoredBackup:
    """Note the backup that pg_basebackup made in being_taken(store, key) and give it its name."""
    partial = being_taken(store, key)
    try:
        first_range = json.loads((partial / _PG_MANIFEST).read_text())["WAL-Ranges"][0]
        timeline, start_lsn = int(first_range["Timeline"]), str(first_range["Start-LSN"])
    except (KeyError, IndexError, TypeError) as error:
        raise RuntimeFailure(f"pg_basebackup's manifest of backup {key} gives no WAL range: {error!r}") from error
    backup = StoredBackup(key, started, finished, size_of(partial), version, timeline, start_lsn)
    _write_durably(partial / _MANIFEST, json.dumps(backup.record(), indent=2).encode() + b"\n")
    partial.rename(store / key)
    _sync_directory(store)
    return backup


def size_of(directory: Path) -> int:
    """The bytes of a backup's files (so far, for one being taken)."""
    return sum(entry.stat().st_size for entry in directory.iterdir()) if directory.is_dir() else 0


def stored(store: Path) -> list[StoredBackup]:
    """The finished backups, oldest first."""
    if not store.is_dir():
        return []
    found = (_load(entry) for entry in sorted(store.iterdir()) if not entry.name.startswith("."))
    return [backup for backup in found if backup is not None]


def newest_finished_by(store: Path, moment: datetime) -> StoredBackup | None:
    finished = [backup for backup in stored(store) if backup.finished_at <= moment]
    return finished[-1] if finished else None


def window(store: Path, archive: Path) -> RecoveryWindow | None:
    backups = stored(store)
    if not backups:
        return None
    latest = backups[-1].finished_at
    segments = archived_segments(archive)
    if segments:
        latest = max(latest, completed_at(segments[-1]))
    return RecoveryWindow(earliest=backups[0].finished_at, latest=latest)


def prune(store: Path, keep_after: datetime) -> StoredBackup | None:
    """Remove the backups that finished before `keep_after` but the newest of them; the oldest backup kept."""
    backups = stored(store)
    finished_before = [backup for backup in backups if backup.finished_at < keep_after]
    for backup in finished_before[:-1]:
        shutil.rmtree(store / backup.key)
        log.info("removed base backup %s of %s", backup.key, store.parent.name)
    kept = backups[max(len(finished_before) - 1, 0):]
    return kept[0] if kept else None


def unpack(store: Path, backup: StoredBackup, target: Path, user: ServerUser) -> None:
    """Make `target` (new, empty) a copy of the backup's cluster, belonging to the servers' user."""
    directory = store / backup.key
    others = sorted(entry.name for entry in directory.glob("*.tar") if entry.name != _TAR)
    if others:  # what pg_basebackup writes for each tablespace beside the main one
        raise RuntimeFailure(f"base backup {backup.key} holds tablespaces ({', '.join(others)}), which a restore "
                             "cannot place")
    with tarfile.open(directory / _TAR) as archive:
        archive.extractall(target, filter="data")  # nothing outside target, no devices, no set-id bits
    for parent, directories, files in os.walk(target):
        for name in (*directories, *files):
            user.own(Path(parent) / name)
    user.own(target)
    os.chmod(target, 0o700)


def _load(directory: Path) -> StoredBackup | None:
    try:
        record = json.loads((directory / _MANIFEST).read_text())
        return StoredBackup(directory.name, datetime.fromisoformat(record["started_at"]),
                            datetime.fromisoformat(record["finished_at"]), int(record["size_in_bytes"]),
                            str(record["version"]), int(record["timeline"]), str(record["start_lsn"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.warning("base backup %s is not usable: %s", directory, error)
        return None


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
