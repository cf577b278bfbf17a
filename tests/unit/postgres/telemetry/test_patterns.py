"""Slow query patterns: a statement's operation, what a list may ask for (what pg_stat_statements does not measure
is refused), its order and page, and a pattern's figures on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.postgres.telemetry.patterns import operation_of, page, pattern_query, redacted, to_wire
from clickplane.postgres.telemetry.repository import PatternTotals


@pytest.mark.parametrize(("query", "operation"), [
    ("SELECT * FROM t WHERE id = $1", "SELECT"),
    ("  select 1", "SELECT"),
    ("insert into t values ($1, $2)", "INSERT"),
    ("UPDATE t SET n = n + $1", "UPDATE"),
    ("DELETE FROM t WHERE id = $1", "DELETE"),
    ("-- a comment naming DELETE\n/* and INSERT */ SELECT $1", "SELECT"),
    ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
    ("WITH gone AS (DELETE FROM t RETURNING *) INSERT INTO archive SELECT * FROM gone", "INSERT"),
    ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT * FROM n", "SELECT"),
    ('WITH "select" AS MATERIALIZED (SELECT 1) UPDATE t SET a = $1', "UPDATE"),
    ("CREATE TABLE t (n int)", "UTILITY"),
    ("EXPLAIN SELECT 1", "UTILITY"),
    ("BEGIN", "UTILITY"),
    ("COPY t FROM STDIN", "UTILITY"),
    ("", "UTILITY"),
    ("WITH a AS (SELECT ')' || 'it''s', $$ ( $$) DELETE FROM t USING a", "DELETE"),
    ("WITH a AS (SELECT 1) /* SELECT */ -- INSERT\n UPDATE t SET n = $1", "UPDATE"),
])
def test_the_operation_is_the_statements_first_keyword_or_for_with_the_one_after_its_expressions(
        query: str, operation: str) -> None:
    assert operation_of(query) == operation


@pytest.mark.parametrize(("query", "kept"), [
    ("CREATE ROLE app LOGIN PASSWORD 'Very-Secret-1'", "CREATE ROLE app LOGIN PASSWORD '<redacted>'"),
    ("ALTER ROLE app PASSWORD 'it''s' VALID UNTIL 'infinity'",
     "ALTER ROLE app PASSWORD '<redacted>' VALID UNTIL '<redacted>'"),
    (r"ALTER USER app PASSWORD E'a\'b' -- 'no'", "ALTER USER app PASSWORD '<redacted>' -- 'no'"),
    ("DO $body$ BEGIN EXECUTE 'x'; END $body$", "DO '<redacted>'"),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=a password=b' PUBLICATION p",
     "CREATE SUBSCRIPTION s CONNECTION '<redacted>' PUBLICATION p"),
    ("ALTER ROLE app PASSWORD 'cut short by the length lim", "ALTER ROLE app PASSWORD '<redacted>'"),
    ("SELECT * FROM t WHERE id = $1 AND \"na'me\" = $2", "SELECT * FROM t WHERE id = $1 AND \"na'me\" = $2"),
])
def test_string_literals_are_redacted_even_one_cut_short(query: str, kept: str) -> None:
    assert redacted(query) == kept


def test_a_list_defaults_to_the_most_total_time_first_twenty_at_a_time() -> None:
    query = pattern_query("2026-12-01T00:00:00.000Z", "2026-12-01T01:00:00.000Z")

    assert (query.sort_by, query.descending, query.limit, query.offset) == ("total_duration", True, 20, 0)
    assert (query.since, query.until) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(("arguments", "message"), [
    ({"sort_by": "p95_duration"}, "p95_duration: pg_stat_statements keeps aggregates per pattern"),
    ({"sort_by": "total_cpu_time"}, "cannot sort by it; sort by one of total_duration"),
    ({"sort_by": "error_count"}, "error_count"),
    ({"sort_by": "fastest"}, "'fastest' is not one of"),
    ({"sort_order": "up"}, "not asc or desc"),
    ({"limit": 501}, "limit must be between 1 and 500"),
    ({"limit": 0}, "limit must be between 1 and 500"),
    ({"offset": -1}, "offset at least 0"),
    ({"app": "psql"}, "does not record application_name"),
    ({"db_operation": "MERGE"}, "db_operation 'MERGE' is not one of SELECT, INSERT, UPDATE, DELETE, UTILITY"),
])
def test_what_cannot_be_answered_is_refused_saying_why(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        pattern_query("2026-12-01T00:00:00Z", "2026-12-01T01:00:00Z", **arguments)  # type: ignore[arg-type]


def test_a_window_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(BadRequest, match="after to_date"):
        pattern_query("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z")


def totals(query_id: str, calls: int, total_ms: float, **fields: int) -> PatternTotals:
    return PatternTotals(query_id=query_id, query_text=f"SELECT {query_id}", db_name="shop", db_user="app",
                         db_operation="SELECT", calls=calls, total_exec_time_ms=total_ms,
                         max_exec_time_ms=fields.pop("max_ms", 0), rows=fields.pop("rows", 0),
                         shared_blks_hit=fields.pop("hit", 0), shared_blks_read=fields.pop("read", 0),
                         wal_bytes=fields.pop("wal", 0))


def test_a_patterns_figures_are_microseconds_with_what_is_not_measured_left_out() -> None:
    wire = to_wire(totals("-42", 3, 1.5, max_ms=1, rows=7, hit=9, read=2, wal=100))

    assert wire.model_dump(exclude_none=True) == {
        "queryId": "-42", "queryText": "SELECT -42", "dbName": "shop", "dbUser": "app", "dbOperation": "SELECT",
        "callCount": 3, "totalDurationUs": 1500, "avgDurationUs": 500, "maxDurationUs": 1000, "totalRows": 7,
        "totalSharedBlksRead": 2, "totalSharedBlksHit": 9, "totalWalBytes": 100}


def test_a_page_is_sorted_by_the_field_asked_for_ties_by_query_id() -> None:
    patterns = [to_wire(totals("3", 10, 5.0)), to_wire(totals("1", 1, 50.0)), to_wire(totals("2", 10, 1.0))]

    by_time = page(patterns, pattern_query("2026-12-01", "2026-12-02"))
    by_calls = page(patterns, pattern_query("2026-12-01", "2026-12-02", sort_by="call_count", sort_order="asc"))
    second = page(patterns, pattern_query("2026-12-01", "2026-12-02", sort_by="avg_duration", limit=1, offset=1))

    assert [pattern.queryId for pattern in by_time] == ["1", "3", "2"]
    assert [pattern.queryId for pattern in by_calls] == ["1", "2", "3"]
    assert [pattern.queryId for pattern in second] == ["3"]
