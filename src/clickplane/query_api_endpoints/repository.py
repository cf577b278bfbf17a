"""Queries of Query API endpoints. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from clickplane.kit.repository import ServiceItems
from clickplane.store.models import QueryApiEndpoint


class QueryApiEndpoints(ServiceItems[QueryApiEndpoint]):
    model: ClassVar[Any] = QueryApiEndpoint

    def of_id(self, endpoint_id: uuid.UUID) -> QueryApiEndpoint | None:
        """The endpoint, whosever it is (a preflight names no organization)."""
        return self.session.get(QueryApiEndpoint, endpoint_id)

    def by_id(self, organization_id: uuid.UUID, endpoint_id: uuid.UUID) -> QueryApiEndpoint | None:
        """The endpoint whatever its service, if it is the organization's: its URL names no service."""
        found = self.of_id(endpoint_id)
        return found if found is not None and found.organization_id == organization_id else None
