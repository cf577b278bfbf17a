"""Finding the service a request names: below the services of every package that acts on one (its backups,
settings, query endpoint), so that none of them imports another's service module for it."""

from __future__ import annotations

import uuid

from clickplane.auth.authentication import Caller
from clickplane.services.repository import Services
from clickplane.store.models import Service


def visible(services: Services, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
            for_update: bool = False) -> Service:
    """The service if it belongs to the caller's organization; any other id is reported as not found."""
    return services.visible(caller.organization_id, organization_id, service_id, for_update)


def changeable(services: Services, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> Service:
    """The visible service, locked for the change, unless it is being deleted (Conflict)."""
    return services.changeable(caller.organization_id, organization_id, service_id)
