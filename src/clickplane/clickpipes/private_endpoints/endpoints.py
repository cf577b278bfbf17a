"""ClickPipes reverse private endpoints: create, list, get, update, delete (recorded; nothing routes locally)."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.clickpipes.private_endpoints.schemas import (
    CreateReversePrivateEndpoint,
    ReversePrivateEndpoint,
    UpdateReversePrivateEndpoint,
)
from clickplane.clickpipes.private_endpoints.service import ReversePrivateEndpointsApi
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api

TAG = "ClickPipes"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/clickpipesReversePrivateEndpoints"
ONE = PATH + "/{reversePrivateEndpointId}"
LOCAL = (" A local installation has no cloud network: the endpoint is recorded and shown with status Failed, and "
         "nothing routes through it.")


def add_routes(api: Api, context: AppContext) -> None:
    endpoints = ReversePrivateEndpointsApi(context)

    @api.route("GET", PATH, "clickPipeReversePrivateEndpointGetList", "List reverse private endpoints", TAG,
               "The service's ClickPipes reverse private endpoints, oldest first." + LOCAL,
               list[ReversePrivateEndpoint])
    async def list_endpoints(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(endpoints.list_all(caller, organizationId, serviceId))

    @api.route("POST", PATH, "clickPipeReversePrivateEndpointCreate", "Create reverse private endpoint", TAG,
               "Records an endpoint of the type given, with the fields that type needs." + LOCAL,
               ReversePrivateEndpoint, produces=Produces("reversePrivateEndpointId", "/result/id"))
    async def create_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[CreateReversePrivateEndpoint]) -> Response:
        return ok(endpoints.create(caller, organizationId, serviceId, body.value))

    @api.route("GET", ONE, "clickPipeReversePrivateEndpointGet", "Get reverse private endpoint", TAG,
               "One reverse private endpoint." + LOCAL, ReversePrivateEndpoint)
    async def get_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                           reversePrivateEndpointId: UUID) -> Response:
        return ok(endpoints.get(caller, organizationId, serviceId, reversePrivateEndpointId))

    @api.route("PATCH", ONE, "clickPipeReversePrivateEndpointUpdate", "Update reverse private endpoint", TAG,
               "Replaces its custom private DNS mappings (`[]` clears them).", ReversePrivateEndpoint)
    async def update_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID, reversePrivateEndpointId: UUID,
                              body: JsonBody[UpdateReversePrivateEndpoint]) -> Response:
        return ok(endpoints.update(caller, organizationId, serviceId, reversePrivateEndpointId, body.value))

    @api.route("DELETE", ONE, "clickPipeReversePrivateEndpointDelete", "Delete reverse private endpoint", TAG,
               "Removes the record.", None)
    async def delete_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                              reversePrivateEndpointId: UUID) -> Response:
        endpoints.delete(caller, organizationId, serviceId, reversePrivateEndpointId)
        return acknowledged()
