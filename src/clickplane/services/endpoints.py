"""Services: create, list, get, update, delete, start and stop, scale, reset the password."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from blacksheep import Response
from pydantic_core import to_json
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.backups import service as backup_rules
from clickplane.backups.repository import Backups
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok, ok_json
from clickplane.kit.routes import Api
from clickplane.organizations import service as organization_rules
from clickplane.organizations.repository import Organizations
from clickplane.quotas import service as quotas
from clickplane.services import lifecycle
from clickplane.services import service as rules
from clickplane.services.repository import ServiceRows, Services
from clickplane.services.schemas import (
    CurrentScaling,
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
)
from clickplane.store import models

TAG = "Service"
CHANGE_ERRORS = (400, 401, 403, 404, 409, 500)
# The `filter` query parameter of the lists that take tag filters, as the document gives it.
TAG_FILTER = {"filter": {"items": {"type": "string", "pattern": rules.TAG_FILTER_PATTERN}}}


def _current_scaling(service: models.Service) -> CurrentScaling:
    replicas_low = service.min_replicas or service.num_replicas
    return CurrentScaling(
        effectiveAutoscalingMode=service.autoscaling_mode,  # type: ignore[arg-type]
        effectiveMinReplicaMemoryGb=service.min_replica_memory_gb,
        effectiveMaxReplicaMemoryGb=service.max_replica_memory_gb,
        effectiveMinReplicas=replicas_low, effectiveMaxReplicas=service.max_replicas or service.num_replicas,
        effectiveIdleScaling=service.idle_scaling, effectiveIdleTimeoutMinutes=service.idle_timeout_minutes,
    )


@dataclass(frozen=True)
class RenderedService:
    """A service of a list as JSON, with what callers' views of the list are chosen by."""

    id: UUID
    tags: list[dict[str, str]]
    json: bytes


def to_wire(service: models.Service) -> Service:
    horizontal = service.autoscaling_mode == "horizontal"
    options = service.options
    return Service.model_validate({
        "id": service.id, "name": service.name, "provider": service.provider, "region": service.region,
        "state": service.state, "clickhouseVersion": service.clickhouse_version,
        "endpoints": service.endpoints, "tier": options.get("tier"),
        "minReplicaMemoryGb": service.min_replica_memory_gb, "maxReplicaMemoryGb": service.max_replica_memory_gb,
        "numReplicas": None if horizontal else service.num_replicas,
        "minReplicas": service.min_replicas if horizontal else None,
        "maxReplicas": service.max_replicas if horizontal else None,
        "replicaMemoryGb": service.max_replica_memory_gb if horizontal else None,
        "autoscalingMode": service.autoscaling_mode, "idleScaling": service.idle_scaling,
        "idleTimeoutMinutes": service.idle_timeout_minutes, "ipAccessList": service.ip_access_list,
        "createdAt": service.created_at, "privateEndpointIds": options.get("privateEndpointIds", []),
        "dataWarehouseId": str(service.data_warehouse_id), "isPrimary": service.is_primary,
        "isReadonly": service.is_readonly, "releaseChannel": options.get("releaseChannel"),
        "profile": options.get("profile"), "complianceType": options.get("complianceType"),
        "hasTransparentDataEncryption": False, "enableCoreDumps": options.get("enableCoreDumps"),
        "tags": service.tags, "currentScaling": _current_scaling(service),
    })


