"""Finding a cluster's server through postmaster.pid, and clearing what a crashed one left."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clickplane.runtime.postgres.postmaster import (
    clear_crashed,
    end_workers_in,
    recorded_pid,
    running_postmaster,
    works_in,
)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    directory = tmp_path / "cluster"
    directory.mkdir()
    return directory


@pytest.fixture
def sleeper(data: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process working in the data directory, as a postmaster does."""
    child = subprocess.Popen(["sleep", "30"], cwd=data, start_new_session=True)
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def _record(data: Path, pid: int) -> None:
    (data / "postmaster.pid").write_text(f"{pid}\n{data}\n1764686400\n5432\n\n127.0.0.1\n  1234  5678\nready\n")


def _zombie(child: subprocess.Popen[bytes]) -> None:
    """Kill `child` and leave it unreaped."""
    child.send_signal(signal.SIGKILL)
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.005)


def test_the_recorded_pid_is_the_first_line_of_postmaster_pid(data: Path) -> None:
    assert recorded_pid(data) is None
    _record(data, 4321)
    assert recorded_pid(data) == 4321
    (data / "postmaster.pid").write_text("garbage\n")
    assert recorded_pid(data) is None


def test_a_running_postmaster_works_in_its_data_directory(data: Path, tmp_path: Path,
                                                          sleeper: subprocess.Popen[bytes]) -> None:
    _record(data, sleeper.pid)
    assert running_postmaster(data) == sleeper.pid
    assert not works_in(sleeper.pid, tmp_path)
    _zombie(sleeper)
    assert running_postmaster(data) is None


def test_a_pid_file_naming_a_process_elsewhere_names_no_postmaster(data: Path, tmp_path: Path) -> None:
    elsewhere = subprocess.Popen(["sleep", "30"], cwd=tmp_path)
    try:
        _record(data, elsewhere.pid)
        assert running_postmaster(data) is None
    finally:
        elsewhere.kill()
        elsewhere.wait()


def test_a_crashed_postmaster_s_processes_are_killed_and_its_pid_file_removed(data: Path) -> None:
    # A group leader (the postmaster) that started a process of its group (a backend), then died.
    leader = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], cwd=data, start_new_session=True,
                              stdout=subprocess.PIPE)
    assert leader.stdout is not None
    backend = int(leader.stdout.readline())
    leader.kill()
    leader.wait()
    _record(data, leader.pid)
    assert works_in(backend, data)

    clear_crashed(data, timeout=5.0)
    assert not works_in(backend, data)
    assert not (data / "postmaster.pid").exists()


def test_a_running_postmaster_is_not_touched(data: Path, sleeper: subprocess.Popen[bytes]) -> None:
    _record(data, sleeper.pid)
    clear_crashed(data, timeout=5.0)
    assert sleeper.poll() is None
    assert (data / "postmaster.pid").exists()


def test_every_process_working_in_a_half_made_cluster_is_ended(data: Path, tmp_path: Path,
                                                               sleeper: subprocess.Popen[bytes]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = subprocess.Popen(["sleep", "30"], cwd=elsewhere)
    try:
        end_workers_in(data, timeout=10)
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None  # a process working elsewhere is not touched
        end_workers_in(data, timeout=10)  # none left: nothing to do
    finally:
        other.kill()
        other.wait()
