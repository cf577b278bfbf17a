"""Fixtures shared by unit tests: a real SQLite store (whole, or one transaction on it), and anyio on asyncio."""

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
def database(tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated SQLite store."""
    store = Database(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """One transaction on a fresh, migrated SQLite store."""
    with database.transaction() as opened:
        yield opened
