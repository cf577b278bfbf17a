"""The SQL ClickStack runs on a service's ClickHouse: the checks of a source's table and expressions, and an
alert's value per window (and per group). Every query the user's text takes part in runs with limits, so that a
search or an alert cannot hurt the service: read-only, bounded in time, result rows and memory.

Only what ClickHouse 18.16 already had is used (intDiv, toUInt32 of a time, toDateTime of a number), so the
same text runs on every server clickplane can drive."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickplane.clickstack.lucene import ColumnContext, LuceneError, lucene_to_sql
from clickplane.kit.errors import BadRequest
from clickplane.query.statements import LIMITS
from clickplane.runtime.clickhouse.sql import literal
from clickplane.runtime.pipes.destination import Destination, DestinationRefused, table_name

# How many groups one alert follows in a window; beyond, the query fails (max_result_rows) and says so.
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class SourceTable:
    """Where a source's rows are and how to read their time and full text."""

    database: str
    table: str
    timestamp: str
    implicit_column: str | None

    @property
    def name(self) -> str:
        return table_name(self.database, self.table)


def table_of(source: Mapping[str, Any]) -> SourceTable:
    located = source.get("from") or {}
    return SourceTable(database=str(located.get("databaseName") or "default"),
                       table=str(located.get("tableName") or ""),
                       timestamp=str(source.get("timestampValueExpression") or ""),
                       implicit_column=source.get("implicitColumnExpression") or None)


async def column_types(destination: Destination, database: str, table: str) -> dict[str, str]:
    """The table's columns and their types, from system.columns (empty when the table does not exist)."""
    text = await destination.execute(
        f"SELECT name, type FROM system.columns WHERE database = {literal(database)} "  # noqa: S608 (quoted)
        f"AND table = {literal(table)} FORMAT JSONEachRow")
    return {row["name"]: row["type"] for row in map(json.loads, text.splitlines())}


def condition(where: str | None, language: str | None, table: SourceTable, columns: Mapping[str, str]) -> str:
    """A where text as a ClickHouse condition: SQL as given (in parentheses), Lucene translated (lucene.py)."""
    if not where or not where.strip():
        return "1"
    if language == "sql":
        return f"({where})"
    try:
        return lucene_to_sql(where, ColumnContext.of_columns(table.implicit_column, columns))
    except LuceneError as error:
        raise BadRequest(f"where: {error}; write it in Lucene (field:value, AND, OR, NOT) or set whereLanguage "
                         "to sql") from None


@dataclass(frozen=True)
class ValueQuery:
    """What an alert measures: `aggregate` over the rows of `table` that meet `conditions`, per window, and per
    value of `group_by` when given."""

    table: SourceTable
    aggregate: str
    conditions: tuple[str, ...]
    group_by: str | None = None

    def sql(self, start: datetime, end: datetime, step_seconds: int) -> str:
        """One row per window (`slot`, counted from `start` in steps) and group that has rows."""
        first, last = _epoch(start), _epoch(end)
        time = self.table.timestamp
        group = f", toString({self.group_by}) AS grp" if self.group_by else ""
        where = " AND ".join((f"{time} >= toDateTime({first})", f"{time} < toDateTime({last})", *self.conditions))
        return (f"SELECT intDiv(toUInt32({time}) - {first}, {step_seconds}) AS slot{group}, "  # noqa: S608
                f"toFloat64({self.aggregate}) AS value FROM {self.table.name} WHERE {where} "
                f"GROUP BY slot{', grp' if self.group_by else ''} FORMAT JSONEachRow")

    async def values(self, destination: Destination, start: datetime, end: datetime, step_seconds: int
                     ) -> dict[tuple[int, str], float]:
        """The value by (window index, group: '' when not grouped); windows and groups without rows are absent."""
        text = await destination.execute(self.sql(start, end, step_seconds), settings=LIMITS)
        found: dict[tuple[int, str], float] = {}
        for line in text.splitlines():
            row = json.loads(line)
            found[(int(row["slot"]), str(row.get("grp", "")))] = float(row["value"])
        return found

    async def sample(self, destination: Destination, start: datetime, end: datetime, select: str | None
                     ) -> list[dict[str, Any]]:
        """A few of the window's matching rows, newest first, for a notification's body."""
        time = self.table.timestamp
        where = " AND ".join((f"{time} >= toDateTime({_epoch(start)})", f"{time} < toDateTime({_epoch(end)})",
                              *self.conditions))
        text = await destination.execute(
            f"SELECT {select or '*'} FROM {self.table.name} WHERE {where} "  # noqa: S608
            f"ORDER BY {time} DESC LIMIT {SAMPLE_ROWS} FORMAT JSONEachRow", settings=LIMITS)
        return [json.loads(line) for line in text.splitlines()]

    async def check(self, destination: Destination) -> None:
        """Run the query over no time at all: the server parses and resolves it, and refuses what is wrong."""
        moment = datetime.now(UTC)
        try:
            await destination.execute(self.sql(moment, moment, 60), settings=LIMITS)
        except DestinationRefused as error:
            raise BadRequest(f"the service's ClickHouse refused the query this makes: {error}") from None


def aggregate_of(select: Mapping[str, Any], timestamp: str) -> str:
    """A dashboard select item as a ClickHouse aggregate."""
    function, value = select.get("aggFn"), select.get("valueExpression")
    if function == "count":
        return "count()"
    if function == "count_distinct":
        return f"count(DISTINCT {value})"
    if function == "quantile":
        return f"quantile({float(select.get('level') or 0.5)})({value})"
    if function == "last_value":
        return f"argMax({value}, {timestamp})"
    if function == "none":  # no aggregation asked: any row's value stands for the window
        return f"any({value})"
    return f"{function}({value})"  # avg, max, min, sum, any: ClickHouse has them under these names


async def check_expressions(destination: Destination, table: SourceTable, expressions: Sequence[tuple[str, str]]
                            ) -> None:
    """Each (field, expression) of a source resolves over its table, or a 400 names the field."""
    for field, expression in expressions:
        try:
            await destination.execute(f"SELECT {expression} FROM {table.name} LIMIT 0",  # noqa: S608
                                      settings=LIMITS)
        except DestinationRefused as error:
            raise BadRequest(f"{field}: {expression!r} does not resolve over {table.database}.{table.table}: "
                             f"{error}") from None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())
