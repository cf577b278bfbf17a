"""The worker of Postgres CDC pipes: the mapped tables' snapshot, then their changes, from a PostgreSQL source into
the service's ClickHouse, in the layout ClickPipes gives them (one column per source column, then
`_peerdb_synced_at`, `_peerdb_is_deleted` and `_peerdb_version`, in a `ReplacingMergeTree(_peerdb_version)`
ordered by the source's primary key).

Setup makes (or checks) the publication and then the replication slot, so the slot holds every change from before
the snapshot on. The snapshot writes version 0; each change is written with its WAL position as version, so a
change replayed after a crash is the same row again, which `FINAL` reads once, and a later change always wins.
Changes are read from the slot with `pg_logical_slot_peek_binary_changes` (pgoutput) in batches of whole
transactions, written to ClickHouse, and only then confirmed (`pg_replication_slot_advance`): a worker killed
anywhere resumes from the last confirmed position with nothing lost. A resync loads every table anew into
`<table>_resync` from a new slot and swaps it in with one RENAME.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from clickplane.clickpipes.controller import PipeFailed, PipeIntent, PipeRun
from clickplane.clickpipes.sources import connect_postgres
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.sql import identifier, literal
from clickplane.runtime.pipes import pgoutput, pgtypes
from clickplane.runtime.pipes.destination import Capabilities, Destination, table_name
from clickplane.runtime.pipes.errors import SourceProblem
from clickplane.runtime.pipes.postgres_source import (
    SourceColumn,
    SourceTable,
    advance_slot,
    check_server,
    create_slot,
    describe,
    drop_publication,
    drop_slot,
    ensure_publication,
    lag_bytes,
    peek_changes,
    slot_position,
    snapshot_batches,
)

_DEFAULT_SYNC_SECONDS = 60
_DEFAULT_PULL_BATCH = 100_000
_SNAPSHOT_BATCH_ROWS = 10_000
RESYNC_SUFFIX = "_resync"
_REPLACED_SUFFIX = "_clickpipes_replaced"


def slot_name(intent: PipeIntent) -> str:
    """The slot a pipe makes: the user's for a cdc_only pipe that names one, else one of its own."""
    given = (intent.source.get("settings") or {}).get("replicationSlotName")
    return str(given) if given else f"clickpipes_{intent.pipe_id.hex}"


def publication_name(intent: PipeIntent) -> tuple[str, bool]:
    """The publication and whether the pipe owns it (made it, keeps its tables in step, drops it at the end)."""
    given = (intent.source.get("settings") or {}).get("publicationName")
    return (str(given), False) if given else (f"clickpipes_{intent.pipe_id.hex}", True)


async def connect_to_source(intent: PipeIntent) -> psycopg.AsyncConnection[Any]:
    return await connect_postgres(intent.source, intent.credentials.get("credentials") or {})


@dataclass(frozen=True)
class Mapping:
    schema: str
    table: str
    target: str
    excluded: frozenset[str]
    engine: str
    sorting_keys: tuple[str, ...]
    partition_by: str


def mappings_of(intent: PipeIntent) -> list[Mapping]:
    return [Mapping(m["sourceSchemaName"], m["sourceTable"], m.get("targetTable") or f"{m['sourceSchemaName']}_"
                    f"{m['sourceTable']}", frozenset(m.get("excludedColumns") or ()),
                    m.get("tableEngine") or "ReplacingMergeTree",
                    tuple(m.get("sortingKeys") or ()) if m.get("useCustomSortingKey") else (),
                    m.get("partitionByExpr") or "")
            for m in intent.source.get("tableMappings") or ()]


