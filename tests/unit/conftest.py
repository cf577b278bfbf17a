"""Fixtures shared by unit tests: a real store (whole, or one transaction on it), and anyio on asyncio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from clickplane.store.database import Database
from tests.stores import drop_database, new_database_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A fresh, migrated store: SQLite, or PostgreSQL when the run is on it (tests/stores.py)."""
    store = Database(new_database_url(tmp_path / "store.db"))
    try:
        store.migrate()
        yield store
    finally:
        store.dispose()
        drop_database(store.url)


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """One transaction on a fresh, migrated store."""
    with database.transaction() as opened:
        yield opened
