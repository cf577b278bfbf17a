"""The Postgres side of ClickPipes CDC (runtime/pipes/postgres_source.py, pgoutput.py, pgtypes.py) against real
PostgreSQL 17 and 18 servers that the project's own runtime starts, as tests/integration/test_postgres_runtime.py
does: connecting (TLS verified by the service's CA), the server and table checks, publications, a pgoutput slot
whose changes are peeked, decoded, replayed and advanced past, snapshots, dropping a slot someone reads from,
and the values of both, as pgtypes makes them, read by the ClickHouse on this machine (18.16)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
import httpx
import psycopg
import pytest

from clickplane.postgres.passwords import scram_verifier
from clickplane.runtime.clickhouse.interface import ServiceSpec
from clickplane.runtime.clickhouse.local import LocalClickHouseRuntime
from clickplane.runtime.pipes import pgoutput, pgtypes
from clickplane.runtime.pipes.errors import SourceProblem
from clickplane.runtime.pipes.postgres_source import (
    PostgresEndpoint,
    SourceColumn,
    advance_slot,
    check_server,
    connect,
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
from clickplane.runtime.postgres.interface import PostgresSpec
from clickplane.runtime.postgres.local import LocalPostgresRuntime
from tests.integration.postgres_runtime import (
    ADVERTISED_HOST,
    BIN_DIRS,
    PASSWORD,
    data_directory,
    deleting_all,
    new_runtime,
    version_or_skip,
)

DEADLINE_SECONDS = 30.0
SLOT = "pipe_slot"
PUBLICATION = "Pipe Publication"  # mixed case and a space: pgoutput must be given it quoted

Connection = psycopg.AsyncConnection[Any]

pytestmark = [pytest.mark.integration, pytest.mark.anyio, pytest.mark.store_independent]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["17", "18"])
def version(request: pytest.FixtureRequest) -> str:
    return version_or_skip(request)


@pytest.fixture
def data_dir(version: str) -> Iterator[Path]:
    with data_directory("clickplane-pipes-source-test-") as directory:
        yield directory


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[LocalPostgresRuntime]:
    async with deleting_all(new_runtime(data_dir)) as made:
        yield made


@pytest.fixture
def spec(version: str) -> PostgresSpec:
    return PostgresSpec(service_id=str(uuid.uuid4()), version=version, superuser_verifier=scram_verifier(PASSWORD))


@dataclass
class Source:
    endpoint: PostgresEndpoint
    connection: Connection
    version: str


@pytest.fixture
async def source(runtime: LocalPostgresRuntime, spec: PostgresSpec) -> AsyncIterator[Source]:
    """A running service and a connection to it as its superuser, through connect()."""
    await runtime.start(spec)
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while not (observed := await runtime.observe(spec.service_id)).running:
        if anyio.current_time() >= deadline:
            pytest.fail(f"the service did not start in {DEADLINE_SECONDS} s: {observed}")
        await anyio.sleep(0.05)
    await runtime.apply(spec)
    assert observed.host == ADVERTISED_HOST
    assert observed.port is not None
    endpoint = PostgresEndpoint(host=observed.host, port=observed.port, database="postgres", user="postgres",
                                password=PASSWORD, tls="verify",
                                ca_certificate=(await runtime.ca_certificate(spec.service_id)).decode())
    connection = await connect(endpoint, 10.0)
    try:
        yield Source(endpoint, connection, spec.version)
    finally:
        await connection.close()


async def _scalar(connection: Connection, query: str, params: tuple[Any, ...] = ()) -> Any:
    cursor = await connection.execute(query, params)
    row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def _until(condition: Any, what: str) -> None:
    """Poll the async `condition` until it holds, failing past the deadline."""
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while not await condition():
        if anyio.current_time() >= deadline:
            pytest.fail(f"not {what} within {DEADLINE_SECONDS} s")
        await anyio.sleep(0.02)


# --- connecting and checking ---------------------------------------------------------------------------------


async def test_connect_verifies_tls_and_says_why_it_cannot(source: Source, tmp_path: Path) -> None:
    endpoint = source.endpoint
    assert await _scalar(source.connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    # The session settings values are written in.
    assert await _scalar(source.connection, "SHOW TimeZone") == "UTC"
    assert await _scalar(source.connection, "SHOW DateStyle") == "ISO, MDY"

    # Dialled by address, the certificate checked for the name given as tls_host; the CA's file is gone after.
    before = set(Path(tempfile.gettempdir()).glob("clickpipes-ca-*"))
    by_address = replace(endpoint, host="127.0.0.1", tls_host=ADVERTISED_HOST)
    async with await connect(by_address, 10.0) as connection:
        assert await _scalar(connection, "SELECT inet_server_addr()::text") == "127.0.0.1/32"
    assert set(Path(tempfile.gettempdir()).glob("clickpipes-ca-*")) == before

    async with await connect(replace(endpoint, tls="require", ca_certificate=None), 10.0) as connection:
        assert await _scalar(connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True

    refusals = [
        (replace(endpoint, password="wrong"), "refused the user postgres"),
        (replace(endpoint, tls="disable"), "refused the connection's TLS setting"),
        (replace(endpoint, tls_host="elsewhere.example"), "TLS connection to"),  # not the certificate's name
        (replace(endpoint, host="no-such-host.invalid", tls_host=ADVERTISED_HOST), "does not resolve"),
        (replace(endpoint, host="no-such-host.invalid"), "cannot reach"),
        (replace(endpoint, ca_certificate=None), "TLS connection to"),  # the system's roots do not know the CA
        (replace(endpoint, database="missing"), "has no database missing"),
    ]
    for refused, message in refusals:
        with pytest.raises(SourceProblem, match=message):
            await connect(refused, 10.0)
    with socket_closed() as port, pytest.raises(SourceProblem, match="cannot reach"):
        await connect(replace(endpoint, port=port), 10.0)


@contextlib.contextmanager
def socket_closed() -> Iterator[int]:
    """A loopback port nothing listens on (while this holds it, bound but not listening)."""
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


async def test_check_server_passes_a_superuser_and_names_the_fix_for_a_user_without_replication(
        source: Source) -> None:
    await check_server(source.connection)
    await source.connection.execute("CREATE ROLE plain LOGIN PASSWORD 'Plain-pass-1'")
    plain = replace(source.endpoint, user="plain", password="Plain-pass-1")
    async with await connect(plain, 10.0) as connection:
        with pytest.raises(SourceProblem, match=re.escape(
                'the user plain may not use replication slots: ALTER ROLE "plain" REPLICATION, or connect as a '
                'superuser.')):
            await check_server(connection)
    await source.connection.execute("ALTER ROLE plain REPLICATION")
    async with await connect(plain, 10.0) as connection:
        await check_server(connection)


# --- describing tables ---------------------------------------------------------------------------------------


async def test_describe_reports_columns_and_keys_and_refuses_missing_and_keyless_tables(source: Source) -> None:
    connection = source.connection
    await connection.execute("CREATE SCHEMA shop")
    await connection.execute("""
        CREATE TABLE shop."Orders" (
            region text, total numeric(10,2) NOT NULL, id bigint, placed timestamp with time zone,
            code character varying(20), doubled bigint GENERATED ALWAYS AS (id * 2) STORED, tags integer[],
            PRIMARY KEY (id, region))""")
    await connection.execute("ALTER TABLE shop.\"Orders\" DROP COLUMN code")
    await connection.execute("CREATE TABLE public.logs (line text)")
    await connection.execute("CREATE TABLE public.full_logs (line text)")
    await connection.execute("ALTER TABLE public.full_logs REPLICA IDENTITY FULL")
    await connection.execute("CREATE TABLE public.by_index (a int NOT NULL, b int NOT NULL, c int PRIMARY KEY)")
    await connection.execute("CREATE UNIQUE INDEX by_index_ab ON public.by_index (b, a)")
    await connection.execute("ALTER TABLE public.by_index REPLICA IDENTITY USING INDEX by_index_ab")
    await connection.execute("CREATE VIEW public.a_view AS SELECT 1 AS one")

    orders, full_logs, by_index = await describe(
        connection, [("shop", "Orders"), ("public", "full_logs"), ("public", "by_index")])
    assert (orders.schema, orders.name, orders.replica_identity) == ("shop", "Orders", "d")
    assert orders.columns == (  # the dropped and the generated column left out, the key in its own order
        SourceColumn("region", "text", False, 2), SourceColumn("total", "numeric(10,2)", False, None),
        SourceColumn("id", "bigint", False, 1), SourceColumn("placed", "timestamp with time zone", True, None),
        SourceColumn("tags", "integer[]", True, None))
    assert full_logs.replica_identity == "f"
    assert full_logs.columns == (SourceColumn("line", "text", True, None),)
    assert by_index.replica_identity == "i"  # matched by the identity index, not the primary key
    assert [(column.name, column.key_position) for column in by_index.columns] == [("a", 2), ("b", 1), ("c", None)]

    with pytest.raises(SourceProblem) as refused:
        await describe(connection, [("shop", "Orders"), ("public", "missing"), ("public", "logs"),
                                    ("public", "a_view")])
    assert str(refused.value) == (
        'there is no table "public"."missing" (or the user may not see it); "public"."logs" has no primary key, so '
        'its updates and deletes cannot be matched: add a primary key or ALTER TABLE "public"."logs" REPLICA '
        'IDENTITY FULL; there is no table "public"."a_view" (or the user may not see it).')


# --- publications --------------------------------------------------------------------------------------------


async def _published(connection: Connection, publication: str) -> list[tuple[str, str]]:
    cursor = await connection.execute("SELECT schemaname::text, tablename::text FROM pg_publication_tables "
                                      "WHERE pubname = %s ORDER BY 1, 2", (publication,))
    return [(schema, table) for schema, table in await cursor.fetchall()]


async def test_an_owned_publication_is_made_and_kept_to_the_tables_and_a_given_one_is_checked(
        source: Source) -> None:
    connection = source.connection
    for table in ("a", "b", "c"):
        await connection.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
    await ensure_publication(connection, PUBLICATION, [("public", "a"), ("public", "b")], create=True)
    assert await _published(connection, PUBLICATION) == [("public", "a"), ("public", "b")]
    await ensure_publication(connection, PUBLICATION, [("public", "b"), ("public", "c")], create=True)
    assert await _published(connection, PUBLICATION) == [("public", "b"), ("public", "c")]

    with pytest.raises(SourceProblem, match='there is no publication "users": CREATE PUBLICATION "users" FOR TABLE'):
        await ensure_publication(connection, "users", [("public", "a")], create=False)
    await connection.execute("CREATE PUBLICATION users FOR TABLE a WITH (publish = 'insert, update')")
    with pytest.raises(SourceProblem) as refused:
        await ensure_publication(connection, "users", [("public", "a"), ("public", "b")], create=False)
    assert str(refused.value) == (
        'the publication "users" lacks "public"."b": ALTER PUBLICATION "users" ADD TABLE "public"."b"; the '
        'publication "users" does not publish delete, truncate: ALTER PUBLICATION "users" SET (publish = '
        "'insert, update, delete, truncate').")
    await connection.execute("ALTER PUBLICATION users ADD TABLE b")
    await connection.execute("ALTER PUBLICATION users SET (publish = 'insert, update, delete, truncate')")
    await ensure_publication(connection, "users", [("public", "a"), ("public", "b")], create=False)
    assert await _published(connection, "users") == [("public", "a"), ("public", "b")]  # left as it was

    await drop_publication(connection, PUBLICATION)
    await drop_publication(connection, PUBLICATION)  # gone already: nothing to do
    assert await _scalar(connection, "SELECT count(*) FROM pg_publication WHERE pubname = %s", (PUBLICATION,)) == 0


# --- the stream ----------------------------------------------------------------------------------------------

ITEMS = """
    CREATE TABLE items (
        id int PRIMARY KEY, name text, price numeric(10,2), at timestamptz, ok boolean, tags int[], body text,
        code char(4), addr inet)"""
# Over 2 kB, stored out of line uncompressed: an update leaving it alone does not send it again.
BODY = "SELECT string_agg(md5(i::text), '') FROM generate_series(1, 100) i"


def _decoded(peeked: list[tuple[int, bytes]]) -> list[pgoutput.Message | None]:
    """The messages of one peek, by a decoder of their own (as a worker's after a restart)."""
    decoder = pgoutput.PgOutputDecoder()
    return [decoder.decode(data) for _, data in peeked]


Change = pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate


def _changes(decoded: list[pgoutput.Message | None]) -> list[Change]:
    """The messages but Begin, Commit and Relation."""
    return [message for message in decoded if isinstance(
        message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete | pgoutput.Truncate)]


async def test_changes_after_the_slot_are_peeked_decoded_replayed_and_advanced_past(source: Source) -> None:
    connection = source.connection
    await check_server(connection)
    await connection.execute(ITEMS)
    await connection.execute("ALTER TABLE items ALTER COLUMN body SET STORAGE EXTERNAL")
    (table,) = await describe(connection, [("public", "items")])
    await ensure_publication(connection, PUBLICATION, [("public", "items")], create=True)
    await connection.execute("INSERT INTO items (id, name) VALUES (0, 'before the slot')")
    assert await slot_position(connection, SLOT) is None
    created = await create_slot(connection, SLOT)
    assert await slot_position(connection, SLOT) == created
    body = await _scalar(connection, BODY)
    assert len(body) == 3200

    await connection.execute(
        "INSERT INTO items VALUES (1, 'one', 12.34, '2024-01-02 03:04:05.678+02', true, '{1,2,NULL}', %s, "
        "'ab', '10.1.2.3'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)", (body,))
    await connection.execute("UPDATE items SET name = 'uno', ok = false WHERE id = 1")
    await connection.execute("DELETE FROM items WHERE id = 2")
    await connection.execute("TRUNCATE items")

    peeked = await peek_changes(connection, SLOT, PUBLICATION, 1000)
    decoder = pgoutput.PgOutputDecoder()
    decoded = [decoder.decode(data) for _, data in peeked]
    begins = [message for message in decoded if isinstance(message, pgoutput.Begin)]
    commits = [message for message in decoded if isinstance(message, pgoutput.Commit)]
    assert len(begins) == len(commits) == 4  # the row from before the slot is not among them
    assert all(begin.final_lsn == commit.commit_lsn for begin, commit in zip(begins, commits, strict=True))
    assert all(commit.commit_lsn > created for commit in commits)
    insert_one, insert_two, update, delete, truncate = _changes(decoded)

    assert isinstance(insert_one, pgoutput.Insert)
    relation = insert_one.relation
    assert (relation.schema, relation.name, relation.replica_identity) == ("public", "items", "d")
    assert [(column.name, column.is_key) for column in relation.columns] == [
        ("id", True), ("name", False), ("price", False), ("at", False), ("ok", False), ("tags", False),
        ("body", False), ("code", False), ("addr", False)]

    assert insert_one.new == ("1", "one", "12.34", "2024-01-02 01:04:05.678+00", "t", "{1,2,NULL}", body, "ab  ",
                              "10.1.2.3")
    assert isinstance(insert_two, pgoutput.Insert)
    assert insert_two.new == ("2",) + (None,) * 8
    assert isinstance(update, pgoutput.Update)
    assert update.old is None  # the key did not change
    assert update.new == ("1", "uno", "12.34", "2024-01-02 01:04:05.678+00", "f", "{1,2,NULL}",
                          pgoutput.UNCHANGED_TOAST, "ab  ", "10.1.2.3")
    assert isinstance(delete, pgoutput.Delete)
    assert delete.old_is_key_only
    assert delete.old == ("2",) + (None,) * 8
    assert isinstance(truncate, pgoutput.Truncate)
    assert [truncated.name for truncated in truncate.relations] == ["items"]

    # What the destination is given for the first row.
    kinds = [pgtypes.clickhouse_type(column.type_name, column.nullable, allow_nullable=True, datetime64=False)
             for column in table.columns]
    assert kinds == ["Int32", "Nullable(String)", "Nullable(Decimal(10, 2))", "Nullable(DateTime('UTC'))",
                     "Nullable(UInt8)", "Array(Nullable(Int32))", "Nullable(String)", "Nullable(String)",
                     "Nullable(String)"]
    assert [pgtypes.to_clickhouse(value, column.type_name, kind)  # type: ignore[arg-type]
            for value, column, kind in zip(insert_one.new, table.columns, kinds, strict=True)] == [
        1, "one", 12.34, "2024-01-02 01:04:05", 1, [1, 2, None], body, "ab  ", "10.1.2.3"]

    # Not advanced: a second peek (as after a crash) gives the same changes again.
    assert await peek_changes(connection, SLOT, PUBLICATION, 1000) == peeked
    assert await slot_position(connection, SLOT) == created
    assert (await lag_bytes(connection, SLOT) or 0) > 0

    # A limit stops after the whole transaction that reaches it.
    first = await peek_changes(connection, SLOT, PUBLICATION, 1)
    assert [type(message) for message in _decoded(first)] == [
        pgoutput.Begin, pgoutput.Relation, pgoutput.Insert, pgoutput.Insert, pgoutput.Commit]

    # Advanced past the first two transactions: the next peek starts at the third.
    await advance_slot(connection, SLOT, commits[1].end_lsn)
    assert await slot_position(connection, SLOT) == commits[1].end_lsn
    await advance_slot(connection, SLOT, commits[0].end_lsn)  # behind the slot: nothing moves
    assert await slot_position(connection, SLOT) == commits[1].end_lsn
    later = _decoded(await peek_changes(connection, SLOT, PUBLICATION, 1000))
    assert [type(message) for message in _changes(later)] == [pgoutput.Delete, pgoutput.Truncate]

    await advance_slot(connection, SLOT, commits[-1].end_lsn)
    assert await peek_changes(connection, SLOT, PUBLICATION, 1000) == []
    await connection.execute("INSERT INTO items (id) VALUES (3)")
    (insert,) = _changes([decoder.decode(data) for _, data in await peek_changes(connection, SLOT, PUBLICATION, 10)])
    assert isinstance(insert, pgoutput.Insert)
    assert insert.new[0] == "3"

    await drop_slot(connection, SLOT)
    assert await slot_position(connection, SLOT) is None
    assert await lag_bytes(connection, SLOT) is None
    await drop_slot(connection, SLOT)  # gone already: nothing to do
    with pytest.raises(SourceProblem, match="the replication slot pipe_slot is gone"):
        await advance_slot(connection, SLOT, commits[-1].end_lsn)


async def test_full_replica_identity_sends_the_old_row_and_a_key_change_sends_the_old_key(source: Source) -> None:
    connection = source.connection
    await connection.execute("CREATE TABLE full_rows (id int PRIMARY KEY, note text)")
    await connection.execute("CREATE TABLE keyed (id int PRIMARY KEY, note text)")
    await connection.execute("ALTER TABLE full_rows REPLICA IDENTITY FULL")
    await connection.execute("INSERT INTO full_rows VALUES (1, 'was')")
    await connection.execute("INSERT INTO keyed VALUES (1, 'was')")
    await ensure_publication(connection, PUBLICATION, [("public", "full_rows"), ("public", "keyed")], create=True)
    await create_slot(connection, SLOT)
    await connection.execute("UPDATE full_rows SET note = 'is'")
    await connection.execute("DELETE FROM full_rows")
    await connection.execute("UPDATE keyed SET id = 2")

    decoder = pgoutput.PgOutputDecoder()
    update_full, delete_full, update_key = _changes(
        [decoder.decode(data) for _, data in await peek_changes(connection, SLOT, PUBLICATION, 100)])
    assert isinstance(update_full, pgoutput.Update)
    assert (update_full.old, update_full.old_is_key_only, update_full.new) == (("1", "was"), False, ("1", "is"))
    assert update_full.relation.replica_identity == "f"
    assert isinstance(delete_full, pgoutput.Delete)
    assert (delete_full.old, delete_full.old_is_key_only) == (("1", "is"), False)
    assert isinstance(update_key, pgoutput.Update)
    assert (update_key.old, update_key.old_is_key_only, update_key.new) == (("1", None), True, ("2", "was"))


# --- the snapshot --------------------------------------------------------------------------------------------


async def test_snapshot_batches_hold_every_row_as_the_stream_writes_its_values(source: Source) -> None:
    connection = source.connection
    await connection.execute(ITEMS)
    await ensure_publication(connection, PUBLICATION, [("public", "items")], create=True)
    await create_slot(connection, SLOT)
    await connection.execute(
        "INSERT INTO items VALUES (1, 'one', 12.34, '2024-01-02 03:04:05.678+02', true, '{1,2,NULL}', %s, "
        "'ab', '10.1.2.3'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        "(3, 'it''s \"quoted\"\t\\ and\nnew', -0.5, 'infinity', false, '{}', '', 'abcd', '::1')",
        (await _scalar(connection, BODY),))
    await connection.execute("INSERT INTO items (id, name) SELECT i, 'row ' || i FROM generate_series(4, 25) i")
    (table,) = await describe(connection, [("public", "items")])
    names = [column.name for column in table.columns]

    batches = [batch async for batch in snapshot_batches(connection, table, names, 10)]
    assert [len(batch) for batch in batches] == [10, 10, 5]
    snapshot = sorted((row for batch in batches for row in batch), key=lambda row: int(row[0] or 0))
    assert [row[0] for row in snapshot] == [str(i) for i in range(1, 26)]

    # Each value exactly as pgoutput sends it for the same row.
    decoder = pgoutput.PgOutputDecoder()
    streamed = sorted((message.new for message in _changes(
        [decoder.decode(data) for _, data in await peek_changes(connection, SLOT, PUBLICATION, 1000)])
        if isinstance(message, pgoutput.Insert)), key=lambda row: int(str(row[0])))
    assert snapshot == streamed
    assert snapshot[1] == ("2",) + (None,) * 8
    assert snapshot[2][1] == "it's \"quoted\"\t\\ and\nnew"

    # Some columns, in the order asked, by (schema, name); the transaction ends with the iterator.
    async with contextlib.aclosing(snapshot_batches(connection, ("public", "items"), ["ok", "id"], 2)) as rows:
        assert await anext(rows) == [("t", "1"), (None, "2")]
    assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# --- dropping a slot in use ----------------------------------------------------------------------------------


async def _active_pid(connection: Connection) -> int | None:
    pid = await _scalar(connection, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", (SLOT,))
    return None if pid is None else int(pid)


async def test_drop_slot_ends_a_backend_peeking_from_it_and_a_walsender_streaming_it(
        source: Source, tmp_path: Path) -> None:
    connection = source.connection
    await connection.execute("CREATE TABLE bulk (id int PRIMARY KEY, note text)")
    await ensure_publication(connection, PUBLICATION, [("public", "bulk")], create=True)
    await create_slot(connection, SLOT)
    # Enough changes that a peek of them all takes a while: the reader peeks again and again until it is ended.
    await connection.execute("INSERT INTO bulk SELECT i, md5(i::text) FROM generate_series(1, 200000) i")

    reader = await connect(source.endpoint, 10.0)
    reader_pid = reader.info.backend_pid

    async def peek_forever() -> BaseException:
        try:
            while True:
                await peek_changes(reader, SLOT, PUBLICATION, 10_000_000)
        except psycopg.Error as error:
            return error

    peeking = asyncio.ensure_future(peek_forever())
    try:
        await _until(lambda: _is_held_by(connection, reader_pid), "peeking")
        await drop_slot(connection, SLOT)
        assert await slot_position(connection, SLOT) is None
        ended = await asyncio.wait_for(peeking, DEADLINE_SECONDS)
        assert isinstance(ended, psycopg.OperationalError | psycopg.errors.UndefinedObject)
    finally:
        peeking.cancel()
        await reader.close()

    # A walsender (pg_recvlogical, a streaming client as the replication protocol has it) holding a new slot.
    await create_slot(connection, SLOT)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(source.endpoint.ca_certificate or "")
    dsn = (f"host={source.endpoint.host} port={source.endpoint.port} user=postgres dbname=postgres "
           f"sslmode=verify-full sslrootcert={ca_file}")
    receiver = await asyncio.create_subprocess_exec(
        str(BIN_DIRS[source.version] / "pg_recvlogical"), "--dbname", dsn, "--slot", SLOT, "--start",
        "--option", "proto_version=1", "--option", f"publication_names=\"{PUBLICATION}\"", "--file", os.devnull,
        "--no-loop", env={**os.environ, "PGPASSWORD": PASSWORD}, stderr=asyncio.subprocess.PIPE)
    try:
        await _until(lambda: _is_held(connection), "streamed by pg_recvlogical")
        assert await _scalar(connection, "SELECT backend_type FROM pg_stat_activity WHERE pid = %s",
                             (await _active_pid(connection),)) == "walsender"
        await drop_slot(connection, SLOT)
        assert await slot_position(connection, SLOT) is None
        assert await asyncio.wait_for(receiver.wait(), DEADLINE_SECONDS) != 0  # its server connection was ended
    finally:
        if receiver.returncode is None:
            receiver.kill()
            await receiver.wait()


async def _is_held_by(connection: Connection, pid: int) -> bool:
    return await _active_pid(connection) == pid


async def _is_held(connection: Connection) -> bool:
    return await _active_pid(connection) is not None


# --- into the ClickHouse on this machine ---------------------------------------------------------------------

CLICKHOUSE = next((found for name in ("clickhouse-server", "clickhouse") if (found := shutil.which(name))), None)
CLICKHOUSE_PASSWORD = "correct horse"

TYPED = """
    CREATE TABLE typed (
        id int PRIMARY KEY, flag boolean, small smallint, big bigint, f4 real, f8 double precision,
        price numeric(10,2), wide numeric(30,4), uid uuid, day date, at timestamptz, naive timestamp, tags int[],
        name text, doc jsonb)"""
TYPED_ROWS = """
    INSERT INTO typed VALUES
        (1, true, -32768, 9223372036854775807, 1.5, 0.1, 12.34, 123456789012345678901234.5678,
         'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-02-29', '2024-01-02 03:04:05.678+02', '2024-01-02 03:04:05',
         '{1,2,NULL}', 'it''s "quoted"', '{"a": [1, 2]}'),
        (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
        (3, false, 0, 0, 'NaN', '-Infinity', 'NaN', 0, NULL, '1900-01-01', 'infinity', '1960-05-05 00:00:00', '{}',
         '', 'null')"""


@pytest.fixture
async def clickhouse() -> AsyncIterator[str]:
    """A ClickHouse server of the runtime's (18.16 here): the URL of its HTTP interface, as `default`."""
    if CLICKHOUSE is None:
        pytest.skip("no ClickHouse binary found")
    with tempfile.TemporaryDirectory(prefix="clickplane-pipes-clickhouse-") as directory:
        local = LocalClickHouseRuntime(Path(directory), CLICKHOUSE, internal_password=lambda service_id: "internal")
        try:
            observed = await local.ensure_running(ServiceSpec(
                "pipes", hashlib.sha256(CLICKHOUSE_PASSWORD.encode()).hexdigest(), ip_access_list=("127.0.0.1",)))
            http = next(endpoint for endpoint in observed.endpoints if endpoint.protocol == "http")
            yield f"http://127.0.0.1:{http.port}/"
        finally:
            await local.stop_all()


async def _clickhouse(url: str, statement: str, body: bytes = b"") -> str:
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        if body:
            response = await client.post(url, params={"query": statement}, content=body,
                                         auth=("default", CLICKHOUSE_PASSWORD))
        else:
            response = await client.post(url, content=statement, auth=("default", CLICKHOUSE_PASSWORD))
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("allow_nullable", [True, False])
async def test_streamed_and_snapshotted_values_are_read_by_the_clickhouse_on_this_machine(
        source: Source, clickhouse: str, allow_nullable: bool) -> None:
    connection = source.connection
    await connection.execute(TYPED)
    await ensure_publication(connection, PUBLICATION, [("public", "typed")], create=True)
    await create_slot(connection, SLOT)
    await connection.execute(TYPED_ROWS)
    (table,) = await describe(connection, [("public", "typed")])
    datetime64 = await _clickhouse(clickhouse, "SELECT count() FROM system.functions WHERE name = 'toDateTime64'")
    snapshot = [row async for batch in snapshot_batches(connection, table, [c.name for c in table.columns], 100)
                for row in batch]
    streamed = [message.new for message in _changes(_decoded(await peek_changes(connection, SLOT, PUBLICATION, 100)))
                if isinstance(message, pgoutput.Insert)]

    kinds = [pgtypes.clickhouse_type(column.type_name, column.nullable and column.key_position is None,
                                     allow_nullable=allow_nullable, datetime64=datetime64.strip() != "0")
             for column in table.columns]
    await _clickhouse(clickhouse, "CREATE TABLE typed (" + ", ".join(
        f"`{column.name}` {kind}" for column, kind in zip(table.columns, kinds, strict=True)) +
        ") ENGINE = MergeTree ORDER BY id")
    for rows in (snapshot, streamed):
        lines = [json.dumps({column.name: pgtypes.to_clickhouse(value, column.type_name, kind)  # type: ignore[arg-type]
                             for column, kind, value in zip(table.columns, kinds, row, strict=True)})
                 for row in rows]
        await _clickhouse(clickhouse, "INSERT INTO typed FORMAT JSONEachRow",
                          ("\n".join(lines) + "\n").encode())
    held = await _clickhouse(clickhouse, "SELECT * FROM typed ORDER BY id FORMAT TabSeparated")
    assert len(held.splitlines()) == 6
    first, second, third = sorted(set(held.splitlines()))  # the snapshot's and the stream's rows are alike
    # 18.16 writes its zero Date and DateTime (1970-01-01, where NULLs and earlier values go) as 0000-00-00.
    assert first.split("\t") == [
        "1", "1", "-32768", "9223372036854775807", "1.5", "0.1", "12.34", "123456789012345678901234.5678",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-02-29", "2024-01-02 01:04:05", "2024-01-02 03:04:05",
        "[1,2,NULL]" if allow_nullable else "[1,2,0]", "it\\'s \"quoted\"", '{"a": [1, 2]}']
    assert second.split("\t") == (
        ["2"] + ["\\N"] * 11 + ["[]", "\\N", "\\N"] if allow_nullable else
        ["2", "0", "0", "0", "0", "0", "0.00", "", "00000000-0000-0000-0000-000000000000", "0000-00-00",
         "0000-00-00 00:00:00", "0000-00-00 00:00:00", "[]", "", ""])
    assert third.split("\t") == [
        "3", "0", "0", "0", "nan", "-inf", "\\N" if allow_nullable else "0.00", "0.0000",
        "\\N" if allow_nullable else "00000000-0000-0000-0000-000000000000", "0000-00-00",
        "2105-12-31 23:59:59", "0000-00-00 00:00:00", "[]", "", "null"]
