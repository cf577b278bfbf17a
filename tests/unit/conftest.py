"""Fixtures shared by unit tests: a real SQLite store, and anyio on asyncio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from clickplane.store.database import Database


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """One transaction on a fresh, migrated SQLite store."""
    database = Database(f"sqlite:///{tmp_path / 'store.db'}")
    database.migrate()
    try:
        with database.transaction() as opened:
            yield opened
    finally:
        database.dispose()
