"""Activities: the organization's audit log, listed by time range or read one by one."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.activities.schemas import Activity
from clickplane.activities.service import ActivityService
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api

TAG = "Organization"
PATH = "/v1/organizations/{organizationId}/activities"


def add_routes(api: Api, context: AppContext) -> None:
    activities = ActivityService(context)

    @api.route("GET", PATH, "activityGetList", "List of organization activities", TAG,
               "Every change made to the organization and its services, by API keys and by clickplane itself, "
               "newest first. `from_date` and `to_date` narrow it to a time range, both ends included: each is "
               "a date (YYYY-MM-DD, the whole day in UTC) or an RFC 3339 date-time (to the second, or to the "
               "fraction given).", list[Activity], produces=Produces("activityId", "/result/0/id"))
    async def list_activities(caller: Caller, organizationId: UUID, from_date: str | None = None,
                              to_date: str | None = None) -> Response:
        return ok(activities.list(organizationId, from_date, to_date))

    @api.route("GET", PATH + "/{activityId}", "activityGet", "Organization activity", TAG,
               "One activity of the organization, by its id.", Activity)
    async def get_activity(caller: Caller, organizationId: UUID, activityId: str) -> Response:
        return ok(activities.get(organizationId, activityId))
