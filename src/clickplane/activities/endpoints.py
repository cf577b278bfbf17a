"""Activities: the organization's audit log, listed by time range or read one by one."""

from __future__ import annotations

import uuid
from uuid import UUID

from blacksheep import Response

from clickplane.activities.repository import Activities
from clickplane.activities.schemas import Activity
from clickplane.activities.service import window
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import ok
from clickplane.kit.errors import NotFound
from clickplane.kit.routes import Api
from clickplane.store import models

TAG = "Organization"
PATH = "/v1/organizations/{organizationId}/activities"


def _text(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def to_wire(activity: models.Activity) -> Activity:
    return Activity.model_validate({
        "id": str(activity.id), "createdAt": activity.created_at, "type": activity.type,
        "actorType": activity.actor_type, "actorId": activity.actor_id, "actorIpAddress": activity.actor_ip_address,
        "organizationId": str(activity.organization_id), "serviceId": _text(activity.service_id),
        "userAgent": activity.user_agent, "targetKeyId": _text(activity.target_key_id),
        "keyUpdateType": activity.key_update_type,
    })


def add_routes(api: Api, context: AppContext) -> None:

    @api.route("GET", PATH, "activityGetList", "List of organization activities", TAG,
               "Every change made to the organization and its services, by API keys and by clickplane itself, "
               "newest first. `from_date` and `to_date` narrow it to a time range, both ends included: each is "
               "a date (YYYY-MM-DD, the whole day in UTC) or an RFC 3339 date-time (to the second, or to the "
               "fraction given).", list[Activity], produces=Produces("activityId", "/result/0/id"))
    async def list_activities(caller: Caller, organizationId: UUID, from_date: str | None = None,
                              to_date: str | None = None) -> Response:
        selected = window(from_date, to_date)
        with context.database.transaction() as session:
            found = Activities(session).list(organizationId, selected.start, selected.end)
            return ok([to_wire(activity) for activity in found])

    @api.route("GET", PATH + "/{activityId}", "activityGet", "Organization activity", TAG,
               "One activity of the organization, by its id.", Activity)
    async def get_activity(caller: Caller, organizationId: UUID, activityId: str) -> Response:
        try:
            activity_id = uuid.UUID(activityId)
        except ValueError:
            activity_id = None
        with context.database.transaction() as session:
            activity = Activities(session).get(organizationId, activity_id) if activity_id else None
            if activity is None:
                raise NotFound(f"activity {activityId} does not exist in organization {organizationId}")
            return ok(to_wire(activity))
