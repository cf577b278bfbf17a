"""Low-level handling of detached server processes: spawn, recognise, signal, read their logs."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def spawn(argv: list[str], cwd: Path, console_log: Path) -> subprocess.Popen[bytes]:
    """Start `argv` in a session of its own, so it outlives the control plane and a Ctrl-C or a
    restart of the control plane does not reach it; its stdout and stderr go to `console_log`."""
    # Modern servers fork a watchdog parent when asked to; without it the pid we record is the server.
    environment = {**os.environ, "CLICKHOUSE_WATCHDOG_ENABLE": "0"}
    with console_log.open("ab") as log:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def runs_config(pid: int, config_file: Path) -> bool:
    """Whether `pid` is alive (not a zombie) and was started with this config file: a pid file can
    outlive its process, and the pid can since belong to another program."""
    proc = Path("/proc") / str(pid)
    try:
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
        status = (proc / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # The state letter follows the command name, which is in parentheses and may itself hold spaces.
    state = status.rpartition(")")[2].split()[0]
    return state != "Z" and f"--config-file={config_file}".encode() in arguments


def signal_server(pid: int, signum: signal.Signals) -> None:
    """Signal the server and whatever it started: it leads its own process group since `spawn`."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
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
