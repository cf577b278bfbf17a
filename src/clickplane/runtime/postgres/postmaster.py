"""A cluster's server process, the postmaster, found through PostgreSQL's own record of it (postmaster.pid in the
data directory) and recognised by working in that directory: the postmaster and every process it starts change to
their data directory, and no other program does. Blocking: call these in a thread."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from clickplane.runtime.base import RuntimeFailure

_POLL_SECONDS = 0.01


def recorded_pid(data: Path) -> int | None:
    """The pid that postmaster.pid names (its first line); None when there is no such file or no pid in it."""
    try:
        first_line = (data / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first_line)
    except (OSError, ValueError):
        return None
    return pid if pid > 0 else None


def running_postmaster(data: Path) -> int | None:
    """The postmaster of the cluster in `data`, if it runs."""
    pid = recorded_pid(data)
    return pid if pid is not None and works_in(pid, data) else None


def works_in(pid: int, data: Path) -> bool:
    """Whether process `pid` runs (a zombie has finished) in directory `data`."""
    fields = _stat_fields(pid)
    if fields is None or fields[_STATE] == "Z":
        return False
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(data.resolve())
    except OSError:
        return False


def clear_crashed(data: Path, timeout: float) -> None:
    """After the postmaster of `data` died (killed, crashed), end what it left: its processes that still run (its
    backends end soon by themselves, but the shared memory they hold would stop a new server from starting) and
    its postmaster.pid (which a new server refuses while the old pid is still a process, even a zombie no one
    reaps). Nothing to do when postmaster.pid names no process; RuntimeFailure when the processes outlive SIGKILL."""
    postmaster = recorded_pid(data)
    if postmaster is None or works_in(postmaster, data):
        return
    deadline = time.monotonic() + timeout
    while leftovers := _leftovers(data, postmaster):
        if time.monotonic() >= deadline:
            raise RuntimeFailure(f"processes {', '.join(map(str, leftovers))} of PostgreSQL's crashed server "
                                 f"(pid {postmaster}) are still running after SIGKILL")
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(_POLL_SECONDS)
    with contextlib.suppress(FileNotFoundError):
        (data / "postmaster.pid").unlink()


def end_workers_in(directory: Path, timeout: float) -> None:
    """SIGKILL every process working in `directory` until none is left; RuntimeFailure if some outlive the timeout.
    For a cluster whose making was cut short: initdb dies with the control plane that started it, but the
    bootstrap server it runs does not, and would go on writing in the directory the next making starts anew."""
    deadline = time.monotonic() + timeout
    while workers := [pid for pid in _pids() if works_in(pid, directory)]:
        if time.monotonic() >= deadline:
            raise RuntimeFailure(f"processes {', '.join(map(str, workers))} working in {directory} are still running "
                                 "after SIGKILL")
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(_POLL_SECONDS)


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _leftovers(data: Path, postmaster: int) -> list[int]:
    """Processes of the dead `postmaster` that still run: those of its process group (it leads one, started in a
    session of its own) working in its data directory."""
    return [pid for pid in _pids() if _process_group(pid) == postmaster and works_in(pid, data)]


def _process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[_PROCESS_GROUP]) if fields is not None else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, which is in parentheses and may itself hold spaces
    and parentheses."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return status.rpartition(")")[2].split()


# Positions in _stat_fields: stat's 3rd field (state) and 5th (process group), see proc(5).
_STATE = 0
_PROCESS_GROUP = 2
