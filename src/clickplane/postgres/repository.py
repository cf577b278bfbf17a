"""Queries of Postgres services. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from clickplane.kit.repository import ReconciledRepository
from clickplane.store.models import PostgresService


class PostgresServices(ReconciledRepository[PostgresService]):
    model = PostgresService
    given_up = None  # an unavailable service is started again, later and later (controller.py)

    def write_address(self, postgres_id: uuid.UUID, hostname: str, port: int) -> None:
        self.session.execute(update(PostgresService).where(PostgresService.id == postgres_id)
                             .values(hostname=hostname, port=port))
