"""HyperDX's search language (the `lucene` whereLanguage of saved searches, tiles and alerts) as a ClickHouse
condition over a source's table, with the meanings HyperDX gives each construct (common-utils queryParser.ts,
CustomSchemaSQLSerializerV2):

- a bare term or "quoted phrase" matches the source's implicit (full-text) column, case-insensitively, anywhere;
- `field:value` matches a text field the same way, `field:"phrase"` is an exact match, `field:*` a non-empty value;
  a number field is compared as a number throughout;
- `val*`, `*val`, `*val*` are a prefix, suffix and substring pattern (case-insensitive);
- `field:>5`, `>=`, `<`, `<=` and `field:[a TO b]` (`{}` for exclusive bounds, `*` for none) compare; against text
  they compare as numbers when every bound is a number, as text otherwise;
- `-x`, `NOT x`, `AND`/`&&`, `OR`/`||`, implicit AND between terms, parentheses, and `field:(a OR b)`, where the
  terms inside search that field as bare terms search the implicit column.

A field is a column of the table, or `<map>.<key>` for a key of a Map column (`LogAttributes.user.id` is
LogAttributes['user.id']). Values reach the SQL only as quoted literals and fields only as backquoted identifiers
or map keys. The functions used are in ClickHouse 18.16 and in modern servers alike (a map subscript needs a
server that has Map columns at all)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from clickplane.runtime.clickhouse.sql import identifier, literal

KEYWORD = re.compile(r'(?:AND|OR|NOT|&&|\|\|)(?=[\s()"]|$)')
AND_WORDS = ("AND", "&&")
OR_WORDS = ("OR", "||")
NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
# HyperDX's column types that it compares as numbers, once Nullable/LowCardinality are taken off.
NUMBER_TYPE = re.compile(r"(?:Nullable\(|LowCardinality\()*(?:U?Int\d+|Float\d+)\)*")
COMPARISONS = (">=", "<=", ">", "<")
# How deep parentheses and NOTs may nest: deeper would exhaust the parser's (Python's) stack.
MAX_DEPTH = 50
# Characters that end an unquoted word (a colon ends one too, unless it belongs to a URL: see _colon_is_text).
WORD_ENDS = frozenset('()[]{}"')


class LuceneError(ValueError):
    """A query that cannot be translated: the message says what is wrong and at which character offset."""


@dataclass(frozen=True)
class ColumnContext:
    """What the translation knows of the source's table. `implicit_column` is the source's
    implicitColumnExpression: a column name, or an expression of the source's configuration used as it is.
    `numeric_columns` are compared as numbers (HyperDX: the Int, UInt and Float columns)."""

    implicit_column: str | None
    known_columns: frozenset[str]
    map_columns: frozenset[str]
    numeric_columns: frozenset[str] = frozenset()

    @classmethod
    def of_columns(cls, implicit_column: str | None, column_types: Mapping[str, str]) -> ColumnContext:
        """The context of a table whose columns and types (as system.columns shows them) are given."""
        return cls(implicit_column=implicit_column, known_columns=frozenset(column_types),
                   map_columns=frozenset(name for name, kind in column_types.items() if kind.startswith("Map(")),
                   numeric_columns=frozenset(name for name, kind in column_types.items()
                                             if NUMBER_TYPE.fullmatch(kind)))


def lucene_to_sql(query: str, columns: ColumnContext) -> str:
    """The query as a ClickHouse boolean expression (`1` when empty), safe to join to others with AND."""
    if not query.strip():
        return "1"
    return _Parser(query, columns).parse().sql


@dataclass(frozen=True)
class _Condition:
    """A piece of the result; `kind` says whether it needs parentheses inside a larger one."""

    sql: str
    kind: Literal["leaf", "and", "or"] = "leaf"


def _all_of(parts: list[_Condition]) -> _Condition:
    if len(parts) == 1:
        return parts[0]
    return _Condition(" AND ".join(part.sql for part in parts), "and")  # an OR part has its own parentheses


def _any_of(parts: list[_Condition]) -> _Condition:
    if len(parts) == 1:
        return parts[0]
    # Always parenthesized, so that the result can be joined with AND to the caller's own conditions.
    return _Condition("(" + " OR ".join(f"({part.sql})" if part.kind == "and" else part.sql for part in parts)
                      + ")", "or")


def _negation(part: _Condition) -> _Condition:
    return _Condition(f"NOT {part.sql}" if part.kind == "or" else f"NOT ({part.sql})")


@dataclass(frozen=True)
class _Word:
    """An unquoted word with escapes resolved; `escaped` holds the indexes in `text` of escaped characters, which
    are never wildcards or comparison signs."""

    text: str
    offset: int
    escaped: frozenset[int] = frozenset()

    def is_plain(self, index: int) -> bool:
        return index not in self.escaped


@dataclass(frozen=True)
class _Operand:
    """What a term searches, as SQL: a column, a map's value or the implicit column; `label` names it in errors."""

    sql: str
    label: str
    numeric: bool = False


