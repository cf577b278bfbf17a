"""Recognising a service's server process from its pid file and the one argument only it has."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from clickplane.runtime.process import find_server, is_running, log_tail, record_server, signal_server, spawn


def test_a_server_is_found_by_pid_file_and_own_argument_and_is_gone_once_killed(tmp_path: Path) -> None:
    argument = f"--config-file={tmp_path / 'config.xml'}"
    pid_file = tmp_path / "server.pid"
    argv = [sys.executable, "-c", "import time; time.sleep(60)", argument]
    child, server = spawn(argv, tmp_path, tmp_path / "console.log")
    try:
        record_server(pid_file, server)
        # Until the child has exec'd, its command line is still its parent's: poll with a deadline.
        deadline = time.monotonic() + 10
        while find_server(pid_file, argument) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert find_server(pid_file, argument) == server
        assert find_server(pid_file, f"--config-file={tmp_path / 'other.xml'}") is None

        signal_server(server, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        child.kill()
        child.wait()

    assert not is_running(server)
    assert find_server(pid_file, argument) is None


def test_a_zombie_is_not_running(tmp_path: Path) -> None:
    child, server = spawn([sys.executable, "-c", "pass"], tmp_path, tmp_path / "console.log")
    try:
        # Waits for the exit but leaves the child unreaped: a zombie until child.wait().
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert not is_running(server)
    finally:
        child.wait()


def test_a_pid_file_naming_another_program_is_stale(tmp_path: Path) -> None:
    pid_file = tmp_path / "server.pid"
    pid_file.write_text(f"{os.getpid()}\n")

    assert find_server(pid_file, f"--config-file={tmp_path / 'config.xml'}") is None


def test_log_tail_reads_only_what_came_after_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "err.log"
    log.write_text("old line\n")
    offset = log.stat().st_size
    with log.open("a") as file:
        file.write("".join(f"line {n}\n" for n in range(30)))

    assert log_tail(log, offset, lines=3) == "line 27\nline 28\nline 29"
    assert log_tail(tmp_path / "missing.log") == ""


def test_a_server_gets_our_environment_without_our_settings_and_with_the_variables_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_INHERITED", "kept")
    monkeypatch.setenv("CLICKPLANE_SECRET_KEY", "never a server's")
    script = ("import os; print(os.environ['TEST_INHERITED'], os.environ['CLICKPLANE_TEST_GIVEN'], "
              "os.environ.get('CLICKPLANE_SECRET_KEY'))")
    child, _ = spawn([sys.executable, "-c", script], tmp_path, tmp_path / "console.log",
                     {"CLICKPLANE_TEST_GIVEN": "added"})
    child.wait(timeout=10)

    assert (tmp_path / "console.log").read_text() == "kept added None\n"
