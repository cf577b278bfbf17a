"""Low-level handling of detached server processes: spawn, recognise, signal, read their logs."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


def spawn(argv: list[str], cwd: Path, console_log: Path) -> tuple[subprocess.Popen[bytes], ProcessId]:
    """Start `argv` in a session of its own, so it outlives the control plane and a Ctrl-C or a
    restart of the control plane does not reach it; its stdout and stderr go to `console_log`."""
    # Modern servers fork a watchdog parent when asked to; without it the pid we record is the server.
    environment = {**os.environ, "CLICKHOUSE_WATCHDOG_ENABLE": "0"}
    with console_log.open("ab") as log:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # Until the caller reaps it, the child keeps its /proc entry even if it has exited already.
    return child, ProcessId(child.pid, _start_time(child.pid))


@dataclass(frozen=True)
class ProcessId:
    """One process for good: a pid alone is reused by other programs once its process is gone."""

    pid: int
    start_time: int  # clock ticks after boot, from /proc/<pid>/stat


def read_pid(pid_file: Path) -> int | None:
    """The pid the file names; None when there is none to read (missing, garbage, not even a file)."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def find_server(pid_file: Path, config_file: Path) -> ProcessId | None:
    """The process named by `pid_file` if it runs and was started with this config file: a pid file
    can outlive its process, and the pid can since belong to another program."""
    pid = read_pid(pid_file)
    return _server_at(pid, _config_argument(config_file)) if pid is not None and pid > 0 else None


def search_server(config_file: Path) -> ProcessId | None:
    """The running process started with this config file, found by reading every process's command
    line: for when a pid file has lost track of its server (garbage written over it, or removed)."""
    argument = _config_argument(config_file)
    for entry in Path("/proc").iterdir():
        server = _server_at(int(entry.name), argument) if entry.name.isdigit() else None
        if server is not None:
            return server
    return None


def _config_argument(config_file: Path) -> bytes:
    return f"--config-file={config_file}".encode()


def _server_at(pid: int, config_argument: bytes) -> ProcessId | None:
    """Process `pid` if it runs (not a zombie) with `config_argument` on its command line."""
    fields = _stat_fields(pid)
    if fields is None or fields[_STATE] == "Z":
        return None
    try:
        arguments = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return ProcessId(pid, int(fields[_START_TIME])) if config_argument in arguments else None


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
    unless it has finished: its pid may belong to another program by now."""
    if not is_running(server):
        return
    try:
        if os.getpgid(server.pid) == server.pid:
            os.killpg(server.pid, signum)
        else:
            os.kill(server.pid, signum)
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
