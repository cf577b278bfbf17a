"""A PostgreSQL source of a CDC pipe, over an ordinary psycopg connection: its checks, the tables' descriptions, the
publication and logical replication slot (pgoutput) a pipe reads through, the changes, and the initial snapshot.

The stream is read with pg_logical_slot_peek_binary_changes, which leaves the slot where it is: a worker writes what
it read, then advances the slot past the last transaction written, so a crash in between reads it all again. Make
the slot before the snapshot starts: every change the snapshot misses is then in the stream (and some it has are
too, so writing a change must be idempotent)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import tempfile
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import psycopg
from psycopg import errors, sql

from clickplane.runtime.pipes.errors import SourceProblem
from clickplane.runtime.pipes.pgoutput import lsn_text, parse_lsn

Connection = psycopg.AsyncConnection[Any]
TextRow = tuple[str | None, ...]
Query = str | sql.SQL | sql.Composed

MINIMUM_SERVER_VERSION: Final = 120000
# Values in changes and in the snapshot are written in the session's settings: these are the ones pgtypes reads.
SESSION_OPTIONS: Final = ("-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=1 "
                          "-c bytea_output=hex")
APPLICATION_NAME: Final = "clickplane-clickpipes"
DROP_SLOT_TIMEOUT_SECONDS: Final = 30.0

TlsMode = Literal["disable", "require", "verify"]


@dataclass(frozen=True)
class PostgresEndpoint:
    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    # "disable": plain; "require": encrypted, the certificate unchecked; "verify": verify-full, against
    # `ca_certificate` (PEM) or the system's roots, for the name `tls_host` (else `host`).
    tls: TlsMode = "verify"
    ca_certificate: str | None = field(default=None, repr=False)
    tls_host: str | None = None


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type_name: str  # as format_type() writes it: 'numeric(10,2)', 'timestamp with time zone'
    nullable: bool
    key_position: int | None  # 1, 2, ... in the key updates and deletes are matched by; None when not in it


@dataclass(frozen=True)
class SourceTable:
    schema: str
    name: str
    columns: tuple[SourceColumn, ...]  # in the table's order, generated columns left out (pgoutput sends none)
    replica_identity: str  # as pg_class.relreplident: "d" (the primary key), "f" (full), "i" (an index)


def _problem_message(endpoint: PostgresEndpoint, error: psycopg.Error) -> str:
    detail = str(error).strip()
    lowered = detail.lower()
    where = f"the PostgreSQL server at {endpoint.host}:{endpoint.port}"
    if "password authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered):
        return f"{where} refused the user {endpoint.user}: {detail}. Check the user name and password."
    if "no encryption" in lowered or "server does not support ssl" in lowered:
        return (f"{where} refused the connection's TLS setting: {detail}. Turn TLS on when it requires it, or off "
                "when it has none.")
    if "pg_hba.conf" in lowered:
        return (f"{where} refused the connection: {detail}. Allow it in pg_hba.conf (a host or hostssl line for "
                "this user, database and the control plane's address).")
    if "database" in lowered and "does not exist" in lowered:
        return f"{where} has no database {endpoint.database}: {detail}."
    if any(word in lowered for word in ("ssl", "certificate", "tls")):
        return (f"the TLS connection to {where} failed: {detail}. Check the CA certificate and the name the server's "
                "certificate is for (TLS host), or skip certificate verification.")
    return (f"cannot reach {where}: {detail}. Check the host and port, and that the server listens on an address "
            "this control plane reaches (listen_addresses, firewalls).")


@contextlib.contextmanager
def _ca_file(pem: str) -> Iterator[str]:
    """The CA certificate in a file of its own for libpq, which reads it while connecting; removed after."""
    descriptor, path = tempfile.mkstemp(prefix="clickpipes-ca-", suffix=".pem")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(pem)
        yield path
    finally:
        os.unlink(path)


async def _address_of(endpoint: PostgresEndpoint) -> str:
    """The host's IP address, which libpq dials while checking the certificate for the name tls_host."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise SourceProblem(f"cannot reach the PostgreSQL server at {endpoint.host}:{endpoint.port}: the name "
                            f"{endpoint.host} does not resolve ({error}). Check the host.") from error
    return str(found[0][4][0])


