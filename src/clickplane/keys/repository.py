"""Queries of keys. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clickplane.store.models import ApiKey


class ApiKeys:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_key_id_hash(self, key_id_hash: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.key_id_hash == key_id_hash))

    def get(self, organization_id: uuid.UUID, key_uuid: uuid.UUID) -> ApiKey | None:
        key = self.session.get(ApiKey, key_uuid)
        return key if key is not None and key.organization_id == organization_id else None

    def ids_among(self, organization_id: uuid.UUID, key_uuids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `key_uuids` are keys of the organization, in one query."""
        query = select(ApiKey.id).where(ApiKey.organization_id == organization_id, ApiKey.id.in_(key_uuids))
        return set(self.session.scalars(query))

    def list(self, organization_id: uuid.UUID) -> Sequence[ApiKey]:
        return self.session.scalars(select(ApiKey).where(ApiKey.organization_id == organization_id)
                                    .order_by(ApiKey.created_at, ApiKey.id)).all()

    def count(self, organization_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(ApiKey).where(ApiKey.organization_id == organization_id)
        return self.session.scalar(query) or 0

    def delete(self, key: ApiKey) -> None:
        self.session.delete(key)

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key
