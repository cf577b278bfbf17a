"""Services: create, list, get."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response, Router

from clickplane.api.binders import JsonBody
from clickplane.api.context import AppContext
from clickplane.api.docs import CloudApiDocs
from clickplane.api.envelope import ok
from clickplane.api.schemas.service import (
    CurrentScaling,
    Service,
    ServicePostRequest,
    ServicePostResponse,
)
from clickplane.domain import organizations as organization_rules
from clickplane.domain import services as rules
from clickplane.domain.activity import record
from clickplane.domain.auth import Caller
from clickplane.domain.errors import NotFound
from clickplane.store import models
from clickplane.store.repositories import Activities, Organizations, Services

TAG = "Service"


def _current_scaling(service: models.Service) -> CurrentScaling:
    replicas_low = service.min_replicas or service.num_replicas
    return CurrentScaling(
        effectiveAutoscalingMode=service.autoscaling_mode,  # type: ignore[arg-type]
        effectiveMinReplicaMemoryGb=service.min_replica_memory_gb,
        effectiveMaxReplicaMemoryGb=service.max_replica_memory_gb,
        effectiveMinReplicas=replicas_low, effectiveMaxReplicas=service.max_replicas or service.num_replicas,
        effectiveIdleScaling=service.idle_scaling, effectiveIdleTimeoutMinutes=service.idle_timeout_minutes,
    )


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


def add_routes(router: Router, context: AppContext, docs: CloudApiDocs) -> None:

    def visible_service(services: Services, caller: Caller, organization_id: UUID, service_id: UUID
                        ) -> models.Service:
        service = services.get(organization_id, service_id) if organization_id == caller.organization_id else None
        if service is None:
            raise NotFound(f"service {service_id} does not exist in organization {organization_id} "
                           "or is not visible to this API key")
        return service

    @docs.operation("instanceGetList", "List of organization services", TAG,
                    "Every service of the organization, oldest first.", list[Service])
    @router.get("/v1/organizations/{organizationId}/services")
    async def list_services(caller: Caller, organizationId: UUID) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            return ok([to_wire(service) for service in Services(session).list(organizationId)])

    @docs.operation("instanceCreate", "Create new service", TAG,
                    "Records the service and returns at once in state provisioning, with the password of its "
                    "`default` user (shown only here). A ClickHouse server is started for it in the background; "
                    "poll the service until its state is running.", ServicePostResponse,
                    errors=(400, 401, 403, 404, 413, 500))
    @router.post("/v1/organizations/{organizationId}/services")
    async def create_service(caller: Caller, organizationId: UUID,
                             body: JsonBody[ServicePostRequest]) -> Response:
        with context.database.transaction() as session:
            organization_rules.visible(Organizations(session), caller, organizationId)
            services = Services(session)
            new = rules.plan_new_service(body.value, organizationId, services)
            services.add(new.service)
            record(Activities(session), caller, "service_create", service_id=new.service.id,
                   details={"name": new.service.name})
            response = ok(ServicePostResponse(service=to_wire(new.service), password=new.password))
        context.reconcile_now.set()
        return response

    @docs.operation("instanceGet", "Get service details", TAG,
                    "One service of the organization, with its observed state and endpoints.", Service)
    @router.get("/v1/organizations/{organizationId}/services/{serviceId}")
    async def get_service(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            return ok(to_wire(visible_service(Services(session), caller, organizationId, serviceId)))

