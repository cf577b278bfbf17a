"""The metadata store the tests run on: a SQLite file by default, or a fresh database on a real PostgreSQL
server when CLICKPLANE_TEST_POSTGRES_URL names one (an account allowed to create databases, e.g.
`postgresql+psycopg://clickplane:clickplane@127.0.0.1:5432/postgres`). `scripts/test` runs the suite
once each way."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

POSTGRES_ADMIN_URL = os.environ.get("CLICKPLANE_TEST_POSTGRES_URL")
# Every database the tests create starts with this, so that a run's leftovers can be found.
DATABASE_PREFIX = "clickplane_test_"


def on_postgres() -> bool:
    return bool(POSTGRES_ADMIN_URL)


def _administer(statement: str) -> None:
    assert POSTGRES_ADMIN_URL
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")  # CREATE DATABASE runs outside BEGIN
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def new_database_url(sqlite_path: Path) -> str:
    """A new, empty store: the SQLite file at `sqlite_path`, or a new database on the test PostgreSQL."""
    if not POSTGRES_ADMIN_URL:
        return f"sqlite:///{sqlite_path}"
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    _administer(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Remove a store made by new_database_url (a SQLite file goes with its directory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    # FORCE ends the store's own sessions; an autovacuum worker that the server started on the new database
    # belongs to the superuser, which the test account may not signal: it is done in moments, so try again.
    deadline = time.monotonic() + 30
    while True:
        try:
            _administer(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
            return
        except ProgrammingError as error:
            if "pg_signal_backend" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