async def connect(endpoint: PostgresEndpoint, timeout: float) -> Connection:
    """An autocommit connection to the source, in the session settings pgtypes reads values in; SourceProblem
    saying why when the server cannot be reached or refuses it."""
    params: dict[str, Any] = {
        "host": endpoint.host, "port": endpoint.port, "dbname": endpoint.database, "user": endpoint.user,
        "password": endpoint.password, "connect_timeout": max(2, math.ceil(timeout)),
        "application_name": APPLICATION_NAME, "options": SESSION_OPTIONS,
        "sslmode": {"disable": "disable", "require": "require", "verify": "verify-full"}[endpoint.tls],
    }
    with contextlib.ExitStack() as files:
        if endpoint.tls == "verify":
            params["sslrootcert"] = (files.enter_context(_ca_file(endpoint.ca_certificate))
                                     if endpoint.ca_certificate else "system")
            if endpoint.tls_host:
                params.update(host=endpoint.tls_host, hostaddr=await _address_of(endpoint))
        try:
            return await psycopg.AsyncConnection.connect(autocommit=True, **params)
        except psycopg.OperationalError as error:
            raise SourceProblem(_problem_message(endpoint, error)) from error


async def _one(connection: Connection, query: Query, params: Sequence[Any] = ()) -> tuple[Any, ...]:
    cursor = await connection.execute(query, params)
    row = await cursor.fetchone()
    assert row is not None, "a query of one row returned none"
    return tuple(row)


async def _optional(connection: Connection, query: Query, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    cursor = await connection.execute(query, params)
    row = await cursor.fetchone()
    return None if row is None else tuple(row)


async def check_server(connection: Connection) -> None:
    """SourceProblem, naming each fix, unless the server can serve a pipe: PostgreSQL 12 or later, logical WAL,
    replication slots to spare, and a user that may use them."""
    version_number, version, wal_level, max_slots, superuser, replication, user = await _one(connection, """
        SELECT current_setting('server_version_num')::int, current_setting('server_version'),
               current_setting('wal_level'), current_setting('max_replication_slots')::int, r.rolsuper,
               r.rolreplication, current_user::text
        FROM pg_roles r WHERE r.rolname = current_user""")
    problems = []
    if version_number < MINIMUM_SERVER_VERSION:
        problems.append(f"PostgreSQL {version} is too old: ClickPipes needs 12 or later; upgrade the server")
    if wal_level != "logical":
        problems.append(f"wal_level is '{wal_level}', and logical decoding needs 'logical': run ALTER SYSTEM SET "
                        "wal_level = logical, then restart the server")
    if max_slots == 0:
        problems.append("max_replication_slots is 0: set it to at least 1 (ALTER SYSTEM SET max_replication_slots "
                        "= 10), then restart the server")
    if not (superuser or replication):
        problems.append(f"the user {user} may not use replication slots: ALTER ROLE {sql.Identifier(user).as_string()} "
                        "REPLICATION, or connect as a superuser")
    if problems:
        raise SourceProblem("; ".join(problems) + ".")


_DESCRIBE = """
    SELECT w.position, c.oid IS NOT NULL, c.relreplident, has_table_privilege(c.oid, 'SELECT'), k.indkey IS NOT NULL,
           a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
           (SELECT key.position FROM unnest(k.indkey::int2[]) WITH ORDINALITY AS key(attnum, position)
            WHERE key.attnum = a.attnum)
    FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS w(schema_name, table_name, position)
    LEFT JOIN pg_namespace n ON n.nspname = w.schema_name
    LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name AND c.relkind IN ('r', 'p')
    -- The key changes are matched by: the replica identity index when the table has one, else the primary key.
    LEFT JOIN LATERAL (
        SELECT i.indkey FROM pg_index i
        WHERE i.indrelid = c.oid AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
    ) k ON true
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
    ORDER BY w.position, a.attnum"""


def _table_problem(schema: str, name: str, found: bool, identity: str | None, readable: bool, keyed: bool
                   ) -> str | None:
    table = sql.Identifier(schema, name).as_string()
    if not found:
        return f"there is no table {table} (or the user may not see it)"
    if identity == "n":
        return (f"{table} has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be matched (nor made, once "
                f"published): ALTER TABLE {table} REPLICA IDENTITY DEFAULT (with a primary key) or FULL")
    if not keyed and identity != "f":
        return (f"{table} has no primary key, so its updates and deletes cannot be matched: add a primary key or "
                f"ALTER TABLE {table} REPLICA IDENTITY FULL")
    if not readable:
        return f"the user may not read {table}: GRANT SELECT ON {table} TO the pipe's user"
    return None


async def describe(connection: Connection, tables: Sequence[tuple[str, str]]) -> list[SourceTable]:
    """The tables (schema, name) as given; SourceProblem naming each that is missing, unreadable, or whose updates
    and deletes could not be matched to a row."""
    cursor = await connection.execute(_DESCRIBE, ([schema for schema, _ in tables], [name for _, name in tables]))
    columns: dict[int, list[SourceColumn]] = {}
    facts: dict[int, tuple[bool, str | None, bool, bool]] = {}
    for position, found, identity, readable, keyed, column, type_name, nullable, key_position in \
            await cursor.fetchall():
        facts[position] = (found, identity, bool(readable), keyed)
        if column is not None:
            columns.setdefault(position, []).append(SourceColumn(column, type_name, nullable, key_position))
    problems, described = [], []
    for position, (schema, name) in enumerate(tables, start=1):
        found, identity, readable, keyed = facts[position]
        problem = _table_problem(schema, name, found, identity, readable, keyed)
        if problem is not None:
            problems.append(problem)
        else:
            described.append(SourceTable(schema, name, tuple(columns.get(position, ())), str(identity)))
    if problems:
        raise SourceProblem("; ".join(problems) + ".")
    return described


def _table_list(tables: Sequence[tuple[str, str]]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in tables)


async def ensure_publication(connection: Connection, name: str, tables: Sequence[tuple[str, str]],
                             create: bool) -> None:
    """A publication of the tables. One the pipe owns (`create`) is made, or its tables made exactly these; one the
    user gave must exist and publish every change of each (SourceProblem otherwise)."""
    if not tables:
        raise SourceProblem("the pipe replicates no tables: map at least one")
    if create:
        await _own_publication(connection, name, tables)
    else:
        await _check_publication(connection, name, tables)


async def _own_publication(connection: Connection, name: str, tables: Sequence[tuple[str, str]]) -> None:
    publication = sql.Identifier(name)
    # Changes to a partitioned table's partitions as the table's own (from PostgreSQL 13 on).
    (version,) = await _one(connection, "SELECT current_setting('server_version_num')::int")
    options = sql.SQL(" WITH (publish_via_partition_root = true)" if version >= 130000 else "")
    try:
        if await _optional(connection, "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)) is None:
            try:
                await connection.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}{}").format(
                    publication, _table_list(tables), options))
                return
            except errors.DuplicateObject:
                pass  # made in the meantime (by another run of the same pipe): set its tables
        await connection.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(publication, _table_list(tables)))
    except errors.InsufficientPrivilege as error:
        raise SourceProblem(f"the user may not make the publication {name}: {error}. Publishing a table takes its "
                            "owner (or a superuser); or create the publication yourself (CREATE PUBLICATION ... FOR "
                            "TABLE ...) and give its name to the pipe.") from error


