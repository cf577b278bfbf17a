"""Stored SQL's placeholders filled in as literals, the check of the SQL against a server (a recording stand-in for
the service's ClickHouse, which answers as 18.16 does), and the status a refused run is answered with."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.query.relay import refusal_status
from clickplane.query.statements import check_parameters, check_statement, placeholders, rendered
from clickplane.runtime.pipes.destination import DestinationRefused

pytestmark = pytest.mark.anyio

SYNTAX = "Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 1"
READ_ONLY = "Code: 164, e.displayText() = DB::Exception: Cannot create table in readonly mode"
UNKNOWN = "Code: 47, e.displayText() = DB::Exception: Unknown identifier: nope"


class Server:
    """Answers each statement with the next of `answers` (a text, or an error to raise), recording what it got."""

    def __init__(self, *answers: str | DestinationRefused) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, dict[str, str]]] = []

    async def execute(self, sql: str, body: bytes | None = None, settings: Mapping[str, str] | None = None) -> str:
        self.sent.append((sql, dict(settings or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, DestinationRefused):
            raise answer
        return answer


def test_placeholders_are_filled_in_as_literals_cast_to_their_type() -> None:
    sql = "SELECT * FROM {t:Identifier} WHERE n >= { min : UInt32 } AND s = {s:String}"
    assert placeholders(sql) == {"t": "Identifier", "min": "UInt32", "s": "String"}
    assert rendered(sql, {"t": "ev`ents", "min": "2", "s": "it's \\ "}) == (
        "SELECT * FROM `ev\\`ents` WHERE n >= CAST('2' AS UInt32) AND s = CAST('it\\'s \\\\ ' AS String)")
    with pytest.raises(BadRequest, match="min"):
        rendered(sql, {"t": "x", "s": ""})



@pytest.mark.parametrize("sql", [
    "SELECT * FROM t WHERE name LIKE '%{q:String}%'",  # a value there would close the author's literal
    "SELECT 'it''s {q:String}'",
    "SELECT 'a\\' {q:String}'",
    "SELECT 1 -- {q:String}",  # a newline in the value would end the comment
    "SELECT 1 /* {q:String} */",
    'SELECT "{q:String}", `{q:String}` FROM t',
    "SELECT '{q:String}",  # a literal left open runs to the end
])
def test_a_placeholder_inside_a_literal_an_identifier_or_a_comment_is_text(sql: str) -> None:
    assert placeholders(sql) == {}
    assert rendered(sql, {"q": "' OR 1 OR '\n DROP TABLE t"}) == sql


def test_a_placeholder_s_type_may_hold_a_literal_and_is_read_before_it() -> None:
    sql = "SELECT {e:Enum8('a' = 1)}, '{x:String}'"
    assert placeholders(sql) == {"e": "Enum8('a' = 1)"}
    assert rendered(sql, {"e": "a"}) == "SELECT CAST('a' AS Enum8('a' = 1)), '{x:String}'"

def test_each_placeholder_needs_a_value_and_each_value_a_placeholder() -> None:
    check_parameters("SELECT {a:UInt8}", {"a": "1"})
    with pytest.raises(BadRequest, match="placeholders a have no value"):
        check_parameters("SELECT {a:UInt8}", {})
    with pytest.raises(BadRequest, match="b fill no"):
        check_parameters("SELECT {a:UInt8}", {"a": "1", "b": "2"})


async def test_a_query_is_planned_over_no_rows_in_its_database_with_limits() -> None:
    server = Server("1\n", "")
    await check_statement(server, "SELECT n FROM events;\n", "analytics")  # type: ignore[arg-type]
    assert server.sent[1][0] == "SELECT * FROM (SELECT n FROM events) LIMIT 0"
    assert server.sent[1][1]["database"] == "analytics"
    assert server.sent[1][1]["readonly"] == "2"


async def test_a_missing_database_or_a_refused_query_is_a_400_with_the_servers_words() -> None:
    with pytest.raises(BadRequest, match="'nowhere' does not exist"):
        await check_statement(Server("0\n"), "SELECT 1", "nowhere")  # type: ignore[arg-type]
    with pytest.raises(BadRequest, match="Unknown identifier: nope"):
        await check_statement(Server("1", DestinationRefused(UNKNOWN)), "SELECT nope", "d")  # type: ignore[arg-type]


async def test_a_statement_that_is_no_query_is_parsed_read_only_and_never_run() -> None:
    writes = Server("1", DestinationRefused(SYNTAX), DestinationRefused(READ_ONLY))
    await check_statement(writes, "CREATE TABLE t (a UInt8) ENGINE = Memory", "d")  # type: ignore[arg-type]
    assert writes.sent[2] == ("CREATE TABLE t (a UInt8) ENGINE = Memory", writes.sent[1][1])
    with pytest.raises(BadRequest, match="Syntax error"):
        await check_statement(Server("1", DestinationRefused(SYNTAX), DestinationRefused(SYNTAX)),  # type: ignore[arg-type]
                              "CREAT TABLE", "d")


def test_clickhouses_refusal_of_the_sql_is_a_client_error() -> None:
    assert refusal_status(500, READ_ONLY.encode()) == 403
    assert refusal_status(500, UNKNOWN.encode()) == 400
    assert refusal_status(404, b"Code: 60, Table default.x doesn't exist") == 400
    assert refusal_status(500, b"no ClickHouse error") == 500
    assert refusal_status(401, b"Code: 192, Unknown user") == 401