@dataclass(frozen=True)
class TableLayout:
    """A mapped table as the destination holds it."""

    mapping: Mapping
    columns: tuple[SourceColumn, ...]  # the source's, less the excluded ones, in order
    types: tuple[str, ...]  # their ClickHouse types
    allow_nullable: bool

    @property
    def source_key(self) -> tuple[str, str]:
        return self.mapping.schema, self.mapping.table

    def sorting_key(self) -> tuple[str, ...]:
        if self.mapping.sorting_keys:
            return self.mapping.sorting_keys
        primary = sorted((column for column in self.columns if column.key_position is not None),
                         key=lambda column: column.key_position or 0)
        return tuple(column.name for column in primary) or tuple(column.name for column in self.columns)

    def ddl(self, database: str, table: str, capabilities: Capabilities) -> str:
        synced = ("DateTime64(9) DEFAULT now64()" if capabilities.datetime64 else "DateTime DEFAULT now()")
        columns = [f"{identifier(column.name)} {kind}" for column, kind in zip(self.columns, self.types, strict=True)]
        columns += [f"`_peerdb_synced_at` {synced}", "`_peerdb_is_deleted` UInt8", "`_peerdb_version` UInt64"]
        engine = {"ReplacingMergeTree": "ReplacingMergeTree(`_peerdb_version`)", "MergeTree": "MergeTree",
                  "Null": "Null"}[self.mapping.engine]
        clauses = ""
        if self.mapping.engine != "Null":
            partition = f" PARTITION BY {self.mapping.partition_by}" if self.mapping.partition_by else ""
            clauses = f"{partition} ORDER BY ({', '.join(identifier(key) for key in self.sorting_key())})"
        return (f"CREATE TABLE IF NOT EXISTS {table_name(database, table)} ({', '.join(columns)}) "
                f"ENGINE = {engine}{clauses}")

    def row(self, values: dict[str, Any], version: int, deleted: bool) -> dict[str, Any]:
        """The destination row of a source row's text values (absent ones: the type's default)."""
        row = {column.name: pgtypes.to_clickhouse(values.get(column.name), column.type_name, kind,
                                                  self.allow_nullable)
               for column, kind in zip(self.columns, self.types, strict=True)}
        row["_peerdb_is_deleted"] = int(deleted)
        row["_peerdb_version"] = version
        return row


def layout_of(mapping: Mapping, table: SourceTable, capabilities: Capabilities, allow_nullable: bool) -> TableLayout:
    columns = tuple(column for column in table.columns if column.name not in mapping.excluded)
    types = tuple(pgtypes.clickhouse_type(column.type_name, column.nullable and column.key_position is None,
                                          allow_nullable=allow_nullable, datetime64=capabilities.datetime64)
                  for column in columns)
    return TableLayout(mapping, columns, types, allow_nullable)


