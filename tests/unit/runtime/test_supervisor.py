"""Supervising a server that is no ClickHouse: a small Python program recognised by an argument of its own, as a
runtime of another engine would supervise its servers."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from clickplane.runtime.supervisor import SupervisedServer, Supervisor
from tests.processes import processes_mentioning

pytestmark = pytest.mark.anyio

# Notes a SIGTERM in a file beside it and exits on it; says it is ready once it would; sleeps.
SERVER = """
import pathlib, signal, sys, time
def stop(*_):
    pathlib.Path("got-sigterm").touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("an error of its own", file=open("error.log", "a"), flush=True)
print("serving", flush=True)
time.sleep(600)
"""


@pytest.fixture
def server(tmp_path: Path) -> SupervisedServer:
    directory = tmp_path / "engine" / "svc-1"
    directory.mkdir(parents=True)
    return SupervisedServer("svc-1", directory, directory / "server.pid", f"--data-dir={directory}",
                            directory / "console.log", (directory / "error.log",))


@pytest.fixture
async def supervisor(tmp_path: Path) -> AsyncIterator[Supervisor]:
    yield Supervisor("Engine", stop_timeout=5)
    assert not processes_mentioning(tmp_path)


async def answering() -> bool:
    return True


async def not_answering() -> bool:
    return False


async def nothing_to_release() -> None:
    pass


async def launched(supervisor: Supervisor, server: SupervisedServer) -> tuple[int, tuple[int, ...]]:
    started, offsets = await supervisor.launch([sys.executable, "-c", SERVER, server.own_argument], server,
                                               {"CLICKPLANE_TEST": "1"})
    deadline = time.monotonic() + 10
    while "serving" not in server.console_log.read_text():
        assert supervisor.exit_status(started) is None
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return started.pid, offsets


async def test_a_launched_server_is_recorded_found_and_stopped_with_sigterm_after_its_connections_go(
        supervisor: Supervisor, server: SupervisedServer) -> None:
    server.console_log.write_text("an earlier run\n")
    pid, offsets = await launched(supervisor, server)
    released = []

    async def release() -> None:
        released.append(not (server.directory / "got-sigterm").exists())

    found = supervisor.running(server)
    stopped = await supervisor.stop(server, answers=answering, release=release)

    assert not server.pid_file.exists()
    assert found is not None
    assert found.pid == pid
    assert stopped == found
    assert released == [True]  # before the signal
    assert (server.directory / "got-sigterm").exists()
    assert supervisor.exit_status(found) is not None
    assert supervisor.log_tails(server, offsets) == "serving\nan error of its own"


async def test_a_server_that_does_not_answer_is_killed_and_one_whose_pid_file_is_lost_is_found(
        supervisor: Supervisor, server: SupervisedServer) -> None:
    pid, _ = await launched(supervisor, server)
    server.pid_file.unlink()

    assert supervisor.running(server) is None  # no search: a missing pid file is a stopped server
    found = supervisor.running(server, search=True)
    assert found is not None
    assert found.pid == pid
    assert server.pid_file.read_text() == f"{pid}\n"  # rewritten

    await supervisor.terminate(server, found, graceful=True, answers=not_answering, release=nothing_to_release)

    assert not (server.directory / "got-sigterm").exists()
    assert supervisor.exit_status(found) is not None
    assert not server.pid_file.exists()


async def test_stopping_a_service_without_a_server_only_removes_its_pid_file(
        supervisor: Supervisor, server: SupervisedServer) -> None:
    server.pid_file.write_text("garbage\n")

    assert await supervisor.stop(server, answers=answering, release=nothing_to_release) is None
    assert not server.pid_file.exists()
