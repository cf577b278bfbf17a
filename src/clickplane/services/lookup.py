"""Finding the service a request names: below the services of every package that acts on one (its backups,
settings, query endpoint), so that none of them imports another's service module for it."""

from __future__ import annotations

import uuid

from clickplane.auth.authentication import Caller
from clickplane.kit.errors import Conflict, NotFound
from clickplane.services.repository import Services
from clickplane.store.models import Service


def visible(services: Services, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
            for_update: bool = False) -> Service:
    """The service if it belongs to the caller's organization; any other id is reported as not found."""
    service = services.get(organization_id, service_id, for_update) if organization_id == caller.organization_id \
        else None
    if service is None:
        raise not_found(organization_id, service_id)
    return service


def not_found(organization_id: uuid.UUID, service_id: uuid.UUID) -> NotFound:
    return NotFound(f"service {service_id} does not exist in organization {organization_id} "
                    "or is not visible to this API key")


def changeable(services: Services, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> Service:
    """The visible service, locked for the change, unless it is being deleted (Conflict)."""
    service = visible(services, caller, organization_id, service_id, for_update=True)
    if service.state == "terminating":
        raise Conflict(f"service {service_id} is being deleted and can no longer be changed. "
                       "Current state: 'terminating'")
    return service