class PostgresCdcWorker:
    async def run(self, run: PipeRun, destination: Destination) -> None:
        intent = run.intent
        settings = intent.source.get("settings") or {}
        source = await connect_to_source(intent)
        try:
            layouts = await self._set_up(run, destination, source)
            if settings.get("replicationMode", "cdc") != "cdc_only" and \
                    not await self._snapshot(run, destination, layouts):
                return  # no longer wanted part way: the next worker copies what is left
            if intent.resync:
                await self._swap(run, destination, layouts)
            if settings.get("replicationMode", "cdc") == "snapshot":
                await drop_slot(source, slot_name(intent))
                run.observe("completed")
                return
            if run.state != "Running":
                run.observe("streaming")
            await self._stream(run, destination, source, layouts)
        except psycopg.Error as error:
            raise RuntimeFailure(f"the source PostgreSQL failed: {error}") from error
        finally:
            await source.close()

    async def remove(self, intent: PipeIntent) -> None:
        """Drop the pipe's slot (else the source keeps its WAL forever) and the publication it made."""
        try:
            source = await connect_to_source(intent)
        except SourceProblem as problem:  # the source is gone: there is nothing left to drop
            raise RuntimeFailure(f"cannot reach the source to drop the pipe's slot: {problem}") from problem
        try:
            settings = intent.source.get("settings") or {}
            if not settings.get("replicationSlotName"):
                await drop_slot(source, slot_name(intent))
            publication, owned = publication_name(intent)
            if owned:
                await drop_publication(source, publication)
        finally:
            await source.close()

    async def _set_up(self, run: PipeRun, destination: Destination, source: psycopg.AsyncConnection[Any]
                      ) -> list[TableLayout]:
        """Check the source, make the publication, the slot and the destination tables; the layouts."""
        intent = run.intent
        if run.state in ("Provisioning", "Modifying", "Resync", "Failed", "Paused"):
            run.observe("set_up")
        await check_server(source)
        mappings = mappings_of(intent)
        tables = await describe(source, [(mapping.schema, mapping.table) for mapping in mappings])
        publication, owned = publication_name(intent)
        await ensure_publication(source, publication, [(table.schema, table.name) for table in tables], owned)
        slot = slot_name(intent)
        if intent.resync and not run.checkpoint.get("resync_slot"):
            await drop_slot(source, slot)
            run.save(slot_made=False, snapshotted=[], resync_slot=True)
        if await slot_position(source, slot) is None:
            if run.checkpoint.get("slot_made"):
                raise PipeFailed(f"the replication slot {slot} is gone from the source (dropped, or invalidated "
                                 "past max_slot_wal_keep_size): changes since it went are lost; resync the pipe")
            await create_slot(source, slot)
            run.save(slot_made=True, snapshotted=[])
        capabilities = await destination.capabilities()
        allow_nullable = bool((intent.source.get("settings") or {}).get("allowNullableColumns"))
        by_name = {(table.schema, table.name): table for table in tables}
        layouts = [layout_of(mapping, by_name[(mapping.schema, mapping.table)], capabilities, allow_nullable)
                   for mapping in mappings]
        database = intent.database
        copied = _snapshotted(run)
        for layout in layouts:  # a copied `_resync` table is made no more: it may be swapped in already
            if not (intent.resync and layout.source_key in copied):
                await destination.execute(layout.ddl(database, self._loading_table(run, layout), capabilities))
        return layouts

    @staticmethod
    def _loading_table(run: PipeRun, layout: TableLayout) -> str:
        """Where the snapshot goes: the table itself, or during a resync its `_resync` twin."""
        return layout.mapping.target + (RESYNC_SUFFIX if run.intent.resync else "")

    async def _snapshot(self, run: PipeRun, destination: Destination, layouts: Sequence[TableLayout]) -> bool:
        """Copy each table not yet copied (a partly copied one is emptied and copied again), as many at once as
        `snapshotNumberOfParallelTables` asks and the service's CDC CPUs allow, each on a connection of its own;
        whether all are copied (False: the pipe stopped being wanted meanwhile)."""
        done = _snapshotted(run)
        pending = [layout for layout in layouts if layout.source_key not in done]
        if not pending:
            return True
        run.observe("snapshotting")
        settings = run.intent.source.get("settings") or {}
        at_once = asyncio.Semaphore(max(1, min(int(settings.get("snapshotNumberOfParallelTables") or 1),
                                               run.intent.cdc_cpus)))

        async def copy(layout: TableLayout) -> bool:
            async with at_once:
                if not run.wanted():
                    return False
                connection = await connect_to_source(run.intent)
                try:
                    moved = await self._copy(run, destination, connection, layout)
                finally:
                    await connection.close()
            if moved is None:
                return False
            done.add(layout.source_key)
            run.save(rows=moved[0], size=moved[1], initial_load=True, snapshotted=sorted(done))
            return True

        return all(await asyncio.gather(*(copy(layout) for layout in pending)))

    async def _copy(self, run: PipeRun, destination: Destination, source: psycopg.AsyncConnection[Any],
                    layout: TableLayout) -> tuple[int, int] | None:
        """One table's rows, at version 0; how many and their bytes, or None if the pipe stopped being wanted part
        way."""
        database = run.intent.database
        table = self._loading_table(run, layout)
        await destination.execute(f"TRUNCATE TABLE {table_name(database, table)}")
        moved = size = 0
        names = [column.name for column in layout.columns]
        # Closed on leaving early, so the snapshot's transaction on the source ends with it.
        async with contextlib.aclosing(snapshot_batches(source, _source_table(layout), names,
                                                        _SNAPSHOT_BATCH_ROWS)) as batches:
            async for batch in batches:
                rows = [layout.row(dict(zip(names, values, strict=True)), 0, False) for values in batch]
                size += await destination.insert_rows(database, table, rows)
                moved += len(rows)
                if not run.wanted():
                    return None
        return moved, size

    async def _swap(self, run: PipeRun, destination: Destination, layouts: Sequence[TableLayout]) -> None:
        """Put each `_resync` table in its original's place with one RENAME, and drop the original."""
        run.observe("swapping")
        database = run.intent.database
        for layout in layouts:
            target = layout.mapping.target
            if not await destination.exists(database, target + RESYNC_SUFFIX):
                continue  # swapped in by a worker that stopped before it could say so
            replaced = table_name(database, target + _REPLACED_SUFFIX)
            await destination.execute(f"DROP TABLE IF EXISTS {replaced}")
            if await destination.exists(database, target):
                await destination.execute(f"RENAME TABLE {table_name(database, target)} TO {replaced}, "
                                          f"{table_name(database, target + RESYNC_SUFFIX)} TO "
                                          f"{table_name(database, target)}")
            else:
                await destination.execute(f"RENAME TABLE {table_name(database, target + RESYNC_SUFFIX)} TO "
                                          f"{table_name(database, target)}")
            await destination.execute(f"DROP TABLE IF EXISTS {replaced}")
        run.resynced()

    async def _stream(self, run: PipeRun, destination: Destination, source: psycopg.AsyncConnection[Any],
                      layouts: Sequence[TableLayout]) -> None:
        intent = run.intent
        settings = intent.source.get("settings") or {}
        interval = float(settings.get("syncIntervalSeconds") or _DEFAULT_SYNC_SECONDS)
        pull = int(settings.get("pullBatchSize") or _DEFAULT_PULL_BATCH)
        slot, (publication, _) = slot_name(intent), publication_name(intent)
        by_source = {layout.source_key: layout for layout in layouts}
        database = intent.database
        while run.wanted():
            changes = await peek_changes(source, slot, publication, pull)
            batch = _rows_of(changes, by_source)
            await _fill_unchanged(destination, database, batch)
            moved = 0
            for table, table_rows in batch.rows.items():
                await destination.insert_rows(database, table, table_rows)
                moved += len(table_rows)
            if batch.confirmed is not None:
                await advance_slot(source, slot, batch.confirmed)
            run.save(rows=moved, size=batch.size, lag_bytes=await lag_bytes(source, slot))
            if len(changes) < pull and not await run.wait(interval):
                return


