"""The activity log: every change is recorded in the transaction that makes it."""

from __future__ import annotations

import uuid
from typing import Any

from clickplane.domain.auth import Caller
from clickplane.store.models import Activity
from clickplane.store.repositories import Activities


def record(activities: Activities, caller: Caller, activity_type: str, *, service_id: uuid.UUID | None = None,
           target_key_id: uuid.UUID | None = None, key_update_type: str | None = None,
           details: dict[str, Any] | None = None) -> None:
    """A change made through the API, by the caller's key."""
    activities.add(Activity(
        organization_id=caller.organization_id, type=activity_type, actor_type="api",
        actor_id=str(caller.key_uuid), actor_ip_address=caller.ip_address, user_agent=caller.user_agent,
        service_id=service_id, target_key_id=target_key_id, key_update_type=key_update_type, details=details or {},
    ))


def record_system(activities: Activities, organization_id: uuid.UUID, activity_type: str, *,
                  service_id: uuid.UUID | None = None, details: dict[str, Any] | None = None) -> None:
    """A change clickplane made on its own (a service went idle, came back, failed)."""
    activities.add(Activity(organization_id=organization_id, type=activity_type, actor_type="system",
                            service_id=service_id, details=details or {}))
