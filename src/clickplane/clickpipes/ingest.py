"""The worker of object-storage pipes: files from S3 (or S3-compatible storage) or an HTTP(S) URL, each loaded into
the destination table once, in key order.

Each file is inserted into the pipe's staging table first (emptied before), so a malformed file is refused whole:
the error is recorded (the pipe's `<table>_clickpipes_error` table and the store) and the pipe goes on with the next
file. A file that parsed is then moved into the destination with one `INSERT ... SELECT`. Before that move the
store notes the destination's row count and the staged rows; a worker that finds such a note (its predecessor was
killed during a move) counts the destination again to tell whether the move happened, so no file is loaded twice or
lost. A one-shot pipe is Completed once no file is left; a continuous one then looks for keys after the greatest
one it dealt with, every `object_storage_polling_interval_ms`.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickplane.clickpipes.controller import PipeFailed, PipeIntent, PipeRun
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.sql import identifier
from clickplane.runtime.pipes.destination import Destination, DestinationRefused, table_name
from clickplane.runtime.pipes.objects import ObjectSource, ObjectUnreadable, StoredObject, list_after, read

_MAX_READERS = 35  # the reference's most object_storage_concurrency
WITH_NAMES = {"CSVWithNames": "CSV", "TabSeparatedWithNames": "TabSeparated"}


@dataclass(frozen=True)
class Target:
    database: str
    table: str
    columns: tuple[str, ...]

    @property
    def staging(self) -> str:
        return f"_clickpipes_staging_{self.table}"

    @property
    def errors(self) -> str:
        return f"{self.table}_clickpipes_error"


def target_of(intent: PipeIntent) -> Target:
    destination = intent.destination
    return Target(destination["database"], destination["table"],
                  tuple(column["name"] for column in destination.get("columns") or ()))


def object_source(intent: PipeIntent) -> ObjectSource:
    source, keys = intent.source, intent.credentials.get("accessKey") or {}
    return ObjectSource(url=source["url"], access_key_id=keys.get("accessKeyId"), secret_key=keys.get("secretKey"),
                        compression=source.get("compression") or "auto")


def create_table_sql(target: Target, destination: dict[str, Any]) -> str:
    """The managed destination table as the request defines it (engine, sorting key, partitioning)."""
    definition = destination.get("tableDefinition") or {}
    engine = definition.get("engine") or {"type": "MergeTree"}
    columns = ", ".join(f"{identifier(column['name'])} {column['type']}" for column in destination["columns"])
    sorting = definition.get("sortingKey") or []
    order = f" ORDER BY ({', '.join(identifier(key) for key in sorting)})" if sorting else " ORDER BY tuple()"
    partition = f" PARTITION BY {definition['partitionBy']}" if definition.get("partitionBy") else ""
    kind = engine["type"]
    if kind == "Null":
        return f"CREATE TABLE IF NOT EXISTS {table_name(target.database, target.table)} ({columns}) ENGINE = Null"
    arguments = ""
    if kind == "ReplacingMergeTree" and engine.get("versionColumnId"):
        arguments = f"({identifier(engine['versionColumnId'])})"
    elif kind == "SummingMergeTree" and engine.get("columnIds"):
        arguments = f"(({', '.join(identifier(column) for column in engine['columnIds'])}))"
    return (f"CREATE TABLE IF NOT EXISTS {table_name(target.database, target.table)} ({columns}) "
            f"ENGINE = {kind}{arguments}{partition}{order}")


class ObjectStorageWorker:
    async def run(self, run: PipeRun, destination: Destination) -> None:
        intent, target = run.intent, target_of(run.intent)
        await self._prepare(destination, intent, target)
        if run.state != "Running":
            run.observe("streaming")
        await self._finish_move(run, destination, target)
        source = object_source(intent)
        start_after = await self._start_after(run, source)
        polling = float(intent.settings["object_storage_polling_interval_ms"]) / 1000
        batch_size = int(intent.settings["object_storage_max_file_count"])
        while run.wanted():
            after = max(filter(None, (run.last_file(), start_after)), default=None)
            files = [stored for stored in await list_after(source, after, batch_size)
                     if not run.file_known(stored.key)]
            async with contextlib.aclosing(_read_ahead(source, files, readers_of(intent))) as reads:
                async for stored, data in reads:
                    if not run.wanted():
                        return
                    await self._load(run, destination, target, stored, data)
            if not files and not intent.source.get("isContinuous"):
                run.observe("completed")
                return
            if not files and not await run.wait(polling):
                return

    async def remove(self, intent: PipeIntent) -> None:
        """Nothing in the source to undo: the files stay where they are, and the destination keeps what it holds
        (its staging table goes when the next pipe of the table empties it)."""

    async def _prepare(self, destination: Destination, intent: PipeIntent, target: Target) -> None:
        if intent.destination.get("managedTable", True) and target.columns:
            await destination.execute(create_table_sql(target, intent.destination))
        if not await destination.exists(target.database, target.table):
            raise PipeFailed(f"the destination table {target.database}.{target.table} does not exist; create it or "
                             "let the pipe manage it (managedTable with columns)")
        staging = table_name(target.database, target.staging)
        await destination.execute(f"CREATE TABLE IF NOT EXISTS {staging} AS "
                                  f"{table_name(target.database, target.table)} ENGINE = MergeTree ORDER BY tuple()")
        await destination.execute(f"CREATE TABLE IF NOT EXISTS {table_name(target.database, target.errors)} "
                                  "(timestamp DateTime, file String, error String) ENGINE = MergeTree "
                                  "ORDER BY timestamp")

    async def _start_after(self, run: PipeRun, source: ObjectSource) -> str | None:
        """Where the first listing starts: after `startAfter`, or, with skipInitialLoad, after every file there was
        when the pipe first ran (kept in the checkpoint, so a restart does not move it)."""
        if "start_after" not in run.checkpoint:
            start_after = run.intent.source.get("startAfter") or None
            if run.intent.source.get("skipInitialLoad"):
                existing = await list_after(source, None, 1_000_000)
                start_after = existing[-1].key if existing else None
            run.save(start_after=start_after)
        value = run.checkpoint["start_after"]
        return value if isinstance(value, str) else None

    async def _load(self, run: PipeRun, destination: Destination, target: Target, stored: StoredObject,
                    data: bytes | ObjectUnreadable) -> None:
        await destination.execute(f"TRUNCATE TABLE {table_name(target.database, target.staging)}")
        try:
            if isinstance(data, ObjectUnreadable):
                raise data
            input_format, columns, body = self._shaped(run.intent, target, data)
            await destination.insert_formatted(target.database, target.staging, input_format, body, columns,
                                               {"input_format_skip_unknown_fields": "1"})
        except (ObjectUnreadable, DestinationRefused, ValueError) as error:  # this file; the next may do
            await self._record_error(run, destination, target, stored, str(error))
            return
        staged = await destination.count(target.database, target.staging)
        before = await destination.count(target.database, target.table)
        size = stored.size if stored.size is not None else len(data)
        run.save(moving={"key": stored.key, "before": before, "staged": staged, "size": size})
        await self._move(destination, target)
        run.file_done(stored.key, staged, size, moving=None)

    def _shaped(self, intent: PipeIntent, target: Target, data: bytes) -> tuple[str, list[str] | None, bytes]:
        """The format ClickHouse is given, the columns the data fills, and the data: a header line read here
        (18.16 skips it without matching names), field mappings applied to names."""
        input_format = intent.source["format"]
        renames = {mapping["sourceField"]: mapping["destinationField"] for mapping in intent.field_mappings}
        if input_format in WITH_NAMES:
            text = data.decode()
            header_line, _, rest = text.partition("\n")
            delimiter = "\t" if input_format.startswith("Tab") else (intent.source.get("delimiter") or ",")
            header = next(csv.reader(io.StringIO(header_line), delimiter=delimiter))
            return WITH_NAMES[input_format], [renames.get(name, name) for name in header], rest.encode()
        if input_format == "JSONEachRow" and renames:
            lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            renamed = [{renames.get(key, key): value for key, value in line.items()} for line in lines]
            return input_format, None, "\n".join(json.dumps(row) for row in renamed).encode()
        columns = list(target.columns) if input_format in ("CSV", "TabSeparated") and target.columns else None
        return input_format, columns, data

    async def _move(self, destination: Destination, target: Target) -> None:
        # Both names are quoted identifiers (table_name), not text from a request.
        into, staged = table_name(target.database, target.table), table_name(target.database, target.staging)
        await destination.execute(f"INSERT INTO {into} SELECT * FROM {staged}")  # noqa: S608

    async def _finish_move(self, run: PipeRun, destination: Destination, target: Target) -> None:
        """Settle a move its predecessor may not have finished: the destination's count tells whether it did."""
        moving = run.checkpoint.get("moving")
        if not moving:
            return
        now = await destination.count(target.database, target.table)
        if now == moving["before"]:
            await self._move(destination, target)
        elif now != moving["before"] + moving["staged"]:
            raise PipeFailed(f"the destination changed while the file {moving['key']} was being moved into it "
                             f"({moving['before']} rows before, {moving['staged']} staged, {now} now), so whether it "
                             "was loaded cannot be told; check the table, then resync or recreate the pipe")
        run.file_done(moving["key"], moving["staged"], moving["size"], moving=None)

    async def _record_error(self, run: PipeRun, destination: Destination, target: Target, stored: StoredObject,
                            message: str) -> None:
        """The file is dealt with (never tried again); why it failed is where users look."""
        row = {"timestamp": _now_text(), "file": stored.url, "error": message[:1900]}
        with contextlib.suppress(RuntimeFailure):  # the store still has it
            await destination.insert_rows(target.database, target.errors, [row])
        run.file_done(stored.key, 0, stored.size or 0, error=message[:1900])


