"""Taking, recording and pruning backups: the one place that asks the runtime for a backup.

The reconciler runs `run_schedule` for every running service on each pass; `clickplane backup create`
runs `take`. A backup is recorded in_progress before the runtime starts on it, and done (with its size)
or error (with the reason) when the runtime is through. The runtime's file work runs in threads, so a
backup never blocks the event loop.

The process taking a backup holds an exclusive `flock` on a lock file of the backup meanwhile; the kernel
drops it when that process ends, however it ends. A backup in progress whose lock is free was abandoned
(`serve` or `clickplane backup create` stopped or killed mid-way): it is recorded as failed and what it had
copied is removed, at `serve`'s start and on the reconciler's passes. One whose lock is held is being taken,
by this process or another, and is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Collection, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from clickplane.activities.repository import Activities
from clickplane.activities.service import record_system
from clickplane.backups.repository import BackedUpServices, BackupBuckets, BackupConfigurations, Backups
from clickplane.backups.service import Schedule, Storage, backup_due, backup_uri, bucket_properties, expired
from clickplane.kit.errors import Conflict, NotFound
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.clickhouse.interface import ClickHouseRuntime
from clickplane.store import models
from clickplane.store.database import Database
from clickplane.store.models import utcnow

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: clickplane stopped while the backup was being taken"


class BackupJobs:
    def __init__(self, database: Database, runtime: ClickHouseRuntime, storage: Storage,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.runtime = runtime
        self.storage = storage
        self.clock = clock

    async def take(self, service_id: uuid.UUID) -> models.Backup:
        """Back the running service up now, into its bucket or the data directory; returns the record, done or
        error. NotFound or Conflict when there is no such service or it is not running."""
        backup_id = uuid.uuid4()
        with self._taking(backup_id):
            location = self._record_start(service_id, backup_id)
            try:
                result = await self.runtime.backup(str(service_id), backup_uri(location))
            except RuntimeFailure as failure:
                log.warning("backup %s of service %s failed: %s", backup_id, service_id, failure)
                return self._finish(backup_id, status="error", error=str(failure)[:2000])
            log.info("backed up service %s into %s (%d bytes)", service_id, location, result.size_in_bytes)
            return self._finish(backup_id, status="done", size_in_bytes=result.size_in_bytes)

    def _record_start(self, service_id: uuid.UUID, backup_id: uuid.UUID) -> str:
        """Record the backup in progress; where it goes (its directory)."""
        with self.database.transaction() as session:
            service = BackedUpServices(session).get(service_id)
            if service is None:
                raise NotFound(f"service {service_id} does not exist")
            if service.state != "running":
                raise Conflict(f"service {service_id} is {service.state}: backups are taken from running services; "
                               "start it first")
            bucket = BackupBuckets(session).get(service_id)
            location = str(self.storage.location(bucket, service_id, backup_id))
            Backups(session).add(models.Backup(
                id=backup_id, organization_id=service.organization_id, service_id=service_id, status="in_progress",
                type="full", started_at=self.clock(), backup_name=f"{service_id}/{backup_id}", location=location,
                bucket=bucket_properties(bucket) if bucket else None))
        return location

    @contextlib.contextmanager
    def _taking(self, backup_id: uuid.UUID) -> Iterator[None]:
        """Hold the backup's lock while it is taken (see the module's docstring)."""
        path = self._lock_file(backup_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(descriptor)

    def _abandoned(self, backup_id: uuid.UUID) -> bool:
        """Whether no process takes the backup any more: its lock is free, or gone. Removes a free lock's file."""
        path = self._lock_file(backup_id)
        try:
            descriptor = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        path.unlink(missing_ok=True)
        os.close(descriptor)
        return True

    def _lock_file(self, backup_id: uuid.UUID) -> Path:
        return self.storage.data_dir / "backup-locks" / f"{backup_id}.lock"

    def _finish(self, backup_id: uuid.UUID, **outcome: Any) -> models.Backup:
        with self.database.transaction() as session:
            backup = Backups(session).by_id(backup_id)
            if backup is not None:
                for name, value in {"finished_at": self.clock(), **outcome}.items():
                    setattr(backup, name, value)
                return backup
        raise NotFound(f"backup {backup_id} was deleted with its service while it was taken")

    async def run_schedule(self, service_id: uuid.UUID) -> None:
        """For a running service: take a backup if one is due, then delete those past their retention."""
        now = self.clock()
        with self.database.looking() as session:
            service = BackedUpServices(session).get(service_id)
            if service is None or service.state != "running":
                return
            schedule = Schedule.of(BackupConfigurations(session).get(service_id))
            backups = Backups(session).list(service_id)
            due = backup_due(schedule, backups[0].started_at if backups else None, service.created_at, now)
            in_progress = {backup.id for backup in backups if backup.status == "in_progress"}
        if in_progress:  # taken by another process (which may have died), or by this one before it was cancelled
            await asyncio.to_thread(self.fail_interrupted, in_progress)
        if due:
            await self.take(service_id)
        await self.prune(service_id, schedule, self.clock())

    async def prune(self, service_id: uuid.UUID, schedule: Schedule, now: datetime) -> None:
        """Delete the files, then the records, of the service's backups past their retention."""
        with self.database.looking() as session:
            old = [(backup.id, backup.location) for backup in expired(Backups(session).list(service_id), schedule, now)]
        for backup_id, location in old:
            await asyncio.to_thread(_remove, location)
            with self.database.transaction() as session:
                backup = Backups(session).by_id(backup_id)
                if backup is not None:
                    Backups(session).delete(backup)
                    record_system(Activities(session), backup.organization_id, "backup_delete", service_id=service_id,
                                  details={"backupId": str(backup_id), "reason": "retention period passed"})
            log.info("deleted backup %s of service %s: its retention period passed", backup_id, service_id)

    async def remove_all(self, service_id: uuid.UUID) -> None:
        """Delete the files of a service that is being deleted (its backup records go with its row)."""
        with self.database.transaction() as session:
            locations = [backup.location for backup in Backups(session).list(service_id)]
        for location in locations:
            await asyncio.to_thread(_remove, location)
        await asyncio.to_thread(shutil.rmtree, self.storage.service_root(service_id), ignore_errors=True)

    def fail_interrupted(self, backup_ids: Collection[uuid.UUID] | None = None) -> None:
        """Record the backups in progress that were abandoned as failed and remove what they had copied;
        `backup_ids` narrows the search. Those still being taken are left alone."""
        with self.database.transaction() as session:
            abandoned = [backup for backup in Backups(session).in_progress()
                         if (backup_ids is None or backup.id in backup_ids) and self._abandoned(backup.id)]
            for backup in abandoned:
                backup.status, backup.finished_at, backup.error = "error", self.clock(), INTERRUPTED
        for backup in abandoned:
            _remove(backup.location)


def _remove(location: str) -> None:
    """Remove a backup's directory, and its service's directory in the bucket once that is empty."""
    shutil.rmtree(location, ignore_errors=True)
    with contextlib.suppress(OSError):
        Path(location).parent.rmdir()
