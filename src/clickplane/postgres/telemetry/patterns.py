"""Slow query patterns from pg_stat_statements: what a list asks for (window, filters, order, page), a pattern's
operation, and its window's figures as the API shows them.

pg_stat_statements keeps per pattern (query id, database, user) cumulative calls, execution time, the longest
execution, rows, shared blocks and WAL bytes; it has no individual executions, errors, application name, CPU time
or percentiles, so those are not reported (and cannot be sorted or filtered by)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

from clickplane.kit.errors import BadRequest
from clickplane.postgres.telemetry import schemas
from clickplane.postgres.telemetry.repository import PatternTotals
from clickplane.postgres.telemetry.series import sampled_window

SortBy = Literal["total_duration", "avg_duration", "call_count", "total_blks_read", "total_cpu_time", "error_count",
                 "max_duration", "p50_duration", "p95_duration", "p99_duration", "total_rows",
                 "total_shared_blks_hit", "total_wal_bytes"]
SortOrder = Literal["asc", "desc"]
# What each measured order sorts by, as the wire field.
SORT_FIELDS: dict[str, str] = {
    "total_duration": "totalDurationUs", "avg_duration": "avgDurationUs", "call_count": "callCount",
    "total_blks_read": "totalSharedBlksRead", "max_duration": "maxDurationUs", "total_rows": "totalRows",
    "total_shared_blks_hit": "totalSharedBlksHit", "total_wal_bytes": "totalWalBytes",
}
UNMEASURED = "pg_stat_statements keeps aggregates per pattern: no individual executions, errors or CPU time"
MAX_LIMIT = 500
OPERATIONS = ("SELECT", "INSERT", "UPDATE", "DELETE")
UTILITY = "UTILITY"


@dataclass(frozen=True)
class PatternQuery:
    """What `GET .../slowQueryPatterns` asks for: the patterns that ran in [since, until), filtered, sorted, one
    page."""

    since: datetime
    until: datetime
    db_name: str | None = None
    db_user: str | None = None
    db_operation: str | None = None
    sort_by: str = "total_duration"
    descending: bool = True
    limit: int = 20
    offset: int = 0


def pattern_query(from_date: str, to_date: str, db_name: str | None = None, db_user: str | None = None,
                  db_operation: str | None = None, app: str | None = None, sort_by: str = "total_duration",
                  sort_order: str = "desc", limit: int = 20, offset: int = 0) -> PatternQuery:
    since, until = sampled_window(from_date, to_date)
    check_app(app)
    if sort_by not in get_args(SortBy):
        raise BadRequest(f"sort_by {sort_by!r} is not one of {', '.join(get_args(SortBy))}")
    if sort_by not in SORT_FIELDS:
        raise BadRequest(f"sort_by {sort_by}: {UNMEASURED}, so clickplane cannot sort by it; sort by one of "
                         f"{', '.join(SORT_FIELDS)}")
    if sort_order not in get_args(SortOrder):
        raise BadRequest(f"sort_order {sort_order!r} is not asc or desc")
    if not 1 <= limit <= MAX_LIMIT or offset < 0:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}, and offset at least 0")
    return PatternQuery(since, until, db_name, db_user, operation_filter(db_operation), sort_by,
                        sort_order == "desc", limit, offset)


def check_app(app: str | None) -> None:
    if app is not None:
        raise BadRequest("app: pg_stat_statements does not record application_name, so clickplane cannot filter "
                         "by it; leave app out")


def operation_filter(db_operation: str | None) -> str | None:
    if db_operation is None:
        return None
    if db_operation.upper() not in (*OPERATIONS, UTILITY):
        raise BadRequest(f"db_operation {db_operation!r} is not one of {', '.join((*OPERATIONS, UTILITY))}")
    return db_operation.upper()


def page(patterns: Sequence[schemas.PostgresSlowQueryPattern], query: PatternQuery
         ) -> list[schemas.PostgresSlowQueryPattern]:
    """The query's page of `patterns`, in its order (ties by query id, then database and user)."""
    field = SORT_FIELDS[query.sort_by]
    ordered = sorted(patterns, key=lambda pattern: (pattern.queryId, pattern.dbName, pattern.dbUser))
    ordered.sort(key=lambda pattern: getattr(pattern, field), reverse=query.descending)
    return ordered[query.offset:query.offset + query.limit]


def to_wire(totals: PatternTotals) -> schemas.PostgresSlowQueryPattern:
    total_us = round(totals.total_exec_time_ms * 1000)
    return schemas.PostgresSlowQueryPattern(
        queryId=totals.query_id, queryText=totals.query_text, dbName=totals.db_name, dbUser=totals.db_user,
        dbOperation=totals.db_operation, callCount=totals.calls, totalDurationUs=total_us,
        avgDurationUs=round(total_us / totals.calls) if totals.calls else 0,
        maxDurationUs=round(totals.max_exec_time_ms * 1000), totalRows=totals.rows,
        totalSharedBlksRead=totals.shared_blks_read, totalSharedBlksHit=totals.shared_blks_hit,
        totalWalBytes=totals.wal_bytes)


# Comments, string literals (unterminated ones: to the end), quoted names and dollar quotes are one token each;
# parentheses are counted; words are kept.
_TOKEN = re.compile(r"""--[^\n]*|/\*.*?\*/|(?P<literal>[Ee]'(?:[^'\\]|\\.|'')*'?|'(?:[^']|'')*'?"""
                    r"""|\$(?P<tag>(?:[A-Za-z_]\w*)?)\$(?:.*?\$(?P=tag)\$|.*))|"(?:[^"]|"")*"?"""
                    r"""|(?P<parenthesis>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_$]*)|\$\d+|.""", re.DOTALL)
REDACTED = "'<redacted>'"


def redacted(query_text: str) -> str:
    """`query_text` with every string literal and dollar-quoted string replaced by REDACTED: pg_stat_statements
    replaces the constants of queries by $1, $2..., but a utility statement keeps what it was given (the password
    of `CREATE ROLE app PASSWORD 'secret'`)."""
    return _TOKEN.sub(lambda token: REDACTED if token["literal"] is not None else token[0], query_text)


def operation_of(query_text: str) -> str:
    """The statement's top-level operation: its first keyword (one in parentheses counts: `(SELECT ...) UNION ...`),
    or for `WITH ...` the first one after its common table expressions; UTILITY for any other statement."""
    words = _words(query_text)
    first = next(words, ("", 0))[0]
    if first == "WITH":
        first = next((word for word, depth in words if depth == 0 and word in OPERATIONS), "")
    return first if first in OPERATIONS else UTILITY


def _words(text: str) -> Iterator[tuple[str, int]]:
    """The words of `text`, upper-cased, each with how many parentheses enclose it."""
    depth = 0
    for token in _TOKEN.finditer(text):
        if token["parenthesis"] is not None:
            depth = depth + 1 if token["parenthesis"] == "(" else max(0, depth - 1)
        elif token["word"] is not None:
            yield token["word"].upper(), depth
