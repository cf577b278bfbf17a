"""Queries of roles. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import Role


class Roles:
    def __init__(self, session: Session) -> None:
        self.session = session

    def policies_by_id(self, organization_id: uuid.UUID, role_ids: tuple[str, ...]) -> dict[str, list[Any]]:
        """Stored policies of the organization's custom roles among `role_ids`, by role id."""
        wanted = [uuid.UUID(r) for r in role_ids if _is_uuid(r)]
        if not wanted:
            return {}
        query = select(Role).where(Role.organization_id == organization_id, Role.id.in_(wanted))
        return {str(role.id): role.policies for role in self.session.scalars(query)}

    def list(self, organization_id: uuid.UUID) -> Sequence[Role]:
        return self.session.scalars(select(Role).where(Role.organization_id == organization_id)
                                    .order_by(Role.created_at, Role.id)).all()

    def get(self, organization_id: uuid.UUID, role_id: uuid.UUID) -> Role | None:
        role = self.session.get(Role, role_id)
        return role if role is not None and role.organization_id == organization_id else None

    def by_name(self, organization_id: uuid.UUID, name: str) -> Role | None:
        return self.session.scalar(select(Role).where(Role.organization_id == organization_id, Role.name == name))

    def add(self, role: Role) -> Role:
        self.session.add(role)
        self.session.flush()
        return role

    def delete(self, role: Role) -> None:
        self.session.delete(role)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
