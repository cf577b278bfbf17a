"""HyperDX's search language to a ClickHouse condition (clickstack/lucene.py): each construct's exact SQL, the
errors a user is shown, and that nothing of the query reaches the SQL unquoted."""

from __future__ import annotations

import pytest

from clickplane.clickstack.lucene import ColumnContext, LuceneError, lucene_to_sql

# The columns of an OTel logs table, as system.columns shows them.
LOG_COLUMNS = {
    "Timestamp": "DateTime64(9)",
    "Body": "String",
    "ServiceName": "LowCardinality(String)",
    "SeverityText": "LowCardinality(String)",
    "SeverityNumber": "UInt8",
    "Duration": "Nullable(Float64)",
    "LogAttributes": "Map(LowCardinality(String), String)",
    "ResourceAttributes": "Map(LowCardinality(String), String)",
    "http.status": "String",  # a column whose name has a dot
}
LOGS = ColumnContext.of_columns("Body", LOG_COLUMNS)


def body_has(text: str) -> str:
    """The SQL of a bare term or phrase (with no quote or backslash in it) on the implicit column."""
    return f"positionCaseInsensitive(`Body`, '{text}') > 0"


TRANSLATIONS = [
    ("", "1"),
    ("   ", "1"),
    # Bare terms and phrases: a case-insensitive substring of the implicit column.
    ("error", "positionCaseInsensitive(`Body`, 'error') > 0"),
    ('"connection refused"', "positionCaseInsensitive(`Body`, 'connection refused') > 0"),
    ("err*", "lower(`Body`) LIKE lower('err%')"),
    ("*fail", "lower(`Body`) LIKE lower('%fail')"),
    ("*fail*", "lower(`Body`) LIKE lower('%fail%')"),
    ("*", "notEmpty(`Body`)"),
    ("user_*", "lower(`Body`) LIKE lower('user\\\\_%')"),  # LIKE's own metacharacters are escaped
    ("100%*", "lower(`Body`) LIKE lower('100\\\\%%')"),
    ("a\\*", "positionCaseInsensitive(`Body`, 'a*') > 0"),  # an escaped star is no wildcard
    # A field holding text.
    ("ServiceName:api", "positionCaseInsensitive(`ServiceName`, 'api') > 0"),
    ('ServiceName:"api gateway"', "`ServiceName` = 'api gateway'"),
    ('ServiceName:""', "`ServiceName` = ''"),
    ("ServiceName:*", "notEmpty(`ServiceName`)"),
    ("ServiceName:api*", "lower(`ServiceName`) LIKE lower('api%')"),
    ("ServiceName: api", "positionCaseInsensitive(`ServiceName`, 'api') > 0"),
    ("SeverityText:-5", "positionCaseInsensitive(`SeverityText`, '-5') > 0"),  # after a colon '-' is the value's
    ("http.status:ok", "positionCaseInsensitive(`http.status`, 'ok') > 0"),
    # A map's key.
    ("LogAttributes.user:bob", "positionCaseInsensitive(`LogAttributes`['user'], 'bob') > 0"),
    ("LogAttributes.error.message:timeout", "positionCaseInsensitive(`LogAttributes`['error.message'], 'timeout') > 0"),
    ('ResourceAttributes.host.name:"web-1"', "`ResourceAttributes`['host.name'] = 'web-1'"),
    ("LogAttributes.user:*", "notEmpty(`LogAttributes`['user'])"),
    # A field holding numbers.
    ("SeverityNumber:9", "`SeverityNumber` = toFloat64('9')"),
    ('SeverityNumber:"9"', "`SeverityNumber` = toFloat64('9')"),
    ("SeverityNumber:>9", "`SeverityNumber` > toFloat64('9')"),
    ("SeverityNumber:>=9", "`SeverityNumber` >= toFloat64('9')"),
    ("SeverityNumber:<9", "`SeverityNumber` < toFloat64('9')"),
    ("SeverityNumber:<=9", "`SeverityNumber` <= toFloat64('9')"),
    ("Duration:>-1.5e3", "`Duration` > toFloat64('-1.5e3')"),
    ("Duration:*", "isNotNull(`Duration`)"),
    # Ranges: [] inclusive, {} exclusive, * open.
    ("Duration:[100 TO 500]", "`Duration` >= toFloat64('100') AND `Duration` <= toFloat64('500')"),
    ("Duration:{100 TO 500}", "`Duration` > toFloat64('100') AND `Duration` < toFloat64('500')"),
    ("Duration:[100 TO 500}", "`Duration` >= toFloat64('100') AND `Duration` < toFloat64('500')"),
    ("Duration:[* TO 500]", "`Duration` <= toFloat64('500')"),
    ("Duration:[100 TO *]", "`Duration` >= toFloat64('100')"),
    ("Duration:[* TO *]", "isNotNull(`Duration`)"),
    ("ServiceName:[* TO *]", "notEmpty(`ServiceName`)"),
    # Text compares as numbers when every bound is a number, as text otherwise.
    ("LogAttributes.status:>=500", "toFloat64OrNull(toString(`LogAttributes`['status'])) >= toFloat64('500')"),
    ("LogAttributes.status:[500 TO 599]",
     "toFloat64OrNull(toString(`LogAttributes`['status'])) >= toFloat64('500') "
     "AND toFloat64OrNull(toString(`LogAttributes`['status'])) <= toFloat64('599')"),
    ("ServiceName:>m", "`ServiceName` > 'm'"),
    ("Timestamp:[2024-01-01 TO \"2024-06-01 10:00:00\"}",
     "`Timestamp` >= '2024-01-01' AND `Timestamp` < '2024-06-01 10:00:00'"),
    ("Timestamp:[2024-01-01T00:00:00 TO *]", "`Timestamp` >= '2024-01-01T00:00:00'"),  # colons in a bound
    # Negation.
    ("-ServiceName:api", "NOT (positionCaseInsensitive(`ServiceName`, 'api') > 0)"),
    ("NOT ServiceName:api", "NOT (positionCaseInsensitive(`ServiceName`, 'api') > 0)"),
    ("-error", f"NOT ({body_has('error')})"),
    ("-LogAttributes.user:*", "NOT (notEmpty(`LogAttributes`['user']))"),
    ("-Duration:[1 TO 5]", "NOT (`Duration` >= toFloat64('1') AND `Duration` <= toFloat64('5'))"),
    ("+error", body_has('error')),  # '+' (required) adds nothing: every term is
    # AND, OR, implicit AND, precedence NOT > AND > OR, parentheses.
    ("a b", f"{body_has('a')} AND {body_has('b')}"),
    ("a AND b", f"{body_has('a')} AND {body_has('b')}"),
    ("a && b", f"{body_has('a')} AND {body_has('b')}"),
    ("a OR b", f"({body_has('a')} OR {body_has('b')})"),
    ("a || b", f"({body_has('a')} OR {body_has('b')})"),
    ("a NOT b", f"{body_has('a')} AND NOT ({body_has('b')})"),
    ("a b OR c", f"(({body_has('a')} AND {body_has('b')}) OR {body_has('c')})"),
    ("a OR b c", f"({body_has('a')} OR ({body_has('b')} AND {body_has('c')}))"),
    ("a (b OR c)", f"{body_has('a')} AND ({body_has('b')} OR {body_has('c')})"),
    ("-(a OR b)", f"NOT ({body_has('a')} OR {body_has('b')})"),
    ("NOT NOT a", f"NOT (NOT ({body_has('a')}))"),
    ("ORACLE ANDROID", f"{body_has('ORACLE')} AND {body_has('ANDROID')}"),
    ("and or", f"{body_has('and')} AND {body_has('or')}"),  # only upper case operates
    # field:(...) searches that field with every term inside, and a phrase there is a substring, as in HyperDX.
    ("SeverityText:(error OR warn*)",
     "(positionCaseInsensitive(`SeverityText`, 'error') > 0 OR lower(`SeverityText`) LIKE lower('warn%'))"),
    ('ServiceName:("api gateway")', "positionCaseInsensitive(`ServiceName`, 'api gateway') > 0"),
    ('ServiceName:("")', "1"),
    ("-ServiceName:(a -b)",
     "NOT (positionCaseInsensitive(`ServiceName`, 'a') > 0 AND NOT (positionCaseInsensitive(`ServiceName`, 'b') > 0))"),
    ("SeverityNumber:(9 OR >=17)", "(`SeverityNumber` = toFloat64('9') OR `SeverityNumber` >= toFloat64('17'))"),
    ("ServiceName:(api SeverityText:error)",
     "positionCaseInsensitive(`ServiceName`, 'api') > 0 AND positionCaseInsensitive(`SeverityText`, 'error') > 0"),
    # HyperDX reads the colons of URLs and localhost:<port> as text; an escaped colon is text too.
    ("http://a.com/x", body_has('http://a.com/x')),
    ("ServiceName:localhost:3000", "positionCaseInsensitive(`ServiceName`, 'localhost:3000') > 0"),
    ("a\\:b", body_has('a:b')),
    ('"say \\"hi\\""', body_has('say "hi"')),
]


