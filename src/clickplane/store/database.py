"""Engine, sessions and migrations for the metadata store.

SQLite is the embedded default; PostgreSQL is a different URL. Migrations run on every start, so a
store is always at the schema this code expects.

Concurrent writers (several API processes, the reconciler, operator commands) must not lose each
other's changes. On PostgreSQL, a write transaction locks the rows it decides on (`FOR UPDATE`, see the
repositories). SQLite has no row locks, so each write transaction takes the database's write lock when it
begins (`BEGIN IMMEDIATE`) instead of when it first writes: two transactions can then never both read a
row and both act on what they read, and a writer that finds the lock taken waits (busy_timeout) rather
than failing mid-transaction.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (API) and the writer (reconciler, CLI) work side by side; the busy timeout turns
    # a short write race between processes into a wait instead of an error.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    dbapi_connection.isolation_level = None  # the driver leaves BEGIN to _begin_sqlite


READ_ONLY = "clickplane_read_only"


def _begin_sqlite(connection: Connection) -> None:
    # Reads run in autocommit (each statement its own snapshot, no lock); writes lock the database up front.
    if not connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _make_sqlite_file_private(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (it would make it 0644), and take other users' access
    from one made before: it holds password hashes, emails and addresses. SQLite gives the -wal and -shm files
    it makes the database file's mode; ones left by an earlier version are made private too."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except FileNotFoundError:
        return  # no such directory: SQLite says so when it is opened
    for existing in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if existing.stat().st_mode & 0o077:
                existing.chmod(0o600)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if self.engine.dialect.name == "sqlite":
            _make_sqlite_file_private(self.engine.url.database)
            event.listen(self.engine, "connect", _tune_sqlite)
            event.listen(self.engine, "begin", _begin_sqlite)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reading_sessions = sessionmaker(self.engine.execution_options(**{READ_ONLY: True}),
                                              expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def looking(self) -> Iterator[Session]:
        """A session to read with, never committed: on SQLite it takes no write lock, so frequent looks (the
        reconciler's, every pass) do not queue behind writes or hold up the API's."""
        with self._reading_sessions() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A plain connection for hot read paths: Core queries without the ORM's bookkeeping."""
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()
