"""Which `clickplane serve` process does the background work when several serve one store.

Any number of processes may answer the API, but the work that acts on the world (the reconciler, which
starts and stops ClickHouse servers, and the meter, which records usage) must be done by exactly one
of them at a time. That one holds a lease; the others wait for it and take over when its holder dies.

The lease is one the operating system or the database releases by itself when the holder dies, even by
SIGKILL, so there is no expiry to wait out:
- on PostgreSQL, a session-level advisory lock, held by a connection of its own (a dead process's
  connection closes, and the server drops its locks);
- on SQLite (whose replicas share one machine and one data dir), an exclusive `flock` on a file in the
  data dir (the kernel drops it with the last descriptor).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# The advisory lock's key: "clickpla" read as a 64-bit integer, unlikely to meet another program's.
ADVISORY_LOCK_KEY = int.from_bytes(b"clickpla", "big")


class Lease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it; never waits."""

    def still_held(self) -> bool:
        """Whether the lease taken is still this process's (False once the connection holding it broke)."""

    def release(self) -> None:
        """Give the lease up (holding none is fine)."""


class AdvisoryLock:
    """The lease as a PostgreSQL session advisory lock, on a connection used for nothing else."""

    def __init__(self, database_url: str) -> None:
        # libpq keepalives: a holder cut off from the server notices within seconds, as the server does.
        self._engine = create_engine(database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={
            "connect_timeout": 5, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2})
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        try:
            self._connection = self._connection or self._engine.connect()
            taken = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                             {"key": ADVISORY_LOCK_KEY}).scalar()
        except SQLAlchemyError as error:
            log.warning("cannot reach the store to take the reconciler lease: %s", error)
            taken = False
        if not taken:
            self.release()
        return bool(taken)

    def still_held(self) -> bool:
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            self.release()
            return False
        return True

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()  # closing the session drops its advisory locks
            self._connection = None


class FileLock:
    """The lease as an exclusive flock on a file, for processes sharing one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        self._descriptor = descriptor
        return True

    def still_held(self) -> bool:
        return self._descriptor is not None

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # drops the flock
            self._descriptor = None


def lease_for(database_url: str, data_dir: Path) -> Lease:
    if database_url.startswith("postgresql"):
        return AdvisoryLock(database_url)
    return FileLock(data_dir / "reconciler.lock")


async def lead(lease: Lease, duties: Callable[[], Awaitable[None]], check_seconds: float) -> None:
    """Run `duties` whenever this process holds the lease, until cancelled: try to take it every
    `check_seconds`, and while holding it check it as often; stop the duties the moment it is lost."""
    try:
        while True:
            if await asyncio.to_thread(lease.try_acquire):
                log.info("this process holds the reconciler lease: it reconciles services and meters usage")
                await _while_held(lease, duties, check_seconds)
            await asyncio.sleep(check_seconds)
    finally:
        lease.release()


async def _while_held(lease: Lease, duties: Callable[[], Awaitable[None]], check_seconds: float) -> None:
    working = asyncio.ensure_future(duties())
    try:
        while not working.done():
            await asyncio.wait({working}, timeout=check_seconds)
            if not working.done() and not await asyncio.to_thread(lease.still_held):
                log.warning("lost the reconciler lease; another process takes over the background work")
                break
    finally:
        working.cancel()
        await asyncio.gather(working, return_exceptions=True)
        lease.release()
    if working.done() and not working.cancelled() and working.exception() is not None:
        log.error("background work ended: %s; giving the lease up and trying again", working.exception())
