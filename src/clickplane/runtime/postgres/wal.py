"""WAL positions, segment names, and where the recovery of a restore is to stop. Blocking: call these in a thread.

A restore recovers "to the last transaction committed at or before" its target. PostgreSQL's own time target
(`recovery_target_time`) stops before the first commit or abort later than the target, but fails outright
(FATAL "recovery ended before configured recovery target was reached") when the archived WAL holds none, which is
what a quiet database gives for any target after its last write. So the runtime finds the stop itself, in the
archived WAL (pg_waldump): before the first such commit or abort, else after the last record archived. A stop
given as a WAL position also cannot move when more WAL is archived while the restore runs.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.server_user import ServerUser

# initdb's default, which the runtime keeps (it passes no --wal-segsize), and so do the clusters copied from them.
SEGMENT_BYTES = 16 * 1024 * 1024
_SEGMENTS_PER_ID = 0x1_0000_0000 // SEGMENT_BYTES
SEGMENT_NAME = re.compile(r"[0-9A-F]{24}")
# A file's modification time comes from a clock that may lag the one transactions are stamped by (by a tick);
# segments completed this much before a target are looked at too.
_CLOCK_SLACK = timedelta(seconds=1)
# pg_waldump's line per record: `rmgr: Transaction len (rec/tot): 34/34, tx: 740, lsn: 0/030000C0, prev 0/03000028,
# desc: COMMIT 2026-12-02 15:16:51.201157 UTC`, its times in the time zone it runs in (UTC: see _waldump).
_RECORD = re.compile(r"^rmgr: (?P<rmgr>\w+) .*?\blsn: (?P<lsn>[0-9A-F]+/[0-9A-F]+), .*?\bdesc: (?P<desc>.*)$")
# The transaction records recovery can stop at (PostgreSQL's recoveryStopsBefore): commits and aborts, prepared
# or not (`COMMIT_PREPARED 741: <time>`).
_ENDED_TRANSACTION = re.compile(r"^(COMMIT|ABORT)(_PREPARED \d+:)? "
                                r"(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?) UTC")


def parse_lsn(text: str) -> int:
    """A WAL position from its text form, `0/30000C0`."""
    high, low = text.split("/")
    return int(high, 16) << 32 | int(low, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def segment_name(timeline: int, lsn: int) -> str:
    """The name of the WAL segment file holding position `lsn` of `timeline`."""
    number = lsn // SEGMENT_BYTES
    return f"{timeline:08X}{number // _SEGMENTS_PER_ID:08X}{number % _SEGMENTS_PER_ID:08X}"


def archived_segments(archive: Path) -> list[Path]:
    """The archive's WAL segments (not its history, backup history or partial files), in WAL order."""
    if not archive.is_dir():
        return []
    return sorted((entry for entry in archive.iterdir() if SEGMENT_NAME.fullmatch(entry.name)),
                  key=lambda entry: entry.name)


def completed_at(segment: Path) -> datetime:
    """When a segment was completed: its archived copy keeps the time it was last written (archive_command)."""
    return datetime.fromtimestamp(segment.stat().st_mtime, UTC)


@dataclass(frozen=True)
class RecoveryStop:
    """Where a restore's recovery stops: just before the record at `lsn` of `timeline`, or just after it when
    `inclusive`."""

    timeline: int
    lsn: str
    inclusive: bool


def recovery_stop(pg_waldump: Path, archive: Path, first_segment: str, target: datetime, user: ServerUser,
                  timeout: float) -> RecoveryStop:
    """Where the recovery of a base backup whose WAL starts in `first_segment` is to stop to hold what was committed
    at or before `target`: before the first commit or abort later than it in the archive, else after the last
    record archived. Only the segments completed after about `target` are read. RuntimeFailure when the archive
    lacks WAL from there on or pg_waldump cannot read it."""
    timeline = first_segment[:8]
    segments = [segment for segment in archived_segments(archive)
                if segment.name[:8] == timeline and segment.name >= first_segment]
    if not segments:
        raise RuntimeFailure(f"the archive {archive} holds no WAL from segment {first_segment} on")
    after = [segment for segment in segments if completed_at(segment) >= target - _CLOCK_SLACK]
    first = after[0] if after else segments[-1]
    last_lsn: str | None = None
    with contextlib.closing(_records(pg_waldump, archive, first.name, segments[-1].name, user, timeout)) as records:
        for rmgr, lsn, desc in records:
            last_lsn = lsn
            ended = _ENDED_TRANSACTION.match(desc) if rmgr == "Transaction" else None
            if ended is not None and _utc(ended["time"]) > target:
                return RecoveryStop(int(timeline, 16), lsn, inclusive=False)
    if last_lsn is None:
        raise RuntimeFailure(f"pg_waldump found no WAL record in {first.name}..{segments[-1].name} of {archive}")
    return RecoveryStop(int(timeline, 16), last_lsn, inclusive=True)


def _records(pg_waldump: Path, archive: Path, first: str, last: str, user: ServerUser,
             timeout: float) -> Generator[tuple[str, str, str], None, None]:
    """(resource manager, position, description) of each WAL record from segment `first` to `last`, as
    pg_waldump reads them; RuntimeFailure when it fails or takes longer than `timeout`."""
    deadline = time.monotonic() + timeout
    argv = [str(pg_waldump), f"--path={archive}", first, last]
    with _output_of(user, argv, archive) as (lines, waldump):
        for line in lines:
            if time.monotonic() >= deadline:
                raise RuntimeFailure(f"pg_waldump did not read {first}..{last} within {timeout:g} s")
            record = _RECORD.match(line)
            if record is not None:
                yield record["rmgr"], record["lsn"], record["desc"]
        try:
            status = waldump.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            raise RuntimeFailure(f"pg_waldump did not end within {timeout:g} s") from None
        if status != 0:
            error = waldump.stderr.read() if waldump.stderr is not None else ""
            raise RuntimeFailure(f"pg_waldump could not read the WAL {first}..{last} of {archive} (status "
                                 f"{status}): {error.strip()[-1000:]}")


@contextlib.contextmanager
def _output_of(user: ServerUser, argv: list[str], cwd: Path) -> Iterator[tuple[Iterable[str], subprocess.Popen[str]]]:
    """A program's output lines as it writes them; the program is ended when the caller is done with them."""
    try:
        program = user.start(argv, cwd, {"TZ": "UTC"})
    except OSError as error:
        raise RuntimeFailure(f"cannot run {argv[0]}: {error}") from error
    assert program.stdout is not None
    try:
        yield program.stdout, program
    finally:
        if program.poll() is None:
            program.kill()
        program.wait()
        program.stdout.close()
        if program.stderr is not None:
            program.stderr.close()


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
