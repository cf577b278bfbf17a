"""A server's JSON log read back in a time window, across the files it rotates through, and trimmed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clickplane.runtime.postgres import logs
from clickplane.runtime.postgres.interface import LogEntry

T0 = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)


def _line(at: datetime, severity: str, message: str, **parts: str) -> str:
    stamp = at.strftime("%Y-%m-%d %H:%M:%S.") + f"{at.microsecond // 1000:03d} UTC"
    return json.dumps({"timestamp": stamp, "pid": 4654, "error_severity": severity, "message": message, **parts})


def _file(directory: Path, begun: datetime, *lines: str, kind: str = "json") -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"postgresql-{begun.strftime('%Y%m%dT%H%M%S')}.{kind}"
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def test_entries_in_a_window_come_oldest_first_across_rotated_files(tmp_path: Path) -> None:
    _file(tmp_path, T0, _line(T0, "LOG", "starting PostgreSQL 17.10"),
          _line(T0 + timedelta(seconds=10), "ERROR", "division by zero", statement="SELECT 1/0"))
    _file(tmp_path, T0 + timedelta(minutes=1), _line(T0 + timedelta(minutes=1), "LOG", "checkpoint starting: time"),
          '{"timestamp": "2026-12-02 15:0')  # the line the collector is writing
    _file(tmp_path, T0, "not json", kind="log")

    everything = logs.read(tmp_path, T0, T0 + timedelta(hours=1), 100)
    assert [entry.body for entry in everything] == ["starting PostgreSQL 17.10",
                                                    "division by zero\nSTATEMENT:  SELECT 1/0",
                                                    "checkpoint starting: time"]
    assert everything[1] == LogEntry(T0 + timedelta(seconds=10), "ERROR", "division by zero\nSTATEMENT:  SELECT 1/0")
    assert logs.read(tmp_path, T0 + timedelta(seconds=1), T0 + timedelta(minutes=1), 100) == everything[1:2]
    assert logs.read(tmp_path, T0, T0 + timedelta(hours=1), 2) == everything[:2]
    assert logs.read(tmp_path, T0 + timedelta(hours=1), T0 + timedelta(hours=2), 100) == []
    assert logs.read(tmp_path / "none", T0, T0 + timedelta(hours=1), 100) == []


def test_trimming_keeps_the_newest_files_of_each_kind(tmp_path: Path) -> None:
    for minute in range(5):
        _file(tmp_path, T0 + timedelta(minutes=minute), _line(T0 + timedelta(minutes=minute), "LOG", f"{minute}"))
        _file(tmp_path, T0 + timedelta(minutes=minute), kind="log")
    (tmp_path / "current_logfiles").write_text("")
    logs.trim(tmp_path, kept=2)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == [
        "current_logfiles", "postgresql-20261202T150300.json", "postgresql-20261202T150300.log",
        "postgresql-20261202T150400.json", "postgresql-20261202T150400.log"]
    assert [entry.body for entry in logs.read(tmp_path, T0, T0 + timedelta(hours=1), 100)] == ["3", "4"]
