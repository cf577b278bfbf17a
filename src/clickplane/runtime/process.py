"""Low-level handling of detached server processes: spawn, recognise, signal, read their logs.

A server is recognised by one argument of its command line that no other server has (its config file or its data
directory, as its engine chooses), and by running as our user."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from clickplane.runtime.files import write_atomically


def spawn(argv: list[str], cwd: Path, console_log: Path,
          environment: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[bytes], ProcessId]:
    """Start `argv` in a session of its own, so it outlives the control plane and a Ctrl-C or a
    restart of the control plane does not reach it; its stdout and stderr go to `console_log`, and
    `environment` is added to ours (without the control plane's own settings: server_environment)."""
    with console_log.open("ab") as log:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**server_environment(), **(environment or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Until the caller reaps it, the child keeps its /proc entry even if it has exited already.
    return child, ProcessId(child.pid, _start_time(child.pid))


def server_environment() -> dict[str, str]:
    """Our environment without clickplane's own settings (CLICKPLANE_*: the store's URL, the secret key), which no
    server needs and whose users' code (a ClickHouse function, a PostgreSQL extension) must not read."""
    return {name: value for name, value in os.environ.items() if not name.startswith("CLICKPLANE_")}


@dataclass(frozen=True)
class ProcessId:
    """One process for good: a pid alone is reused by other programs once its process is gone."""

    pid: int
    start_time: int  # clock ticks after boot, from /proc/<pid>/stat


def record_server(pid_file: Path, server: ProcessId) -> None:
    """Note `server` as the one `pid_file` names: its pid in the pid file, plain as every tool reads one, and
    its start time in the file beside it. The start time goes first, so that a pid file never names a
    process whose start is not on record (a crash in between leaves a mismatch, which find_server refuses)."""
    write_atomically(start_time_file(pid_file), f"{server.start_time}\n".encode(), 0o644)
    write_atomically(pid_file, f"{server.pid}\n".encode(), 0o644)


def forget_server(pid_file: Path) -> None:
    """Remove what record_server wrote."""
    pid_file.unlink(missing_ok=True)
    start_time_file(pid_file).unlink(missing_ok=True)


def start_time_file(pid_file: Path) -> Path:
    return pid_file.with_name(f"{pid_file.name}.start")


def _read_number(path: Path) -> int | None:
    """The number the file holds; None when there is none to read (missing, garbage, not even a file)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def find_server(pid_file: Path, own_argument: str) -> ProcessId | None:
    """The process `pid_file` names if it is the very one record_server noted (a pid file can outlive its
    process, and the pid can since belong to another program, even one run with the same command line) and
    `own_argument` (the argument only this server has) is on its command line."""
    pid, start_time = _read_number(pid_file), _read_number(start_time_file(pid_file))
    if pid is None or pid <= 0 or start_time is None:
        return None
    server = _server_at(pid, own_argument.encode())
    return server if server is not None and server.start_time == start_time else None


def search_server(own_argument: str) -> ProcessId | None:
    """The running process of ours with `own_argument` on its command line, found by reading every process's
    command line: for when a pid file has lost track of its server (garbage written over it, or removed)."""
    argument = own_argument.encode()
    for entry in Path("/proc").iterdir():
        server = _server_at(int(entry.name), argument) if entry.name.isdigit() else None
        if server is not None:
            return server
    return None


def _server_at(pid: int, own_argument: bytes) -> ProcessId | None:
    """Process `pid` if it runs (not a zombie) with `own_argument` on its command line, as our user:
    anyone may start a program with any arguments, but only we (or root) can start one as us."""
    fields = _stat_fields(pid)
    if fields is None or fields[_STATE] == "Z":
        return None
    try:
        arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if own_argument not in arguments or _real_uid(pid) != os.getuid():
        return None
    return ProcessId(pid, int(fields[_START_TIME]))


def _real_uid(pid: int) -> int | None:
    """The real user id of process `pid` (the first number of the Uid line of /proc/<pid>/status)."""
    try:
        status = (Path("/proc") / str(pid) / "status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("Uid:")), None)


def _start_time(pid: int) -> int:
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    return int(fields[_START_TIME])


def is_running(process: ProcessId) -> bool:
    """Whether that very process still runs; a zombie has finished. (Its command line cannot tell:
    it reads empty while the process exits.)"""
    fields = _stat_fields(process.pid)
    return fields is not None and fields[_STATE] != "Z" and int(fields[_START_TIME]) == process.start_time


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, which is in parentheses and may itself
    hold spaces and parentheses."""
    try:
        status = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return status.rpartition(")")[2].split()


# Positions in _stat_fields: stat's 3rd field (state) and 22nd (start time), see proc(5).
_STATE = 0
_START_TIME = 19


def signal_server(server: ProcessId, signum: signal.Signals) -> None:
    """Signal the server and whatever it started (it leads its own process group since `spawn`),
    unless it has finished: its pid may belong to another program by now. A stopped server (SIGSTOP)
    acts on no signal but SIGKILL until it is continued, so every other one is followed by SIGCONT."""
    if not is_running(server):
        return
    follow_up = [] if signum == signal.SIGKILL else [signal.SIGCONT]
    try:
        in_group = os.getpgid(server.pid) == server.pid
        for each in [signum, *follow_up]:
            if in_group:
                os.killpg(server.pid, each)
            else:
                os.kill(server.pid, each)
    except ProcessLookupError:
        pass


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def log_tail(path: Path, since: int = 0, lines: int = 12, max_chars: int = 2000) -> str:
    """The last lines written to `path` after byte offset `since` (a log can be large: only its end
    is read)."""
    try:
        with path.open("rb") as file:
            file.seek(max(since, log_size(path) - _TAIL_BYTES))
            text = file.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])[-max_chars:]


_TAIL_BYTES = 64 * 1024
