"""Services: create, list, get, update, delete, start and stop, scale, reset the password."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok, ok_json
from clickplane.kit.routes import Api
from clickplane.services.schemas import (
    TAG_FILTER,
    InstancePrivateEndpoint,
    PrivateEndpointConfig,
    Service,
    ServicePasswordPatchRequest,
    ServicePasswordPatchResponse,
    ServicePatchRequest,
    ServicePostRequest,
    ServicePostResponse,
    ServiceReplicaScalingPatchRequest,
    ServiceScalingPatchRequest,
    ServiceStatePatchRequest,
    ServicPrivateEndpointePostRequest,
)
from clickplane.services.service import ClickHouseServices

TAG = "Service"
CHANGE_ERRORS = (400, 401, 403, 404, 409, 500)


def add_routes(api: Api, context: AppContext) -> None:
    services = ClickHouseServices(context)

    @api.route("GET", "/v1/organizations/{organizationId}/services",
               "instanceGetList", "List of organization services", TAG,
               "Every service of the organization the caller may view, oldest first; `filter=tag:KEY` or "
               "`filter=tag:KEY=VALUE` (repeatable) keeps those carrying all the given tags.", list[Service],
               parameters=TAG_FILTER)
    async def list_services(caller: Caller, organizationId: UUID, filter: list[str] | None = None) -> Response:
        return ok_json(services.list_json(caller, organizationId, filter or []))

    @api.route("POST", "/v1/organizations/{organizationId}/services",
               "instanceCreate", "Create new service", TAG,
               "Records the service and returns at once in state provisioning, with the password of its "
               "`default` user (shown only here). A ClickHouse server is started for it in the background; "
               "poll the service until its state is running. With `backupId` (a done backup of a service of the "
               "organization, in the same provider and region) it starts holding that backup's databases and "
               "tables.", ServicePostResponse,
               errors=(400, 401, 403, 404, 500), produces=Produces("serviceId", "/result/service/id"))
    async def create_service(caller: Caller, organizationId: UUID,
                             body: JsonBody[ServicePostRequest]) -> Response:
        return ok(services.create(caller, organizationId, body.value))

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceGet", "Get service details", TAG,
               "One service of the organization, with its observed state and endpoints.", Service)
    async def get_service(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        # The guard has checked the organization is the caller's.
        return ok_json(services.get_json(organizationId, serviceId))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceUpdate", "Update service basic details", TAG,
               "Rename the service, change who may connect (applied to the running server within seconds), "
               "its tags, release channel or private endpoints.", Service, errors=CHANGE_ERRORS)
    async def update_service(caller: Caller, organizationId: UUID, serviceId: UUID,
                             body: JsonBody[ServicePatchRequest]) -> Response:
        return ok(services.update(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceDelete", "Delete service", TAG,
               "Deletes a stopped, idle, failed or still-provisioning service: its server is stopped, its "
               "ports freed and its data removed in the background, after which it answers 404.", None,
               errors=(400, 401, 403, 404, 409, 500))
    async def delete_service(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        services.delete(caller, organizationId, serviceId)
        return acknowledged()

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/state",
               "instanceStateUpdate", "Update service state", TAG,
               "start a stopped service, stop a running or idle one (its data is kept), or awake an idle one. "
               "Returns at once with the transitional state; poll the service for the outcome.", Service,
               errors=CHANGE_ERRORS)
    async def update_service_state(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[ServiceStatePatchRequest]) -> Response:
        return ok(services.command(caller, organizationId, serviceId, body.value.command))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/replicaScaling",
               "instanceReplicaScalingUpdate", "Update service auto scaling settings", TAG,
               "Memory per replica (multiples of 4 GiB), replica counts and idling. On the local runtime the "
               "maximum memory becomes the server's query memory limit; replica counts are recorded.", Service,
               errors=CHANGE_ERRORS)
    async def update_replica_scaling(caller: Caller, organizationId: UUID, serviceId: UUID,
                                     body: JsonBody[ServiceReplicaScalingPatchRequest]) -> Response:
        return ok(services.rescale(caller, organizationId, serviceId, body.value))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/scaling",
               "instanceScalingUpdate", "Update service auto scaling settings", TAG,
               "The older form of replicaScaling: total memory of three replicas (multiples of 12 GiB), "
               "replica count and idling.", Service, errors=CHANGE_ERRORS)
    async def update_scaling(caller: Caller, organizationId: UUID, serviceId: UUID,
                             body: JsonBody[ServiceScalingPatchRequest]) -> Response:
        return ok(services.rescale(caller, organizationId, serviceId, body.value))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/password",
               "instancePasswordUpdate", "Update service password", TAG,
               "Generates a new password for the `default` user and returns it once, or sets the one whose "
               "hash is sent (then nothing is returned). The old password stops working within seconds.",
               ServicePasswordPatchResponse, errors=CHANGE_ERRORS)
    async def update_password(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ServicePasswordPatchRequest]) -> Response:
        return ok(services.change_password(caller, organizationId, serviceId, body.value))

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig",
               "instancePrivateEndpointConfigGet", "Get private endpoint configuration", TAG,
               "clickplane has no private link: the endpoint service id is empty and the host is the "
               "service's own.", PrivateEndpointConfig)
    async def get_private_endpoint_config(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(services.private_endpoint_config(caller, organizationId, serviceId))

    @api.route("POST", "/v1/organizations/{organizationId}/services/{serviceId}/privateEndpoint",
               "instancePrivateEndpointCreate", "Create a private endpoint", TAG,
               "Records the private endpoint in the organization (its privateEndpoints) and attaches it to the "
               "service (its privateEndpointIds), in the service's provider and region. The id must have the form "
               "of that provider's (AWS vpce-..., a numeric GCP id, an Azure resource id or GUID); 409 if the "
               "organization has it already. clickplane has no private link: nothing routes through it.",
               InstancePrivateEndpoint, errors=CHANGE_ERRORS)
    async def create_private_endpoint(caller: Caller, organizationId: UUID, serviceId: UUID,
                                      body: JsonBody[ServicPrivateEndpointePostRequest]) -> Response:
        return ok(services.create_private_endpoint(caller, organizationId, serviceId, body.value))
