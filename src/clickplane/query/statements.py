"""SQL a client stores to run later (a saved query, a Query API endpoint): its `{name:Type}` placeholders, filled
in as literals, and the check of the whole against the service's ClickHouse.

Placeholders are ClickHouse's query parameters. 18.16 has none (no `param_<name>` setting), so they are filled in
here on every version, each value as `CAST('<value>' AS Type)`: the value is always inside a quoted string literal,
whatever it holds, and the server converts it as a parameter would be; `{name:Identifier}` becomes a quoted
identifier. Only the SQL's author (who may write any SQL) chooses the types; callers give only values.

As ClickHouse does with its parameters, a `{name:Type}` inside a string literal, a quoted identifier or a comment is
text, not a placeholder: filled in there, a value would close the author's literal (`'%{q:String}%'`) or end a
comment at a newline, and run as SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from uuid import UUID

from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.sql import identifier, literal
from clickplane.runtime.pipes.destination import Destination, DestinationRefused

# The limits of a query made of the user's text. readonly=2: no writes, though settings may still be given (the
# limits below are). 18.16 knows each of these.
LIMITS: dict[str, str] = {
    "readonly": "2",
    "max_execution_time": "30",
    "max_result_rows": "10000",
    "max_memory_usage": str(1 << 30),
}
PLACEHOLDER = r"\{\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<type>[^{}]+?)\s*\}"
# What holds no placeholder: string literals, quoted identifiers (either quote, with backslash escapes and doubled
# quotes) and comments; one left open runs to the end. Scanned left to right with the placeholders, so that whichever
# starts first wins: a placeholder's type may hold a literal (Enum8('a' = 1)).
_NOT_CODE = r"""'(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?|`(?:[^`\\]|\\.|``)*`?|--[^\n]*|/\*.*?(?:\*/|\Z)"""
_SCANNED = re.compile(f"(?P<placeholder>{PLACEHOLDER})|{_NOT_CODE}", re.S)
PARAMETER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
# ClickHouse's error codes that the check tells apart (the same on every version).
SYNTAX_ERROR = 62
READONLY = 164
ERROR_CODE = re.compile(r"Code: (\d+)")


def placeholders(sql: str) -> dict[str, str]:
    """The SQL's placeholders, by name, with the type each is written with."""
    return {match["name"]: match["type"] for match in _SCANNED.finditer(sql) if match["placeholder"]}


def check_parameters(sql: str, parameters: Mapping[str, str]) -> None:
    """Each placeholder of the SQL has a value in `parameters`, and each of them fills one; else a 400 naming it."""
    written = placeholders(sql)
    unused = sorted(set(parameters) - set(written))
    if unused:
        raise BadRequest(f"parameters: {', '.join(unused)} fill no {{name:Type}} placeholder of the sql; remove them "
                         "or use them in the sql")
    missing = sorted(set(written) - set(parameters))
    if missing:
        raise BadRequest(f"parameters: the sql's placeholders {', '.join(missing)} have no value; give each a value "
                         "(--param NAME=VALUE)")


def rendered(sql: str, values: Mapping[str, str]) -> str:
    """The SQL with each placeholder replaced by its value; a 400 for one without a value."""
    def value_of(match: re.Match[str]) -> str:
        if not match["placeholder"]:
            return match[0]
        name, type_name = match["name"], match["type"]
        if name not in values:
            raise BadRequest(f"the placeholder {{{name}:{type_name}}} has no value; give it in queryVariables")
        if type_name == "Identifier":
            return identifier(values[name])
        return f"CAST({literal(values[name])} AS {type_name})"

    return _SCANNED.sub(value_of, sql)


async def check_statement(destination: Destination, sql: str, database: str) -> None:
    """The database exists and the server accepts the SQL, or a 400 with what it said. A query is planned over
    no rows (`SELECT * FROM (sql) LIMIT 0`), which resolves its tables, columns and functions; a statement that
    is no query is sent as it is in read-only mode, where the server parses it and refuses to run it if it would
    write (then only its syntax is checked), or runs it if it only reads (SHOW, DESCRIBE, EXISTS)."""
    exists = await destination.execute(
        f"SELECT count() FROM system.databases WHERE name = {literal(database)}")  # noqa: S608 (a literal)
    if exists.strip() != "1":
        raise BadRequest(f"database: {database!r} does not exist on the service; create it first or name one "
                         "that exists (such as default)")
    settings = {**LIMITS, "database": database}
    statement = sql.strip().rstrip(";").strip()
    try:
        await destination.execute(f"SELECT * FROM ({statement}) LIMIT 0", settings=settings)  # noqa: S608
        return
    except DestinationRefused as error:
        if _code(error) != SYNTAX_ERROR:
            raise BadRequest(f"sql: the service's ClickHouse refused it: {error}") from None
    try:
        await destination.execute(statement, settings=settings)
    except DestinationRefused as error:
        if _code(error) != READONLY:
            raise BadRequest(f"sql: the service's ClickHouse refused it: {error}") from None


def _code(error: DestinationRefused) -> int | None:
    found = ERROR_CODE.search(str(error))
    return int(found[1]) if found else None


async def check_on_service(context: AppContext, service_id: UUID, state: str, sql: str, database: str,
                           parameters: Mapping[str, str]) -> None:
    """The placeholders have their values and, when the service runs, its ClickHouse accepts the SQL with them in
    the database (check_statement). A service that is not running is not woken for it: the SQL is then kept
    unchecked, and a mistake in it shows when it is run."""
    check_parameters(sql, parameters)
    access = await context.runtime.sql_access(str(service_id)) if state == "running" else None
    if access is None:
        return
    try:
        await check_statement(Destination(context.http_client(), access), rendered(sql, parameters), database)
    except RuntimeFailure as failure:  # it stopped answering meanwhile
        raise Conflict(f"the service's ClickHouse did not answer the check of the sql ({failure}); retry") from None