def _like_escaped(text: str) -> str:
    return re.sub(r"[\\%_]", r"\\\g<0>", text)


def _number(operand: _Operand, value: str, offset: int) -> str:
    if not NUMBER.fullmatch(value):
        raise LuceneError(f"{operand.label} holds numbers, and {value!r} at offset {offset} is not a number")
    return f"toFloat64({literal(value)})"


def _exists(operand: _Operand) -> _Condition:
    return _Condition(f"isNotNull({operand.sql})" if operand.numeric else f"notEmpty({operand.sql})")


def _equals(operand: _Operand, value: str, offset: int) -> _Condition:
    if operand.numeric:
        return _Condition(f"{operand.sql} = {_number(operand, value, offset)}")
    return _Condition(f"{operand.sql} = {literal(value)}")


def _contains(operand: _Operand, value: str, offset: int) -> _Condition:
    if operand.numeric:
        return _equals(operand, value, offset)
    if not value:  # HyperDX's empty term drops out, so that a template's empty selection matches everything
        return _Condition("1")
    return _Condition(f"positionCaseInsensitive({operand.sql}, {literal(value)}) > 0")


def _pattern(operand: _Operand, word: _Word, leading: bool, trailing: bool) -> _Condition:
    if operand.numeric:
        raise LuceneError(f"{operand.label} holds numbers, so the wildcard in {word.text!r} at offset "
                          f"{word.offset} cannot apply")
    middle = word.text[int(leading):len(word.text) - int(trailing)]
    pattern = ("%" if leading else "") + _like_escaped(middle) + ("%" if trailing else "")
    return _Condition(f"lower({operand.sql}) LIKE lower({literal(pattern)})")


def _comparisons(operand: _Operand, bounds: list[tuple[str, _Word]]) -> _Condition:
    """`operand <op> value` for each bound, all compared as numbers or all as text."""
    if operand.numeric:
        left, values = operand.sql, [_number(operand, word.text, word.offset) for _, word in bounds]
    elif all(NUMBER.fullmatch(word.text) for _, word in bounds):
        # Text holding numbers (a map's values) compares as numbers; text that is not a number never matches.
        left = f"toFloat64OrNull(toString({operand.sql}))"
        values = [f"toFloat64({literal(word.text)})" for _, word in bounds]
    else:
        left, values = operand.sql, [literal(word.text) for _, word in bounds]
    return _all_of([_Condition(f"{left} {operator} {value}")
                    for (operator, _), value in zip(bounds, values, strict=True)])


def _term(operand: _Operand, word: _Word) -> _Condition:
    """An unquoted word searched in the operand: `*`, a comparison, a wildcard pattern or a plain value."""
    if word.text == "*" and word.is_plain(0):
        return _exists(operand)
    for operator in COMPARISONS:
        if word.text.startswith(operator) and all(word.is_plain(index) for index in range(len(operator))):
            value = _Word(word.text[len(operator):], word.offset + len(operator))
            if not value.text:
                raise LuceneError(f"a value is missing after {operator!r} at offset {value.offset}")
            return _comparisons(operand, [(operator, value)])
    leading = word.text.startswith("*") and word.is_plain(0)
    trailing = word.text.endswith("*") and word.is_plain(len(word.text) - 1)
    if leading or trailing:
        return _pattern(operand, word, leading, trailing)
    return _contains(operand, word.text, word.offset)


