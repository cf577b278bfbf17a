"""The reconciler lease: one holder at a time, released when its holder lets go (or dies), and the duties
run only while it is held."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from clickplane.leadership import AdvisoryLock, FileLock, Lease, lead
from clickplane.store.database import Database
from tests.stores import on_postgres

pytestmark = pytest.mark.anyio


def hold_in_another_process(lease_code: str) -> subprocess.Popen[str]:
    """A process that takes a lease with `lease_code`, says so, and then waits to be killed."""
    script = f"import sys, time\nfrom clickplane.leadership import *\nlease = {lease_code}\n" \
             "print(lease.try_acquire(), flush=True)\ntime.sleep(600)\n"
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def check_exclusive_until_holder_dies(make: str, lease: Lease) -> None:
    holder = hold_in_another_process(make)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "True"
        assert not lease.try_acquire()
    finally:
        holder.kill()  # SIGKILL: the holder releases nothing itself
        holder.wait()
    assert lease.try_acquire()
    assert lease.still_held()
    lease.release()


def test_a_file_lock_is_held_by_one_process_until_it_dies(tmp_path: Path) -> None:
    path = tmp_path / "reconciler.lock"
    check_exclusive_until_holder_dies(f"FileLock(__import__('pathlib').Path({str(path)!r}))", FileLock(path))


def test_a_file_lock_is_exclusive_within_a_process_too(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "lock"), FileLock(tmp_path / "lock")
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()
    assert not first.still_held()
    assert second.try_acquire()
    second.release()


@pytest.mark.skipif(not on_postgres(), reason="advisory locks are PostgreSQL's; this run is on SQLite")
def test_an_advisory_lock_is_held_by_one_session_until_its_process_dies(database: Database) -> None:
    url = database.engine.url.render_as_string(hide_password=False)
    lease = AdvisoryLock(url)
    check_exclusive_until_holder_dies(f"AdvisoryLock({url!r})", lease)
    other = AdvisoryLock(url)
    assert other.try_acquire()
    assert not lease.try_acquire()
    other.release()
    assert not other.still_held()


class ScriptedLease:
    """A lease nobody else wants, taken from this process when `lost` is set."""

    def __init__(self) -> None:
        self.held = False
        self.lost = asyncio.Event()
        self.releases = 0

    def try_acquire(self) -> bool:
        self.held = not self.lost.is_set()
        return self.held

    def still_held(self) -> bool:
        return self.held and not self.lost.is_set()

    def release(self) -> None:
        self.held = False
        self.releases += 1


async def test_duties_run_while_the_lease_is_held_and_stop_when_it_is_lost() -> None:
    lease = ScriptedLease()
    working, stopped = asyncio.Event(), asyncio.Event()

    async def duties() -> None:
        working.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    leading = asyncio.create_task(lead(lease, duties, check_seconds=0.01))
    await asyncio.wait_for(working.wait(), timeout=10)
    assert not stopped.is_set()
    lease.lost.set()
    await asyncio.wait_for(stopped.wait(), timeout=10)
    assert not lease.held
    leading.cancel()
    await asyncio.gather(leading, return_exceptions=True)


async def test_duties_that_fail_give_the_lease_up_and_are_started_again() -> None:
    lease = ScriptedLease()
    starts = 0

    async def duties() -> None:
        nonlocal starts
        starts += 1
        raise RuntimeError("store unreachable")

    leading = asyncio.create_task(lead(lease, duties, check_seconds=0.01))
    deadline = asyncio.get_running_loop().time() + 10
    while starts < 3 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    leading.cancel()
    await asyncio.gather(leading, return_exceptions=True)
    assert starts >= 3
    assert lease.releases >= 3
