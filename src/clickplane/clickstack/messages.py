"""What an alert notification says (HyperDX checkAlerts/template.ts and transports/generic.ts): its event id and
Idempotency-Key, its default title and body, and the templates users write: an alert's `name` and `message`, and a
webhook's body.

Templates are Handlebars, in the subset a notification needs, rendered here rather than by a library: PyPI's
ports were last released in 2019 and 2021 (pybars3, pybars4: untyped, and they compile a template to Python code)
or are handlebars.js run through js2py, and the subset is small. What it takes:

- `{{path}}` and `{{{path}}}`: a value of the view by a dotted path (`alert.name`, `this.value`); nothing for a
  missing one. Nothing is HTML-escaped (HyperDX renders webhook bodies with noEscape, and no output here is HTML).
  A value that is an object or list is written as JSON (Handlebars would write "[object Object]").
- `{{#if x}}...{{else}}...{{/if}}`, with Handlebars' truth: false, null, "", 0 and [] are false.
- the `eq` helper, strict as JavaScript's `===`: inline (`{{eq state "ALERT"}}` writes true or false), as a
  condition (`{{#if (eq state "ALERT")}}`), or as a block of its own (`{{#eq state "ALERT"}}...{{else}}...{{/eq}}`).
- string, number, true, false and null literals as arguments; `{{! comments }}` and `{{!-- comments --}}`.

Anything else (another helper, a partial, `key=value` arguments, an unbalanced block) is a TemplateError that says
what is wrong and at which line and column; `check_template` lets a create refuse such a template up front.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from clickplane.clickstack.thresholds import bounds, format_number, verb, violates
from clickplane.clickstack.windows import EPOCH

DEFAULT_WEBHOOK_BODY = ('{"text": "{{title}} | {{body}} | {{link}} | {{state}} | {{startTime}} | {{endTime}} | '
                        '{{eventId}}"}')
# A saved search's notification shows some matching rows: each line and all of them cut as HyperDX cuts them.
SAMPLE_LINE_CHARS = 500
SAMPLES_CHARS = 2500


class TemplateError(ValueError):
    """A template this renderer cannot take; the message says what is wrong and where."""


# Identity of notifications.


def event_id(alert_id: str, channel_type: str, channel_id: str, grouped: bool, group: str | None) -> str:
    """A stable id of what an alert notifies one channel about (one group's, when it is grouped): the same for
    every window, so that a receiver can thread an alert's notifications. A grouped alert's id differs from an
    ungrouped one's even for an empty group (HyperDX's `isGrouped`)."""
    identity: dict[str, Any] = {"alertId": alert_id, "channel": {"type": channel_type, "id": channel_id},
                                "isGrouped": grouped}
    if grouped and group:
        identity["groupId"] = group
    return _digest(identity)


def idempotency_key(event_id: str, start: datetime, end: datetime, state: str) -> str:
    """The Idempotency-Key of one notification: the same for every attempt and every process that sends it, so
    that a receiver can drop the copies an at-least-once delivery may bring."""
    return _digest({"eventId": event_id, "startTime": epoch_ms(start), "endTime": epoch_ms(end), "state": state})


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, as webhook bodies carry times; exact, without a float in between."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _digest(identity: Mapping[str, Any]) -> str:
    # sha256 of canonical JSON: Python's hash() is salted per process, and the key must survive restarts.
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Default title and body. `view` is what a user's template may use: HyperDX's {alert, attributes, dashboard,
# savedSearch, source, startTime, endTime, granularity, group, isGroupedAlert, value}, plus the alert's `tile`.


def notification_title(alert: Mapping[str, Any], view: Mapping[str, Any], *, resolved: bool) -> str:
    """The title: the alert's `name` template rendered over the view, else HyperDX's default; prefixed with 🚨,
    or ✅ for the resolved notification."""
    prefix = "✅ " if resolved else "🚨 "
    if alert.get("name"):
        return prefix + render_template(alert["name"], view)
    value = float(view["value"])
    if alert.get("source") == "saved_search":
        search = view.get("savedSearch") or {}
        return f'{prefix}Alert for "{search.get("name")}" - {format_number(value)} lines found'
    tile, dashboard = view.get("tile") or {}, view.get("dashboard") or {}
    threshold_type, threshold, upper = _threshold(alert)
    wording = verb(threshold_type, violated=violates(value, threshold_type, threshold, upper))
    return (f'{prefix}Alert for "{tile.get("name")}" in "{dashboard.get("name")}" - '
            f"{_with_decimals_of(value, threshold)} {wording} {bounds(threshold_type, threshold, upper)}")


def notification_body(alert: Mapping[str, Any], view: Mapping[str, Any], samples: Sequence[Mapping[str, Any]]
                      ) -> str:
    """The body: the group, the value against the threshold, the time range, the alert's `message` template
    rendered, and for a saved search a few matching rows in a code block.

    The resolved notification is told apart by its value, which does not violate the threshold (states.py sends
    OK only for a clean window); it says only that the alert has been resolved."""
    value = float(view["value"])
    threshold_type, threshold, upper = _threshold(alert)
    group = view.get("group") or ""
    message = render_template(alert["message"], view) if alert.get("message") else ""
    time_range = _time_range(view["startTime"], view["endTime"])
    if not violates(value, threshold_type, threshold, upper):
        lines = [f'Group: "{group}" - The alert has been resolved.' if group else "The alert has been resolved.",
                 time_range, message]
    elif alert.get("source") == "saved_search":
        lines = [f'Group: "{group}"' if group else "",
                 f"{format_number(value)} lines found, which {verb(threshold_type)} the threshold of "
                 f"{bounds(threshold_type, threshold, upper)} lines",
                 time_range, message, f"```\n{_sample_lines(samples)}\n```"]
    else:
        lines = [f'Group: "{group}"' if group else "",
                 f"{_with_decimals_of(value, threshold)} {verb(threshold_type)} "
                 f"{bounds(threshold_type, threshold, upper)}",
                 time_range, message]
    return "\n".join(line for line in lines if line)


def _threshold(alert: Mapping[str, Any]) -> tuple[str, float, float | None]:
    upper = alert.get("thresholdMax")
    return str(alert["thresholdType"]), float(alert["threshold"]), None if upper is None else float(upper)


def _with_decimals_of(value: float, threshold: float) -> str:
    """The value with as many decimals as the threshold has (HyperDX `formatValueToMatchThreshold`): a tile's
    average of 3.14159 against a threshold of 2.5 reads 3.1."""
    written = format_number(threshold)
    decimals = len(written.partition(".")[2]) if "e" not in written else 0
    return f"{value:.{decimals}f}"


def _time_range(start: datetime | str, end: datetime | str) -> str:
    return f"Time Range (UTC): [{_clock(start)} - {_clock(end)})"


def _clock(moment: datetime | str) -> str:
    """A moment as HyperDX's messages write one, in UTC: "Jan 5 3:04:05 PM"."""
    utc = (moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)).astimezone(UTC)
    return f"{utc:%b} {utc.day} {utc.hour % 12 or 12}:{utc:%M:%S} {'AM' if utc.hour < 12 else 'PM'}"


