"""Queries of replica-aware routing switches. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from clickplane.store.models import ReplicaAwareRouting


class ReplicaRoutings:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> ReplicaAwareRouting | None:
        return self.session.get(ReplicaAwareRouting, service_id)

    def put(self, routing: ReplicaAwareRouting) -> ReplicaAwareRouting:
        return self.session.merge(routing)