def readers_of(intent: PipeIntent) -> int:
    """How many files are read (downloaded and decompressed) at once: the pipe's replicas or its
    object_storage_concurrency, whichever is more. Each file is still staged and moved in key order, one at a time:
    that order is what continuous mode goes by."""
    replicas = int(intent.scaling.get("replicas") or 1)
    concurrency = int(intent.settings["object_storage_concurrency"])
    return max(1, min(_MAX_READERS, max(replicas, concurrency)))


async def _read_ahead(source: ObjectSource, files: list[StoredObject], readers: int
                      ) -> AsyncGenerator[tuple[StoredObject, bytes | ObjectUnreadable]]:
    """Each file and its data (or why it cannot be read), in key order, with up to `readers` files being read
    ahead at once: no more are held in memory. A source that cannot be reached raises; reads under way when the
    caller stops are cancelled."""
    ahead: deque[tuple[StoredObject, asyncio.Task[bytes | ObjectUnreadable]]] = deque()
    queue = iter(files)

    async def fetched(stored: StoredObject) -> bytes | ObjectUnreadable:
        try:
            return await read(source, stored)
        except ObjectUnreadable as unreadable:
            return unreadable

    def top_up() -> None:
        while len(ahead) < readers and (stored := next(queue, None)) is not None:
            ahead.append((stored, asyncio.create_task(fetched(stored), name=f"read {stored.key}")))

    try:
        top_up()
        while ahead:
            stored, reading = ahead.popleft()
            top_up()
            yield stored, await reading
    finally:
        for _, reading in ahead:
            reading.cancel()
        await asyncio.gather(*(reading for _, reading in ahead), return_exceptions=True)


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
