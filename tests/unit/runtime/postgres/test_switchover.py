"""The files of a switchover: where the shutdown checkpoint is, and a take-over that can be redone after a crash at
any of its steps."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import pytest

from clickplane.runtime.postgres import switchover
from clickplane.runtime.postgres.paths import ServicePaths
from clickplane.runtime.postgres.server_user import ServerUser

CONTROLDATA = """pg_control version number:            1700
Database system identifier:           7579000000000000000
Database cluster state:               {state}
pg_control last modified:             Wed 02 Dec 2026 07:00:00 PM UTC
Latest checkpoint location:           0/3000028
Latest checkpoint's REDO location:    0/3000028
"""


def test_the_shutdown_checkpoint_is_that_of_a_cluster_shut_down_cleanly_only() -> None:
    assert switchover.shutdown_checkpoint(CONTROLDATA.format(state="shut down")) == "0/3000028"
    assert switchover.shutdown_checkpoint(CONTROLDATA.format(state="in production")) is None
    assert switchover.shutdown_checkpoint(CONTROLDATA.format(state="shut down in recovery")) is None
    assert switchover.shutdown_checkpoint("not pg_controldata's output") is None


def _service(tmp_path: Path) -> ServicePaths:
    paths = ServicePaths(tmp_path / "0b7f3c52-8a1e-4c0e-9f43-6f1d2e3a4b5c")
    for directory, marker in ((paths.data, "old"), (paths.successor.data, "new")):
        directory.mkdir(parents=True)
        (directory / "which").write_text(marker)
    return paths


def _me() -> ServerUser:
    return ServerUser(getpass.getuser(), os.getuid(), os.getgid(), switch=False)


def test_a_successor_taking_over_becomes_a_primary_with_the_replicas_slots_only(tmp_path: Path) -> None:
    paths = _service(tmp_path)
    (paths.successor.data / "standby.signal").touch()
    slots = paths.data / "pg_replslot"
    for slot in ("replica_0b7f3c528a1e4c0e9f436f1d2e3a4b5d", "someone_elses"):
        (slots / slot).mkdir(parents=True)
        (slots / slot / "state").write_bytes(slot.encode())

    switchover.prepare_take_over(paths, _me())

    assert not (paths.successor.data / "standby.signal").exists()
    copied = paths.successor.data / "pg_replslot"
    assert sorted(path.name for path in copied.iterdir()) == ["replica_0b7f3c528a1e4c0e9f436f1d2e3a4b5d"]
    assert (copied / "replica_0b7f3c528a1e4c0e9f436f1d2e3a4b5d" / "state").read_bytes().startswith(b"replica_")
    assert switchover.taking_over(paths)


@pytest.mark.parametrize("crashed_after", ["nothing", "old cluster moved aside", "new cluster moved in"])
def test_a_take_over_redone_after_a_crash_at_any_step_ends_with_the_successors_cluster_in_place(
        tmp_path: Path, crashed_after: str) -> None:
    paths = _service(tmp_path)
    paths.successor.taking_over.touch()
    if crashed_after != "nothing":
        paths.data.rename(paths.replaced_data)
    if crashed_after == "new cluster moved in":
        paths.successor.data.rename(paths.data)

    switchover.take_over(paths)

    assert (paths.data / "which").read_text() == "new"
    assert not paths.replaced_data.exists()
    assert not paths.successor.root.exists()
    assert not switchover.taking_over(paths)


def test_an_abandoned_successor_leaves_the_primary_as_it_was(tmp_path: Path) -> None:
    paths = _service(tmp_path)
    switchover.abandon(paths)
    assert (paths.data / "which").read_text() == "old"
    assert not paths.successor.root.exists()