async def _check_publication(connection: Connection, name: str, tables: Sequence[tuple[str, str]]) -> None:
    publication = sql.Identifier(name).as_string()
    actions = await _optional(connection, "SELECT pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication "
                                          "WHERE pubname = %s", (name,))
    if actions is None:
        raise SourceProblem(f"there is no publication {publication}: CREATE PUBLICATION {publication} FOR TABLE "
                            f"{_table_list(tables).as_string()}")
    cursor = await connection.execute("SELECT schemaname::text, tablename::text FROM pg_publication_tables "
                                      "WHERE pubname = %s", (name,))
    published = {(schema, table) for schema, table in await cursor.fetchall()}
    problems = []
    missing = [table for table in tables if table not in published]
    if missing:
        problems.append(f"the publication {publication} lacks {_table_list(missing).as_string()}: ALTER PUBLICATION "
                        f"{publication} ADD TABLE {_table_list(missing).as_string()}")
    unpublished = [action for action, on in zip(("insert", "update", "delete", "truncate"), actions, strict=True)
                   if not on]
    if unpublished:
        problems.append(f"the publication {publication} does not publish {', '.join(unpublished)}: ALTER PUBLICATION "
                        f"{publication} SET (publish = 'insert, update, delete, truncate')")
    if problems:
        raise SourceProblem("; ".join(problems) + ".")


async def drop_publication(connection: Connection, name: str) -> None:
    await connection.execute(sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(name)))


async def create_slot(connection: Connection, slot: str) -> int:
    """A logical replication slot of pgoutput; its confirmed position, from which it streams. It waits for the
    transactions running on the source to end."""
    try:
        (lsn,) = await _one(connection, "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
                            (slot,))
    except errors.DuplicateObject as error:
        raise SourceProblem(f"a replication slot named {slot} exists already: drop it, or give the pipe another "
                            "slot name") from error
    except errors.ConfigurationLimitExceeded as error:
        raise SourceProblem(f"the source has no replication slot to spare ({error}): drop slots no longer used "
                            "(pg_drop_replication_slot) or raise max_replication_slots") from error
    return parse_lsn(str(lsn))


