"""A service's query endpoint: which API keys may run SQL on it through the Query API, and how."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.query_endpoints.schemas import InstanceServiceQueryApiEndpointsPostRequest
from clickplane.query_endpoints.service import QueryEndpointService
from clickplane.services.schemas import ServiceQueryAPIEndpoint

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/serviceQueryEndpoint"


def add_routes(api: Api, context: AppContext) -> None:
    endpoints = QueryEndpointService(context)

    @api.route("GET", PATH, "instanceQueryEndpointGet", "Get the service query endpoint for a given instance", TAG,
               "The keys, roles and origins allowed to run SQL through the Query API; 404 when the service has "
               "none.", ServiceQueryAPIEndpoint)
    async def get_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(endpoints.get(caller, organizationId, serviceId))

    @api.route("POST", PATH, "instanceQueryEndpointUpsert", "Upsert the service query endpoint for a given instance",
               TAG, "Creates or replaces the query endpoint: the API keys (by id) that may run SQL through the "
               "Query API, the role their queries run with, and the origins browsers may call it from.",
               ServiceQueryAPIEndpoint)
    async def upsert_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                                    body: JsonBody[InstanceServiceQueryApiEndpointsPostRequest]) -> Response:
        return ok(endpoints.upsert(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", PATH, "instanceQueryEndpointDelete", "Delete the service query endpoint for a given instance",
               TAG, "Removes the query endpoint; no key may run SQL through the Query API until one is created.",
               None)
    async def delete_query_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        endpoints.delete(caller, organizationId, serviceId)
        return acknowledged()