def _sample_lines(samples: Sequence[Mapping[str, Any]]) -> str:
    """The rows as CSV lines, each cut to SAMPLE_LINE_CHARS and all of them to SAMPLES_CHARS."""
    lines = [_cut(_csv_line(row), SAMPLE_LINE_CHARS) for row in samples]
    return _cut("\n".join(lines), SAMPLES_CHARS)


def _csv_line(row: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(_cell(value) for value in row.values())
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _cut(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length] + "..."


# The webhook body.


def webhook_body(template: str | None, *, title: str, body: str, link: str, state: str, start: datetime,
                 end: datetime, event_id: str) -> str:
    """A generic or incident.io webhook's body: its template (DEFAULT_WEBHOOK_BODY when it has none) rendered over
    {title, body, link, state, startTime, endTime, eventId}. Title, body and link are JSON-string-escaped, so that
    a template can put them inside "..." in JSON; the times are epoch milliseconds."""
    view = {"title": _json_escaped(title), "body": _json_escaped(body), "link": _json_escaped(link),
            "state": state, "startTime": epoch_ms(start), "endTime": epoch_ms(end), "eventId": event_id}
    return render_template(DEFAULT_WEBHOOK_BODY if template is None else template, view)


def _json_escaped(text: str) -> str:
    # As JavaScript's JSON.stringify(text).slice(1, -1): quotes, backslashes and control characters escaped.
    return json.dumps(text, ensure_ascii=False)[1:-1]


# The template renderer.


@dataclass(frozen=True)
class _Path:
    segments: tuple[str, ...]  # () for `this`, the view itself


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Call:
    helper: str
    arguments: tuple[_Expression, ...]


@dataclass(frozen=True)
class _Block:
    helper: str
    arguments: tuple[_Expression, ...]
    body: tuple[_Node, ...]
    otherwise: tuple[_Node, ...]  # after {{else}}


_Expression = _Path | _Literal | _Call
_Node = str | _Path | _Literal | _Call | _Block

# The helpers, with how many arguments each takes, and where each may stand.
ARITY = {"if": 1, "eq": 2}
BLOCK_HELPERS = ("if", "eq")
INLINE_HELPERS = ("eq",)
LITERAL_WORDS = {"true": True, "false": False, "null": None, "undefined": None}
# One token of an expression: a quoted string, a number, a parenthesis, a word (a path or a literal word), or
# anything else (an error).
_TOKEN = re.compile(r"""\s*(?:
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    |(?P<number>-?\d+(?:\.\d+)?)(?=[\s()]|$)
    |(?P<open>\()|(?P<close>\))
    |(?P<word>[^\s()"'=]+)
    |(?P<other>\S))""", re.VERBOSE)
# A path segment: what Handlebars takes as an identifier, none of its punctuation nor whitespace.
_SEGMENT = re.compile(r"""[^\s!"#%&'()*+,./;<=>@\[\\\]^`{|}~]+""")


def check_template(text: str) -> None:
    """Raise TemplateError if the renderer cannot take the template."""
    _parse(text)


def render_template(text: str, view: Mapping[str, Any]) -> str:
    """The template rendered over the view (TemplateError if it is not one the renderer takes)."""
    return _render(_parse(text), view)


@dataclass(frozen=True)
class _Tag:
    offset: int  # of its {{ in the template
    inner: str  # what is between the braces, stripped


@dataclass
class _OpenBlock:
    tag: _Tag
    helper: str
    arguments: tuple[_Expression, ...]
    body: list[_Node] = field(default_factory=list)
    otherwise: list[_Node] | None = None  # once its {{else}} is read

    def branch(self) -> list[_Node]:
        """Where what follows goes."""
        return self.body if self.otherwise is None else self.otherwise


@lru_cache(maxsize=256)  # the same few templates render again every window
def _parse(text: str) -> tuple[_Node, ...]:
    """The template as a tree of text, outputs and blocks."""
    top: list[_Node] = []
    blocks: list[_OpenBlock] = []
    for piece in _pieces(text):
        branch = blocks[-1].branch() if blocks else top
        if isinstance(piece, str):
            branch.append(piece)
        elif piece.inner.startswith("#"):
            helper, arguments = _call(_expressions(text, piece, piece.inner[1:]), text, piece, block=True)
            blocks.append(_OpenBlock(piece, helper, arguments))
        elif piece.inner == "else":
            _start_else(text, blocks, piece)
        elif piece.inner.startswith("/"):
            closed = _close(text, blocks, piece)
            (blocks[-1].branch() if blocks else top).append(closed)
        else:
            branch.append(_output(text, piece))
    if blocks:
        raise TemplateError(f"{{{{{blocks[-1].tag.inner}}}}} at {_where(text, blocks[-1].tag)} is never closed")
    return tuple(top)


def _pieces(text: str) -> Iterator[str | _Tag]:
    """The template's text and tags in order, comments left out."""
    position = 0
    while (opening := text.find("{{", position)) != -1:
        if opening > position:
            yield text[position:opening]
        closing = "--}}" if text.startswith("{{!--", opening) else "}}}" if text.startswith("{{{", opening) else "}}"
        start = opening + (3 if closing == "}}}" else 2)
        end = text.find(closing, start)
        if end == -1:
            raise TemplateError(f"the {{{{ at {_where(text, _Tag(opening, ''))} is never closed by {closing}")
        position = end + len(closing)
        inner = text[start:end].strip()
        if not inner.startswith("!"):
            yield _Tag(opening, inner)
    if position < len(text):
        yield text[position:]


def _start_else(text: str, blocks: list[_OpenBlock], tag: _Tag) -> None:
    if not blocks:
        raise TemplateError(f"{{{{else}}}} at {_where(text, tag)} is outside an if or eq block")
    if blocks[-1].otherwise is not None:
        raise TemplateError(f"a second {{{{else}}}} at {_where(text, tag)} in {{{{{blocks[-1].tag.inner}}}}}")
    blocks[-1].otherwise = []


def _close(text: str, blocks: list[_OpenBlock], tag: _Tag) -> _Block:
    name = tag.inner[1:].strip()
    if not blocks:
        raise TemplateError(f"{{{{/{name}}}}} at {_where(text, tag)} closes no block")
    block = blocks.pop()
    if name != block.helper:
        raise TemplateError(f"{{{{/{name}}}}} at {_where(text, tag)} does not close {{{{{block.tag.inner}}}}} "
                            f"opened at {_where(text, block.tag)}")
    return _Block(block.helper, block.arguments, tuple(block.body), tuple(block.otherwise or ()))


def _output(text: str, tag: _Tag) -> _Expression:
    """What an output tag writes: a value, or an inline helper's result."""
    expressions = _expressions(text, tag, tag.inner)
    if not expressions:
        raise TemplateError(f"an empty {{{{}}}} at {_where(text, tag)}")
    if len(expressions) == 1:
        return expressions[0]
    return _Call(*_call(expressions, text, tag, block=False))


def _call(expressions: list[_Expression], text: str, tag: _Tag, *, block: bool
          ) -> tuple[str, tuple[_Expression, ...]]:
    """A helper's name and arguments, checked: a helper that may stand here, with as many arguments as it takes."""
    if not expressions:
        raise TemplateError(f"a helper is missing in {{{{{tag.inner}}}}} at {_where(text, tag)}")
    head, *arguments = expressions
    name = head.segments[0] if isinstance(head, _Path) and len(head.segments) == 1 else _shown(head)
    if name not in (BLOCK_HELPERS if block else INLINE_HELPERS):
        problem = f"{name} is a block helper ({{{{#{name} ...}}}}...{{{{/{name}}}}})" if name in ARITY else \
            f"unknown helper {name!r} (the helpers are if and eq)"
        raise TemplateError(f"{problem}, at {_where(text, tag)}")
    if len(arguments) != ARITY[name]:
        raise TemplateError(f"{name} takes {ARITY[name]} argument{'s' if ARITY[name] > 1 else ''}, not "
                            f"{len(arguments)}, at {_where(text, tag)}")
    return name, tuple(arguments)


def _expressions(text: str, tag: _Tag, source: str) -> list[_Expression]:
    """The expressions of a tag, in order; a parenthesis holds a subexpression, an inline helper's call."""
    levels: list[list[_Expression]] = [[]]
    position = 0
    while (match := _TOKEN.match(source, position)) is not None:
        position = match.end()
        if match["open"]:
            levels.append([])
        elif match["close"]:
            if len(levels) == 1:
                raise TemplateError(f"a ) closes nothing in {{{{{tag.inner}}}}} at {_where(text, tag)}")
            inner = levels.pop()
            levels[-1].append(_Call(*_call(inner, text, tag, block=False)))
        else:
            levels[-1].append(_operand(match, text, tag))
    if len(levels) > 1:
        raise TemplateError(f"a ( is never closed in {{{{{tag.inner}}}}} at {_where(text, tag)}")
    return levels[0]


def _operand(match: re.Match[str], text: str, tag: _Tag) -> _Path | _Literal:
    if match["string"]:
        quote = match["string"][0]
        return _Literal(match["string"][1:-1].replace("\\" + quote, quote))
    if match["number"]:
        number = match["number"]
        return _Literal(float(number) if "." in number else int(number))
    word = match["word"]
    if word is None:
        problem = "key=value arguments are not supported" if match["other"] == "=" else \
            f"unexpected {match['other']!r}"
        raise TemplateError(f"{problem} in {{{{{tag.inner}}}}} at {_where(text, tag)}")
    if word in LITERAL_WORDS:
        return _Literal(LITERAL_WORDS[word])
    segments = word.split(".")
    if segments[0] == "this":
        segments = segments[1:]
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise TemplateError(f"{word!r} in {{{{{tag.inner}}}}} at {_where(text, tag)} is not a path (such as "
                            "alert.name), a literal or a helper")
    return _Path(tuple(segments))


def _shown(expression: _Expression) -> str:
    if isinstance(expression, _Path):
        return ".".join(expression.segments) or "this"
    return "a subexpression" if isinstance(expression, _Call) else repr(expression.value)


def _where(text: str, tag: _Tag) -> str:
    line = text.count("\n", 0, tag.offset) + 1
    column = tag.offset - text.rfind("\n", 0, tag.offset)
    return f"line {line}, column {column}"


def _render(nodes: Sequence[_Node], view: Mapping[str, Any]) -> str:
    return "".join(_rendered(node, view) for node in nodes)


def _rendered(node: _Node, view: Mapping[str, Any]) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, _Block):
        return _render(node.body if _holds(node, view) else node.otherwise, view)
    return _written(_evaluate(node, view))


