"""LocalPostgresRuntime against the real PostgreSQL 17 and 18 binaries (the packaged builds that
binaries.default_bin_dirs finds), each test's services in a temporary data dir: servers, parameters, crashes, then
base backups, point-in-time restores, read replicas, logs and the control plane's SQL login. A version whose
binaries are not installed is skipped; as root, so is every version when PostgreSQL's user does not exist."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from clickplane.postgres.passwords import scram_verifier
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.postgres import backups, wal
from clickplane.runtime.postgres.interface import (
    ConfigRejected,
    PostgresObservation,
    PostgresSpec,
    ReplicaOf,
    RestoredFrom,
)
from clickplane.runtime.postgres.local import LocalPostgresRuntime
from tests.integration.postgres_runtime import (
    ADVERTISED_HOST,
    PASSWORD,
    data_directory,
    deleting_all,
    new_runtime,
    version_or_skip,
)

NEW_PASSWORD = "Battery-staple-2"
DEADLINE_SECONDS = 30.0

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
    with data_directory("clickplane-postgres-runtime-test-") as directory:
        yield directory


@pytest.fixture
async def runtime(data_dir: Path) -> AsyncIterator[LocalPostgresRuntime]:
    async with deleting_all(new_runtime(data_dir)) as made:
        yield made


@pytest.fixture
def spec(version: str) -> PostgresSpec:
    return PostgresSpec(service_id=str(uuid.uuid4()), version=version, superuser_verifier=scram_verifier(PASSWORD))


async def _observe_until(runtime: LocalPostgresRuntime, service_id: str, running: bool,
                         reason: str | None = None) -> PostgresObservation:
    """The first observation that the service is running, or not (with a reason that holds `reason`)."""
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while True:
        observed = await runtime.observe(service_id)
        if observed.running == running and (reason is None or reason in (observed.reason or "")):
            return observed
        if anyio.current_time() >= deadline:
            pytest.fail(f"no observation of the service {'' if running else 'not '}running"
                        f"{f' with a reason holding {reason!r}' if reason else ''} in {DEADLINE_SECONDS} s; "
                        f"the last: {observed}")
        await anyio.sleep(0.05)


async def _running(runtime: LocalPostgresRuntime, spec: PostgresSpec) -> PostgresObservation:
    """Start the service, wait until it accepts connections and give it the spec's superuser and parameters."""
    await runtime.start(spec)
    observed = await _observe_until(runtime, spec.service_id, running=True)
    await runtime.apply(spec)
    return observed


async def _connect(runtime: LocalPostgresRuntime, spec: PostgresSpec, observed: PostgresObservation,
                   ca_dir: Path, password: str = PASSWORD, sslmode: str = "verify-full") -> Connection:
    """A connection as the superuser, verifying the server by the service's own CA and the name it is dialled by."""
    ca_file = ca_dir / "ca.pem"
    ca_file.write_bytes(await runtime.ca_certificate(spec.service_id))
    assert observed.host == ADVERTISED_HOST
    assert observed.port is not None
    return await psycopg.AsyncConnection.connect(host=observed.host, port=observed.port, user="postgres",
                                                 password=password, dbname="postgres", sslmode=sslmode,
                                                 sslrootcert=str(ca_file), connect_timeout=5, autocommit=True)


