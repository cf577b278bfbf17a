"""File-level backups without ClickHouse: a data path laid out as 18.16 lays it out, and a stand-in for
the server's SQL that answers the system tables and links parts into shadow/ as FREEZE does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.backup import (
    FILES,
    MANIFEST,
    backup_directory,
    copy_method,
    escape_for_file_name,
    restore_once,
    take_backup,
)

pytestmark = pytest.mark.anyio


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


class FakeServer:
    """A data path with database `shop`: MergeTree `m` (one part), Log `l`, Memory `mem`, and `default`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.statements: list[str] = []
        write(path / "metadata/shop.sql", "ATTACH DATABASE shop ENGINE = Ordinary\n")
        for table in ("m", "l", "mem"):
            write(path / f"metadata/shop/{table}.sql", f"ATTACH TABLE {table} (n UInt64) ENGINE = X\n")
        (path / "metadata/default").mkdir(parents=True)
        write(path / "data/shop/m/format_version.txt", "1")
        write(path / "data/shop/m/all_1_1_0/n.bin", b"part")
        write(path / "data/shop/l/n.bin", b"0123456789")
        write(path / "data/shop/l/__marks.mrk", b"mmmm")
        # The last insert finished at 8 bytes of n.bin; later bytes belong to one still under way.
        write(path / "data/shop/l/sizes.json",
              json.dumps({"yandex": {"n%2Ebin": {"size": "8"}, "__marks%2Emrk": {"size": "4"}}}))

    def table(self, name: str, engine: str) -> dict[str, str]:
        return {"database": "shop", "name": name, "engine": engine,
                "metadata_path": f"{self.path}/metadata/shop/{name}.sql", "data_path": f"{self.path}/data/shop/{name}/"}

    async def run_sql(self, sql: str) -> str:
        self.statements.append(sql)
        if sql == "SELECT version()":
            return "18.16.1\n"
        if "system.databases" in sql:
            return "\n".join(json.dumps({"name": name, "metadata_path": f"{self.path}/metadata/{name}/",
                                         "data_path": f"{self.path}/data/{name}/"}) for name in ("default", "shop"))
        if "system.tables" in sql:
            tables = [self.table("m", "MergeTree"), self.table("l", "Log"), self.table("mem", "Memory")]
            return "\n".join(json.dumps(table) for table in tables)
        if "FREEZE WITH NAME" in sql:
            name = sql.rsplit("'", 2)[1]
            part = self.path / "data/shop/m/all_1_1_0"
            frozen = self.path / "shadow" / name / "data/shop/m/all_1_1_0"
            frozen.mkdir(parents=True)
            os.link(part / "n.bin", frozen / "n.bin")
            return ""
        raise AssertionError(f"unexpected SQL {sql!r}")


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def test_a_backup_holds_metadata_frozen_parts_and_log_files_up_to_their_recorded_sizes(tmp_path: Path) -> None:
    server = FakeServer(tmp_path / "server")
    destination = tmp_path / "backups" / "b1"

    result = await take_backup(server.run_sql, server.path, destination)

    copied = files_under(destination / FILES)
    assert copied == {
        "data/shop/l/__marks.mrk": b"mmmm",
        "data/shop/l/n.bin": b"01234567",
        "data/shop/l/sizes.json": (server.path / "data/shop/l/sizes.json").read_bytes(),
        "data/shop/m/all_1_1_0/n.bin": b"part",
        "data/shop/m/format_version.txt": b"1",
        "metadata/shop.sql": b"ATTACH DATABASE shop ENGINE = Ordinary\n",
        "metadata/shop/l.sql": b"ATTACH TABLE l (n UInt64) ENGINE = X\n",
        "metadata/shop/m.sql": b"ATTACH TABLE m (n UInt64) ENGINE = X\n",
        "metadata/shop/mem.sql": b"ATTACH TABLE mem (n UInt64) ENGINE = X\n",
    }
    assert (destination / FILES / "metadata/default").is_dir()  # a database without tables comes back too
    assert ["ALTER TABLE `shop`.`m` FREEZE WITH NAME" in s for s in server.statements].count(True) == 1
    assert list((server.path / "shadow").iterdir()) == []  # the frozen links are gone
    manifest = json.loads((destination / MANIFEST).read_text())
    assert manifest["clickhouseVersion"] == "18.16.1"
    assert [(t["name"], t["copied"]) for t in manifest["tables"]] == [
        ("m", "frozen parts"), ("l", "files up to sizes.json"), ("mem", "metadata only")]
    assert result.size_in_bytes == sum(len(data) for data in files_under(destination).values())


