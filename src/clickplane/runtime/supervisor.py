"""Supervision of services' server processes, whatever their engine: launch and record, find (and adopt), reap,
end, and read what they logged.

Servers run detached from the control plane, so they survive its restarts; the next control plane finds them
through their pid files, or, when a pid file lost track of its server, by searching every process for the one
argument only that server has. What an engine knows of its own servers (whether one still answers, what
connections to let go of before it stops) is passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from clickplane.runtime import process
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.process import ProcessId

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
# After SIGKILL only the kernel is left to act; this bounds a process stuck in uninterruptible I/O.
_KILL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class SupervisedServer:
    """What supervision knows of one service's server: where it runs, how its process is recognised, what it logs."""

    service_id: str
    directory: Path  # its working directory, made with the service
    pid_file: Path
    # An argument of its command line that no other server has (its config file): how its process is told apart.
    own_argument: str
    console_log: Path  # its standard output and error
    # Its own logs of errors, whose ends explain a failed start beside its console output.
    error_logs: tuple[Path, ...] = ()

    @property
    def logs(self) -> tuple[Path, ...]:
        return (self.console_log, *self.error_logs)


class Supervisor:
    """Starts, finds and ends the servers of one runtime's services. `engine` names them in logs and failures
    ("ClickHouse"); `stop_timeout` is how long a server may take to stop once asked (SIGTERM)."""

    def __init__(self, engine: str, stop_timeout: float) -> None:
        self.engine = engine
        self.stop_timeout = stop_timeout
        # Servers this supervisor started, kept to reap them when they exit (else they stay zombies).
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    async def launch(self, argv: list[str], server: SupervisedServer,
                     environment: Mapping[str, str] | None = None) -> tuple[ProcessId, tuple[int, ...]]:
        """Start `argv` detached, in the server's directory, and record it in its pid file; the process, and where
        its logs stood before (for `log_tails`). RuntimeFailure when it cannot be started or recorded."""
        offsets = await asyncio.to_thread(lambda: tuple(process.log_size(path) for path in server.logs))
        try:
            child, started = await asyncio.to_thread(self._spawn_recorded, argv, server, environment)
        except OSError as error:
            raise RuntimeFailure(f"cannot start {self.engine} ({argv[0]}): {error}") from error
        self._children[child.pid] = child
        log.info("started %s of service %s (pid %d)", self.engine, server.service_id, child.pid)
        return started, offsets

    @staticmethod
    def _spawn_recorded(argv: list[str], server: SupervisedServer,
                        environment: Mapping[str, str] | None) -> tuple[subprocess.Popen[bytes], ProcessId]:
        """Spawn and write the pid file in one step of one thread: a control plane stopped while a
        start is under way cancels the waiting coroutine, not this, so no server goes unrecorded."""
        child, started = process.spawn(argv, server.directory, server.console_log, environment)
        try:
            process.record_server(server.pid_file, started)
        except OSError:
            # Unrecorded, the server would run on untracked (a full disk does this): end it, then say why.
            child.kill()
            child.wait()
            raise
        return child, started

    def running(self, server: SupervisedServer, search: bool = False) -> ProcessId | None:
        """The service's server if one runs, as its pid file names it (blocking: call it in a thread). A pid file
        that names no server of this service (garbage, a stale or reused pid) is not trusted, nor, when `search`
        is set (before a start, a stop or a delete), a missing one: the processes are searched for one with the
        server's own argument, and the pid file is rewritten to name it. Else a server left untracked would go
        on running beside a second one started in vain, and its files would be deleted under it."""
        self._reap_children()
        found = process.find_server(server.pid_file, server.own_argument)
        if found is not None or not (search or server.pid_file.exists()) or not server.directory.exists():
            return found  # a service with no directory yet (a new one) has no server to search for
        found = process.search_server(server.own_argument)
        if found is not None:
            log.warning("the pid file of service %s did not name its running server, pid %d; rewriting it",
                        server.service_id, found.pid)
            with contextlib.suppress(OSError):  # found either way; the record is repaired when it can be
                process.record_server(server.pid_file, found)
        return found

    def _reap_children(self) -> None:
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)

    def exit_status(self, server: ProcessId) -> str | None:
        """None while `server` runs; otherwise how it ended (with its status when it is our child). Blocking."""
        child = self._children.get(server.pid)
        if child is None:
            return None if process.is_running(server) else "exited"
        if child.poll() is None:
            return None
        self._children.pop(server.pid, None)
        return f"exited with status {child.returncode}"

    async def stop(self, server: SupervisedServer, *, answers: Callable[[], Awaitable[bool]],
                   release: Callable[[], Awaitable[None]]) -> ProcessId | None:
        """End the service's server, if one runs (see `terminate`), and remove its pid file; the process ended."""
        running = await asyncio.to_thread(self.running, server, True)
        if running is not None:
            await self.terminate(server, running, graceful=True, answers=answers, release=release)
            log.info("stopped %s of service %s (pid %d)", self.engine, server.service_id, running.pid)
        await asyncio.to_thread(process.forget_server, server.pid_file)
        return running

    async def terminate(self, server: SupervisedServer, running: ProcessId, *, graceful: bool,
                        answers: Callable[[], Awaitable[bool]], release: Callable[[], Awaitable[None]]) -> None:
        """SIGTERM and wait `stop_timeout` for a clean shutdown, then SIGKILL. Straight to SIGKILL when
        `graceful` is False (a server that failed to start has nothing to save) or `answers()` says the server does
        not answer: a hung one would only use up the wait, and a stopped one (SIGSTOP) cannot act on SIGTERM.
        `release()` closes the caller's connections to it first: a server may wait for open ones before it stops."""
        if graceful and not await answers():
            log.warning("%s of service %s (pid %d) does not answer: killing it", self.engine, server.service_id,
                        running.pid)
            graceful = False
        await release()
        steps = [(signal.SIGKILL, _KILL_WAIT_SECONDS)]
        if graceful:
            steps.insert(0, (signal.SIGTERM, self.stop_timeout))
        for signum, timeout in steps:
            await asyncio.to_thread(process.signal_server, running, signum)
            if await self._wait_gone(running, timeout):
                await asyncio.to_thread(process.forget_server, server.pid_file)
                return
        raise RuntimeFailure(f"{self.engine} (pid {running.pid}) is still running after SIGKILL")

    async def _wait_gone(self, running: ProcessId, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await asyncio.to_thread(self.exit_status, running) is None:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True

    @staticmethod
    def log_tails(server: SupervisedServer, offsets: tuple[int, ...] | None) -> str:
        """What the server logged after `offsets` (as `launch` returned them; None: the end of each log whatever
        its age), console output first. Blocking."""
        starts = offsets or (0,) * len(server.logs)
        tails = (process.log_tail(path, start) for path, start in zip(server.logs, starts, strict=True))
        return "\n".join(tail for tail in tails if tail)