def add_routes(api: Api, context: AppContext) -> None:

    def record_changes(session: Session, caller: Caller, service: models.Service, changes: list[RecordedActivityType],
                       details: dict[str, Any]) -> None:
        for activity_type in changes:
            record(Activities(session), caller, activity_type, service_id=service.id, details=details)

    @api.route("GET", "/v1/organizations/{organizationId}/services",
               "instanceGetList", "List of organization services", TAG,
               "Every service of the organization the caller may view, oldest first; `filter=tag:KEY` or "
               "`filter=tag:KEY=VALUE` (repeatable) keeps those carrying all the given tags.", list[Service],
               parameters=TAG_FILTER)
    async def list_services(caller: Caller, organizationId: UUID, filter: list[str] | None = None) -> Response:
        wanted = rules.tag_filters(filter or [])
        # The guard has checked the organization is the caller's; what each caller sees of it is chosen here.
        listed = context.read_cache.get(("services", organizationId), lambda: rendered_services(organizationId))
        return ok_json(b"[" + b",".join(
            service.json for service in listed
            if permissions.allows(caller.policies, permissions.SERVICE_VIEW, f"instance/{service.id}")
            and rules.has_tags(service.tags, wanted)) + b"]")

    def rendered_services(organization_id: UUID) -> list[RenderedService]:
        with context.database.reading() as connection:
            rows = ServiceRows(connection).list(organization_id)
        return [RenderedService(row.id, row.tags, to_json(to_wire(cast(models.Service, row)), exclude_none=True))
                for row in rows]

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
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId, for_update=True)
            services = Services(session)
            restore_from = backup_rules.restore_source(body.value, organizationId, Backups(session), services)
            new = rules.plan_new_service(body.value, organizationId, services, restore_from)
            quotas.check_new_service(quotas.Limits.of(context.settings), services.list(organizationId), new.service)
            services.add(new.service)
            record(Activities(session), caller, "service_create", service_id=new.service.id,
                   details={"name": new.service.name})
            if restore_from is not None:
                record(Activities(session), caller, "service_restore_backup", service_id=new.service.id,
                       details={"backupId": str(body.value.backupId)})
            response = ok(ServicePostResponse(service=to_wire(new.service), password=new.password))
        context.reconcile_now.set()
        return response

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceGet", "Get service details", TAG,
               "One service of the organization, with its observed state and endpoints.", Service)
    async def get_service(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        rendered = context.read_cache.get(("service", serviceId), lambda: rendered_service(organizationId, serviceId))
        if rendered is None:  # the guard has checked the organization is the caller's
            raise rules.not_found(organizationId, serviceId)
        return ok_json(rendered)

    def rendered_service(organization_id: UUID, service_id: UUID) -> bytes | None:
        with context.database.reading() as connection:
            row = ServiceRows(connection).get(organization_id, service_id)
        return None if row is None else to_json(to_wire(cast(models.Service, row)), exclude_none=True)


    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceUpdate", "Update service basic details", TAG,
               "Rename the service, change who may connect (applied to the running server within seconds), "
               "its tags, release channel or private endpoints.", Service, errors=CHANGE_ERRORS)
    async def update_service(caller: Caller, organizationId: UUID, serviceId: UUID,
                             body: JsonBody[ServicePatchRequest]) -> Response:
        with context.database.transaction() as session:
            service = rules.changeable(Services(session), caller, organizationId, serviceId)
            changes = rules.apply_patch(service, body.value)
            record_changes(session, caller, service, changes, body.value.model_dump(exclude_none=True, mode="json"))
            response = ok(to_wire(service))
        context.reconcile_now.set()
        return response

    @api.route("DELETE", "/v1/organizations/{organizationId}/services/{serviceId}",
               "instanceDelete", "Delete service", TAG,
               "Deletes a stopped, idle, failed or still-provisioning service: its server is stopped, its "
               "ports freed and its data removed in the background, after which it answers 404.", None,
               errors=(400, 401, 403, 404, 409, 500))
    async def delete_service(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service = rules.visible(Services(session), caller, organizationId, serviceId, for_update=True)
            transition = lifecycle.delete(service.state)
            if transition:
                service.state, service.desired_state = transition.state, transition.desired_state
                record_changes(session, caller, service, ["service_delete"], {"name": service.name})
        context.reconcile_now.set()
        return acknowledged()

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/state",
               "instanceStateUpdate", "Update service state", TAG,
               "start a stopped service, stop a running or idle one (its data is kept), or awake an idle one. "
               "Returns at once with the transitional state; poll the service for the outcome.", Service,
               errors=CHANGE_ERRORS)
    async def update_service_state(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[ServiceStatePatchRequest]) -> Response:
        with context.database.transaction() as session:
            service = rules.changeable(Services(session), caller, organizationId, serviceId)
            transition = lifecycle.apply_command(service.state, body.value.command)
            if transition:
                service.state, service.desired_state = transition.state, transition.desired_state
                service.state_reason = None
                record_changes(session, caller, service, [lifecycle.COMMAND_ACTIVITIES[body.value.command]], {})
            response = ok(to_wire(service))
        context.reconcile_now.set()
        return response

    async def rescale(caller: Caller, organization_id: UUID, service_id: UUID,
                      resize: Callable[[models.Service], list[RecordedActivityType]],
                      details: dict[str, Any]) -> Response:
        with context.database.transaction() as session:
            service = rules.changeable(Services(session), caller, organization_id, service_id)
            replicas_before = quotas.replicas(service)
            changes = resize(service)
            quotas.check_resized(quotas.Limits.of(context.settings), Services(session).list(organization_id), service,
                                 replicas_before)
            record_changes(session, caller, service, changes, details)
            response = ok(to_wire(service))
        context.reconcile_now.set()
        return response

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/replicaScaling",
               "instanceReplicaScalingUpdate", "Update service auto scaling settings", TAG,
               "Memory per replica (multiples of 4 GiB), replica counts and idling. On the local runtime the "
               "maximum memory becomes the server's query memory limit; replica counts are recorded.", Service,
               errors=CHANGE_ERRORS)
    async def update_replica_scaling(caller: Caller, organizationId: UUID, serviceId: UUID,
                                     body: JsonBody[ServiceReplicaScalingPatchRequest]) -> Response:
        request = body.value
        return await rescale(caller, organizationId, serviceId,
                             lambda service: rules.apply_replica_scaling(service, request),
                             request.model_dump(exclude_none=True))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/scaling",
               "instanceScalingUpdate", "Update service auto scaling settings", TAG,
               "The older form of replicaScaling: total memory of three replicas (multiples of 12 GiB), "
               "replica count and idling.", Service, errors=CHANGE_ERRORS)
    async def update_scaling(caller: Caller, organizationId: UUID, serviceId: UUID,
                             body: JsonBody[ServiceScalingPatchRequest]) -> Response:
        request = body.value
        return await rescale(caller, organizationId, serviceId,
                             lambda service: rules.apply_legacy_scaling(service, request),
                             request.model_dump(exclude_none=True))

    @api.route("PATCH", "/v1/organizations/{organizationId}/services/{serviceId}/password",
               "instancePasswordUpdate", "Update service password", TAG,
               "Generates a new password for the `default` user and returns it once, or sets the one whose "
               "hash is sent (then nothing is returned). The old password stops working within seconds.",
               ServicePasswordPatchResponse, errors=CHANGE_ERRORS)
    async def update_password(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ServicePasswordPatchRequest]) -> Response:
        with context.database.transaction() as session:
            service = rules.changeable(Services(session), caller, organizationId, serviceId)
            password = rules.change_password(service, body.value)
            record_changes(session, caller, service, ["service_update_password"], {})
        context.reconcile_now.set()
        return ok(ServicePasswordPatchResponse(password=password))

    @api.route("GET", "/v1/organizations/{organizationId}/services/{serviceId}/privateEndpointConfig",
               "instancePrivateEndpointConfigGet", "Get private endpoint configuration", TAG,
               "clickplane has no private link: the endpoint service id is empty and the host is the "
               "service's own.", PrivateEndpointConfig)
    async def get_private_endpoint_config(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            rules.visible(Services(session), caller, organizationId, serviceId)
        host = context.settings.service_advertised_host or context.settings.service_listen_host
        return ok(PrivateEndpointConfig(endpointServiceId="", privateDnsHostname=host))
