"""Queries of organizations. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clickplane.store.models import Organization


class Organizations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, for_update: bool = False) -> Organization | None:
        """With for_update, the row stays locked until the transaction ends: what is counted or named within
        the organization (services against the quota, keys and their names) is decided by one writer at a time."""
        return self.session.get(Organization, organization_id, with_for_update=for_update)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(Organization)) or 0

    def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        self.session.flush()
        return organization
