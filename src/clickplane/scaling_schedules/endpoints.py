"""A service's scaling schedule: get, create or replace, delete."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.scaling_schedules.schemas import ScalingSchedulePostRequest
from clickplane.scaling_schedules.service import ScalingScheduleService
from clickplane.services.schemas import ScalingSchedule

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/scalingSchedule"
ERRORS = (400, 401, 404, 409, 500)


def add_routes(api: Api, context: AppContext) -> None:
    schedules = ScalingScheduleService(context)

    @api.route("GET", PATH, "scalingScheduleGet", "Get service autoscaling schedule", TAG,
               "The service's schedule: its entries (weekly UTC windows, 0 = Sunday), the base configuration in "
               "force outside them, and the entry in force now, if any. 404 when no schedule is set.",
               ScalingSchedule)
    async def get_schedule(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(schedules.get(caller, organizationId, serviceId))

    @api.route("POST", PATH, "scalingScheduleUpsert", "Create or replace service autoscaling schedule", TAG,
               "Replaces the schedule. Entries may not overlap. The reconciler applies the entry in force within "
               "seconds, as a manual scaling would (the memory limit of the service's queries, its replicas, its "
               "idling), recorded as activities, and puts the base configuration back when the entry's window "
               "ends. `entries: []` clears the schedule.", ScalingSchedule, errors=ERRORS)
    async def upsert_schedule(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ScalingSchedulePostRequest]) -> Response:
        return ok(schedules.upsert(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", PATH, "scalingScheduleDelete", "Delete service scheduled scaling", TAG,
               "Removes the schedule, putting the base configuration back first if an entry is in force. 404 "
               "when no schedule is set.", None, errors=ERRORS)
    async def delete_schedule(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        schedules.delete(caller, organizationId, serviceId)
        return acknowledged()
