"""A short-lived cache of what the API's hottest reads return (a service's details, an organization's services).

Clients poll service details in tight loops (clickhousectl every 5 s per command, scripts far more often);
reading and rendering the row each time was most of a request's cost. What this process writes is seen at
once: any transaction of this process that changed a row clears the cache when it commits. What another
process writes (another API replica, an operator command) is seen within `ttl_seconds`. 0 turns it off.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

WROTE = "clickplane_wrote"  # in Connection.info: this transaction changed rows


class ReadCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._generation = 0  # bumped by each clear, so a read that overlapped a write is not kept

    def get(self, key: Hashable, load: Callable[[], T]) -> T:
        """The value cached for `key` if it is fresh, else `load()` (kept unless a write committed meanwhile)."""
        if self.ttl_seconds <= 0:
            return load()
        now = self.clock()
        cached = self._entries.get(key)
        if cached is not None and now - cached[0] < self.ttl_seconds:
            return cached[1]  # type: ignore[no-any-return]
        generation = self._generation
        value = load()
        if generation == self._generation:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def watch(self, engine: Engine) -> None:
        """Clear whenever a transaction on `engine` that inserted, updated or deleted rows commits."""

        def noted(connection: Connection, _cursor: Any, _statement: str, _parameters: Any, context: Any,
                  _executemany: bool) -> None:
            if context.isinsert or context.isupdate or context.isdelete:
                connection.info[WROTE] = True

        def committed(connection: Connection) -> None:
            if connection.info.pop(WROTE, False):
                self.clear()

        def rolled_back(connection: Connection) -> None:
            connection.info.pop(WROTE, None)

        event.listen(engine, "after_cursor_execute", noted)
        event.listen(engine, "commit", committed)
        event.listen(engine, "rollback", rolled_back)
