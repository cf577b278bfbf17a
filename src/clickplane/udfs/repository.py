"""Queries of UDFs, their versions, attachments and uploads. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from clickplane.store.models import Udf, UdfAttachment, UdfUpload, UdfVersion


class Udfs:
    def __init__(self, session: Session) -> None:
        self.session = session

    def named(self, organization_id: uuid.UUID, name: str, for_update: bool = False) -> Udf | None:
        query = select(Udf).where(Udf.organization_id == organization_id, Udf.name == name)
        return self.session.scalars(query.with_for_update() if for_update else query).one_or_none()

    def of_organization(self, organization_id: uuid.UUID) -> Sequence[Udf]:
        return self.session.scalars(select(Udf).where(Udf.organization_id == organization_id)
                                    .order_by(Udf.name)).all()

    def add(self, row: Udf | UdfVersion | UdfAttachment) -> None:
        self.session.add(row)
        self.session.flush()

    def remove(self, row: Udf | UdfVersion | UdfAttachment) -> None:
        self.session.delete(row)
        self.session.flush()

    def versions(self, udf_id: uuid.UUID) -> Sequence[UdfVersion]:
        return self.session.scalars(select(UdfVersion).where(UdfVersion.udf_id == udf_id)
                                    .order_by(UdfVersion.version)).all()

    def version(self, udf_id: uuid.UUID, version: int) -> UdfVersion | None:
        return self.session.get(UdfVersion, (udf_id, version))

    def latest(self, udf_id: uuid.UUID) -> UdfVersion | None:
        return self.session.scalars(select(UdfVersion).where(UdfVersion.udf_id == udf_id)
                                    .order_by(UdfVersion.version.desc()).limit(1)).first()

    def latest_versions(self, udf_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, UdfVersion]:
        """The latest version of each function, in one query."""
        newest = (select(UdfVersion.udf_id, func.max(UdfVersion.version).label("version"))
                  .where(UdfVersion.udf_id.in_(udf_ids)).group_by(UdfVersion.udf_id).subquery())
        query = select(UdfVersion).join(newest, (UdfVersion.udf_id == newest.c.udf_id)
                                        & (UdfVersion.version == newest.c.version))
        return {row.udf_id: row for row in self.session.scalars(query)}

    def attachments(self, udf_id: uuid.UUID) -> Sequence[UdfAttachment]:
        return self.session.scalars(select(UdfAttachment).where(UdfAttachment.udf_id == udf_id)
                                    .order_by(UdfAttachment.created_at, UdfAttachment.service_id)).all()

    def attachment(self, udf_id: uuid.UUID, service_id: uuid.UUID) -> UdfAttachment | None:
        return self.session.get(UdfAttachment, (udf_id, service_id))


class UdfUploads:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, upload: UdfUpload) -> None:
        self.session.add(upload)
        self.session.flush()

    def by_token(self, token_sha256: str) -> UdfUpload | None:
        query = select(UdfUpload).where(UdfUpload.token_sha256 == token_sha256).with_for_update()
        return self.session.scalars(query).one_or_none()

    def get(self, upload_id: uuid.UUID, for_update: bool = True) -> UdfUpload | None:
        return self.session.get(UdfUpload, upload_id, with_for_update=for_update)

    def pending(self, organization_id: uuid.UUID) -> int:
        """How many of the organization's uploads are not yet taken (nor forgotten)."""
        query = select(func.count()).select_from(UdfUpload).where(UdfUpload.organization_id == organization_id)
        return int(self.session.scalar(query) or 0)

    def remove(self, upload: UdfUpload) -> None:
        self.session.delete(upload)
        self.session.flush()

    def forget_expired(self, now: datetime) -> None:
        self.session.execute(delete(UdfUpload).where(UdfUpload.expires_at < now))
