"""PostgreSQL column types as ClickHouse column types, and PostgreSQL's text form of a value (what pgoutput and
the snapshot give) as a value json.dumps writes into a JSONEachRow line ClickHouse accepts for that type.

Types are named as format_type() writes them ('numeric(10,2)', 'timestamp with time zone', 'integer[]'): the
catalog gives that name for the snapshot.

What ClickHouse 18.16 (the oldest server a pipe writes to, with no DateTime64) reads decides some choices here:
- It reads a Decimal only as a bare JSON number, which json.dumps writes exactly only for a float of at most 15
  significant digits. So numeric(p,s) becomes Decimal(p,s) there only up to p = 15 (String beyond); newer servers
  (those with DateTime64) read a quoted Decimal, so there it is Decimal up to p = 38, values as strings.
- Floats' NaN and infinities are written as json.dumps writes them (NaN, Infinity), which it reads.
- Date and DateTime hold 1970-01-01 to 2105-12-31 only; DateTime64 1900 to 2299: values beyond are clamped.
Times are kept in UTC, in columns of the UTC time zone, so no server's own time zone moves them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Final

Converter = Callable[[str | None], Any]

MAX_DECIMAL_PRECISION: Final = 38
# The most significant digits a float carries exactly through json.dumps (its shortest round-trip repr).
EXACT_FLOAT_DIGITS: Final = 15

_ALIASES: Final = {
    "bool": "boolean", "int2": "smallint", "int": "integer", "int4": "integer", "int8": "bigint",
    "float4": "real", "float8": "double precision", "decimal": "numeric", "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}
_SCALARS: Final = {
    "boolean": "UInt8", "smallint": "Int16", "integer": "Int32", "bigint": "Int64", "real": "Float32",
    "double precision": "Float64", "uuid": "UUID", "date": "Date",
}
_TIMESTAMPS: Final = frozenset({"timestamp without time zone", "timestamp with time zone"})
_INT_ARRAY_ELEMENTS: Final = frozenset({"smallint", "integer", "bigint"})

# A format_type() name: a base ('character varying'), its modifier's arguments, and what follows them
# (' with time zone'), then one '[]' however many dimensions the column has.
_TYPE_NAME = re.compile(r"^(?P<base>[^(\[]+?)(?:\s*\((?P<args>[^)]*)\)(?P<rest>[^(\[]*))?(?P<array>\[\])?$")
_DATE = re.compile(r"^(?P<year>\d{4,})-(?P<month>\d\d)-(?P<day>\d\d)(?P<bc> BC)?$")
_TIMESTAMP = re.compile(r"^(?P<year>\d{4,})-(?P<month>\d\d)-(?P<day>\d\d) (?P<hour>\d\d):(?P<minute>\d\d):"
                        r"(?P<second>\d\d)(?:\.(?P<fraction>\d{1,6}))?"
                        r"(?P<offset>[+-]\d\d(?::\d\d){0,2})?(?P<bc> BC)?$")
_DECIMAL = re.compile(r"^Decimal\((?P<precision>\d+),\s*(?P<scale>\d+)\)$")

_DATE_RANGE: Final = ("1970-01-01", "2105-12-31")
_DATETIME_RANGE: Final = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2105, 12, 31, 23, 59, 59, tzinfo=UTC))
_DATETIME64_RANGE: Final = (datetime(1900, 1, 1, tzinfo=UTC), datetime(2299, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
_ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"


def _parts(type_name: str) -> tuple[str, list[str], bool]:
    """The canonical base name ('timestamp with time zone' for 'timestamp(3) with time zone'), the modifier's
    arguments and whether it is an array."""
    match = _TYPE_NAME.match(type_name.strip())
    if match is None:
        return type_name.strip(), [], False
    base = " ".join(f"{match['base']} {match['rest'] or ''}".split())
    args = [arg.strip() for arg in match["args"].split(",")] if match["args"] else []
    return _ALIASES.get(base, base), args, match["array"] is not None


def _base_type(type_name: str, datetime64: bool) -> str:
    """The ClickHouse type of a non-array PostgreSQL type."""
    base, args, _ = _parts(type_name)
    if base in _SCALARS:
        return _SCALARS[base]
    if base in _TIMESTAMPS:
        return "DateTime64(6, 'UTC')" if datetime64 else "DateTime('UTC')"
    if base == "numeric" and len(args) == 2 and all(arg.isdigit() for arg in args):
        precision, scale = int(args[0]), int(args[1])
        if precision <= (MAX_DECIMAL_PRECISION if datetime64 else EXACT_FLOAT_DIGITS):
            return f"Decimal({precision}, {scale})"
    return "String"  # text, varchar, char, json, bytea, time, numeric without a scale, and all else


def clickhouse_type(type_name: str, nullable: bool, *, allow_nullable: bool, datetime64: bool) -> str:
    """The ClickHouse column type for a PostgreSQL column of `type_name`. Nullable only when both the column may be
    NULL and the pipe allows Nullable columns (else a NULL is written as the type's default). An array of integers
    becomes an Array, never Nullable (ClickHouse has no Nullable Array: a NULL one is written as [])."""
    base, _, is_array = _parts(type_name)
    if is_array:
        if base not in _INT_ARRAY_ELEMENTS:
            return "String"
        element = _SCALARS[base]
        return f"Array(Nullable({element}))" if allow_nullable else f"Array({element})"
    kind = _base_type(type_name, datetime64)
    return f"Nullable({kind})" if nullable and allow_nullable else kind


def to_clickhouse(text: str | None, type_name: str, clickhouse_type: str, allow_nullable: bool = True) -> Any:
    """The JSONEachRow value of a PostgreSQL text value (None for NULL) for a column that clickhouse_type() gave
    `clickhouse_type`. A NULL is written as null only for a Nullable type and when `allow_nullable`, else as the
    type's default (0, '', the zero UUID, 1970-01-01, [])."""
    return converter(type_name, clickhouse_type, allow_nullable)(text)


@lru_cache(maxsize=1024)
def converter(type_name: str, clickhouse_type: str, allow_nullable: bool = True) -> Converter:
    """to_clickhouse for one column, its type read once."""
    inner, nullable = clickhouse_type, False
    if clickhouse_type.startswith("Nullable(") and clickhouse_type.endswith(")"):
        inner, nullable = clickhouse_type[len("Nullable("):-1], allow_nullable
    convert, default = _value_converter(type_name, inner, allow_nullable)

    def convert_value(text: str | None) -> Any:
        if text is None:
            return None if nullable else default
        value = convert(text)
        return None if value is None and nullable else default if value is None else value

    return convert_value


def _value_converter(type_name: str, kind: str, allow_nullable: bool) -> tuple[Callable[[str], Any], Any]:
    """How a non-NULL text value becomes the value of ClickHouse type `kind` (returning None for one the type
    cannot hold, such as a numeric NaN in a Decimal), and the type's default."""
    if kind == "UInt8":
        return _boolean, 0
    if kind in ("Int16", "Int32", "Int64"):
        return int, 0
    if kind in ("Float32", "Float64"):
        return float, 0
    if kind == "String":
        return str, ""
    if kind == "UUID":
        return str, _ZERO_UUID
    if kind == "Date":
        return _date, _DATE_RANGE[0]
    if kind == "DateTime('UTC')":
        return _datetime_converter(_DATETIME_RANGE, "%Y-%m-%d %H:%M:%S"), "1970-01-01 00:00:00"
    if kind == "DateTime64(6, 'UTC')":
        return _datetime_converter(_DATETIME64_RANGE, "%Y-%m-%d %H:%M:%S.%f"), "1970-01-01 00:00:00.000000"
    if kind.startswith("Array("):
        return _int_array_converter(elements_nullable=kind.startswith("Array(Nullable(") and allow_nullable), []
    decimal = _DECIMAL.match(kind)
    if decimal is not None:
        as_float = int(decimal["precision"]) <= EXACT_FLOAT_DIGITS
        return (_decimal_float if as_float else _decimal_text), 0
    raise ValueError(f"no conversion of PostgreSQL {type_name} values to ClickHouse {kind}")


def _boolean(text: str) -> int:
    if text not in ("t", "f"):
        raise ValueError(f"not a PostgreSQL boolean: {text!r}")
    return 1 if text == "t" else 0


def _finite_decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a PostgreSQL numeric: {text!r}") from None
    return value if value.is_finite() else None  # NaN and ±Infinity, which no Decimal holds


def _decimal_float(text: str) -> float | None:
    value = _finite_decimal(text)
    return None if value is None else float(value)


def _decimal_text(text: str) -> str | None:
    return None if _finite_decimal(text) is None else text


def _date(text: str) -> str:
    low, high = _DATE_RANGE
    if text == "infinity":
        return high
    if text == "-infinity":
        return low
    match = _DATE.match(text)
    if match is None:
        raise ValueError(f"not a PostgreSQL date (ISO DateStyle): {text!r}")
    if match["bc"]:
        return low
    if len(match["year"]) > 4:
        return high
    value = f"{match['year']}-{match['month']}-{match['day']}"  # ISO: compared as text, as dates
    return min(max(value, low), high)


def _datetime_converter(bounds: tuple[datetime, datetime], layout: str) -> Callable[[str], str]:
    low, high = bounds

    def convert(text: str) -> str:
        moment = _timestamp(text, low, high)
        return min(max(moment, low), high).strftime(layout)

    return convert


def _timestamp(text: str, low: datetime, high: datetime) -> datetime:
    """A PostgreSQL timestamp (taken as UTC) or timestamptz (at its offset) in UTC; `low` or `high` for one beyond
    what Python's datetime holds (BC, year 10000 on, ±infinity)."""
    if text == "infinity":
        return high
    if text == "-infinity":
        return low
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"not a PostgreSQL timestamp (ISO DateStyle): {text!r}")
    if match["bc"]:
        return low
    if len(match["year"]) > 4:
        return high
    zone = UTC if match["offset"] is None else timezone(_offset(match["offset"]))
    fraction = (match["fraction"] or "").ljust(6, "0")
    local = datetime(int(match["year"]), int(match["month"]), int(match["day"]), int(match["hour"]),
                     int(match["minute"]), int(match["second"]), int(fraction), tzinfo=zone)
    try:
        return local.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved out of range by the offset
        return low if local.year == 1 else high


def _offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    fields = [int(field) for field in text[1:].split(":")] + [0, 0]
    return sign * timedelta(hours=fields[0], minutes=fields[1], seconds=fields[2])


def _int_array_converter(elements_nullable: bool) -> Callable[[str], list[int | None]]:
    """An integer array's text form ('{1,NULL,3}', '[0:1]={4,5}', '{{1,2},{3,4}}') as a flat list (ClickHouse's
    Array of integers has one dimension: a multi-dimensional one is read row after row). NULL elements are None
    in an Array of Nullable, else 0."""
    missing = None if elements_nullable else 0

    def convert(text: str) -> list[int | None]:
        _, _, body = text.rpartition("=")  # '[0:1]=' tells of bounds other than 1, which an Array cannot keep
        elements = body.replace("{", "").replace("}", "").strip()
        if not elements:
            return []
        return [missing if element.strip() == "NULL" else int(element) for element in elements.split(",")]

    return convert
