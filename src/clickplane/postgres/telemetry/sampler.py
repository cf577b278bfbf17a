"""Samples of running Postgres servers' own statistics views, asked for by the reconciler's watch of each running
service and taken at most once an interval, then kept for the retention.

One look is one read-only transaction in the `postgres` database, as the runtime's own login (`sql_login`), with a
short statement timeout and pg_catalog alone on the search path (what users set on that role or database cannot
redirect a name). It reads pg_stat_database's counters summed over the databases, client connections by state
(pg_stat_activity; clickplane's own left out), each database's size but the templates', and, when the
pg_stat_statements extension exists, its patterns (those of clickplane's login left out), their string literals
redacted before anything is kept (a utility statement keeps its constants: a role's password).

pg_stat_statements keeps up to thousands of cumulative patterns, so only what changed is stored: each pattern's
counters as last read (PostgresStatement), and for each look in which it ran the differences since the last look
(PostgresStatementSample). A pattern the server no longer has (evicted, reset) counts from 0 when it comes back. The
first look that reads pg_stat_statements (of those kept) is the baseline of what came before it, unless the
server's statistics began shortly before (FRESH_SECONDS: a new server), when what they counted is that look's.

A look that fails (the server went away, a timeout) is skipped; the watch reports the server's health."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from clickplane.postgres.telemetry.patterns import operation_of, redacted
from clickplane.postgres.telemetry.readings import COUNTERS, Reading, delta
from clickplane.postgres.telemetry.repository import PostgresSamples, PostgresStatements
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.interface import PostgresRuntime
from clickplane.store.database import Database
from clickplane.store.models import PostgresSample, PostgresStatement, PostgresStatementSample, utcnow

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_SECONDS = 3  # libpq's, in whole seconds
_STATEMENT_TIMEOUT_MS = 2000
_LOOK_TIMEOUT_SECONDS = 10.0
_SESSION_OPTIONS = (f"-c statement_timeout={_STATEMENT_TIMEOUT_MS} -c search_path=pg_catalog "
                    "-c default_transaction_read_only=on")
# A first look whose server's pg_stat_statements began at most this long before counts what they counted.
FRESH_SECONDS = 600.0
MAX_QUERY_TEXT = 10_000
Connection = psycopg.AsyncConnection[TupleRow]

COUNTERS_SQL = sql.SQL("SELECT {} FROM pg_stat_database").format(sql.SQL(", ").join(
    sql.SQL("coalesce(sum({}), 0)::bigint").format(sql.Identifier(name)) for name in COUNTERS))
CONNECTIONS_SQL = sql.SQL(
    "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename IS DISTINCT FROM current_user"
    " GROUP BY 1")
SIZES_SQL = sql.SQL("SELECT datname, pg_database_size(oid) FROM pg_database WHERE NOT datistemplate")
EXTENSION_SQL = sql.SQL(
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_stat_statements'")
# Top-level and nested executions of one pattern are summed.
STATEMENTS_SQL = (
    "SELECT s.queryid::text, d.datname, r.rolname, left(min(s.query), {max_text}), sum(s.calls)::bigint,"
    " sum(s.total_exec_time), max(s.max_exec_time), sum(s.rows)::bigint, sum(s.shared_blks_hit)::bigint,"
    " sum(s.shared_blks_read)::bigint, sum(s.wal_bytes)::bigint"
    " FROM {schema}.pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid"
    " WHERE s.queryid IS NOT NULL AND r.rolname <> current_user"
    " GROUP BY s.queryid, d.datname, r.rolname")
STATEMENTS_BEGAN_SQL = "SELECT stats_reset FROM {schema}.pg_stat_statements_info"


@dataclass(frozen=True)
class StatementReading:
    """One pattern's cumulative counters, as pg_stat_statements has them."""

    # Its queryid as an unsigned 64-bit number (plus 2**64 when negative): a CLI takes `-123` for an option.
    query_id: str
    db_name: str
    db_user: str
    query_text: str
    calls: int
    total_exec_time_ms: float
    max_exec_time_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    wal_bytes: int

    @property
    def key(self) -> tuple[str, str, str]:
        return self.query_id, self.db_name, self.db_user


@dataclass(frozen=True)
class Statements:
    """pg_stat_statements' patterns, and when its statistics began."""

    began: datetime | None
    patterns: tuple[StatementReading, ...]


@dataclass(frozen=True)
class Look:
    reading: Reading
    statements: Statements | None  # None: no pg_stat_statements extension


async def look(conninfo: str) -> Look:
    """One look at the server; psycopg.Error, OSError or TimeoutError when it cannot be had."""
    async with asyncio.timeout(_LOOK_TIMEOUT_SECONDS):
        connection = await psycopg.AsyncConnection.connect(
            conninfo, dbname="postgres", connect_timeout=_CONNECT_TIMEOUT_SECONDS, options=_SESSION_OPTIONS,
            application_name="clickplane sampler")
        async with connection, connection.transaction():
            counters = await _rows(connection, COUNTERS_SQL)
            reading = Reading(
                counters=dict(zip(COUNTERS, map(int, counters[0]), strict=True)),
                connections={str(state): int(count) for state, count in await _rows(connection, CONNECTIONS_SQL)},
                database_sizes={str(name): int(size) for name, size in await _rows(connection, SIZES_SQL)})
            return Look(reading, await _statements(connection))


