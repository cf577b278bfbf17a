"""File-level backups of a local ClickHouse server, and their restore into a new server's data path.

A backup is a directory, named by a `file:///absolute/path` URI (`backup_directory`), holding:

- `manifest.json`: the format, the server's version, and each table with how it was copied;
- `files/`: copies of the server's files at their paths relative to its data path (`<path>` in
  config.xml): each database's and table's metadata (`.sql`), and the tables' data.

How each table is copied, and how consistent the copy is:

- MergeTree family (materialized views' inner tables included): `ALTER TABLE ... FREEZE WITH NAME`
  hard-links the table's active parts at one instant; they are copied with the table's
  `format_version.txt`, then the frozen links are removed. Consistent per table: an insert is in whole
  or not at all.
- Log family (Log, TinyLog, StripeLog): `sizes.json` is read first and each file it lists is copied up
  to the size it records. Inserts only append, and rewrite `sizes.json` once their data is written, so
  the copy is the table as of the last insert finished before: consistent unless the table is
  truncated, altered or dropped while it is copied.
- Every other engine (Memory, Set, Join, Buffer, Distributed, views, ...): metadata only. A restored
  Memory table is empty; views work again over the restored tables.

Tables are copied one after the other: a backup is not one snapshot across tables.

A restore copies `files/` into the data path of a server that has never started, `metadata/` last and
under a temporary name renamed at the end: a restore cut short leaves no `metadata/`, so the next
attempt starts over.

Compatibility: written for and tested with ClickHouse 18.16, whose Ordinary databases keep
`metadata/<db>/<table>.sql` and `data/<db>/<table>/`. Paths are read from `system.databases` and
`system.tables` (`data_path`, or `data_paths` on newer servers) and kept relative, so a modern server's
Atomic databases (`store/<xyz>/<uuid>/`) should be captured and put back the same way, relying on
ClickHouse to recreate the `metadata/<db>` symlink at start. That has NOT been run: no modern
ClickHouse binary is available where this was written. Tables stored outside the data path (other
disks) are refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import string
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import BackupResult
from clickplane.runtime.clickhouse.sql import identifier

log = logging.getLogger(__name__)

FORMAT = "clickplane-local-backup/1"
MANIFEST = "manifest.json"
FILES = "files"
METADATA = "metadata"

# Every column (servers of different ages name their path columns differently), as one JSON object a line.
DATABASES_SQL = ("SELECT * FROM system.databases WHERE name NOT IN ('system', 'INFORMATION_SCHEMA', "
                 "'information_schema') FORMAT JSONEachRow")
TABLES_SQL = ("SELECT * FROM system.tables WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', "
              "'information_schema') FORMAT JSONEachRow")
LOG_FAMILY = frozenset({"Log", "TinyLog", "StripeLog"})
_KEPT_IN_FILE_NAMES = frozenset(string.ascii_letters + string.digits + "_")

Copy = Literal["frozen parts", "files up to sizes.json", "metadata only"]
RunSql = Callable[[str], Awaitable[str]]


def backup_directory(uri: str) -> Path:
    """The directory a `file://` URI names (as `Path.as_uri` writes them); RuntimeFailure for any other URI."""
    parts = urlsplit(uri)
    path = Path(os.fsdecode(unquote_to_bytes(parts.path)))
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or parts.query or parts.fragment \
            or not path.is_absolute():
        raise RuntimeFailure(f"backup location {uri!r}: the local runtime supports the file scheme only "
                             "(file:///absolute/path, a directory of this machine)")
    return path


def copy_method(engine: str) -> Copy:
    if engine.endswith("MergeTree"):
        return "frozen parts"
    if engine in LOG_FAMILY:
        return "files up to sizes.json"
    return "metadata only"


def escape_for_file_name(name: str) -> str:
    """A database or table name as ClickHouse names its files: ASCII letters, digits and `_` kept,
    every other byte of the UTF-8 as `%XX`."""
    return "".join(chr(byte) if chr(byte) in _KEPT_IN_FILE_NAMES else f"%{byte:02X}" for byte in name.encode())


async def take_backup(run_sql: RunSql, data_path: Path, destination: Path) -> BackupResult:
    """Back up the server whose data path is `data_path`, running SQL through `run_sql` (which raises
    RuntimeFailure when the server refuses), into the new directory `destination`."""
    try:
        await asyncio.to_thread(destination.mkdir, parents=True)
    except OSError as error:
        raise RuntimeFailure(f"cannot create the backup directory {destination}: {error}") from error
    try:
        return await _take(run_sql, data_path, destination)
    except (RuntimeFailure, OSError, ValueError, KeyError) as error:  # files, or answers not shaped as expected
        await asyncio.to_thread(shutil.rmtree, destination, ignore_errors=True)
        if isinstance(error, RuntimeFailure):
            raise
        raise RuntimeFailure(f"backup failed: {error!r}") from error


async def _take(run_sql: RunSql, data_path: Path, destination: Path) -> BackupResult:
    files = destination / FILES
    version = (await run_sql("SELECT version()")).strip()
    for database in _rows(await run_sql(DATABASES_SQL)):
        await asyncio.to_thread(_copy_database_metadata, database, data_path, files)
    tables = _rows(await run_sql(TABLES_SQL))
    freeze_name = f"clickplane_{uuid.uuid4().hex}"  # word characters only: ClickHouse escapes others on disk
    shadow = data_path / "shadow" / freeze_name
    copied = []
    try:
        for table in tables:
            method = copy_method(table["engine"])
            await asyncio.to_thread(_copy_relative, Path(table["metadata_path"]), data_path, files, missing_ok=True)
            if method == "frozen parts":
                await run_sql(f"ALTER TABLE {identifier(table['database'])}.{identifier(table['name'])} "
                              f"FREEZE WITH NAME '{freeze_name}'")
                await asyncio.to_thread(_copy_frozen, shadow, _data_dir(table, data_path), data_path, files)
            elif method == "files up to sizes.json":
                await asyncio.to_thread(_copy_log_table, _data_dir(table, data_path), data_path, files)
            copied.append({"database": table["database"], "name": table["name"], "engine": table["engine"],
                           "copied": method})
    finally:
        await asyncio.to_thread(shutil.rmtree, shadow, ignore_errors=True)
    manifest = {"format": FORMAT, "clickhouseVersion": version, "tables": copied}
    await asyncio.to_thread((destination / MANIFEST).write_text, json.dumps(manifest, indent=1) + "\n")
    return BackupResult(size_in_bytes=await asyncio.to_thread(size_of, destination))


def _rows(json_each_row: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in json_each_row.splitlines() if line.strip()]


def _relative(path: Path, data_path: Path) -> Path:
    try:
        return path.relative_to(data_path)
    except ValueError:
        raise RuntimeFailure(f"{path} is outside the server's data path {data_path}: tables on other disks "
                             "cannot be backed up") from None


def _data_dir(table: dict[str, Any], data_path: Path) -> Path:
    """The table's own data directory (older servers name one `data_path`, newer ones list `data_paths`)."""
    paths = table.get("data_paths") or [table.get("data_path")]
    if len(paths) != 1 or not paths[0]:
        raise RuntimeFailure(f"table {table['database']}.{table['name']} keeps its data in {paths}; only tables "
                             "with one data directory, in the server's data path, can be backed up")
    directory = Path(paths[0])
    _relative(directory, data_path)
    return directory


