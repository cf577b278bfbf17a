"""A service's query endpoint: the API keys (of its organization, by id) that may run SQL on it through the
Query API, the role their queries run with, and the origins browsers may call it from. `QueryEndpointService`'s
methods are the API's use cases; each upsert and delete is recorded as an activity."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.keys.repository import ApiKeys
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.query_endpoints.repository import QueryEndpoints
from clickplane.query_endpoints.schemas import InstanceServiceQueryApiEndpointsPostRequest
from clickplane.services.lookup import visible
from clickplane.services.repository import Services
from clickplane.services.schemas import ServiceQueryAPIEndpoint
from clickplane.store.models import QueryEndpoint


def to_wire(endpoint: QueryEndpoint) -> ServiceQueryAPIEndpoint:
    return ServiceQueryAPIEndpoint.model_validate({
        "id": str(endpoint.id), "openApiKeys": endpoint.open_api_keys, "roles": endpoint.roles,
        "allowedOrigins": endpoint.allowed_origins})


def _key_of(keys: ApiKeys, organization_id: uuid.UUID, key_ref: str) -> str:
    """The id of a key of the organization, named by its id."""
    try:
        key = keys.get(organization_id, uuid.UUID(key_ref))
    except ValueError:
        key = None
    if key is None:
        raise BadRequest(f"openApiKeys: {key_ref!r} is not the id of an API key of this organization")
    return str(key.id)


def endpoint_activity(session: Session, caller: Caller, activity_type: RecordedActivityType,
                      endpoint: QueryEndpoint) -> None:
    record(Activities(session), caller, activity_type, service_id=endpoint.service_id,
           details={"openApiKeys": endpoint.open_api_keys, "roles": endpoint.roles})


def allowed_origins(endpoint: QueryEndpoint) -> list[str]:
    """The origins whose pages may run SQL through the Query API: the reference's comma-separated list."""
    return [origin.strip() for origin in endpoint.allowed_origins.split(",") if origin.strip()]


class QueryEndpointService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> ServiceQueryAPIEndpoint:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
            endpoint = QueryEndpoints(session).get(service_id)
            if endpoint is None:
                raise NotFound(f"service {service_id} has no query endpoint; create one with POST")
            return to_wire(endpoint)

    def upsert(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
               request: InstanceServiceQueryApiEndpointsPostRequest) -> ServiceQueryAPIEndpoint:
        with self.context.database.transaction() as session:
            visible(Services(session), caller, organization_id, service_id)
            keys = [_key_of(ApiKeys(session), organization_id, key_ref) for key_ref in request.openApiKeys or []]
            existing = QueryEndpoints(session).get(service_id)
            endpoint = QueryEndpoints(session).put(QueryEndpoint(
                service_id=service_id, id=existing.id if existing else uuid.uuid4(),
                open_api_keys=list(dict.fromkeys(keys)), roles=request.roles or ["sql_console_admin"],
                allowed_origins=request.allowedOrigins or ""))
            endpoint_activity(session, caller, "service_update_query_endpoint", endpoint)
            return to_wire(endpoint)

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            visible(Services(session), caller, organization_id, service_id)
            endpoint = QueryEndpoints(session).get(service_id)
            if endpoint is None:
                raise NotFound(f"service {service_id} has no query endpoint")
            endpoint_activity(session, caller, "service_delete_query_endpoint", endpoint)
            QueryEndpoints(session).delete(endpoint)