async def _statements(connection: Connection) -> Statements | None:
    schema = await _rows(connection, EXTENSION_SQL)
    if not schema:
        return None
    names = {"schema": sql.Identifier(str(schema[0][0])), "max_text": sql.Literal(MAX_QUERY_TEXT)}
    began = await _rows(connection, sql.SQL(STATEMENTS_BEGAN_SQL).format(**names))
    rows = await _rows(connection, sql.SQL(STATEMENTS_SQL).format(**names))
    return Statements(began[0][0] if began else None, tuple(StatementReading(
        str(int(query_id) % 2**64), str(db_name), str(db_user), redacted(str(text or ""))[:MAX_QUERY_TEXT], int(calls),
        float(total),
        float(longest),
        int(returned), int(hit), int(read), int(wal))
        for query_id, db_name, db_user, text, calls, total, longest, returned, hit, read, wal in rows))


async def _rows(connection: Connection, query: sql.SQL | sql.Composed) -> list[TupleRow]:
    return await (await connection.execute(query)).fetchall()


class PostgresSampler:
    def __init__(self, database: Database, runtime: PostgresRuntime, interval_seconds: float,
                 retention_hours: float) -> None:
        self.database = database
        self.runtime = runtime
        self.interval_seconds = interval_seconds
        self.retention = timedelta(hours=retention_hours)
        self._looked_at: dict[uuid.UUID, float] = {}

    async def sample_when_due(self, service_id: uuid.UUID) -> None:
        """Sample the running service unless it was sampled less than an interval ago."""
        now = time.monotonic()
        if now - self._looked_at.get(service_id, -math.inf) < self.interval_seconds:
            return
        self._looked_at[service_id] = now
        await self.sample(service_id)

    async def sample(self, service_id: uuid.UUID) -> bool:
        """Look at the service's server and store what it said; whether it did. Never raises for a server or a
        store that fails: the watch that asked goes on with its other checks."""
        try:
            login = await self.runtime.sql_login(str(service_id))
            if login is None:
                return False
            seen = await look(login.conninfo)
        except (psycopg.Error, OSError, TimeoutError, RuntimeFailure) as error:
            log.info("Postgres service %s: no sample this time: %s", service_id, str(error).strip() or "timed out")
            return False
        try:
            return self.store(service_id, utcnow(), seen)
        except SQLAlchemyError as error:
            log.warning("Postgres service %s: its sample was not stored: %s", service_id, error)
            return False

    def store(self, service_id: uuid.UUID, taken_at: datetime, seen: Look) -> bool:
        """Record one look, and drop what the retention no longer keeps; False when the service is gone."""
        try:
            with self.database.transaction() as session:
                samples = PostgresSamples(session)
                if seen.statements is not None:
                    began = seen.statements.began
                    counted = samples.any_with_statements(service_id) or (
                        began is not None and (taken_at - began).total_seconds() <= FRESH_SECONDS)
                    record_statements(PostgresStatements(session), service_id, taken_at, seen.statements.patterns,
                                      counted)
                samples.add(PostgresSample(service_id=service_id, taken_at=taken_at, readings=seen.reading.as_json(),
                                           with_statements=seen.statements is not None))
                samples.prune(service_id, taken_at - self.retention)
        except IntegrityError:  # deleted meanwhile: its rows went with it
            return False
        return True


def record_statements(statements: PostgresStatements, service_id: uuid.UUID, taken_at: datetime,
                      patterns: Sequence[StatementReading], counted: bool = True) -> None:
    """Store what each pattern did since the last look (only with `counted`: else this look is the baseline), and
    its counters as read now; the patterns gone from the server count from 0 from now on."""
    known = {(stored.query_id, stored.db_name, stored.db_user): stored for stored in statements.of(service_id)}
    for pattern in patterns:
        stored = known.pop(pattern.key, None) or statements.add(PostgresStatement(
            id=uuid.uuid4(), service_id=service_id, query_id=pattern.query_id, db_name=pattern.db_name,
            db_user=pattern.db_user, db_operation=operation_of(pattern.query_text), query_text=pattern.query_text,
            present=False, calls=0, total_exec_time_ms=0.0, rows=0, shared_blks_hit=0, shared_blks_read=0,
            wal_bytes=0))
        if pattern.calls == stored.calls:
            continue
        if counted:
            statements.add_sample(PostgresStatementSample(
                statement_id=stored.id, taken_at=taken_at, calls=int(delta(stored.calls, pattern.calls)),
                total_exec_time_ms=delta(stored.total_exec_time_ms, pattern.total_exec_time_ms),
                max_exec_time_ms=pattern.max_exec_time_ms, rows=int(delta(stored.rows, pattern.rows)),
                shared_blks_hit=int(delta(stored.shared_blks_hit, pattern.shared_blks_hit)),
                shared_blks_read=int(delta(stored.shared_blks_read, pattern.shared_blks_read)),
                wal_bytes=int(delta(stored.wal_bytes, pattern.wal_bytes))))
        _read_as(stored, pattern)
    for gone in known.values():
        if gone.present:
            _read_as(gone, None)


def _read_as(stored: PostgresStatement, pattern: StatementReading | None) -> None:
    """Keep the pattern's counters as read (None: gone from the server, so 0)."""
    stored.present = pattern is not None
    stored.calls = pattern.calls if pattern else 0
    stored.total_exec_time_ms = pattern.total_exec_time_ms if pattern else 0.0
    stored.rows = pattern.rows if pattern else 0
    stored.shared_blks_hit = pattern.shared_blks_hit if pattern else 0
    stored.shared_blks_read = pattern.shared_blks_read if pattern else 0
    stored.wal_bytes = pattern.wal_bytes if pattern else 0