def _copy_relative(path: Path, data_path: Path, files: Path, missing_ok: bool = False) -> None:
    target = files / _relative(path, data_path)
    if missing_ok and not path.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)


def _copy_database_metadata(database: dict[str, Any], data_path: Path, files: Path) -> None:
    """The database's `.sql` (when it has one: 18.16's `default` does not), and its metadata and data
    directories, so that a database without tables comes back too."""
    for directory in (database["metadata_path"], database["data_path"]):
        (files / _relative(Path(directory), data_path)).mkdir(parents=True, exist_ok=True)
    _copy_relative(data_path / METADATA / f"{escape_for_file_name(database['name'])}.sql", data_path, files,
                   missing_ok=True)


def _copy_frozen(shadow: Path, table_dir: Path, data_path: Path, files: Path) -> None:
    """Copy the parts FREEZE linked under `shadow` (none for an empty table), then drop the links."""
    relative = _relative(table_dir, data_path)
    target = files / relative
    target.mkdir(parents=True, exist_ok=True)
    frozen = shadow / relative
    if frozen.is_dir():
        shutil.copytree(frozen, target, dirs_exist_ok=True)
    version_file = table_dir / "format_version.txt"
    if version_file.exists():
        shutil.copy2(version_file, target / version_file.name)
    shutil.rmtree(shadow, ignore_errors=True)


def _copy_log_table(table_dir: Path, data_path: Path, files: Path) -> None:
    """Copy a Log-family table as of its last finished insert: sizes.json first, then each file it lists
    up to the size it records (later appends are left out)."""
    target = files / _relative(table_dir, data_path)
    target.mkdir(parents=True, exist_ok=True)
    sizes_file = table_dir / "sizes.json"
    if not sizes_file.exists():
        return  # never written to
    recorded = sizes_file.read_bytes()
    (root,) = json.loads(recorded).values()  # {"yandex"|"clickhouse": {escaped file name: {"size": "N"}}}
    for escaped, entry in root.items():
        _copy_prefix(table_dir / unquote(escaped), target / unquote(escaped), int(entry["size"]))
    (target / sizes_file.name).write_bytes(recorded)


def _copy_prefix(source: Path, target: Path, size: int) -> None:
    with source.open("rb") as reader, target.open("wb") as writer:
        remaining = size
        while remaining:
            chunk = reader.read(min(remaining, 1 << 20))
            if not chunk:
                raise RuntimeFailure(f"{source} is shorter than the {size} bytes its sizes.json records")
            writer.write(chunk)
            remaining -= len(chunk)


def size_of(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file() and not path.is_symlink())


def restore_once(backup: Path, data_path: Path) -> None:
    """Put the backup's files into `data_path` unless the server has metadata there already (it has
    started, or the restore is done); RuntimeFailure when the backup is missing or not one of ours."""
    if (data_path / METADATA).exists():
        return
    try:
        manifest = json.loads((backup / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise RuntimeFailure(f"cannot restore from {backup}: it is not a readable backup ({error})") from None
    if manifest.get("format") != FORMAT:
        raise RuntimeFailure(f"cannot restore from {backup}: unknown backup format {manifest.get('format')!r}")
    files = backup / FILES
    try:
        data_path.mkdir(parents=True, exist_ok=True)
        for entry in files.iterdir():
            if entry.name != METADATA:
                shutil.copytree(entry, data_path / entry.name, dirs_exist_ok=True)
        staging = data_path / f".{METADATA}.restoring"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(files / METADATA, staging)
        staging.rename(data_path / METADATA)
    except OSError as error:
        raise RuntimeFailure(f"cannot restore from {backup}: {error}") from error
    log.info("restored the backup in %s into %s", backup, data_path)