def _holds(block: _Block, view: Mapping[str, Any]) -> bool:
    values = [_evaluate(argument, view) for argument in block.arguments]
    return _truthy(values[0]) if block.helper == "if" else _strictly_equal(*values)


def _evaluate(expression: _Expression, view: Mapping[str, Any]) -> Any:
    if isinstance(expression, _Literal):
        return expression.value
    if isinstance(expression, _Path):
        return _lookup(view, expression.segments)
    return _strictly_equal(*(_evaluate(argument, view) for argument in expression.arguments))  # eq, the one


def _lookup(view: Mapping[str, Any], segments: tuple[str, ...]) -> Any:
    value: Any = view
    for segment in segments:
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment)
    return value


def _written(value: Any) -> str:
    """A value as Handlebars writes it: nothing for null, true and false, numbers as JavaScript writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _truthy(value: Any) -> bool:
    """Handlebars' truth for #if: false, null, "", 0, NaN and [] are false; an object, even {}, is true."""
    if isinstance(value, Mapping):
        return True
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _strictly_equal(left: Any, right: Any) -> bool:
    """JavaScript's ===: a number equals a number of the same value, anything else only its own kind."""
    numbers = (int, float)
    if isinstance(left, numbers) and isinstance(right, numbers) and \
            not isinstance(left, bool) and not isinstance(right, bool):
        return bool(left == right)
    return type(left) is type(right) and bool(left == right)
