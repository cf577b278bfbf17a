"""Queries of query endpoints. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from clickplane.store.models import QueryEndpoint


class QueryEndpoints:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, service_id: uuid.UUID) -> QueryEndpoint | None:
        return self.session.get(QueryEndpoint, service_id)

    def put(self, endpoint: QueryEndpoint) -> QueryEndpoint:
        return self.session.merge(endpoint)

    def delete(self, endpoint: QueryEndpoint) -> None:
        self.session.delete(endpoint)