async def test_a_failed_backup_leaves_nothing_behind(tmp_path: Path) -> None:
    server = FakeServer(tmp_path / "server")
    (server.path / "data/shop/l/n.bin").write_bytes(b"0123")  # shorter than sizes.json says
    destination = tmp_path / "backups" / "b1"

    with pytest.raises(RuntimeFailure, match="shorter than the 8 bytes"):
        await take_backup(server.run_sql, server.path, destination)

    assert not destination.exists()
    assert list((server.path / "shadow").iterdir()) == []


async def test_an_answer_not_shaped_as_expected_fails_the_backup_cleanly(tmp_path: Path) -> None:
    server = FakeServer(tmp_path / "server")

    async def without_paths(sql: str) -> str:
        answer = await server.run_sql(sql)
        return answer.replace('"metadata_path"', '"renamed"') if "system.tables" in sql else answer

    with pytest.raises(RuntimeFailure, match="backup failed: KeyError"):
        await take_backup(without_paths, server.path, tmp_path / "b1")
    assert not (tmp_path / "b1").exists()


async def test_a_table_outside_the_data_path_is_refused(tmp_path: Path) -> None:
    server = FakeServer(tmp_path / "server")

    async def elsewhere(sql: str) -> str:
        answer = await server.run_sql(sql)
        return answer.replace(f"{server.path}/data/shop/l/", "/mnt/other-disk/l/") if "system.tables" in sql else answer

    with pytest.raises(RuntimeFailure, match="other disks"):
        await take_backup(elsewhere, server.path, tmp_path / "b1")


async def test_restore_puts_the_files_in_place_once_and_metadata_last(tmp_path: Path) -> None:
    server = FakeServer(tmp_path / "server")
    backup = tmp_path / "b1"
    await take_backup(server.run_sql, server.path, backup)
    new_data = tmp_path / "new" / "data"

    restore_once(backup, new_data)
    (new_data / "metadata/shop/m.sql").write_text("changed by the running server")
    restore_once(backup, new_data)  # the server has data of its own now: nothing is touched

    assert files_under(new_data)["data/shop/m/all_1_1_0/n.bin"] == b"part"
    assert (new_data / "metadata/shop/m.sql").read_text() == "changed by the running server"
    assert not (new_data / ".metadata.restoring").exists()


@pytest.mark.parametrize(("manifest", "reason"), [
    (None, "not a readable backup"), ('{"format": "something-else/9"}', "unknown backup format")])
def test_restore_refuses_what_is_not_a_backup(tmp_path: Path, manifest: str | None, reason: str) -> None:
    backup = tmp_path / "b1"
    backup.mkdir()
    if manifest is not None:
        (backup / MANIFEST).write_text(manifest)

    with pytest.raises(RuntimeFailure, match=reason):
        restore_once(backup, tmp_path / "data")
    assert not (tmp_path / "data" / "metadata").exists()


@pytest.mark.parametrize(("engine", "method"), [
    ("MergeTree", "frozen parts"), ("ReplacingMergeTree", "frozen parts"), ("ReplicatedMergeTree", "frozen parts"),
    ("Log", "files up to sizes.json"), ("TinyLog", "files up to sizes.json"), ("StripeLog", "files up to sizes.json"),
    ("Memory", "metadata only"), ("View", "metadata only"), ("MaterializedView", "metadata only"),
    ("Distributed", "metadata only"),
])
def test_how_each_engine_is_copied(engine: str, method: str) -> None:
    assert copy_method(engine) == method


@pytest.mark.parametrize(("name", "escaped"), [
    ("shop", "shop"), ("my_db2", "my_db2"), (".inner.mv", "%2Einner%2Emv"), ("a-b c", "a%2Db%20c"), ("é", "%C3%A9")])
def test_names_are_escaped_as_clickhouse_names_its_files(name: str, escaped: str) -> None:
    assert escape_for_file_name(name) == escaped


@pytest.mark.parametrize("directory", ["/srv/backups/a", "/srv/back ups/#1?", "/srv/é/%41"])
def test_a_backup_directory_comes_back_from_its_file_uri(directory: str) -> None:
    assert backup_directory(Path(directory).as_uri()) == Path(directory)
    assert backup_directory(f"file://localhost{Path(directory).as_uri()[len('file://'):]}") == Path(directory)


@pytest.mark.parametrize("uri", ["s3://bucket/backups/a", "/srv/backups/a", "file:backups/a", "file://host/srv/a",
                                 "file:///srv/a?version=2", ""])
def test_a_backup_location_other_than_a_local_directory_is_refused_with_the_scheme_taken(uri: str) -> None:
    with pytest.raises(RuntimeFailure, match=r"supports the file scheme only \(file:///absolute/path"):
        backup_directory(uri)
