"""BackupService on a real store: its reads take no write lock, so they answer while a change of the same
service is under way (on SQLite, where a write transaction locks the whole store, a read in one would wait
for it and then fail with "database is locked")."""

from __future__ import annotations

import uuid
from pathlib import Path

from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN
from clickplane.auth.secrets import SecretHasher
from clickplane.backups.repository import BackupBuckets, Backups
from clickplane.backups.service import BackupService
from clickplane.services.repository import Services
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from tests.unit.backups.test_backup_jobs import START, running_service
from tests.unit.fakes import app_context

HASHER = SecretHasher(b"k" * 32)


def test_backup_reads_answer_while_the_service_is_locked_for_a_change(database: Database, tmp_path: Path) -> None:
    service_id = running_service(database)
    backup_id = uuid.uuid4()
    with database.transaction() as session:
        service = Services(session).all()[0]
        organization_id = service.organization_id
        BackupBuckets(session).put(models.BackupBucket(service_id=service_id, provider="AWS",
                                                       bucket_path=str(tmp_path / "bucket")))
        Backups(session).add(models.Backup(
            id=backup_id, organization_id=organization_id, service_id=service_id, status="done", type="full",
            started_at=START, finished_at=START, size_in_bytes=2, backup_name=f"{service_id}/{backup_id}",
            location=str(tmp_path / "bucket" / str(service_id) / str(backup_id))))
    settings = Settings(data_dir=tmp_path, database_url=database.url)
    backups = BackupService(app_context(settings, database, HASHER, VerifiedKeys(ttl_seconds=60)))
    caller = Caller(uuid.uuid4(), "admin", organization_id, (str(ADMIN.id),), ADMIN.policies)

    with database.transaction() as change:  # as a PATCH of the service holds it until it commits
        assert Services(change).get(organization_id, service_id, for_update=True) is not None
        listed = backups.list(caller, organization_id, service_id)
        one = backups.get(caller, organization_id, service_id, backup_id)
        schedule = backups.configuration(caller, organization_id, service_id)
        bucket = backups.bucket(caller, organization_id, service_id)

    assert [backup.id for backup in listed] == [backup_id]
    assert (one.id, one.status, one.sizeInBytes) == (backup_id, "done", 2)
    assert (schedule.backupPeriodInHours, schedule.backupRetentionPeriodInHours) == (24, 24)
    assert (bucket.bucketProvider, bucket.bucketPath) == ("AWS", str(tmp_path / "bucket"))
