"""PostgreSQL types and text values as ClickHouse's (pgtypes.py). The values are what a JSONEachRow line is built
of with json.dumps; that ClickHouse 18.16 reads those forms (bare Decimal numbers, NaN and Infinity floats, quoted
dates, times in 'UTC' columns) was checked on its server, and is why some of them are as they are."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from clickplane.runtime.pipes.pgtypes import clickhouse_type, converter, to_clickhouse


@pytest.mark.parametrize(("type_name", "expected"), [
    ("boolean", "UInt8"),
    ("smallint", "Int16"), ("integer", "Int32"), ("bigint", "Int64"), ("int4", "Int32"),
    ("real", "Float32"), ("double precision", "Float64"),
    ("numeric(10,2)", "Decimal(10, 2)"), ("numeric(15,0)", "Decimal(15, 0)"),
    ("numeric(16,2)", "String"),  # beyond what a JSON number carries exactly to ClickHouse 18.16
    ("numeric", "String"),  # no precision nor scale: any number of digits
    ("text", "String"), ("character varying(20)", "String"), ("character varying", "String"),
    ("character(4)", "String"), ("bpchar", "String"), ("name", "String"), ("citext", "String"), ('"char"', "String"),
    ("uuid", "UUID"), ("date", "Date"),
    ("timestamp without time zone", "DateTime('UTC')"), ("timestamp(3) with time zone", "DateTime('UTC')"),
    ("time without time zone", "String"), ("time(3) with time zone", "String"),
    ("json", "String"), ("jsonb", "String"), ("bytea", "String"), ("inet", "String"), ("interval", "String"),
    ("smallint[]", "Array(Int16)"), ("integer[]", "Array(Int32)"), ("bigint[]", "Array(Int64)"),
    ("text[]", "String"), ("numeric(10,2)[]", "String"), ("public.mood", "String"), ('"My Type"', "String"),
])
def test_types_on_a_server_without_datetime64(type_name: str, expected: str) -> None:
    assert clickhouse_type(type_name, nullable=False, allow_nullable=False, datetime64=False) == expected


@pytest.mark.parametrize(("type_name", "expected"), [
    ("timestamp without time zone", "DateTime64(6, 'UTC')"), ("timestamp with time zone", "DateTime64(6, 'UTC')"),
    ("numeric(38,10)", "Decimal(38, 10)"), ("numeric(39,2)", "String"), ("numeric(10,2)", "Decimal(10, 2)"),
])
def test_types_on_a_server_with_datetime64(type_name: str, expected: str) -> None:
    assert clickhouse_type(type_name, nullable=False, allow_nullable=False, datetime64=True) == expected


def test_nullable_only_when_both_the_column_and_the_pipe_allow_it_and_never_for_arrays() -> None:
    def kind(type_name: str, nullable: bool, allow_nullable: bool) -> str:
        return clickhouse_type(type_name, nullable, allow_nullable=allow_nullable, datetime64=False)

    assert kind("integer", True, True) == "Nullable(Int32)"
    assert kind("integer", True, False) == "Int32"
    assert kind("integer", False, True) == "Int32"
    assert kind("numeric(10,2)", True, True) == "Nullable(Decimal(10, 2))"
    assert kind("integer[]", True, True) == "Array(Nullable(Int32))"  # its elements may be NULL, it may not
    assert kind("integer[]", False, False) == "Array(Int32)"


def value(text: str | None, type_name: str, datetime64: bool = False, nullable: bool = False) -> Any:
    kind = clickhouse_type(type_name, nullable, allow_nullable=nullable, datetime64=datetime64)
    return to_clickhouse(text, type_name, kind)


@pytest.mark.parametrize(("type_name", "text", "expected"), [
    ("boolean", "t", 1), ("boolean", "f", 0),
    ("smallint", "-32768", -32768), ("bigint", "9223372036854775807", 9223372036854775807),
    ("double precision", "1.5", 1.5), ("double precision", "-0", -0.0), ("real", "1e+30", 1e30),
    ("numeric(10,2)", "12.34", 12.34), ("numeric(10,2)", "-99999999.99", -99999999.99),
    ("numeric(15,5)", "0.00001", 0.00001), ("numeric(10,2)", "NaN", 0),
    ("numeric", "123456789012345678901234567890.123", "123456789012345678901234567890.123"),
    ("text", "it's \"quoted\"\n", "it's \"quoted\"\n"), ("character(4)", "ab  ", "ab  "),
    ("bytea", "\\x00ff", "\\x00ff"), ("jsonb", '{"a": [1, 2]}', '{"a": [1, 2]}'), ("time without time zone",
                                                                                   "03:04:05.5", "03:04:05.5"),
    ("uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ("date", "2024-02-29", "2024-02-29"), ("date", "1969-12-31", "1970-01-01"), ("date", "2106-01-01", "2105-12-31"),
    ("date", "0044-03-15 BC", "1970-01-01"), ("date", "10000-01-01", "2105-12-31"), ("date", "infinity",
                                                                                      "2105-12-31"),
    ("date", "-infinity", "1970-01-01"),
    ("timestamp without time zone", "2024-01-02 03:04:05.678901", "2024-01-02 03:04:05"),
    ("timestamp without time zone", "2024-01-02 03:04:05", "2024-01-02 03:04:05"),
    ("timestamp with time zone", "2024-01-02 03:04:05.5+00", "2024-01-02 03:04:05"),
    ("timestamp with time zone", "2024-01-02 03:04:05+05:30", "2024-01-01 21:34:05"),
    ("timestamp with time zone", "2024-01-01 23:00:00-03", "2024-01-02 02:00:00"),
    ("timestamp with time zone", "1890-01-01 00:00:00+01:39:49", "1970-01-01 00:00:00"),
    ("timestamp with time zone", "2200-01-01 00:00:00+00", "2105-12-31 23:59:59"),
    ("timestamp with time zone", "0001-01-01 00:30:00+01 BC", "1970-01-01 00:00:00"),
    ("timestamp with time zone", "infinity", "2105-12-31 23:59:59"),
    ("timestamp with time zone", "-infinity", "1970-01-01 00:00:00"),
    ("integer[]", "{1,2,3}", [1, 2, 3]), ("bigint[]", "{}", []), ("smallint[]", "{-1,NULL}", [-1, 0]),
    ("integer[]", "{{1,2},{3,4}}", [1, 2, 3, 4]), ("integer[]", "[0:1]={7,8}", [7, 8]),
    ("some_domain", "anything", "anything"),
])
def test_values_on_a_server_without_datetime64(type_name: str, text: str, expected: Any) -> None:
    converted = value(text, type_name)
    assert converted == expected
    assert type(converted) is type(expected)
    json.dumps(converted)  # as the destination writes it


def test_float_nan_and_infinities_are_written_as_json_dumps_writes_them() -> None:
    assert math.isnan(value("NaN", "double precision"))
    assert value("Infinity", "real") == math.inf
    assert value("-Infinity", "double precision") == -math.inf
    assert json.dumps([value("NaN", "real"), value("Infinity", "real"), value("-Infinity", "real")]) == \
        "[NaN, Infinity, -Infinity]"  # ClickHouse 18.16's JSONEachRow reads these


@pytest.mark.parametrize(("type_name", "text", "expected"), [
    ("timestamp with time zone", "2024-01-02 03:04:05.678+02", "2024-01-02 01:04:05.678000"),
    ("timestamp without time zone", "2024-01-02 03:04:05.000001", "2024-01-02 03:04:05.000001"),
    ("timestamp without time zone", "1950-06-01 12:00:00", "1950-06-01 12:00:00.000000"),
    ("timestamp without time zone", "1800-01-01 00:00:00", "1900-01-01 00:00:00.000000"),
    ("timestamp without time zone", "9999-12-31 23:59:59.999999", "2299-12-31 23:59:59.999999"),
    ("timestamp with time zone", "9999-12-31 23:59:59-05", "2299-12-31 23:59:59.999999"),
    ("numeric(38,2)", "123456789012345678901234567890123456.78", "123456789012345678901234567890123456.78"),
    ("numeric(38,2)", "NaN", 0), ("numeric(20,0)", "Infinity", 0),
])
def test_values_on_a_server_with_datetime64(type_name: str, text: str, expected: Any) -> None:
    assert value(text, type_name, datetime64=True) == expected


@pytest.mark.parametrize(("type_name", "default"), [
    ("boolean", 0), ("integer", 0), ("double precision", 0), ("numeric(10,2)", 0), ("text", ""),
    ("uuid", "00000000-0000-0000-0000-000000000000"), ("date", "1970-01-01"),
    ("timestamp with time zone", "1970-01-01 00:00:00"), ("integer[]", []), ("jsonb", ""),
])
def test_null_is_null_in_a_nullable_column_and_else_the_types_default(type_name: str, default: Any) -> None:
    assert value(None, type_name, nullable=False) == default
    assert value(None, type_name, nullable=True) == ([] if type_name.endswith("[]") else None)


def test_a_value_no_column_can_hold_is_null_or_the_default_and_allow_nullable_false_forces_defaults() -> None:
    assert value("NaN", "numeric(10,2)", nullable=True) is None
    assert value("NaN", "numeric(10,2)", nullable=False) == 0
    assert value("{1,NULL}", "integer[]", nullable=True) == [1, None]
    assert value(None, "timestamp with time zone", datetime64=True) == "1970-01-01 00:00:00.000000"
    # Nullable in ClickHouse, yet the worker asks for the default (as for a key column).
    assert to_clickhouse(None, "integer", "Nullable(Int32)", False) == 0
    assert to_clickhouse(None, "integer", "Nullable(Int32)") is None
    assert to_clickhouse("{NULL}", "integer[]", "Array(Nullable(Int32))", False) == [0]


def test_what_a_type_cannot_read_is_refused() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL boolean"):
        value("true", "boolean")
    with pytest.raises(ValueError, match="not a PostgreSQL numeric"):
        value("twelve", "numeric(10,2)")
    with pytest.raises(ValueError, match="not a PostgreSQL date"):
        value("01/02/2024", "date")
    with pytest.raises(ValueError, match="not a PostgreSQL timestamp"):
        value("Tue Jan 02 03:04:05 2024", "timestamp without time zone")
    with pytest.raises(ValueError, match="no conversion of PostgreSQL integer values to ClickHouse IPv4"):
        to_clickhouse("1", "integer", "IPv4")


def test_a_columns_converter_is_made_once() -> None:
    assert converter("integer", "Int32") is converter("integer", "Int32")
    assert converter("integer", "Int32")("7") == 7
