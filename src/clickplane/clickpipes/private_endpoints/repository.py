"""Queries of ClickPipes reverse private endpoints. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from clickplane.store.models import ReversePrivateEndpoint


class ReversePrivateEndpoints:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_service(self, service_id: uuid.UUID) -> Sequence[ReversePrivateEndpoint]:
        return self.session.scalars(select(ReversePrivateEndpoint).where(
            ReversePrivateEndpoint.service_id == service_id).order_by(ReversePrivateEndpoint.created_at)).all()

    def get(self, service_id: uuid.UUID, endpoint_id: uuid.UUID) -> ReversePrivateEndpoint | None:
        found = self.session.get(ReversePrivateEndpoint, endpoint_id)
        return found if found is not None and found.service_id == service_id else None

    def add(self, endpoint: ReversePrivateEndpoint) -> ReversePrivateEndpoint:
        self.session.add(endpoint)
        self.session.flush()
        return endpoint

    def remove(self, endpoint: ReversePrivateEndpoint) -> None:
        self.session.delete(endpoint)
