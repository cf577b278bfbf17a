"""What the runtime asks of a running server, as its internal role over TLS: its state, the superuser, the
parameters users set (ALTER SYSTEM, which cannot run in a transaction: connections are in autocommit), reloads,
replication slots, promotion, WAL switches and a standby's progress."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres.config import engine_message
from clickplane.runtime.postgres.interface import SUPERUSER, ConfigRejected

Connection = psycopg.AsyncConnection[TupleRow]

# libpq counts its connect timeout in whole seconds, and takes less than 2 as 2.
_CONNECT_TIMEOUT_SECONDS = 3
# The runtime's own statements are quick; one that is not has met a hung server or a lock.
_STATEMENT_TIMEOUT_MS = 10_000
_RELOAD_TIMEOUT_SECONDS = 5.0
_POLL_SECONDS = 0.01
# Within the statement timeout: promotion only ends recovery (the checkpoint after it is not waited for).
_PROMOTE_WAIT_SECONDS = 8


@dataclass(frozen=True)
class Login:
    host: str
    port: int
    user: str
    password: str


async def connect(login: Login) -> Connection:
    """A connection over TLS (not verified: the runtime dials its own server on this machine), in autocommit.
    Callers bound the whole exchange: a server stopped (SIGSTOP) after the connection would never answer."""
    return await psycopg.AsyncConnection.connect(
        host=login.host, port=login.port, user=login.user, password=login.password, dbname="postgres",
        sslmode="require", connect_timeout=_CONNECT_TIMEOUT_SECONDS, autocommit=True, application_name="clickplane",
        options=f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}",
    )


@dataclass(frozen=True)
class ServerState:
    version: str
    in_recovery: bool
    # How far a server in recovery is behind the WAL it has: none when it has replayed all it received, else the
    # age of the last transaction it replayed (None before it replayed any); None for a primary.
    replay_lag_seconds: float | None


async def server_state(connection: Connection) -> ServerState:
    """The server's full version, whether it is in recovery (a standby, a restore) and how far behind."""
    row = await _one(connection, sql.SQL(
        "SELECT current_setting('server_version'), pg_is_in_recovery(),"
        " CASE WHEN pg_is_in_recovery() THEN"
        "  CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        "  ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END END"))
    return ServerState(str(row[0]), bool(row[1]), None if row[2] is None else max(float(row[2]), 0.0))


async def in_recovery(connection: Connection) -> bool:
    return bool((await _one(connection, sql.SQL("SELECT pg_is_in_recovery()")))[0])


async def archives_wal(connection: Connection) -> bool:
    return bool((await _one(connection, sql.SQL("SELECT current_setting('archive_mode') <> 'off'")))[0])


async def promote(connection: Connection) -> None:
    """End the recovery of a standby: it becomes a primary, on a timeline of its own."""
    promoted = (await _one(connection, sql.SQL("SELECT pg_promote(true, {})").format(
        sql.Literal(_PROMOTE_WAIT_SECONDS))))[0]
    if not promoted:
        raise RuntimeFailure(f"PostgreSQL was not promoted within {_PROMOTE_WAIT_SECONDS} s")


async def ensure_extension(connection: Connection, name: str) -> None:
    await connection.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name)))


async def ensure_slot(connection: Connection, name: str) -> None:
    """A physical replication slot of that name, which keeps the WAL from now on until a replica has it."""
    await connection.execute("SELECT pg_create_physical_replication_slot(%s, true) WHERE NOT EXISTS "
                             "(SELECT FROM pg_replication_slots WHERE slot_name = %s)", [name, name])


async def inactive_slots(connection: Connection) -> list[str]:
    """The physical replication slots no one streams from now."""
    cursor = await connection.execute("SELECT slot_name FROM pg_replication_slots "
                                      "WHERE slot_type = 'physical' AND NOT active ORDER BY slot_name")
    return [str(name) for (name,) in await cursor.fetchall()]


async def drop_slot(connection: Connection, name: str, timeout: float) -> None:
    """Drop the replication slot, once no one streams from it (a replica just stopped or promoted lets go of it
    in a moment); nothing to do when there is none."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        cursor = await connection.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [name])
        row = await cursor.fetchone()
        if row is None:
            return
        if not row[0]:
            try:
                await connection.execute("SELECT pg_drop_replication_slot(%s)", [name])
                return
            except (psycopg.errors.ObjectInUse, psycopg.errors.UndefinedObject):
                continue  # taken again, or dropped by another, meanwhile: look again
        if loop.time() >= deadline:
            raise RuntimeFailure(f"replication slot {name} is still in use after {timeout:g} s")
        await asyncio.sleep(_POLL_SECONDS)


async def streams(connection: Connection) -> bool:
    """Whether this standby's WAL receiver streams from its primary now."""
    cursor = await connection.execute("SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming'")
    return await cursor.fetchone() is not None