async def slot_position(connection: Connection, slot: str) -> int | None:
    """The slot's confirmed position (where its next peek starts); None when there is no such slot."""
    row = await _optional(connection, "SELECT slot_type::text, plugin::text, confirmed_flush_lsn::text "
                                      "FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    if row is None:
        return None
    slot_type, plugin, confirmed = row
    if slot_type != "logical" or plugin != "pgoutput" or confirmed is None:
        raise SourceProblem(f"the replication slot {slot} is a {slot_type} slot of {plugin or 'no plugin'}, not a "
                            "logical one of pgoutput: give the pipe another slot name, or drop that slot")
    return parse_lsn(str(confirmed))


async def drop_slot(connection: Connection, slot: str, timeout: float = DROP_SLOT_TIMEOUT_SECONDS) -> None:
    """Drop the slot, if there is one, ending first the walsender or backend reading from it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        holder = await _optional(connection, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                                 (slot,))
        if holder is None:
            return
        (active_pid,) = holder
        if active_pid is not None:
            await connection.execute("SELECT pg_terminate_backend(%s) WHERE %s <> pg_backend_pid()",
                                     (active_pid, active_pid))
        try:
            await connection.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return
        except errors.UndefinedObject:
            return  # dropped in the meantime
        except errors.ObjectInUse as error:  # the ended reader has not let go yet, or a new one took it
            if loop.time() >= deadline:
                raise SourceProblem(f"cannot drop the replication slot {slot}: {error}. End what reads from it "
                                    "(pg_terminate_backend) and retry.") from error
        await asyncio.sleep(0.05)


async def lag_bytes(connection: Connection, slot: str) -> int | None:
    """How far, in bytes of WAL, the slot's confirmed position is behind the server's; None when no such slot."""
    row = await _optional(connection, """
        SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
                - confirmed_flush_lsn)::bigint
        FROM pg_replication_slots WHERE slot_name = %s""", (slot,))
    return None if row is None or row[0] is None else max(0, int(row[0]))


def _publication_names_option(publication: str) -> str:
    """pgoutput reads publication_names as a list of SQL identifiers, folding unquoted ones to lower case."""
    return '"' + publication.replace('"', '""') + '"'


async def peek_changes(connection: Connection, slot: str, publication: str, upto_changes: int
                       ) -> list[tuple[int, bytes]]:
    """The pgoutput messages (position, message) of the next whole transactions from the slot's confirmed position,
    stopping after the one that reaches `upto_changes` messages; the slot stays where it is."""
    cursor = await connection.execute(
        "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s::int4, 'proto_version', '1', "
        "'publication_names', %s)", (slot, upto_changes, _publication_names_option(publication)))
    return [(parse_lsn(lsn), bytes(data)) for lsn, data in await cursor.fetchall()]


async def advance_slot(connection: Connection, slot: str, lsn: int) -> None:
    """Confirm everything before `lsn` (a Commit's end_lsn): the next peek starts there and the source may remove
    the WAL before it. A position at or before the confirmed one changes nothing (as after a replay)."""
    cursor = await connection.execute(
        "SELECT pg_replication_slot_advance(slot_name, %s::pg_lsn) FROM pg_replication_slots "
        "WHERE slot_name = %s AND confirmed_flush_lsn < %s::pg_lsn", (lsn_text(lsn), slot, lsn_text(lsn)))
    if await cursor.fetchone() is None and await slot_position(connection, slot) is None:
        raise SourceProblem(f"the replication slot {slot} is gone from the source: changes since it went are lost; "
                            "resync the pipe")


async def snapshot_batches(connection: Connection, table: SourceTable | tuple[str, str], columns: Sequence[str],
                           batch_rows: int) -> AsyncGenerator[list[TextRow], None]:
    """The table's rows, `batch_rows` at a time, as the columns' text values (None for NULL) in pgoutput's text
    form, all read in one REPEATABLE READ transaction through a server-side cursor. Close the iterator when leaving
    it early (contextlib.aclosing), which ends the transaction."""
    if not columns:
        raise ValueError("a snapshot of no columns")
    schema, name = (table.schema, table.name) if isinstance(table, SourceTable) else table
    # format('%s') writes a value with its type's output function, as pgoutput does; a cast to text may not
    # (true::text is 'true', where pgoutput sends 't').
    values = sql.SQL(", ").join(sql.SQL("CASE WHEN {column} IS NULL THEN NULL ELSE format('%s', {column}) END")
                                .format(column=sql.Identifier(column)) for column in columns)
    query = sql.SQL("SELECT {} FROM {}").format(values, sql.Identifier(schema, name))
    await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        async with connection.cursor(name="clickpipes_snapshot") as cursor:
            await cursor.execute(query)
            while batch := await cursor.fetchmany(batch_rows):
                yield [tuple(row) for row in batch]
    finally:
        if not connection.closed:
            await connection.execute("ROLLBACK")
