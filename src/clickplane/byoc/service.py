"""BYOC infrastructure: what a create may ask for, and `ByocService`, whose methods are the API's use cases.

clickplane runs services on its own machine. It records an organization's BYOC infrastructure as the reference
defines it, checked (a region of the reference, an account id of its provider's form, distinct zones, a private
VPC range) and shown in the organization's byocConfig, but provisions nothing in the account: the state stays
infra-provisioning, and no service can be created in it (services refuse byocId).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import Final

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.byoc.repository import ByocInfrastructures
from clickplane.byoc.schemas import ByocInfrastructurePatchRequest, ByocInfrastructurePostRequest
from clickplane.kit.cloud_ids import check_account_id
from clickplane.kit.context import AppContext
from clickplane.kit.enums import REGIONS_BY_PROVIDER
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.organizations.lookup import visible
from clickplane.organizations.repository import Organizations
from clickplane.organizations.schemas import ByocConfig
from clickplane.store.models import ByocInfrastructure

CREATED: Final = "byoc_infrastructure_create"
UPDATED: Final = "byoc_infrastructure_update"
DELETED: Final = "byoc_infrastructure_delete"
# Nothing provisions it, so it never becomes infra-ready.
STATE = "infra-provisioning"
VPC_PREFIXES = range(16, 25)


def provider_of(region: str) -> str:
    return next(provider for provider, regions in REGIONS_BY_PROVIDER.items() if region in regions)


def vpc_range(text: str) -> str:
    try:
        network = ipaddress.ip_network(text.strip())
    except ValueError:
        raise BadRequest(f"vpcCidrRange {text!r} is not a CIDR range with no host bits set (such as "
                         "10.0.0.0/16)") from None
    if not isinstance(network, ipaddress.IPv4Network) or not network.is_private \
            or network.prefixlen not in VPC_PREFIXES:
        raise BadRequest(f"vpcCidrRange {text!r} must be a private IPv4 range from /16 to /24 (such as 10.0.0.0/16)")
    return str(network)


def new_infrastructure(organization_id: uuid.UUID, request: ByocInfrastructurePostRequest) -> ByocInfrastructure:
    if request.regionId is None or request.accountId is None:
        missing = [name for name in ("regionId", "accountId") if getattr(request, name) is None]
        raise BadRequest(f"{' and '.join(missing)} required: the region and the cloud account the infrastructure "
                         "is for")
    provider = provider_of(request.regionId)
    zones = request.availabilityZoneSuffixes or []
    if len(set(zones)) != len(zones):
        raise BadRequest("availabilityZoneSuffixes lists a zone twice")
    return ByocInfrastructure(
        id=uuid.uuid4(), organization_id=organization_id, region=request.regionId, provider=provider,
        account_id=check_account_id(provider, request.accountId, "accountId"), availability_zone_suffixes=zones,
        vpc_cidr_range=None if request.vpcCidrRange is None else vpc_range(request.vpcCidrRange),
        display_name=request.displayName or request.accountId, state=STATE)


def to_wire(infrastructure: ByocInfrastructure) -> ByocConfig:
    return ByocConfig.model_validate({
        "id": str(infrastructure.id), "state": infrastructure.state, "accountName": infrastructure.account_id,
        "regionId": infrastructure.region, "cloudProvider": infrastructure.provider,
        "displayName": infrastructure.display_name})


class ByocService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def create(self, caller: Caller, organization_id: uuid.UUID, request: ByocInfrastructurePostRequest
               ) -> ByocConfig:
        with self.context.database.transaction() as session:
            visible(Organizations(session), caller, organization_id, for_update=True)
            infrastructures = ByocInfrastructures(session)
            new = new_infrastructure(organization_id, request)
            if any((known.region, known.account_id) == (new.region, new.account_id)
                   for known in infrastructures.list(organization_id)):
                raise Conflict(f"the organization has BYOC infrastructure for account {new.account_id} in "
                               f"{new.region} already; change it with PATCH .../byocInfrastructure/{{id}}")
            infrastructures.add(new)
            record(Activities(session), caller, CREATED, details={"id": str(new.id), "regionId": new.region,
                                                                   "accountId": new.account_id})
            return to_wire(new)

    def update(self, caller: Caller, organization_id: uuid.UUID, infrastructure_id: uuid.UUID,
               request: ByocInfrastructurePatchRequest) -> ByocConfig:
        with self.context.database.transaction() as session:
            found = self._find(session, caller, organization_id, infrastructure_id)
            if request.displayName is not None and request.displayName != found.display_name:
                found.display_name = request.displayName
                record(Activities(session), caller, UPDATED, details={"id": str(found.id),
                                                                       "displayName": found.display_name})
            return to_wire(found)

    def delete(self, caller: Caller, organization_id: uuid.UUID, infrastructure_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            found = self._find(session, caller, organization_id, infrastructure_id)
            ByocInfrastructures(session).remove(found)
            record(Activities(session), caller, DELETED, details={"id": str(found.id)})

    @staticmethod
    def _find(session: Session, caller: Caller, organization_id: uuid.UUID, infrastructure_id: uuid.UUID
              ) -> ByocInfrastructure:
        visible(Organizations(session), caller, organization_id)
        found = ByocInfrastructures(session).get(organization_id, infrastructure_id)
        if found is None:
            raise NotFound(f"BYOC infrastructure {infrastructure_id} does not exist in organization "
                           f"{organization_id}")
        return found
