"""Text as one token of ClickHouse SQL, whatever it holds."""

from __future__ import annotations

from clickplane.runtime.clickhouse.sql import identifier, literal


def test_a_literal_escapes_its_quote_and_the_backslash_so_nothing_ends_it_early() -> None:
    assert literal("it's") == r"'it\'s'"
    assert literal("a\\' OR 1 --") == r"'a\\\' OR 1 --'"
    assert literal("") == "''"


def test_an_identifier_escapes_its_backquote_and_the_backslash() -> None:
    assert identifier("my table") == "`my table`"
    assert identifier("a`b\\") == r"`a\`b\\`"
