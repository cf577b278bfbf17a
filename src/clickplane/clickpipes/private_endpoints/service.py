"""ClickPipes reverse private endpoints: recorded and reported, as the reference defines them. They are cloud
networking (a VPC endpoint towards the user's source); a local installation has none, so nothing routes through
them and each shows `Failed` (README), rather than a `Ready` that would promise a path that does not exist."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.clickpipes.private_endpoints import schemas
from clickplane.clickpipes.private_endpoints.repository import ReversePrivateEndpoints
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.services.lookup import visible
from clickplane.services.repository import Services
from clickplane.store.models import ReversePrivateEndpoint

STATUS = "Failed"
# The fields each type needs, as the reference pairs them.
REQUIRED_BY_TYPE = {
    "VPC_ENDPOINT_SERVICE": ("vpcEndpointServiceName",),
    "VPC_RESOURCE": ("vpcResourceConfigurationId", "vpcResourceShareArn"),
    "MSK_MULTI_VPC": ("mskClusterArn", "mskAuthentication"),
    "GCP_PSC_SERVICE_ATTACHMENT": ("gcpServiceAttachment",),
}


class ReversePrivateEndpointsApi:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list_all(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                 ) -> list[schemas.ReversePrivateEndpoint]:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            return [to_wire(found) for found in ReversePrivateEndpoints(session).of_service(service_id)]

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, endpoint_id: uuid.UUID
            ) -> schemas.ReversePrivateEndpoint:
        with self.context.database.looking() as session:
            return to_wire(_found(session, caller, organization_id, service_id, endpoint_id))

    def create(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
               request: schemas.CreateReversePrivateEndpoint) -> schemas.ReversePrivateEndpoint:
        spec = request.model_dump(mode="json", exclude_none=True)
        if request.type is None:
            raise BadRequest(f"type: give the endpoint's type, one of {', '.join(REQUIRED_BY_TYPE)}")
        needed = REQUIRED_BY_TYPE[request.type]
        missing = [name for name in needed if not spec.get(name)]
        if missing:
            raise BadRequest(f"{', '.join(missing)}: a {request.type} endpoint needs {' and '.join(needed)}")
        with self.context.database.transaction() as session:
            visible(Services(session), caller, organization_id, service_id)
            endpoint = ReversePrivateEndpoints(session).add(ReversePrivateEndpoint(
                organization_id=organization_id, service_id=service_id, spec=spec, status=STATUS))
            _record(session, caller, "reverse_private_endpoint_create", endpoint)
            return to_wire(endpoint)

    def update(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, endpoint_id: uuid.UUID,
               request: schemas.UpdateReversePrivateEndpoint) -> schemas.ReversePrivateEndpoint:
        with self.context.database.transaction() as session:
            endpoint = _found(session, caller, organization_id, service_id, endpoint_id)
            mappings = request.model_dump(mode="json", exclude_none=True).get("customPrivateDnsMappings", [])
            endpoint.spec = endpoint.spec | {"customPrivateDnsMappings": mappings}
            _record(session, caller, "reverse_private_endpoint_update", endpoint)
            return to_wire(endpoint)

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, endpoint_id: uuid.UUID
               ) -> None:
        with self.context.database.transaction() as session:
            endpoint = _found(session, caller, organization_id, service_id, endpoint_id)
            _record(session, caller, "reverse_private_endpoint_delete", endpoint)
            ReversePrivateEndpoints(session).remove(endpoint)


def _found(session: Session, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
           endpoint_id: uuid.UUID) -> ReversePrivateEndpoint:
    visible(Services(session), caller, organization_id, service_id)
    endpoint = ReversePrivateEndpoints(session).get(service_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"reverse private endpoint {endpoint_id} does not exist in service {service_id}")
    return endpoint


def _record(session: Session, caller: Caller, activity: Any, endpoint: ReversePrivateEndpoint) -> None:
    record(Activities(session), caller, activity, service_id=endpoint.service_id,
           details={"reversePrivateEndpointId": str(endpoint.id)})


def to_wire(endpoint: ReversePrivateEndpoint) -> schemas.ReversePrivateEndpoint:
    return schemas.ReversePrivateEndpoint.model_validate(endpoint.spec | {
        "id": str(endpoint.id), "serviceId": str(endpoint.service_id), "endpointId": "", "dnsNames": [],
        "privateDnsNames": [], "status": endpoint.status, "dnsTargets": [], "privateDnsMappings": [],
        "customPrivateDnsMappings": endpoint.spec.get("customPrivateDnsMappings", []),
    })
