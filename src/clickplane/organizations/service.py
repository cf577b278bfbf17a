"""Organizations, and the first admin key and Admin member that bootstrap one; `OrganizationService`, whose
methods are the API's use cases, each in a transaction of its own."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.permissions import ADMIN
from clickplane.auth.secrets import (
    SECRET_OF_DIGEST,
    SecretHasher,
    key_id_hash,
    new_key_id,
    new_key_secret,
    sha256_digest,
)
from clickplane.byoc.repository import ByocInfrastructures
from clickplane.byoc.service import to_wire as byoc_to_wire
from clickplane.keys.repository import ApiKeys
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType, check_provider_region
from clickplane.kit.errors import BadRequest
from clickplane.members.repository import Members
from clickplane.members.service import join
from clickplane.organizations import schemas
from clickplane.organizations.lookup import visible
from clickplane.organizations.repository import Organizations
from clickplane.organizations.schemas import OrganizationCloudRegionPrivateEndpointConfig, OrganizationPatchRequest
from clickplane.store.models import ApiKey, ByocInfrastructure, Organization

DEFAULT_ORGANIZATION_NAME = "clickplane"


class AlreadyInitialized(Exception):
    """The store already holds an organization; bootstrapping again would hand out a second admin key."""


@dataclass(frozen=True)
class Bootstrap:
    organization_id: uuid.UUID
    key_id: str
    key_secret: str  # shown once


def create_organization_with_admin_key(organizations: Organizations, keys: ApiKeys, members: Members,
                                       hasher: SecretHasher, name: str, admin_email: str) -> Bootstrap:
    """A new organization with an admin API key, and a first member holding the Admin role, so that the
    organization always has an Admin member."""
    organization = organizations.add(Organization(id=uuid.uuid4(), name=name, enable_core_dumps=True))
    key_id, secret = new_key_id(), new_key_secret()
    keys.add(ApiKey(id=uuid.uuid4(), organization_id=organization.id, name=f"{name} admin",
                    key_id_hash=key_id_hash(key_id), secret_hash=hasher.hash(sha256_digest(secret)),
                    secret_scheme=SECRET_OF_DIGEST, key_suffix=key_id[-4:], state="enabled", role_ids=[str(ADMIN.id)]))
    join(organization.id, admin_email, admin_email.partition("@")[0], [str(ADMIN.id)], members)
    return Bootstrap(organization_id=organization.id, key_id=key_id, key_secret=secret)


def bootstrap(organizations: Organizations, keys: ApiKeys, members: Members, hasher: SecretHasher, name: str,
              admin_email: str) -> Bootstrap:
    """First organization, admin key and Admin member of an empty store."""
    if organizations.count() > 0:
        raise AlreadyInitialized("the store is already initialized")
    return create_organization_with_admin_key(organizations, keys, members, hasher, name, admin_email)



def update(organization: Organization, patch: OrganizationPatchRequest) -> list[RecordedActivityType]:
    """Apply a PATCH; returns the activity types of what changed (the reference's where it has one)."""
    changes: list[RecordedActivityType] = []
    if patch.name is not None and patch.name != organization.name:
        if patch.name != patch.name.strip() or not patch.name.isprintable():
            raise BadRequest("name must not start or end with spaces nor contain control characters")
        organization.name = patch.name
        changes.append("organization_update_name")
    if patch.enableCoreDumps is not None and patch.enableCoreDumps != organization.enable_core_dumps:
        organization.enable_core_dumps = patch.enableCoreDumps
        changes.append("organization_update_core_dumps")
    if patch.privateEndpoints is not None:
        if patch.privateEndpoints.add:
            raise BadRequest("privateEndpoints.add is deprecated; attach private endpoints to a service instead")
        removed = {endpoint.id for endpoint in patch.privateEndpoints.remove or []}
        kept = [e for e in organization.private_endpoints if e.get("id") not in removed]
        if kept != organization.private_endpoints:
            organization.private_endpoints = kept
            changes.append("organization_update_private_endpoints")
    return changes


def to_wire(organization: Organization, byoc: Sequence[ByocInfrastructure] = ()) -> schemas.Organization:
    return schemas.Organization(id=organization.id, createdAt=organization.created_at, name=organization.name,
                                privateEndpoints=organization.private_endpoints,
                                byocConfig=[byoc_to_wire(infrastructure) for infrastructure in byoc],
                                enableCoreDumps=organization.enable_core_dumps)


class OrganizationService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list(self, caller: Caller) -> list[schemas.Organization]:
        """The caller's own organization, the only one it sees."""
        return [self.get(caller, caller.organization_id)]

    def get(self, caller: Caller, organization_id: uuid.UUID) -> schemas.Organization:
        with self.context.database.looking() as session:
            organization = visible(Organizations(session), caller, organization_id)
            return to_wire(organization, ByocInfrastructures(session).list(organization.id))

    def update(self, caller: Caller, organization_id: uuid.UUID, patch: OrganizationPatchRequest
               ) -> schemas.Organization:
        with self.context.database.transaction() as session:
            organization = visible(Organizations(session), caller, organization_id)
            details = patch.model_dump(exclude_none=True, mode="json")
            for activity_type in update(organization, patch):
                record(Activities(session), caller, activity_type, details=details)
            return to_wire(organization, ByocInfrastructures(session).list(organization.id))

    def private_endpoint_config(self, caller: Caller, organization_id: uuid.UUID, provider: str, region: str
                                ) -> OrganizationCloudRegionPrivateEndpointConfig:
        """clickplane has no private link: for a valid provider and region, an empty endpoint service id."""
        check_provider_region(provider, region)
        with self.context.database.looking() as session:
            visible(Organizations(session), caller, organization_id)
        return OrganizationCloudRegionPrivateEndpointConfig(endpointServiceId="")