@pytest.mark.parametrize(("query", "sql"), TRANSLATIONS)
def test_translation(query: str, sql: str) -> None:
    assert lucene_to_sql(query, LOGS) == sql


ERRORS = [
    ("a AND", "a term is missing at offset 5, where the query ends"),
    ("a OR ", "a term is missing at offset 5, where the query ends"),
    ("OR a", "unexpected 'OR' at offset 0: a term should come first"),
    ("a )", "unexpected ')' at offset 2: no '(' before it is open"),
    ("(a OR b", "the '(' at offset 0 is never closed: a ')' is missing"),
    ("a ( )", "the parentheses at offset 2 hold nothing"),
    ("a ]", "unexpected ']' at offset 2: a term should come first"),
    (":x", "unexpected ':' at offset 0: a term should come first"),
    ('Body:"abc', "the quote at offset 5 is never closed: a '\"' is missing"),
    ("abc\\", "the query ends in a '\\' at offset 3: write '\\\\' for one"),
    ("- a", "'-' at offset 0 must be followed by a term, with no space"),
    ("ServiceName:", "a value is missing after 'ServiceName:' at offset 12"),
    ("ServiceName:)", "a value is missing after 'ServiceName:' at offset 12"),
    ("ServiceName:>", "a value is missing after '>' at offset 13"),
    ("ServiceName:[1 5]", "the range at offset 12 needs 'TO' between its bounds at offset 15"),
    ("ServiceName:[1 TO 5", "the range at offset 12 is never closed: a ']' or '}' is missing at offset 19"),
    ("ServiceName:[1 TO ]", "the range at offset 12 is missing a bound at offset 18"),
    ("a level:warn", "unknown field 'level' at offset 2: the table has no such column (a map's key is written "
                     "<map>.<key>)"),
    ("LogAttributes:bob", "LogAttributes at offset 0 is a map: search one of its keys, as LogAttributes.<key>:value"),
    ("LogAttributes.:bob", "LogAttributes. at offset 0 names no key of the map LogAttributes"),
    ("ServiceName.x:y", "ServiceName.x at offset 0: ServiceName is not a map, so it has no key 'x'"),
    ("SeverityNumber:high", "SeverityNumber holds numbers, and 'high' at offset 15 is not a number"),
    ("SeverityNumber:[1 TO x]", "SeverityNumber holds numbers, and 'x' at offset 21 is not a number"),
    ("SeverityNumber:9*", "SeverityNumber holds numbers, so the wildcard in '9*' at offset 15 cannot apply"),
]


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_error(query: str, message: str) -> None:
    with pytest.raises(LuceneError) as raised:
        lucene_to_sql(query, LOGS)
    assert str(raised.value) == message


