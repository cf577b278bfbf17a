"""A service's query endpoint: which API keys may run SQL on it through the Query API, and how."""

from __future__ import annotations

import uuid
from uuid import UUID

from blacksheep import Response
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.keys.repository import ApiKeys
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.kit.routes import Api
from clickplane.query_endpoints.repository import QueryEndpoints
from clickplane.query_endpoints.schemas import InstanceServiceQueryApiEndpointsPostRequest
from clickplane.services import service as service_rules
from clickplane.services.repository import Services
from clickplane.services.schemas import ServiceQueryAPIEndpoint
from clickplane.store.models import QueryEndpoint

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint"


def to_wire(endpoint: QueryEndpoint) -> ServiceQueryAPIEndpoint:
    return ServiceQueryAPIEndpoint.model_validate({
        "id": str(endpoint.id), "openApiKeys": endpoint.open_api_keys, "roles": endpoint.roles,
        "allowedOrigins": endpoint.allowed_origins})


def add_routes(api: Api, context: AppContext) -> None:
    @api.route("GET", PATH, "instanceQueryEndpointGet", "Get the service query endpoint for a given instance", TAG,
               "The keys, roles and origins allowed to run SQL through the Query API; 404 when the service has "
               "none.", ServiceQueryAPIEndpoint)
    async def get_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            endpoint = QueryEndpoints(session).get(serviceId)
            if endpoint is None:
                raise NotFound(f"service {serviceId} has no query endpoint; create one with POST")
            return ok(to_wire(endpoint))

    @api.route("POST", PATH, "instanceQueryEndpointUpsert", "Upsert the service query endpoint for a given instance",
               TAG, "Creates or replaces the query endpoint: the API keys (by id) that may run SQL through the "
               "Query API, the role their queries run with, and the origins browsers may call it from.",
               ServiceQueryAPIEndpoint)
    async def upsert_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                                    body: JsonBody[InstanceServiceQueryApiEndpointsPostRequest]) -> Response:
        request = body.value
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            keys = [_key_of(ApiKeys(session), organizationId, key_ref) for key_ref in request.openApiKeys or []]
            existing = QueryEndpoints(session).get(serviceId)
            endpoint = QueryEndpoints(session).put(QueryEndpoint(
                service_id=serviceId, id=existing.id if existing else uuid.uuid4(),
                open_api_keys=list(dict.fromkeys(keys)), roles=request.roles or ["sql_console_admin"],
                allowed_origins=request.allowedOrigins or ""))
            endpoint_activity(session, caller, "service_update_query_endpoint", endpoint)
            return ok(to_wire(endpoint))

    @api.route("DELETE", PATH, "instanceQueryEndpointDelete", "Delete the service query endpoint for a given instance",
               TAG, "Removes the query endpoint; no key may run SQL through the Query API until one is created.",
               None)
    async def delete_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            endpoint = QueryEndpoints(session).get(serviceId)
            if endpoint is None:
                raise NotFound(f"service {serviceId} has no query endpoint")
            endpoint_activity(session, caller, "service_delete_query_endpoint", endpoint)
            QueryEndpoints(session).delete(endpoint)
        return acknowledged()


def endpoint_activity(session: Session, caller: Caller, activity_type: RecordedActivityType,
                      endpoint: QueryEndpoint) -> None:
    record(Activities(session), caller, activity_type, service_id=endpoint.service_id,
           details={"openApiKeys": endpoint.open_api_keys, "roles": endpoint.roles})


def _key_of(keys: ApiKeys, organization_id: UUID, key_ref: str) -> str:
    """The id of a key of the organization, named by its id."""
    try:
        key = keys.get(organization_id, uuid.UUID(key_ref))
    except ValueError:
        key = None
    if key is None:
        raise BadRequest(f"openApiKeys: {key_ref!r} is not the id of an API key of this organization")
    return str(key.id)