def _snapshotted(run: PipeRun) -> set[tuple[str, str]]:
    """The tables the checkpoint has copied, by source schema and name."""
    return {(schema, name) for schema, name in run.checkpoint.get("snapshotted") or ()}


def _source_table(layout: TableLayout) -> SourceTable:
    return SourceTable(layout.mapping.schema, layout.mapping.table, layout.columns, "d")


@dataclass
class Batch:
    """A batch of pgoutput messages made into destination rows."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # The end of its last transaction: what to confirm once the rows are written.
    confirmed: int | None = None
    size: int = 0  # bytes read
    # Rows with values an update left unchanged (TOASTed) that no earlier change of the batch gave: the
    # destination's latest version of the row has them.
    unfilled: list[tuple[TableLayout, dict[str, Any], list[str]]] = field(default_factory=list)


def _rows_of(changes: Sequence[tuple[int, bytes]], layouts: dict[tuple[str, str], TableLayout]) -> Batch:
    decoder = pgoutput.PgOutputDecoder()
    batch = Batch()
    latest: dict[tuple[str, tuple[Any, ...]], dict[str, Any]] = {}
    for lsn, data in changes:
        batch.size += len(data)
        message = decoder.decode(data)
        if isinstance(message, pgoutput.Commit):
            batch.confirmed = message.end_lsn
            continue
        if not isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
            continue
        layout = layouts.get((message.relation.schema, message.relation.name))
        if layout is None:  # a table the pipe no longer maps
            continue
        deleted = isinstance(message, pgoutput.Delete)
        tuple_values = message.old if isinstance(message, pgoutput.Delete) else message.new
        names = [column.name for column in message.relation.columns]
        values = dict(zip(names, tuple_values or (), strict=False))
        key = (layout.mapping.target, tuple(values.get(name) for name in layout.sorting_key()))
        earlier = latest.get(key, {})
        missing = [name for name, value in values.items()
                   if value is pgoutput.UNCHANGED_TOAST and name not in earlier]
        values = {name: earlier.get(name) if value is pgoutput.UNCHANGED_TOAST else value
                  for name, value in values.items()}
        latest[key] = values
        if isinstance(message, pgoutput.Update) and message.old is not None:
            _delete_old_key(batch, layout, names, message.old, values, lsn)
        row = layout.row(values, lsn, deleted)
        batch.rows[layout.mapping.target].append(row)
        if missing:
            batch.unfilled.append((layout, row, missing))
    return batch


def _delete_old_key(batch: Batch, layout: TableLayout, names: list[str], old: Sequence[Any], new: dict[str, Any],
                    lsn: int) -> None:
    """An update that changed the row's key also deletes the row under its old key (the source no longer has
    it), so that only the new one is left."""
    before = dict(zip(names, old, strict=False))
    keys = layout.sorting_key()
    if any(before.get(key) != new.get(key) for key in keys):
        gone = {key: before.get(key) for key in keys}
        batch.rows[layout.mapping.target].append(layout.row(gone, lsn, deleted=True))


async def _fill_unchanged(destination: Destination, database: str, batch: Batch) -> None:
    """Give each row with unchanged values those of the destination's latest version of it."""
    for layout, row, missing in batch.unfilled:
        wanted = ", ".join(identifier(name) for name in missing)
        where = " AND ".join(f"{identifier(key)} = {_literal(row[key])}" for key in layout.sorting_key())
        table = table_name(database, layout.mapping.target)
        found = await destination.execute(f"SELECT {wanted} FROM {table} FINAL WHERE {where} "  # noqa: S608
                                          "FORMAT JSONEachRow")
        if found.strip():
            row.update(json.loads(found.splitlines()[0]))


def _literal(value: Any) -> str:
    """A ClickHouse literal of a JSONEachRow value: a number as it is, text quoted."""
    if isinstance(value, bool | int | float):
        return str(int(value) if isinstance(value, bool) else value)
    if value is None:
        return "NULL"
    return literal(str(value))
