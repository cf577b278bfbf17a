"""Queries of Postgres services. Every method works inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from clickplane.kit.repository import ReconciledRepository
from clickplane.store.models import PostgresService


class PostgresServices(ReconciledRepository[PostgresService]):
    model = PostgresService
    given_up = None  # an unavailable service is started again, later and later (controller.py)
    noun = "Postgres service"

    def write_address(self, postgres_id: uuid.UUID, hostname: str, port: int) -> None:
        self.session.execute(update(PostgresService).where(PostgresService.id == postgres_id)
                             .values(hostname=hostname, port=port))

    def replicas_of(self, primary_id: uuid.UUID) -> Sequence[PostgresService]:
        """The primary's read replicas not on their way out."""
        return self.session.scalars(select(PostgresService).where(
            PostgresService.replica_of == primary_id, PostgresService.desired_state != "deleted")).all()

    def write_earliest_restore_time(self, postgres_id: uuid.UUID, moment: datetime | None) -> None:
        self.session.execute(update(PostgresService).where(PostgresService.id == postgres_id)
                             .values(earliest_restore_time=moment))
