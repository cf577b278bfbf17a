"""Text put into ClickHouse SQL as one token whatever it holds: an identifier in backquotes, a string literal in
single quotes, each with its quote and the backslash escaped (ClickHouse reads backslash escapes in both)."""

from __future__ import annotations


def identifier(name: str) -> str:
    """`name` as a backquoted ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(text: str) -> str:
    """`text` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
