"""A pipe's destination: a service's ClickHouse server over its HTTP interface, as the control plane's internal
user. What the pipes need of it: statements, inserts of rows or of a file in one of ClickHouse's input formats,
counts, and what this server can hold (detected from the server itself, never assumed from a version)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import SqlAccess
from clickplane.runtime.clickhouse.sql import identifier

_STATEMENT_TIMEOUT_SECONDS = 300.0


class DestinationRefused(RuntimeFailure):
    """The server refused a statement or an insert; the message is the server's."""


@dataclass(frozen=True)
class Capabilities:
    """What this server's SQL has that older ones lack (18.16 has none of these)."""

    datetime64: bool
    # Input formats it parses (18.16: no Parquet, no Avro).
    formats: frozenset[str]


def table_name(database: str, table: str) -> str:
    return f"{identifier(database)}.{identifier(table)}"


class Destination:
    def __init__(self, http: httpx.AsyncClient, access: SqlAccess) -> None:
        self.http = http
        self.access = access

    async def execute(self, sql: str, body: bytes | None = None, settings: Mapping[str, str] | None = None) -> str:
        """Run `sql` (with `body` after it: the data of an INSERT); its output, DestinationRefused if refused."""
        params = {"query": sql, **(settings or {})} if body is not None else dict(settings or {})
        try:
            response = await self.http.post(self.access.url, params=params,
                                            content=body if body is not None else sql.encode(),
                                            auth=(self.access.user, self.access.password),
                                            timeout=_STATEMENT_TIMEOUT_SECONDS)
        except httpx.HTTPError as error:
            raise RuntimeFailure(f"the service's ClickHouse did not answer: {error}") from error
        if response.status_code != 200:
            raise DestinationRefused(_server_message(response.text))
        return response.text

    async def capabilities(self) -> Capabilities:
        functions = set((await self.execute(
            "SELECT name FROM system.functions WHERE name IN ('now64', 'toDateTime64')")).split())
        formats = await self._formats()
        return Capabilities(datetime64={"now64", "toDateTime64"} <= functions, formats=formats)

    async def _formats(self) -> frozenset[str]:
        """The input formats, from system.formats where the server has it (18.16 does not: those it parses are
        then the text ones every version has)."""
        try:
            listed = await self.execute("SELECT name FROM system.formats WHERE is_input")
        except DestinationRefused:
            return frozenset({"JSONEachRow", "CSV", "CSVWithNames", "TabSeparated", "TabSeparatedWithNames"})
        return frozenset(listed.split())

    async def exists(self, database: str, table: str) -> bool:
        answer = await self.execute(f"EXISTS TABLE {table_name(database, table)}")
        return answer.strip() == "1"

    async def count(self, database: str, table: str) -> int:
        return int(await self.execute(f"SELECT count() FROM {table_name(database, table)}"))  # noqa: S608

    async def insert_rows(self, database: str, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert rows given as column-to-value maps; the bytes sent."""
        lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows]
        if not lines:
            return 0
        body = ("\n".join(lines) + "\n").encode()
        await self.insert_formatted(database, table, "JSONEachRow", body)
        return len(body)

    async def insert_formatted(self, database: str, table: str, input_format: str, body: bytes,
                               columns: Sequence[str] | None = None, settings: Mapping[str, str] | None = None
                               ) -> None:
        """Insert `body`, data in `input_format` that the server parses, into the columns given (all, if none)."""
        listed = f" ({', '.join(identifier(column) for column in columns)})" if columns else ""
        await self.execute(f"INSERT INTO {table_name(database, table)}{listed} FORMAT {input_format}", body,
                           settings)


def _server_message(text: str) -> str:
    """The first line of the server's error (18.16 adds a stack trace below it)."""
    first = text.strip().splitlines()[0] if text.strip() else "no message"
    return first[:1500]