async def _scalar(connection: Connection, query: str) -> object:
    cursor = await connection.execute(query)
    row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def test_a_service_serves_tls_to_its_superuser_whose_password_changes_at_once(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, tmp_path: Path, version: str) -> None:
    reserved = await runtime.reserve(spec.service_id)
    observed = await _running(runtime, spec)
    assert (observed.host, observed.port) == reserved
    assert observed.server_version is not None
    assert observed.server_version.startswith(f"{version}.")
    assert not observed.in_recovery
    async with await _connect(runtime, spec, observed, tmp_path) as connection:
        assert await _scalar(connection, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
        await connection.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        await connection.execute("INSERT INTO notes VALUES (1, 'kept')")
        assert await _scalar(connection, "SELECT body FROM notes WHERE id = 1") == "kept"

    with pytest.raises(psycopg.OperationalError, match=r"pg_hba\.conf rejects connection .* no encryption"):
        await _connect(runtime, spec, observed, tmp_path, sslmode="disable")

    await runtime.apply(replace(spec, superuser_verifier=scram_verifier(NEW_PASSWORD)))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        await _connect(runtime, spec, observed, tmp_path)
    async with await _connect(runtime, spec, observed, tmp_path, password=NEW_PASSWORD) as connection:
        assert await _scalar(connection, "SELECT count(*) FROM notes") == 1


async def test_parameters_are_reloaded_or_wait_for_a_restart_and_a_refused_one_changes_nothing(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, tmp_path: Path) -> None:
    observed = await _running(runtime, spec)
    configured = replace(spec, config=(("work_mem", "8MB"), ("max_connections", "50")))
    applied = await runtime.apply(configured)
    assert applied.pending_restart == ("max_connections",)
    async with await _connect(runtime, spec, observed, tmp_path) as connection:
        assert await _scalar(connection, "SHOW work_mem") == "8MB"

    refused = replace(spec, config=(("work_mem", "16MB"), ("max_connections", "64XB")))
    with pytest.raises(ConfigRejected, match='invalid value for parameter "max_connections": "64XB"'):
        await runtime.apply(refused)
    async with await _connect(runtime, spec, observed, tmp_path) as connection:
        assert await _scalar(connection, "SHOW work_mem") == "8MB"
        assert await _scalar(connection, "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM "
                                         "pg_file_settings WHERE sourcefile LIKE '%auto.conf'") == \
            "max_connections=50,work_mem=8MB"

    await runtime.restart(spec.service_id)
    restarted = await _observe_until(runtime, spec.service_id, running=True)
    assert restarted.port == observed.port
    assert (await runtime.apply(configured)).pending_restart == ()
    async with await _connect(runtime, spec, restarted, tmp_path) as connection:
        assert await _scalar(connection, "SHOW max_connections") == "50"

    await runtime.apply(spec)  # no parameters: those set before are reset
    async with await _connect(runtime, spec, restarted, tmp_path) as connection:
        assert await _scalar(connection, "SHOW work_mem") == "4MB"


async def test_the_engine_checks_parameters_with_no_server(runtime: LocalPostgresRuntime, version: str) -> None:
    await runtime.check_config(version, (("work_mem", "8MB"), ("max_connections", "50")))
    with pytest.raises(ConfigRejected) as refused:
        await runtime.check_config(version, (("work_mem", "64XB"),))
    assert str(refused.value) == ('invalid value for parameter "work_mem": "64XB". Valid units for this parameter are '
                                  '"B", "kB", "MB", "GB", and "TB".')
    with pytest.raises(ConfigRejected, match='unrecognized configuration parameter "no_such_thing"'):
        await runtime.check_config(version, (("no_such_thing", "1"),))
    with pytest.raises(RuntimeFailure, match="no binaries of PostgreSQL 15"):
        await runtime.check_config("15", (("work_mem", "8MB"),))


async def test_the_engine_says_which_parameters_need_a_restart(runtime: LocalPostgresRuntime, version: str) -> None:
    names = ("work_mem", "max_connections", "autovacuum_max_workers", "ssl_min_protocol_version")
    # autovacuum_max_workers became reloadable in PostgreSQL 18.
    expected = ("max_connections", "autovacuum_max_workers") if version == "17" else ("max_connections",)
    assert await runtime.restart_needed(version, names) == expected


async def test_a_killed_server_is_reported_then_started_again_with_its_data_and_is_adopted_by_anew_runtime(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path, tmp_path: Path) -> None:
    observed = await _running(runtime, spec)
    async with await _connect(runtime, spec, observed, tmp_path) as connection:
        await connection.execute("CREATE TABLE notes AS SELECT 'before the crash' AS body")
    assert observed.pid is not None
    os.kill(observed.pid, signal.SIGKILL)

    # Until the kernel has ended it, the server may still be seen, not answering.
    crashed = await _observe_until(runtime, spec.service_id, running=False, reason="exited unexpectedly")
    assert crashed.pid is None
    await runtime.start(spec)
    recovered = await _observe_until(runtime, spec.service_id, running=True)
    assert recovered.port == observed.port
    assert recovered.pid != observed.pid
    async with await _connect(runtime, spec, recovered, tmp_path) as connection:
        assert await _scalar(connection, "SELECT body FROM notes") == "before the crash"

    successor = new_runtime(data_dir)
    await successor.start(spec)
    adopted = await successor.observe(spec.service_id)
    assert adopted.running
    assert adopted.pid == recovered.pid


async def test_stop_keeps_the_data_and_delete_removes_everything(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path, tmp_path: Path) -> None:
    await _running(runtime, spec)
    await runtime.stop(spec.service_id)
    stopped = await runtime.observe(spec.service_id)
    assert not stopped.running
    assert stopped.reason is None
    await runtime.stop(spec.service_id)  # a no-op

    await runtime.start(spec)
    observed = await _observe_until(runtime, spec.service_id, running=True)
    assert observed.port == stopped.port
    assert await runtime.list_service_ids() == [spec.service_id]

    await runtime.delete(spec.service_id)
    assert not (data_dir / "postgres" / spec.service_id).exists()
    assert await runtime.list_service_ids() == []
    assert not (await runtime.observe(spec.service_id)).running
    await runtime.delete(spec.service_id)  # idempotent


async def test_stop_ends_a_making_of_the_cluster_left_going_and_removes_what_it_made(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path) -> None:
    await _running(runtime, spec)
    # What a control plane killed while it made a cluster leaves: the half-made directory, with initdb's bootstrap
    # server still writing in it (a stand-in here, working in that directory as the server does).
    half_made = data_dir / "postgres" / spec.service_id / "cluster.new"
    half_made.mkdir()
    writer = subprocess.Popen(["sleep", "600"], cwd=half_made)
    try:
        await runtime.stop(spec.service_id)
        assert writer.wait(timeout=DEADLINE_SECONDS) == -signal.SIGKILL
        assert not half_made.exists()
        assert not (await runtime.observe(spec.service_id)).running
    finally:
        writer.kill()
        writer.wait()


# Backups, restores, replicas, logs.


def _made_from(like: PostgresSpec, origin: ReplicaOf | RestoredFrom) -> PostgresSpec:
    """The spec of a new service made from another's cluster."""
    return replace(like, service_id=str(uuid.uuid4()), origin=origin)


async def _internal(runtime: LocalPostgresRuntime, service_id: str) -> Connection:
    """A connection as the runtime's own login, through the connection string it gives the control plane."""
    login = await runtime.sql_login(service_id)
    assert login is not None
    return await psycopg.AsyncConnection.connect(login.conninfo, autocommit=True)


async def _notes(connection: Connection) -> list[str]:
    cursor = await connection.execute("SELECT note FROM notes ORDER BY note")
    return [str(note) for (note,) in await cursor.fetchall()]


async def _archive_now(runtime: LocalPostgresRuntime, service_id: str) -> datetime:
    """Complete the WAL segment being written and wait until it is archived; the moment it was asked."""
    asked = datetime.now(UTC)
    async with await _internal(runtime, service_id) as connection:
        await connection.execute("SELECT pg_switch_wal()")
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while (window := await runtime.recovery_window(service_id)) is None or window.latest < asked:
        if anyio.current_time() >= deadline:
            pytest.fail(f"nothing archived after {asked} within {DEADLINE_SECONDS} s; the window: {window}")
        await anyio.sleep(0.05)
    return asked


async def _until_primary(runtime: LocalPostgresRuntime, service_id: str) -> PostgresObservation:
    """The first observation of the service running out of recovery (a restore or a promotion done)."""
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while not (observed := await _observe_until(runtime, service_id, running=True)).running or observed.in_recovery:
        if anyio.current_time() >= deadline:
            pytest.fail(f"service {service_id} still in recovery after {DEADLINE_SECONDS} s: {observed}")
        await anyio.sleep(0.05)
    return observed


async def test_base_backups_are_listed_and_a_restore_to_a_moment_between_two_writes_holds_the_first_only(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, tmp_path: Path) -> None:
    observed = await _running(runtime, spec)
    assert await runtime.recovery_window(spec.service_id) is None
    assert await runtime.base_backups(spec.service_id) == []
    before_backup = datetime.now(UTC)
    took = time.monotonic()
    backup = await runtime.take_base_backup(spec.service_id)
    print(f"base backup of a new cluster: {time.monotonic() - took:.2f} s, {backup.size_in_bytes} bytes")
    assert await runtime.base_backups(spec.service_id) == [backup]
    assert backup.finished_at is not None
    assert before_backup <= backup.started_at <= backup.finished_at
    assert backup.size_in_bytes > 1_000_000
    window = await runtime.recovery_window(spec.service_id)
    assert window is not None
    assert window.earliest == backup.finished_at <= window.latest

    async with await _connect(runtime, spec, observed, tmp_path) as connection:
        await connection.execute("CREATE TABLE notes (note text)")
        await connection.execute("INSERT INTO notes VALUES ('first')")
        await anyio.sleep(0.5)  # the target falls strictly between the two commits' times
        target = datetime.now(UTC)
        await anyio.sleep(0.5)
        await connection.execute("INSERT INTO notes VALUES ('second')")
    written = await _archive_now(runtime, spec.service_id)

    between = _made_from(spec, RestoredFrom(spec.service_id, target))
    took = time.monotonic()
    await runtime.start(between)
    restored = await _until_primary(runtime, between.service_id)
    print(f"restore (start to a primary out of recovery): {time.monotonic() - took:.2f} s")
    await runtime.apply(between)
    assert restored.port != observed.port
    async with await _connect(runtime, between, restored, tmp_path) as connection:
        assert await _notes(connection) == ["first"]
        await connection.execute("INSERT INTO notes VALUES ('after the restore')")  # a primary of its own
    assert await runtime.take_base_backup(between.service_id)  # with an archive of its own

    # After the last commit (a quiet database has nothing later to stop at): everything.
    quiet = _made_from(spec, RestoredFrom(spec.service_id, written + timedelta(milliseconds=1)))
    await runtime.start(quiet)
    everything = await _until_primary(runtime, quiet.service_id)
    async with await _connect(runtime, quiet, everything, tmp_path) as connection:
        assert await _notes(connection) == ["first", "second"]

    too_early = _made_from(spec, RestoredFrom(spec.service_id, before_backup))
    with pytest.raises(RuntimeFailure, match="has no base backup finished by"):
        await runtime.start(too_early)


async def test_pruning_keeps_the_backups_and_wal_that_restore_from_the_moment_on(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path) -> None:
    await _running(runtime, spec)
    taken = [await runtime.take_base_backup(spec.service_id) for _ in range(3)]
    assert [backup.key for backup in taken] == sorted(backup.key for backup in taken)
    service_dir = data_dir / "postgres" / spec.service_id
    kept_start = backups.stored(service_dir / "base-backups")[1].start_segment
    assert any(segment.name < kept_start for segment in wal.archived_segments(service_dir / "wal-archive"))

    assert taken[1].finished_at is not None
    await runtime.prune(spec.service_id, taken[1].finished_at + timedelta(microseconds=1))
    assert await runtime.base_backups(spec.service_id) == taken[1:]
    window = await runtime.recovery_window(spec.service_id)
    assert window is not None
    assert window.earliest == taken[1].finished_at
    assert min(segment.name for segment in wal.archived_segments(service_dir / "wal-archive")) == kept_start
    await runtime.prune(spec.service_id, datetime.now(UTC))  # the newest is kept, whatever the moment
    assert await runtime.base_backups(spec.service_id) == taken[2:]


async def test_a_replica_replays_its_primary_refuses_writes_and_once_promoted_stays_a_primary(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, tmp_path: Path) -> None:
    for each in ("primary", "replica"):  # the CA of each
        (tmp_path / each).mkdir()
    primary = await _running(runtime, spec)
    async with await _connect(runtime, spec, primary, tmp_path / "primary") as connection:
        await connection.execute("CREATE TABLE notes (note text)")
        await connection.execute("INSERT INTO notes VALUES ('before the replica')")

    replica_spec = replace(_made_from(spec, ReplicaOf(spec.service_id)), config=(("work_mem", "8MB"),))
    took = time.monotonic()
    await runtime.start(replica_spec)
    replica = await _observe_until(runtime, replica_spec.service_id, running=True)
    print(f"replica (start to accepting connections): {time.monotonic() - took:.2f} s")
    assert replica.in_recovery
    assert replica.replay_lag_seconds is not None
    assert replica.port != primary.port
    await runtime.apply(replica_spec)  # no superuser change: it has the primary's, and cannot take another

    async with await _connect(runtime, spec, primary, tmp_path / "primary") as connection:
        await connection.execute("INSERT INTO notes VALUES ('after the replica')")
    async with await _connect(runtime, replica_spec, replica, tmp_path / "replica") as connection:
        deadline = anyio.current_time() + DEADLINE_SECONDS
        while await _notes(connection) != ["after the replica", "before the replica"]:
            assert anyio.current_time() < deadline, "the replica did not replay the primary's write"
            await anyio.sleep(0.05)
        assert await _scalar(connection, "SELECT status FROM pg_stat_wal_receiver") == "streaming"
        assert await _scalar(connection, "SHOW work_mem") == "8MB"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            await connection.execute("INSERT INTO notes VALUES ('on the replica')")

    promoted = replace(replica_spec, promoted=True)
    await runtime.apply(promoted)
    assert not (await runtime.observe(replica_spec.service_id)).in_recovery
    async with await _connect(runtime, spec, primary, tmp_path / "primary") as connection:
        assert await _scalar(connection, "SELECT count(*) FROM pg_replication_slots") == 0
    await runtime.restart(replica_spec.service_id)
    restarted = await _until_primary(runtime, replica_spec.service_id)
    await runtime.apply(promoted)
    async with await _connect(runtime, replica_spec, restarted, tmp_path / "replica") as connection:
        await connection.execute("INSERT INTO notes VALUES ('on the promoted replica')")
        assert await _scalar(connection, "SELECT count(*) FROM pg_stat_wal_receiver") == 0
    assert await runtime.take_base_backup(replica_spec.service_id)


async def test_a_switchover_moves_the_service_onto_a_new_server_with_its_data_replica_and_restorable_past(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path, tmp_path: Path) -> None:
    primary = await _running(runtime, spec)
    backup = await runtime.take_base_backup(spec.service_id)
    replica_spec = _made_from(spec, ReplicaOf(spec.service_id))
    await runtime.start(replica_spec)
    replica = await _observe_until(runtime, replica_spec.service_id, running=True)
    async with await _connect(runtime, spec, primary, tmp_path) as connection:
        await connection.execute("CREATE TABLE notes (note text)")
        await connection.execute("INSERT INTO notes VALUES ('before the switchover')")
        identity = await _scalar(connection, "SELECT system_identifier FROM pg_control_system()")
        timeline = await _scalar(connection, "SELECT timeline_id FROM pg_control_checkpoint()")
    cluster = data_dir / "postgres" / spec.service_id / "cluster"
    old_cluster = cluster.stat().st_ino

    took = time.monotonic()
    await runtime.switchover(spec.service_id)
    moved = await _until_primary(runtime, spec.service_id)
    print(f"switchover (copy, catch up, take over, accepting connections): {time.monotonic() - took:.2f} s")
    assert (moved.host, moved.port) == (primary.host, primary.port)
    assert moved.pid != primary.pid
    assert cluster.stat().st_ino != old_cluster  # a new server's cluster, not the old one restarted
    assert sorted(path.name for path in cluster.parent.iterdir() if path.name.startswith("cluster")) == ["cluster"]
    assert not (cluster.parent / "successor").exists()
    await runtime.apply(spec)
    async with await _connect(runtime, spec, moved, tmp_path) as connection:
        assert await _notes(connection) == ["before the switchover"]
        # The same database going on from where it was, on the same timeline.
        assert await _scalar(connection, "SELECT system_identifier FROM pg_control_system()") == identity
        assert await _scalar(connection, "SELECT timeline_id FROM pg_control_checkpoint()") == timeline
        assert await _scalar(connection, "SELECT count(*) FROM pg_replication_slots") == 1  # the replica's
        await connection.execute("INSERT INTO notes VALUES ('after the switchover')")
    written = await _archive_now(runtime, spec.service_id)

    async with await _connect(runtime, replica_spec, replica, tmp_path) as connection:
        deadline = anyio.current_time() + DEADLINE_SECONDS
        # It may read what it missed from the archive first; then it streams from the new server.
        while (await _notes(connection) != ["after the switchover", "before the switchover"]
               or await _scalar(connection, "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")
               != 1):
            assert anyio.current_time() < deadline, "the replica did not follow the new server"
            await anyio.sleep(0.05)

    # The base backup from before the switchover, with the WAL archived before and after it, restores past it.
    assert await runtime.base_backups(spec.service_id) == [backup]
    restored_spec = _made_from(spec, RestoredFrom(spec.service_id, written + timedelta(milliseconds=1)))
    await runtime.start(restored_spec)
    restored = await _until_primary(runtime, restored_spec.service_id)
    async with await _connect(runtime, restored_spec, restored, tmp_path) as connection:
        assert await _notes(connection) == ["after the switchover", "before the switchover"]


async def test_a_switchover_refused_by_a_replica_leaves_it_as_it_was(
        runtime: LocalPostgresRuntime, spec: PostgresSpec, data_dir: Path) -> None:
    await _running(runtime, spec)
    replica_spec = _made_from(spec, ReplicaOf(spec.service_id))
    await runtime.start(replica_spec)
    before = await _observe_until(runtime, replica_spec.service_id, running=True)
    with pytest.raises(RuntimeFailure, match="is in recovery"):
        await runtime.switchover(replica_spec.service_id)
    after = await runtime.observe(replica_spec.service_id)
    assert (after.running, after.in_recovery, after.pid) == (True, True, before.pid)
    assert not (data_dir / "postgres" / replica_spec.service_id / "successor").exists()


async def test_deleting_a_replica_drops_its_slot_on_the_primary_then_or_at_the_primarys_next_apply(
        runtime: LocalPostgresRuntime, spec: PostgresSpec) -> None:
    await _running(runtime, spec)
    replicas = [_made_from(spec, ReplicaOf(spec.service_id)) for _ in range(2)]
    for replica in replicas:
        await runtime.start(replica)
        await _observe_until(runtime, replica.service_id, running=True)

    async def slots() -> list[str]:
        async with await _internal(runtime, spec.service_id) as connection:
            cursor = await connection.execute("SELECT slot_name FROM pg_replication_slots ORDER BY 1")
            return [str(name) for (name,) in await cursor.fetchall()]

    assert await slots() == sorted(f"replica_{uuid.UUID(replica.service_id).hex}" for replica in replicas)
    await runtime.delete(replicas[0].service_id)
    assert await slots() == [f"replica_{uuid.UUID(replicas[1].service_id).hex}"]

    await runtime.stop(spec.service_id)
    await runtime.delete(replicas[1].service_id)  # its primary does not run: the slot stays for now
    await _running(runtime, spec)
    assert await slots() == []


async def test_logs_hold_the_servers_entries_in_a_window_and_the_sql_login_reaches_its_statistics(
        runtime: LocalPostgresRuntime, spec: PostgresSpec) -> None:
    assert await runtime.sql_login(spec.service_id) is None
    await _running(runtime, spec)
    since = datetime.now(UTC)
    async with await _internal(runtime, spec.service_id) as connection:
        with pytest.raises(psycopg.errors.DivisionByZero):
            await connection.execute("SELECT 1/0")
        assert await _scalar(connection, "SHOW compute_query_id") == "on"
        assert int(str(await _scalar(connection, "SELECT count(*) FROM pg_stat_statements"))) > 0
    until = datetime.now(UTC) + timedelta(seconds=1)
    deadline = anyio.current_time() + DEADLINE_SECONDS
    while not [entry for entry in await runtime.logs(spec.service_id, since, until, 100)
               if entry.severity == "ERROR"]:
        assert anyio.current_time() < deadline, "the error did not reach the log"
        await anyio.sleep(0.05)
    errors = [entry for entry in await runtime.logs(spec.service_id, since, until, 100) if entry.severity == "ERROR"]
    assert errors[0].body == "division by zero\nSTATEMENT:  SELECT 1/0"
    assert since <= errors[0].timestamp < until
    started = await runtime.logs(spec.service_id, since - timedelta(minutes=5), since, 100)
    assert any("database system is ready to accept connections" in entry.body for entry in started)
    assert len(await runtime.logs(spec.service_id, since - timedelta(minutes=5), until, 2)) == 2
    await runtime.stop(spec.service_id)
    assert await runtime.sql_login(spec.service_id) is None