class _Parser:
    """Recursive descent over the query text, with the usual precedence NOT > AND > OR (HyperDX gets the same
    from ClickHouse, as it writes Lucene's operators out unparenthesized). `scope` is what bare terms search: the
    implicit column (None) or the field of an enclosing `field:(...)`."""

    def __init__(self, text: str, columns: ColumnContext) -> None:
        self.text = text
        self.columns = columns
        self.pos = 0
        self.depth = 0

    def parse(self) -> _Condition:
        condition = self._disjunction(None)
        if self.pos < len(self.text):  # only a ')' stops a disjunction before the end
            raise LuceneError(f"unexpected ')' at offset {self.pos}: no '(' before it is open")
        return condition

    def _disjunction(self, scope: _Operand | None) -> _Condition:
        parts = [self._conjunction(scope)]
        while (keyword := self._keyword()) in OR_WORDS:
            self.pos += len(keyword)
            parts.append(self._conjunction(scope))
        return _any_of(parts)

    def _conjunction(self, scope: _Operand | None) -> _Condition:
        parts = [self._unary(scope)]
        while True:
            self._skip_spaces()
            keyword = self._keyword()
            if self.pos == len(self.text) or self.text[self.pos] == ")" or keyword in OR_WORDS:
                return _all_of(parts)
            if keyword in AND_WORDS:
                self.pos += len(keyword)
            parts.append(self._unary(scope))

    def _unary(self, scope: _Operand | None) -> _Condition:
        self._skip_spaces()
        if self.depth == MAX_DEPTH:
            raise LuceneError(f"the query nests more than {MAX_DEPTH} deep at offset {self.pos}")
        self.depth += 1
        try:
            return self._signed(scope)
        finally:
            self.depth -= 1

    def _signed(self, scope: _Operand | None) -> _Condition:
        """A term, a group or a field's search, after any NOT, '-' or '+'."""
        if self._keyword() == "NOT":
            self.pos += len("NOT")
            return _negation(self._unary(scope))
        sign = self.text[self.pos] if self.pos < len(self.text) else ""
        if sign in ("-", "+"):
            following = self.text[self.pos + 1:self.pos + 2]
            if not following or following.isspace():
                raise LuceneError(f"{sign!r} at offset {self.pos} must be followed by a term, with no space")
            self.pos += 1
            term = self._primary(scope)
            return _negation(term) if sign == "-" else term  # a '+' (required) is what every term is already
        return self._primary(scope)

    def _primary(self, scope: _Operand | None) -> _Condition:
        start = self.pos
        if start == len(self.text):
            raise LuceneError(f"a term is missing at offset {start}, where the query ends")
        keyword, char = self._keyword(), self.text[start]
        if keyword in AND_WORDS + OR_WORDS or char in ")]}:":
            raise LuceneError(f"unexpected {keyword or char!r} at offset {start}: a term should come first")
        if char == "(":
            return self._group(scope)
        if char == '"':
            return _contains(self._target(scope, start), self._quoted(), start)
        if char in "[{":
            return self._range(self._target(scope, start))
        word = self._word()
        if self.text.startswith(":", self.pos):
            return self._field(word)
        return _term(self._target(scope, start), word)

    def _field(self, name: _Word) -> _Condition:
        """After `name:`: a group, a quoted phrase, a range or a word, searched in that field."""
        self.pos += 1
        self._skip_spaces()
        operand = self._resolve(name)
        start = self.pos
        char = self.text[start] if start < len(self.text) else ""
        if not char or char in ")]}:":
            raise LuceneError(f"a value is missing after '{name.text}:' at offset {start}")
        if char == "(":
            return self._group(operand)
        # An exact match; a phrase on the implicit column or inside field:(...) is a substring one, as in HyperDX.
        if char == '"':
            return _equals(operand, self._quoted(), start)
        if char in "[{":
            return self._range(operand)
        return _term(operand, self._word())

    def _group(self, scope: _Operand | None) -> _Condition:
        start = self.pos
        self.pos += 1
        self._skip_spaces()
        if self.text.startswith(")", self.pos):
            raise LuceneError(f"the parentheses at offset {start} hold nothing")
        condition = self._disjunction(scope)
        if not self.text.startswith(")", self.pos):
            raise LuceneError(f"the '(' at offset {start} is never closed: a ')' is missing")
        self.pos += 1
        return condition

    def _range(self, operand: _Operand) -> _Condition:
        """`[low TO high]`, each end inclusive with a square bracket and exclusive with a brace; `*` is open."""
        start = self.pos
        low_inclusive = self.text[start] == "["
        self.pos += 1
        low = self._bound(start)
        self._skip_spaces()
        to = self._word(colon_ends=False)
        if to.text != "TO":
            raise LuceneError(f"the range at offset {start} needs 'TO' between its bounds at offset {to.offset}")
        high = self._bound(start)
        self._skip_spaces()
        if self.pos == len(self.text) or self.text[self.pos] not in "]}":
            raise LuceneError(f"the range at offset {start} is never closed: a ']' or '}}' is missing at offset "
                              f"{self.pos}")
        high_inclusive = self.text[self.pos] == "]"
        self.pos += 1
        bounds = [(operator, word) for operator, word in
                  ((">=" if low_inclusive else ">", low), ("<=" if high_inclusive else "<", high))
                  if word is not None]
        return _comparisons(operand, bounds) if bounds else _exists(operand)

    def _bound(self, range_start: int) -> _Word | None:
        """One end of a range: a word (colons allowed, for times) or a quoted text; None for an open `*`."""
        self._skip_spaces()
        if self.text.startswith('"', self.pos):
            offset = self.pos
            return _Word(self._quoted(), offset)
        word = self._word(colon_ends=False)
        if not word.text:
            raise LuceneError(f"the range at offset {range_start} is missing a bound at offset {word.offset}")
        return None if word.text == "*" and word.is_plain(0) else word

    def _word(self, *, colon_ends: bool = True) -> _Word:
        start = self.pos
        chars: list[str] = []
        escaped: set[int] = set()
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 == len(self.text):
                    raise LuceneError(f"the query ends in a '\\' at offset {self.pos}: write '\\\\' for one")
                escaped.add(len(chars))
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char.isspace() or char in WORD_ENDS or (char == ":" and colon_ends and not self._colon_is_text()):
                break
            chars.append(char)
            self.pos += 1
        return _Word("".join(chars), start, frozenset(escaped))

    def _colon_is_text(self) -> bool:
        """HyperDX reads the colon of `http://`, `https://` and `localhost:<port>` as text, not after a field."""
        text, pos = self.text, self.pos
        return (text.endswith(("http", "https"), 0, pos) and text.startswith("://", pos)) or (
            text.endswith("localhost", 0, pos) and text[pos + 1:pos + 2].isdigit())

    def _quoted(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
                char = self.text[self.pos]
            chars.append(char)
            self.pos += 1
        raise LuceneError(f"the quote at offset {start} is never closed: a '\"' is missing")

    def _keyword(self) -> str:
        match = KEYWORD.match(self.text, self.pos)
        return match.group() if match else ""

    def _skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _target(self, scope: _Operand | None, offset: int) -> _Operand:
        """What a bare term at `offset` searches: the enclosing group's field, else the implicit column."""
        if scope is not None:
            return scope
        implicit = self.columns.implicit_column
        if not implicit:
            raise LuceneError(f"the term at offset {offset} searches the full text, but the source has no "
                              "implicit column: name a field (field:value)")
        # A source's implicitColumnExpression is its own SQL, like its timestamp expression.
        sql = identifier(implicit) if implicit in self.columns.known_columns else f"({implicit})"
        return _Operand(sql, label="the implicit column")

    def _resolve(self, name: _Word) -> _Operand:
        """A field as HyperDX finds it: the column of that name, else the shortest leading part of the dotted
        name that is a column, which must be a map, the rest being the key."""
        columns, field = self.columns, name.text
        if field in columns.map_columns:
            raise LuceneError(f"{field} at offset {name.offset} is a map: search one of its keys, as "
                              f"{field}.<key>:value")
        if field in columns.known_columns:
            return _Operand(identifier(field), field, numeric=field in columns.numeric_columns)
        parts = field.split(".")
        for count in range(1, len(parts)):
            column, key = ".".join(parts[:count]), ".".join(parts[count:])
            if column in columns.map_columns:
                if not key:
                    raise LuceneError(f"{field} at offset {name.offset} names no key of the map {column}")
                return _Operand(f"{identifier(column)}[{literal(key)}]", field)
            if column in columns.known_columns:
                raise LuceneError(f"{field} at offset {name.offset}: {column} is not a map, so it has no key "
                                  f"{key!r}")
        raise LuceneError(f"unknown field {field!r} at offset {name.offset}: the table has no such column (a "
                          "map's key is written <map>.<key>)")
