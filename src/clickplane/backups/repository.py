"""Queries of backups. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import Backup, BackupBucket, BackupConfiguration, Service


class Backups:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, backup_id: uuid.UUID) -> Backup | None:
        backup = self.session.get(Backup, backup_id)
        return backup if backup is not None and backup.organization_id == organization_id else None

    def by_id(self, backup_id: uuid.UUID) -> Backup | None:
        return self.session.get(Backup, backup_id)

    def list(self, service_id: uuid.UUID) -> Sequence[Backup]:
        """The service's backups, newest first."""
        return self.session.scalars(select(Backup).where(Backup.service_id == service_id)
                                    .order_by(Backup.started_at.desc(), Backup.id.desc())).all()

    def in_progress(self) -> Sequence[Backup]:
        return self.session.scalars(select(Backup).where(Backup.status == "in_progress")).all()

    def add(self, backup: Backup) -> Backup:
        self.session.add(backup)
        self.session.flush()
        return backup

    def delete(self, backup: Backup) -> None:
        self.session.delete(backup)


class BackupConfigurations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> BackupConfiguration | None:
        return self.session.get(BackupConfiguration, service_id)

    def put(self, configuration: BackupConfiguration) -> BackupConfiguration:
        return self.session.merge(configuration)


class BackupBuckets:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> BackupBucket | None:
        return self.session.get(BackupBucket, service_id)

    def put(self, bucket: BackupBucket) -> BackupBucket:
        return self.session.merge(bucket)

    def delete(self, bucket: BackupBucket) -> None:
        self.session.delete(bucket)


class BackedUpServices:
    """The services backups are taken of, by id alone: the reconciler and `clickplane backup create` name no
    organization, which services.repository.Services.get needs."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> Service | None:
        return self.session.get(Service, service_id)
