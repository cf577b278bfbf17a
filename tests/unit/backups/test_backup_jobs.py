"""Taking, recording and pruning backups, and the reconciler's schedule, on a real SQLite store with a
stand-in runtime and a clock the tests move (no sleeps)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from clickplane.activities.repository import Activities
from clickplane.backups.jobs import INTERRUPTED, BackupJobs
from clickplane.backups.repository import BackupBuckets, BackupConfigurations, Backups
from clickplane.backups.service import Storage
from clickplane.kit.errors import Conflict
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.backup import backup_directory
from clickplane.runtime.clickhouse.interface import BackupResult, Observation
from clickplane.store import models
from clickplane.store.database import Database
from tests.unit.fakes import Clock, service_loop

pytestmark = pytest.mark.anyio
START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass
class FakeRuntime:
    """Backs up by writing one file into the directory a `file://` URI names, as the local runtime takes them; fails
    while `failure` is set. Every service it is asked about runs."""

    failure: str | None = None
    taken: list[Path] = field(default_factory=list)

    async def backup(self, service_id: str, destination: str) -> BackupResult:
        if self.failure:
            raise RuntimeFailure(self.failure)
        directory = backup_directory(destination)
        directory.mkdir(parents=True)
        (directory / "manifest.json").write_text("{}")
        self.taken.append(directory)
        return BackupResult(size_in_bytes=2)

    async def observe(self, service_id: str) -> Observation:
        return Observation(running=True)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def jobs(database: Database, runtime: FakeRuntime, clock: Clock, tmp_path: Path) -> BackupJobs:
    return BackupJobs(database, runtime, Storage(tmp_path / "data", tmp_path), clock)  # type: ignore[arg-type]


def running_service(database: Database, state: str = "running", created: datetime = START) -> uuid.UUID:
    with database.transaction() as session:
        organization = models.Organization(id=uuid.uuid4(), name="org")
        session.add(organization)
        service = models.Service(
            id=uuid.uuid4(), organization_id=organization.id, name="s", provider="aws", region="us-east-1",
            state=state, desired_state="running", generation=1, observed_generation=1, idle_scaling=False,
            password_sha256_hex="0" * 64, min_replica_memory_gb=8, max_replica_memory_gb=8,
            data_warehouse_id=uuid.uuid4(), created_at=created)
        session.add(service)
        return service.id


def backups_of(database: Database, service_id: uuid.UUID) -> list[models.Backup]:
    with database.transaction() as session:
        return list(Backups(session).list(service_id))


def set_schedule(database: Database, service_id: uuid.UUID, period: int = 24, retention: int = 24,
                 start_time: str | None = None) -> None:
    with database.transaction() as session:
        BackupConfigurations(session).put(models.BackupConfiguration(
            service_id=service_id, period_hours=period, retention_hours=retention, start_time=start_time))


async def test_a_backup_is_recorded_in_progress_then_done_with_its_size_and_place(
        jobs: BackupJobs, database: Database, clock: Clock, tmp_path: Path) -> None:
    service_id = running_service(database)

    async def finish_later(service: str, destination: str) -> BackupResult:
        (in_progress,) = backups_of(database, service_id)
        assert (in_progress.status, in_progress.finished_at) == ("in_progress", None)
        clock.now += timedelta(seconds=90)
        return await FakeRuntime.backup(FakeRuntime(), service, destination)

    jobs.runtime.backup = finish_later  # type: ignore[method-assign]
    backup = await jobs.take(service_id)

    assert (backup.status, backup.size_in_bytes, backup.type, backup.error) == ("done", 2, "full", None)
    assert backup.finished_at is not None
    assert backup.finished_at - backup.started_at == timedelta(seconds=90)
    assert Path(backup.location) == tmp_path / "data" / "backups" / str(service_id) / str(backup.id)
    assert backup.backup_name == f"{service_id}/{backup.id}"
    assert backup.bucket is None


async def test_a_backup_goes_to_the_services_bucket(jobs: BackupJobs, database: Database, tmp_path: Path) -> None:
    service_id = running_service(database)
    with database.transaction() as session:
        BackupBuckets(session).put(models.BackupBucket(service_id=service_id, provider="AWS",
                                                       bucket_path=str(tmp_path / "bucket")))

    backup = await jobs.take(service_id)

    assert Path(backup.location) == tmp_path / "bucket" / str(service_id) / str(backup.id)
    assert backup.bucket == {"bucketProvider": "AWS", "bucketPath": str(tmp_path / "bucket")}


async def test_a_failed_backup_is_recorded_with_the_reason(jobs: BackupJobs, database: Database,
                                                           runtime: FakeRuntime) -> None:
    service_id = running_service(database)
    runtime.failure = "service is not running"

    backup = await jobs.take(service_id)

    assert (backup.status, backup.error, backup.size_in_bytes) == ("error", "service is not running", None)
    assert backup.finished_at is not None


async def test_only_a_running_service_is_backed_up_on_request(jobs: BackupJobs, database: Database) -> None:
    with pytest.raises(Conflict, match="is stopped"):
        await jobs.take(running_service(database, state="stopped"))


async def test_the_first_backup_comes_a_period_after_creation_then_one_each_period(
        jobs: BackupJobs, database: Database, clock: Clock, runtime: FakeRuntime) -> None:
    service_id = running_service(database)
    set_schedule(database, service_id, period=6, retention=48)

    taken = []
    for hours in (5, 6, 7, 11.9, 12, 18):
        clock.now = START + hours * HOUR
        await jobs.run_schedule(service_id)
        taken.append(len(runtime.taken))

    assert taken == [0, 1, 1, 1, 2, 3]


async def test_with_a_start_time_backups_are_taken_once_a_day_at_it(
        jobs: BackupJobs, database: Database, clock: Clock, runtime: FakeRuntime) -> None:
    service_id = running_service(database)
    set_schedule(database, service_id, start_time="03:00", retention=96)

    taken = []
    for moment in ("2026-11-28T02:59", "2026-11-28T03:00", "2026-11-28T03:05", "2026-11-29T02:00",
                   "2026-11-29T03:01"):
        clock.now = datetime.fromisoformat(moment).replace(tzinfo=UTC)
        await jobs.run_schedule(service_id)
        taken.append(len(runtime.taken))

    assert taken == [0, 1, 1, 1, 2]


async def test_expired_backups_lose_their_files_and_records_but_the_newest_done_one_stays(
        jobs: BackupJobs, database: Database, clock: Clock, runtime: FakeRuntime) -> None:
    service_id = running_service(database, created=START - 100 * HOUR)
    set_schedule(database, service_id, period=48, retention=24)  # no new backup is due during the test
    first = await jobs.take(service_id)
    clock.now += 30 * HOUR
    runtime.failure = "disk full"
    failed = await jobs.take(service_id)
    runtime.failure = None
    clock.now += HOUR
    second = await jobs.take(service_id)

    clock.now = START + 60 * HOUR  # all three are past the 24 hours, but second is the newest done one
    await jobs.run_schedule(service_id)

    kept = backups_of(database, service_id)
    assert [backup.id for backup in kept][-1] == second.id
    assert {first.id, failed.id}.isdisjoint(backup.id for backup in kept)
    assert not Path(first.location).exists()
    assert Path(second.location).exists()
    with database.transaction() as session:
        deleted = [a.details["backupId"] for a in Activities(session).list(kept[0].organization_id)
                   if a.type == "backup_delete"]
    assert sorted(deleted) == sorted([str(first.id), str(failed.id)])


async def test_a_stopped_service_is_neither_backed_up_nor_pruned(jobs: BackupJobs, database: Database,
                                                                 clock: Clock, runtime: FakeRuntime) -> None:
    service_id = running_service(database, state="stopped", created=START - 1000 * HOUR)

    await jobs.run_schedule(service_id)

    assert runtime.taken == []


def abandoned_backup(database: Database, service_id: uuid.UUID, location: Path) -> None:
    """A backup in progress whose taker is gone (killed mid-way): its partial copy is there, its lock is not held."""
    (location / "files").mkdir(parents=True)
    with database.transaction() as session:
        Backups(session).add(models.Backup(id=uuid.uuid4(), organization_id=session.get(
            models.Service, service_id).organization_id, service_id=service_id, backup_name="x",
            location=str(location)))


async def test_backups_left_in_progress_by_a_stopped_control_plane_are_marked_failed_and_removed(
        jobs: BackupJobs, database: Database, tmp_path: Path) -> None:
    service_id = running_service(database)
    abandoned_backup(database, service_id, tmp_path / "partial")

    jobs.fail_interrupted()

    (backup,) = backups_of(database, service_id)
    assert (backup.status, backup.error) == ("error", INTERRUPTED)
    assert not (tmp_path / "partial").exists()


async def test_the_reconciler_fails_a_backup_whose_taker_died_while_serve_runs(
        jobs: BackupJobs, database: Database, tmp_path: Path) -> None:
    service_id = running_service(database)
    abandoned_backup(database, service_id, tmp_path / "partial")

    await jobs.run_schedule(service_id)

    (backup,) = backups_of(database, service_id)
    assert (backup.status, backup.error) == ("error", INTERRUPTED)
    assert not (tmp_path / "partial").exists()


async def test_a_backup_another_process_is_taking_is_left_alone(
        jobs: BackupJobs, database: Database, runtime: FakeRuntime) -> None:
    service_id = running_service(database)
    copying, release = asyncio.Event(), asyncio.Event()

    async def slow_backup(service: str, destination: str) -> BackupResult:
        copying.set()
        await release.wait()
        return await FakeRuntime.backup(runtime, service, destination)

    jobs.runtime.backup = slow_backup  # type: ignore[method-assign]
    taking = asyncio.create_task(jobs.take(service_id))
    await copying.wait()
    # `clickplane backup create` is copying while a serve starts, or its reconciler passes, beside it.
    starting = BackupJobs(jobs.database, runtime, jobs.storage, jobs.clock)  # type: ignore[arg-type]
    starting.fail_interrupted()
    await starting.run_schedule(service_id)
    (in_progress,) = backups_of(database, service_id)
    assert in_progress.status == "in_progress"

    release.set()
    backup = await taking
    assert (backup.status, backup.error) == ("done", None)


async def test_a_deleted_services_backup_files_are_removed(jobs: BackupJobs, database: Database,
                                                           tmp_path: Path) -> None:
    service_id = running_service(database)
    backup = await jobs.take(service_id)

    await jobs.remove_all(service_id)

    assert not Path(backup.location).exists()
    assert not (tmp_path / "data" / "backups" / str(service_id)).exists()


async def test_the_reconciler_backs_up_each_running_service_on_its_schedule(
        jobs: BackupJobs, database: Database, clock: Clock, runtime: FakeRuntime) -> None:
    due, not_yet = running_service(database, created=START - 25 * HOUR), running_service(database)
    reconciler = service_loop(database, runtime, jobs)

    reconciler.pass_once()
    await reconciler.drain()
    reconciler.pass_once()  # the backup just taken is not a period old
    await reconciler.drain()

    assert [path.parent.name for path in runtime.taken] == [str(due)]
    with database.transaction() as session:
        statuses = session.scalars(select(models.Backup.status).where(models.Backup.service_id == not_yet)).all()
    assert statuses == []
