"""What the runtime asks of a running server, as its internal role over TLS: its state, the superuser, the
parameters users set (ALTER SYSTEM, which cannot run in a transaction: connections are in autocommit) and reloads."""

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
_RELOAD_POLL_SECONDS = 0.01


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


async def server_state(connection: Connection) -> tuple[str, bool]:
    """The server's full version and whether it is in recovery (a standby)."""
    row = await _one(connection, sql.SQL("SELECT current_setting('server_version'), pg_is_in_recovery()"))
    return str(row[0]), bool(row[1])


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
        await asyncio.sleep(_RELOAD_POLL_SECONDS)


async def pending_restart(connection: Connection) -> tuple[str, ...]:
    """Parameters whose value in the config files waits for a restart."""
    cursor = await connection.execute("SELECT name FROM pg_settings WHERE pending_restart ORDER BY name")
    return tuple(str(name) for (name,) in await cursor.fetchall())


def error_message(error: psycopg.Error) -> str:
    """What the server said (its primary message and hint), or what psycopg did for an error of its own."""
    primary = error.diag.message_primary
    return engine_message(primary, error.diag.message_hint) if primary else str(error).strip()


async def _one(connection: Connection, query: sql.SQL) -> TupleRow:
    cursor = await connection.execute(query)
    row = await cursor.fetchone()
    if row is None:
        raise RuntimeFailure(f"PostgreSQL returned no row for {query.as_string()}")
    return row
