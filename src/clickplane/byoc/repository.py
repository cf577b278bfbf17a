"""Queries of BYOC infrastructure. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import ByocInfrastructure


class ByocInfrastructures:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, infrastructure_id: uuid.UUID) -> ByocInfrastructure | None:
        found = self.session.get(ByocInfrastructure, infrastructure_id)
        return found if found is not None and found.organization_id == organization_id else None

    def list(self, organization_id: uuid.UUID) -> Sequence[ByocInfrastructure]:
        return self.session.scalars(select(ByocInfrastructure).where(
            ByocInfrastructure.organization_id == organization_id).order_by(
            ByocInfrastructure.created_at, ByocInfrastructure.id)).all()

    def add(self, infrastructure: ByocInfrastructure) -> None:
        self.session.add(infrastructure)
        self.session.flush()

    def remove(self, infrastructure: ByocInfrastructure) -> None:
        self.session.delete(infrastructure)
