"""Queries of Postgres services' samples and query patterns. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from clickplane.store.models import PostgresSample, PostgresStatement, PostgresStatementSample


@dataclass(frozen=True)
class PatternTotals:
    """A pattern's figures summed over the samples of a window."""

    query_id: str
    query_text: str
    db_name: str
    db_user: str
    db_operation: str
    calls: int
    total_exec_time_ms: float
    max_exec_time_ms: float
    rows: int
    shared_blks_hit: int
    shared_blks_read: int
    wal_bytes: int


class PostgresSamples:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, sample: PostgresSample) -> None:
        self.session.add(sample)

    def any_with_statements(self, service_id: uuid.UUID) -> bool:
        """Whether a sample kept of the service read its pg_stat_statements."""
        return self.session.scalar(select(PostgresSample.taken_at).where(
            PostgresSample.service_id == service_id, PostgresSample.with_statements.is_(True)).limit(1)) is not None

    def between(self, service_id: uuid.UUID, since: datetime, until: datetime) -> list[PostgresSample]:
        """The samples taken in [since, until), oldest first, after the last one taken before `since` (if any)."""
        of_service = PostgresSample.service_id == service_id
        before = self.session.scalars(select(PostgresSample).where(of_service, PostgresSample.taken_at < since)
                                      .order_by(PostgresSample.taken_at.desc()).limit(1)).all()
        within = self.session.scalars(select(PostgresSample).where(
            of_service, PostgresSample.taken_at >= since, PostgresSample.taken_at < until)
            .order_by(PostgresSample.taken_at)).all()
        return [*before, *within]

    def latest(self, service_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, PostgresSample]:
        """Each service's newest sample, for those that have one."""
        newest = (select(PostgresSample.service_id, func.max(PostgresSample.taken_at).label("taken_at"))
                  .where(PostgresSample.service_id.in_(service_ids)).group_by(PostgresSample.service_id)
                  .subquery())
        found = self.session.scalars(select(PostgresSample).join(newest, (
            PostgresSample.service_id == newest.c.service_id) & (PostgresSample.taken_at == newest.c.taken_at)))
        return {sample.service_id: sample for sample in found}

    def prune(self, service_id: uuid.UUID, before: datetime) -> None:
        """Drop the service's samples, and what its patterns did, taken before `before`; then the patterns the
        server no longer has that are left with nothing."""
        self.session.execute(delete(PostgresSample).where(PostgresSample.service_id == service_id,
                                                          PostgresSample.taken_at < before))
        statements = select(PostgresStatement.id).where(PostgresStatement.service_id == service_id)
        self.session.execute(delete(PostgresStatementSample).where(
            PostgresStatementSample.statement_id.in_(statements), PostgresStatementSample.taken_at < before))
        sampled = exists().where(PostgresStatementSample.statement_id == PostgresStatement.id)
        self.session.execute(delete(PostgresStatement).where(
            PostgresStatement.service_id == service_id, PostgresStatement.present.is_(False), ~sampled))


class PostgresStatements:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, service_id: uuid.UUID) -> Sequence[PostgresStatement]:
        return self.session.scalars(select(PostgresStatement).where(PostgresStatement.service_id == service_id)).all()

    def add(self, statement: PostgresStatement) -> PostgresStatement:
        self.session.add(statement)
        self.session.flush()
        return statement

    def add_sample(self, sample: PostgresStatementSample) -> None:
        self.session.add(sample)

    def totals(self, service_id: uuid.UUID, since: datetime | None = None, until: datetime | None = None,
               *, query_id: str | None = None, db_name: str | None = None, db_user: str | None = None,
               db_operation: str | None = None) -> list[PatternTotals]:
        """Each pattern of the service that ran in [since, until) (either end open), with its figures summed over
        that time; those with another query id, database, user or operation than one given left out."""
        sampled = PostgresStatementSample
        matching = ((PostgresStatement.query_id, query_id), (PostgresStatement.db_name, db_name),
                    (PostgresStatement.db_user, db_user), (PostgresStatement.db_operation, db_operation))
        conditions = [column == value for column, value in matching if value is not None]
        query = (select(PostgresStatement.query_id, PostgresStatement.query_text, PostgresStatement.db_name,
                        PostgresStatement.db_user, PostgresStatement.db_operation, func.sum(sampled.calls),
                        func.sum(sampled.total_exec_time_ms), func.max(sampled.max_exec_time_ms),
                        func.sum(sampled.rows), func.sum(sampled.shared_blks_hit), func.sum(sampled.shared_blks_read),
                        func.sum(sampled.wal_bytes))
                 .join(sampled, sampled.statement_id == PostgresStatement.id)
                 .where(PostgresStatement.service_id == service_id, *conditions)
                 .group_by(PostgresStatement.id, PostgresStatement.query_id, PostgresStatement.query_text,
                           PostgresStatement.db_name, PostgresStatement.db_user, PostgresStatement.db_operation))
        if since is not None:
            query = query.where(sampled.taken_at >= since)
        if until is not None:
            query = query.where(sampled.taken_at < until)
        return [PatternTotals(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
                              float(row[6]), float(row[7]), int(row[8]), int(row[9]), int(row[10]), int(row[11]))
                for row in self.session.execute(query)]
