"""Finding the organization a request names: below the services of every package that acts in one."""

from __future__ import annotations

import uuid

from clickplane.auth.authentication import Caller
from clickplane.kit.errors import NotFound
from clickplane.organizations.repository import Organizations
from clickplane.store.models import Organization


def visible(organizations: Organizations, caller: Caller, organization_id: uuid.UUID,
            for_update: bool = False) -> Organization:
    """The organization if the caller belongs to it; any other id is reported as not found."""
    organization = organizations.get(organization_id, for_update) if organization_id == caller.organization_id \
        else None
    if organization is None:
        raise NotFound(f"organization {organization_id} does not exist or is not visible to this API key")
    return organization
