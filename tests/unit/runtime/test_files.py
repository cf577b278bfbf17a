"""Writing files that a running ClickHouse server watches."""

from __future__ import annotations

import stat
from pathlib import Path

from clickplane.runtime.files import write_if_changed


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "users.xml"
    assert write_if_changed(path, b"<yandex/>")
    before = path.stat().st_mtime_ns

    assert not write_if_changed(path, b"<yandex/>")
    assert path.stat().st_mtime_ns == before


def test_a_change_within_the_same_second_still_moves_the_mtime_to_a_later_second(tmp_path: Path) -> None:
    path = tmp_path / "users.xml"
    write_if_changed(path, b"<yandex>1</yandex>")
    first_second = path.stat().st_mtime_ns // 1_000_000_000

    assert write_if_changed(path, b"<yandex>2</yandex>")

    assert path.read_bytes() == b"<yandex>2</yandex>"
    assert path.stat().st_mtime_ns // 1_000_000_000 > first_second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
