"""Queries of members. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import Invitation, Member


class Members:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, organization_id: uuid.UUID) -> Sequence[Member]:
        return self.session.scalars(select(Member).where(Member.organization_id == organization_id)
                                    .order_by(Member.joined_at, Member.id)).all()

    def get(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Member | None:
        return self.session.scalar(select(Member).where(Member.organization_id == organization_id,
                                                        Member.user_id == user_id))

    def by_email(self, organization_id: uuid.UUID, email: str) -> Member | None:
        return self.session.scalar(select(Member).where(Member.organization_id == organization_id,
                                                        Member.email == email))

    def user_id_of(self, email: str) -> uuid.UUID | None:
        """The id of the user with this email in any organization: one user keeps one id everywhere."""
        return self.session.scalar(select(Member.user_id).where(Member.email == email).limit(1))

    def add(self, member: Member) -> Member:
        self.session.add(member)
        self.session.flush()
        return member

    def delete(self, member: Member) -> None:
        self.session.delete(member)


class Invitations:
    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, organization_id: uuid.UUID) -> Sequence[Invitation]:
        return self.session.scalars(select(Invitation).where(Invitation.organization_id == organization_id)
                                    .order_by(Invitation.created_at, Invitation.id)).all()

    def get(self, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> Invitation | None:
        invitation = self.session.get(Invitation, invitation_id)
        return invitation if invitation is not None and invitation.organization_id == organization_id else None

    def by_id(self, invitation_id: uuid.UUID) -> Invitation | None:
        """Whatever its organization: for the operator, who acts on the whole store."""
        return self.session.get(Invitation, invitation_id)

    def for_email(self, organization_id: uuid.UUID, email: str) -> Sequence[Invitation]:
        return self.session.scalars(select(Invitation).where(Invitation.organization_id == organization_id,
                                                             Invitation.email == email)).all()

    def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        self.session.flush()
        return invitation

    def delete(self, invitation: Invitation) -> None:
        self.session.delete(invitation)
