"""A service's replica-aware routing switches: clickhousectl's `service replica-aware-routing` (absent from the
reference document)."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.replica_routing.schemas import ReplicaAwareRouting, ReplicaAwareRoutingPatchRequest
from clickplane.replica_routing.service import ReplicaRoutingService

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/replicaAwareRouting"
RECORDED = ("clickplane records the switches and routes nothing by them: each replica's endpoints are its own ports. "
            "Absent from the reference; clickhousectl's `service replica-aware-routing`.")


def add_routes(api: Api, context: AppContext) -> None:
    routing = ReplicaRoutingService(context)

    @api.route("GET", PATH, "replicaAwareRoutingGet", "Get replica-aware routing", TAG,
               f"Whether HTTP and native connections are routed to the replica they name (both off by default). "
               f"{RECORDED}", ReplicaAwareRouting)
    async def get_routing(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(routing.get(caller, organizationId, serviceId))

    @api.route("PATCH", PATH, "replicaAwareRoutingUpdate", "Update replica-aware routing", TAG,
               f"Turns either switch on or off; one left out is kept. {RECORDED}", ReplicaAwareRouting,
               errors=(400, 401, 404, 409, 500))
    async def update_routing(caller: Caller, organizationId: UUID, serviceId: UUID,
                             body: JsonBody[ReplicaAwareRoutingPatchRequest]) -> Response:
        return ok(routing.update(caller, organizationId, serviceId, body.value))
