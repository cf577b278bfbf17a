"""Queries of ClickPipes, the files object-storage pipes dealt with, and services' CDC scaling. Every method works
inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from clickplane.kit.repository import ReconciledRepository
from clickplane.store.models import ClickPipe, ClickPipeFile, ClickPipesCdcScaling, ClickPipeUsageDay, Service, utcnow


class ClickPipes(ReconciledRepository[ClickPipe]):
    model = ClickPipe
    given_up = None  # a failed pipe waits for a start or a resync (lifecycle.py), not for a pass

    def of_service(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> Sequence[ClickPipe]:
        query = (select(ClickPipe).where(ClickPipe.organization_id == organization_id,
                                         ClickPipe.service_id == service_id)
                 .order_by(ClickPipe.created_at, ClickPipe.id))
        return self.session.scalars(query).all()

    def count_of_service(self, service_id: uuid.UUID, kind: str | None = None) -> int:
        query = select(func.count()).select_from(ClickPipe).where(ClickPipe.service_id == service_id,
                                                                   ClickPipe.desired_state != "deleted")
        if kind is not None:
            query = query.where(ClickPipe.kind == kind)
        return int(self.session.scalar(query) or 0)

    def name_taken(self, service_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None) -> bool:
        query = select(ClickPipe.id).where(ClickPipe.service_id == service_id, ClickPipe.name == name,
                                           ClickPipe.desired_state != "deleted")
        return any(found != other_than for found in self.session.scalars(query))

    def write(self, pipe_id: uuid.UUID, generation: int, values: dict[str, Any]) -> bool:
        """The worker's progress, unless the pipe's intent changed meanwhile (compare and set)."""
        result = self.session.execute(update(ClickPipe).where(ClickPipe.id == pipe_id,
                                                              ClickPipe.generation == generation).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def add_moved(self, pipe_id: uuid.UUID, rows: int, size: int, initial_load: bool = False) -> None:
        """Count what the pipe moved, on the pipe and in its usage of the day (an initial load's bytes apart)."""
        self.session.execute(update(ClickPipe).where(ClickPipe.id == pipe_id).values(
            rows_moved=ClickPipe.rows_moved + rows, bytes_moved=ClickPipe.bytes_moved + size, last_moved_at=utcnow()))
        pipe = self.session.get(ClickPipe, pipe_id)
        service = self.session.get(Service, pipe.service_id) if pipe is not None else None
        if pipe is None or service is None:
            return
        key = (pipe_id, utcnow().date())
        if self.session.get(ClickPipeUsageDay, key) is None:
            self.session.add(ClickPipeUsageDay(pipe_id=pipe_id, day=key[1], organization_id=pipe.organization_id,
                                               service_id=pipe.service_id, pipe_name=pipe.name,
                                               data_warehouse_id=service.data_warehouse_id, rows=0,
                                               initial_load_bytes=0, transfer_bytes=0))
            self.session.flush()
        loaded = ClickPipeUsageDay.initial_load_bytes if initial_load else ClickPipeUsageDay.transfer_bytes
        self.session.execute(update(ClickPipeUsageDay).where(
            ClickPipeUsageDay.pipe_id == pipe_id, ClickPipeUsageDay.day == key[1]).values(
            {ClickPipeUsageDay.rows: ClickPipeUsageDay.rows + rows, loaded: loaded + size,
             ClickPipeUsageDay.pipe_name: pipe.name}))

    def delete_all_of(self, service_id: uuid.UUID) -> None:
        """Ask every pipe of a service being deleted to go: each undoes what it made in its source first."""
        self.session.execute(update(ClickPipe).where(ClickPipe.service_id == service_id,
                                                     ClickPipe.desired_state != "deleted").values(
            desired_state="deleted", state="Stopping", generation=ClickPipe.generation + 1))

    def any_of(self, service_id: uuid.UUID) -> bool:
        return self.session.scalar(select(ClickPipe.id).where(ClickPipe.service_id == service_id).limit(1)) \
            is not None

    def remove(self, pipe_id: uuid.UUID) -> None:
        self.session.execute(delete(ClickPipe).where(ClickPipe.id == pipe_id, ClickPipe.desired_state == "deleted"))


class ClickPipeFiles:
    def __init__(self, session: Session) -> None:
        self.session = session

    def done(self, pipe_id: uuid.UUID, key: str) -> bool:
        return self.session.get(ClickPipeFile, (pipe_id, key)) is not None

    def record(self, pipe_id: uuid.UUID, key: str, rows: int, size: int, error: str | None = None) -> None:
        self.session.merge(ClickPipeFile(pipe_id=pipe_id, key=key, loaded=error is None, rows=rows, bytes=size,
                                         error=error, done_at=utcnow()))

    def last_key(self, pipe_id: uuid.UUID) -> str | None:
        """The greatest key dealt with: continuous mode loads only keys after it."""
        found = self.session.scalar(select(func.max(ClickPipeFile.key)).where(ClickPipeFile.pipe_id == pipe_id))
        return None if found is None else str(found)


# A service's database pipes' compute until it is changed: 2 CPUs and 8 GiB, the smallest the reference allows.
DEFAULT_CDC_SCALING = (2000, 8.0)


class CdcScalings:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, service_id: uuid.UUID) -> tuple[int, float]:
        """The service's CDC compute: millicores and GiB."""
        found = self.session.get(ClickPipesCdcScaling, service_id)
        return (found.replica_cpu_millicores, found.replica_memory_gb) if found else DEFAULT_CDC_SCALING

    def put(self, service_id: uuid.UUID, cpu_millicores: int, memory_gb: float) -> ClickPipesCdcScaling:
        row = self.session.merge(ClickPipesCdcScaling(service_id=service_id, replica_cpu_millicores=cpu_millicores,
                                                      replica_memory_gb=memory_gb))
        self.session.flush()
        return row
