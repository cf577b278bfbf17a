"""How `clickplane serve` logs: human text (the default) or one JSON object a line, both carrying the id of the
request a line was logged for; and a count of the warnings and errors logged, for /metrics."""

from __future__ import annotations

import enum
import json
import logging
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from clickplane.observability.context import current_request

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "clickplane.access"  # one line per request


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def request_fields() -> dict[str, str]:
    """requestId (and keyId once authenticated) of the request being handled; nothing outside a request."""
    request = current_request()
    if request is None:
        return {}
    return {"requestId": request.request_id, **({"keyId": request.key_id} if request.key_id else {})}


class TextFormatter(logging.Formatter):
    """The classic line, with ` requestId=... keyId=...` after the message of a line logged for a request."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        return "".join([line, *(f" {name}={value}" for name, value in request_fields().items())])


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the request's ids, a line's own `fields`
    (given as `extra={"fields": {...}}`) and any exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            **request_fields(), **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)


class ProblemCounts(logging.Handler):
    """Counts the warnings and errors logged, by logger and level: a failed metering look or backup shows in
    /metrics without each component keeping a counter of its own."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.name, record.levelname] += 1


# One per process, as logging itself is.
PROBLEMS = ProblemCounts()


def configure(log_format: LogFormat, access_lines: bool = True) -> None:
    """Log INFO and above to stderr in `log_format`, counting problems; Python's warnings go the same way.
    Without `access_lines`, requests are not logged one by one (the metrics still count them)."""
    output = logging.StreamHandler(sys.stderr)
    output.setFormatter(JsonFormatter() if log_format is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [output, PROBLEMS]
    root.setLevel(logging.INFO)
    # Neither format shows them, and looking them up is a good part of a record's cost (one per request).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET if access_lines else logging.WARNING)
    # httpx would log each of the control plane's own calls to services (health checks every few seconds).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.captureWarnings(True)
