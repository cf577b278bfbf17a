"""How `clickplane serve` logs: human text (the default) or one JSON object a line, both carrying the id of the
request a line was logged for; one access line per request; and a count of the warnings and errors logged."""

from __future__ import annotations

import asyncio
import enum
import functools
import logging
import re
import sys
import time
from collections import Counter
from typing import Any

from pydantic_core import to_json

from clickplane.observability.context import current_request

ACCESS_LOGGER = "clickplane.access"  # the name access lines carry

# What could forge a line or drive a terminal when a request's path or an error's text is logged: C0 and C1
# controls (newlines, ESC, NUL; C1's CSI starts escape sequences too), DEL, and Unicode's line separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# What JSON leaves raw inside a string: it escapes C0 itself.
_RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match[0]):02x}" if ord(match[0]) < 0x100 else f"\\u{ord(match[0]):04x}"


def escape_controls(text: str) -> str:
    """`text` with each control character written as its escape (`\\x0a`, `\\x1b`), so that what a client sent
    cannot start a line of its own or reach the terminal of whoever reads the log."""
    return _CONTROLS.sub(_escaped, text)


def indent_continuation(text: str) -> str:
    """A traceback of several lines, its control characters escaped but its lines kept, each indented: in the
    text format only a record's first line starts at the margin, so none below it can pass for a record."""
    return "\n".join("  " + escape_controls(line) for line in text.split("\n"))


def request_fields() -> dict[str, str]:
    """requestId (and keyId once authenticated) of the request being handled; nothing outside a request."""
    request = current_request()
    if request is None:
        return {}
    return {"requestId": request.request_id, **({"keyId": request.key_id} if request.key_id else {})}


@functools.lru_cache(maxsize=2)
def _second(second: int, utc: bool) -> str:
    """A second's date and time, made once: a busy server logs many lines in each."""
    if utc:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))


def text_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """`2026-01-02 03:04:05,678 INFO logger: message` (logging's classic layout, local time), then
    ` name=value` for each field."""
    second = int(created)
    suffix = "".join(f" {name}={value}" for name, value in fields.items())
    line = f"{_second(second, False)},{int((created - second) * 1000):03d} {level} {logger}: {message}{suffix}"
    return escape_controls(line)


def json_line(created: float, level: str, logger: str, message: str, fields: dict[str, Any]) -> str:
    """One JSON object: time (UTC, to the millisecond), level, logger, message, then the fields."""
    second = int(created)
    stamp = f"{_second(second, True)}.{int((created - second) * 1000):03d}+00:00"
    entry = {"time": stamp, "level": level, "logger": logger, "message": message, **fields}
    return _RAW_IN_JSON.sub(_json_escaped, to_json(entry, fallback=str).decode())


def _json_escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"  # only ever inside a string: JSON's own escape, read back as the character


class _Formatter(logging.Formatter):
    def _traceback(self, record: logging.LogRecord) -> dict[str, str]:
        """The exception and stack logged with the record, if any."""
        shown = {"exception": self.formatException(record.exc_info)} if record.exc_info else {}
        return shown | ({"stack": self.formatStack(record.stack_info)} if record.stack_info else {})


class TextFormatter(_Formatter):
    """text_line, with the request's ids as fields, then any traceback on the lines below."""

    def format(self, record: logging.LogRecord) -> str:
        line = text_line(record.created, record.levelname, record.name, record.getMessage(), request_fields())
        return "\n".join([line, *map(indent_continuation, self._traceback(record).values())])


class JsonFormatter(_Formatter):
    """json_line, with the request's ids and any traceback (`exception`, `stack`) as fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = request_fields() | self._traceback(record)
        return json_line(record.created, record.levelname, record.name, record.getMessage(), fields)


class AccessLog:
    """One line per request, in the log's format and to its stream, but written here rather than as a logging
    record (the record would cost four times the line: 77k instructions against 17k), and the lines of the
    requests that end in one turn of the event loop written together at its end: one write instead of one a
    request."""

    def __init__(self) -> None:
        self.handler: logging.StreamHandler[Any] | None = None  # None: no access lines
        self.json = False
        self._pending: list[str] = []

    def write(self, method: str, path: str, status: int, milliseconds: float) -> None:
        if self.handler is None:
            return
        message = f"{method} {path} {status} {milliseconds:.1f} ms"
        if self.json:
            fields = {**request_fields(), "method": method, "path": path, "status": status,
                      "durationMs": milliseconds}
            line = json_line(time.time(), "INFO", ACCESS_LOGGER, message, fields)
        else:
            line = text_line(time.time(), "INFO", ACCESS_LOGGER, message, request_fields())
        self._pending.append(line + "\n")
        if len(self._pending) == 1:
            self._flush_soon()

    def _flush_soon(self) -> None:
        """At the end of this turn of the event loop; at once outside one (a command, a test)."""
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:
            self.flush()

    def flush(self) -> None:
        lines, self._pending = "".join(self._pending), []
        handler = self.handler
        if handler is None or not lines:
            return
        handler.acquire()  # the same stream as the handler's own lines
        try:
            handler.stream.write(lines)
            handler.flush()
        finally:
            handler.release()


class ProblemCounts(logging.Handler):
    """Counts the warnings and errors logged, by logger and level: a failed metering look or backup shows in
    /metrics without each component keeping a counter of its own."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.name, record.levelname] += 1


# One each per process, as logging itself is.
PROBLEMS = ProblemCounts()
ACCESS = AccessLog()


def configure(log_format: LogFormat, access_lines: bool = True) -> None:
    """Log INFO and above to stderr in `log_format`, counting problems, with an access line per request unless
    told not to (the metrics count requests either way); Python's warnings go the same way."""
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [output, PROBLEMS]
    root.setLevel(logging.INFO)
    ACCESS.handler, ACCESS.json = (output if access_lines else None), log_format is LogFormat.JSON
    # httpx would log each of the control plane's own calls to services (health checks every few seconds).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.captureWarnings(True)
