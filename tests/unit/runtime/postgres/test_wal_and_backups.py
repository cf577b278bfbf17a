"""WAL positions and segment names, and a service's store of base backups: their listing, the window they can
restore to, and pruning."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clickplane.runtime.postgres import backups
from clickplane.runtime.postgres.interface import RecoveryWindow
from clickplane.runtime.postgres.origin import replica_of_slot, slot_of
from clickplane.runtime.postgres.wal import format_lsn, parse_lsn, segment_name

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def test_positions_and_the_segments_holding_them() -> None:
    assert parse_lsn("0/2000028") == 0x2000028
    assert format_lsn(parse_lsn("1A/FF000000")) == "1A/FF000000"
    assert segment_name(1, parse_lsn("0/2000028")) == "000000010000000000000002"
    assert segment_name(1, parse_lsn("0/FFFFFFFF")) == "0000000100000000000000FF"
    assert segment_name(3, parse_lsn("1/0")) == "000000030000000100000000"


def test_a_replicas_slot_names_it() -> None:
    replica_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert slot_of(replica_id) == "replica_0f8fad5bd9cb469fa16570867728950e"
    assert replica_of_slot(slot_of(replica_id)) == replica_id
    assert replica_of_slot("replica_nothex") is None
    assert replica_of_slot("someone_elses") is None


def _take(store: Path, started: datetime, finished: datetime, start_lsn: str = "0/2000028") -> backups.StoredBackup:
    """A backup as pg_basebackup leaves one (its tar and manifest), noted by the store."""
    key = started.strftime("%Y%m%dT%H%M%SZ")
    partial = backups.being_taken(store, key)
    partial.mkdir(parents=True)
    (partial / "base.tar").write_bytes(b"x" * 1000)
    manifest = {"WAL-Ranges": [{"Timeline": 1, "Start-LSN": start_lsn, "End-LSN": "0/2000120"}]}
    (partial / "backup_manifest").write_text(json.dumps(manifest))
    return backups.finish(store, key, started, finished, "17")


def _segment(archive: Path, name: str, completed: datetime) -> None:
    archive.mkdir(exist_ok=True)
    (archive / name).write_bytes(b"")
    os.utime(archive / name, (completed.timestamp(), completed.timestamp()))


def test_a_finished_backup_is_listed_with_its_times_size_and_where_its_wal_starts(tmp_path: Path) -> None:
    store = tmp_path / "base-backups"
    taken = _take(store, T0, T0 + timedelta(seconds=3), start_lsn="0/5000060")
    assert backups.stored(store) == [taken]
    assert taken.public().key == "20261202T150000Z"
    assert taken.size_in_bytes >= 1000
    assert taken.start_segment == "000000010000000000000005"
    assert sorted(entry.name for entry in (store / taken.key).iterdir()) == ["backup.json", "backup_manifest",
                                                                             "base.tar"]


def test_a_backup_being_taken_or_left_halfway_is_not_listed_and_is_removed_when_none_is_taken(tmp_path: Path) -> None:
    store = tmp_path / "base-backups"
    taken = _take(store, T0, T0 + timedelta(seconds=3))
    backups.being_taken(store, "20261202T160000Z").mkdir()
    assert backups.stored(store) == [taken]
    backups.remove_unfinished(store)
    assert [entry.name for entry in store.iterdir()] == [taken.key]


def test_a_new_key_is_the_current_second_and_never_one_taken(tmp_path: Path) -> None:
    store = tmp_path / "base-backups"
    store.mkdir()
    key, started = backups.new_key(store)
    assert key == started.strftime("%Y%m%dT%H%M%SZ")
    (store / key).mkdir()
    later, _ = backups.new_key(store)
    assert later > key


def test_the_window_runs_from_the_oldest_backups_end_to_the_last_wal_archived(tmp_path: Path) -> None:
    store, archive = tmp_path / "base-backups", tmp_path / "wal-archive"
    assert backups.window(store, archive) is None
    first = _take(store, T0, T0 + timedelta(seconds=3))
    assert backups.window(store, archive) == RecoveryWindow(first.finished_at, first.finished_at)
    _segment(archive, "000000010000000000000002", T0 + timedelta(seconds=2))
    _segment(archive, "000000010000000000000003", T0 + timedelta(minutes=5))
    _segment(archive, "000000010000000000000003.00000028.backup", T0 + timedelta(minutes=9))
    assert backups.window(store, archive) == RecoveryWindow(first.finished_at, T0 + timedelta(minutes=5))


def test_the_newest_backup_finished_by_a_moment_is_the_one_to_restore_it_from(tmp_path: Path) -> None:
    store = tmp_path / "base-backups"
    first = _take(store, T0, T0 + timedelta(seconds=3))
    second = _take(store, T0 + timedelta(hours=1), T0 + timedelta(hours=1, seconds=3))
    assert backups.newest_finished_by(store, T0) is None
    assert backups.newest_finished_by(store, first.finished_at) == first
    assert backups.newest_finished_by(store, second.finished_at - timedelta(microseconds=1)) == first
    assert backups.newest_finished_by(store, T0 + timedelta(days=1)) == second


@pytest.mark.parametrize(("keep_after_hours", "kept"), [(0, [0, 1, 2]), (1.5, [1, 2]), (5, [2])])
def test_pruning_keeps_the_backups_after_the_moment_and_the_newest_before_it(tmp_path: Path, keep_after_hours: float,
                                                                           kept: list[int]) -> None:
    store = tmp_path / "base-backups"
    taken = [_take(store, T0 + timedelta(hours=hour), T0 + timedelta(hours=hour, seconds=3)) for hour in range(3)]
    oldest_kept = backups.prune(store, T0 + timedelta(hours=keep_after_hours))
    assert backups.stored(store) == [taken[index] for index in kept]
    assert oldest_kept == taken[kept[0]]


def test_pruning_no_backup_keeps_nothing(tmp_path: Path) -> None:
    assert backups.prune(tmp_path / "base-backups", T0) is None