def test_nesting_is_bounded() -> None:
    assert lucene_to_sql("(" * 49 + "a" + ")" * 49, LOGS) == body_has('a')
    with pytest.raises(LuceneError) as raised:
        lucene_to_sql("(" * 1000 + "a" + ")" * 1000, LOGS)
    assert str(raised.value) == "the query nests more than 50 deep at offset 50"
    with pytest.raises(LuceneError) as raised:
        lucene_to_sql("NOT " * 1000 + "a", LOGS)
    assert str(raised.value) == "the query nests more than 50 deep at offset 200"


def test_a_bare_term_needs_an_implicit_column() -> None:
    context = ColumnContext.of_columns(None, LOG_COLUMNS)
    assert lucene_to_sql("ServiceName:api", context) == "positionCaseInsensitive(`ServiceName`, 'api') > 0"
    with pytest.raises(LuceneError) as raised:
        lucene_to_sql("ServiceName:api timeout", context)
    assert str(raised.value) == ("the term at offset 16 searches the full text, but the source has no implicit "
                                 "column: name a field (field:value)")


def test_an_implicit_column_that_is_no_column_is_the_sources_expression() -> None:
    context = ColumnContext(implicit_column="concat(Body, ' ', SpanName)", known_columns=frozenset({"Body"}),
                            map_columns=frozenset())
    assert lucene_to_sql("oops", context) == "positionCaseInsensitive((concat(Body, ' ', SpanName)), 'oops') > 0"


def test_of_columns_sorts_columns_as_hyperdx_does() -> None:
    assert LOGS.known_columns == frozenset(LOG_COLUMNS)
    assert LOGS.map_columns == {"LogAttributes", "ResourceAttributes"}
    # Numbers are the Int, UInt and Float columns, Nullable or LowCardinality ones too; times are not numbers.
    assert LOGS.numeric_columns == {"SeverityNumber", "Duration"}
    assert ColumnContext.of_columns("Body", {"n": "LowCardinality(Nullable(Int32))", "i": "IntervalSecond"}
                                    ).numeric_columns == {"n"}


def test_nothing_of_the_query_reaches_the_sql_unquoted() -> None:
    context = ColumnContext.of_columns("Body", {"Body": "String", "we`ird\\col": "String",
                                                "LogAttributes": "Map(String, String)"})
    # The field we`ird\col and the value it's\here ('\\' in the query is one backslash).
    assert lucene_to_sql("we`ird\\\\col:it's\\\\here", context) == (
        "positionCaseInsensitive(`we\\`ird\\\\col`, 'it\\'s\\\\here') > 0")
    assert lucene_to_sql("we`ird\\\\col:\"a'b\\\\c\"", context) == "`we\\`ird\\\\col` = 'a\\'b\\\\c'"
    assert lucene_to_sql("LogAttributes.o'k:x", context) == "positionCaseInsensitive(`LogAttributes`['o\\'k'], 'x') > 0"
    assert lucene_to_sql("\"'); DROP TABLE t; --\"", context) == (
        "positionCaseInsensitive(`Body`, '\\'); DROP TABLE t; --') > 0")
    assert lucene_to_sql("x'='x", context) == "positionCaseInsensitive(`Body`, 'x\\'=\\'x') > 0"
