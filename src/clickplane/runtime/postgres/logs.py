"""A server's log, as its log collector writes it (config.py): JSON objects, one a line, in files named by the moment
each was begun, `postgresql-20261202T150812.json` (UTC), a new one each LOG_ROTATION_SIZE. The collector also
keeps a text file of the same name in .log, for what programs it runs (archive_command) write to their stderr.
PostgreSQL removes none of them: the runtime keeps the newest few (`trim`). Blocking: call these in a thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickplane.runtime.postgres.interface import LogEntry

# With files of config.LOG_ROTATION_SIZE, at most some 100 MB of JSON.
FILES_KEPT = 10
_FILE = re.compile(r"postgresql-(?P<begun>\d{8}T\d{6})\.(?P<kind>json|log)")
# A file's name has the second it was begun; its last entries may be from the second the next one was begun.
_NAME_PRECISION = timedelta(seconds=1)
# The parts of an entry beside its message, each a line of its own as PostgreSQL's text log has them.
_PARTS = (("detail", "DETAIL"), ("hint", "HINT"), ("context", "CONTEXT"), ("statement", "STATEMENT"))


def read(directory: Path, since: datetime, until: datetime, limit: int) -> list[LogEntry]:
    """The entries logged in [since, until), oldest first, at most `limit`."""
    entries: list[LogEntry] = []
    for path in _files_covering(directory, "json", since, until):
        for entry in _entries(path):
            if entry.timestamp >= until or len(entries) >= limit:
                return entries
            if entry.timestamp >= since:
                entries.append(entry)
    return entries


def trim(directory: Path, kept: int = FILES_KEPT) -> None:
    """Remove all but the newest `kept` files of each kind."""
    for kind in ("json", "log"):
        for path, _ in _files(directory, kind)[:-kept]:
            path.unlink(missing_ok=True)


def _files(directory: Path, kind: str) -> list[tuple[Path, datetime]]:
    """The log files of `kind`, oldest first, with when each was begun."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        name = _FILE.fullmatch(path.name)
        if name is not None and name["kind"] == kind:
            found.append((path, datetime.strptime(name["begun"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)))
    return sorted(found, key=lambda file: file[1])


def _files_covering(directory: Path, kind: str, since: datetime, until: datetime) -> Iterator[Path]:
    """The files that may hold entries of [since, until): each holds those from when it was begun to when the next
    one was."""
    files = _files(directory, kind)
    for index, (path, begun) in enumerate(files):
        if begun >= until:
            return
        next_begun = files[index + 1][1] if index + 1 < len(files) else None
        if next_begun is None or next_begun + _NAME_PRECISION > since:
            yield path


def _entries(path: Path) -> Iterator[LogEntry]:
    """The file's entries; a line that is no entry (the one the collector is writing) is left out."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                entry = _entry(line)
                if entry is not None:
                    yield entry
    except FileNotFoundError:  # trimmed meanwhile
        return


def _entry(line: str) -> LogEntry | None:
    try:
        fields = json.loads(line)
        # `2026-12-02 15:08:12.345 UTC`: log_timezone is UTC (config.py).
        timestamp = datetime.strptime(fields["timestamp"], "%Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC)
        body = "\n".join([str(fields["message"]), *(f"{label}:  {fields[name]}" for name, label in _PARTS
                                                   if fields.get(name))])
        return LogEntry(timestamp=timestamp, severity=str(fields["error_severity"]), body=body)
    except (ValueError, KeyError, TypeError):
        return None