async def received_past(connection: Connection, lsn: str) -> bool:
    """Whether this standby has received and flushed the WAL record at `lsn` (the WAL position it has is the end of
    the last record it received)."""
    return bool((await _one(connection, sql.SQL("SELECT coalesce(pg_last_wal_receive_lsn() > {}::pg_lsn, false)")
                            .format(sql.Literal(lsn))))[0])


async def switch_wal(connection: Connection) -> str:
    """Complete the current WAL segment (for it to be archived now), unless nothing was written to it; the name of
    the last complete segment."""
    row = await _one(connection, sql.SQL("SELECT pg_walfile_name(pg_switch_wal() - 1)"))
    return str(row[0])


async def ensure_superuser(connection: Connection, verifier: str) -> bool:
    """Create the users' superuser with the password of `verifier`, or give it that password when its stored
    verifier is another; whether anything changed. PostgreSQL keeps a password given as a SCRAM verifier as it is."""
    cursor = await connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [SUPERUSER])
    row = await cursor.fetchone()
    if row is not None and row[0] == verifier:
        return False
    statement = "ALTER ROLE {} PASSWORD {}" if row is not None else "CREATE ROLE {} SUPERUSER LOGIN PASSWORD {}"
    await connection.execute(sql.SQL(statement).format(sql.Identifier(SUPERUSER), sql.Literal(verifier)))
    return True


async def user_parameters(connection: Connection) -> dict[str, str]:
    """The parameters set with ALTER SYSTEM (all users': the runtime sets none that way), as written."""
    cursor = await connection.execute(
        "SELECT name, setting FROM pg_file_settings"
        " WHERE sourcefile = current_setting('data_directory') || '/postgresql.auto.conf' AND setting IS NOT NULL"
        " ORDER BY seqno"
    )
    return {str(name): str(setting) for name, setting in await cursor.fetchall()}


async def set_parameters(connection: Connection, wanted: Sequence[tuple[str, str]]) -> bool:
    """Make the ALTER SYSTEM parameters exactly `wanted` (set the new and changed, reset those no longer wanted);
    whether anything changed. ConfigRejected with the server's message when it refuses one, after undoing what this
    call changed."""
    current = await user_parameters(connection)
    names = {name for name, _ in wanted}
    changes: list[tuple[str, str | None]] = [(name, value) for name, value in wanted if current.get(name) != value]
    changes += [(name, None) for name in current if name not in names]
    done: list[str] = []
    for name, value in changes:
        try:
            await _alter_system(connection, name, value)
        except psycopg.Error as error:
            for changed in reversed(done):
                await _alter_system(connection, changed, current.get(changed))
            raise ConfigRejected(error_message(error)) from error
        done.append(name)
    return bool(changes)


async def _alter_system(connection: Connection, name: str, value: str | None) -> None:
    """ALTER SYSTEM SET `name` to `value`, or RESET it for None."""
    if value is None:
        statement = sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name))
    else:
        statement = sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
    await connection.execute(statement)


async def reload(connection: Connection) -> None:
    """Have the server reread its config files and access rules, and return once it has: pg_reload_conf only
    signals the server, which rereads them, then signals every session, this one among them (which rereads them
    before its next statement, so its pg_conf_load_time moves)."""
    loaded = (await _one(connection, sql.SQL("SELECT pg_conf_load_time()")))[0]
    await connection.execute("SELECT pg_reload_conf()")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _RELOAD_TIMEOUT_SECONDS
    while (await _one(connection, sql.SQL("SELECT pg_conf_load_time()")))[0] == loaded:
        if loop.time() >= deadline:
            raise RuntimeFailure(f"PostgreSQL did not reload its configuration within {_RELOAD_TIMEOUT_SECONDS:g} s")
        await asyncio.sleep(_POLL_SECONDS)


async def pending_restart(connection: Connection) -> tuple[str, ...]:
    """Parameters whose value in the config files waits for a restart."""
    cursor = await connection.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
    return tuple(str(name) for (name,) in await cursor.fetchall())


def error_message(error: psycopg.Error) -> str:
    """What the server said (its primary message and hint), or what psycopg did for an error of its own."""
    primary = error.diag.message_primary
    return engine_message(primary, error.diag.message_hint) if primary else str(error).strip()


async def _one(connection: Connection, query: sql.SQL | sql.Composed) -> TupleRow:
    cursor = await connection.execute(query)
    row = await cursor.fetchone()
    if row is None:
        raise RuntimeFailure(f"PostgreSQL returned no row for {query.as_string()}")
    return row
