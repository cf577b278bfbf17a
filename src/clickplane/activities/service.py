"""The activity log: every change is recorded in the transaction that makes it; `ActivityService` reads it
back for the API."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from clickplane.activities import schemas
from clickplane.activities.repository import Activities
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.store.models import Activity


def record(activities: Activities, caller: Caller, activity_type: RecordedActivityType, *,
           service_id: uuid.UUID | None = None, target_key_id: uuid.UUID | None = None,
           key_update_type: str | None = None, details: dict[str, Any] | None = None) -> None:
    """A change made through the API, by the caller's key."""
    activities.add(Activity(
        organization_id=caller.organization_id, type=activity_type, actor_type="api",
        actor_id=str(caller.key_uuid), actor_ip_address=caller.ip_address, user_agent=caller.user_agent,
        service_id=service_id, target_key_id=target_key_id, key_update_type=key_update_type, details=details or {},
    ))


def record_system(activities: Activities, organization_id: uuid.UUID, activity_type: RecordedActivityType, *,
                  service_id: uuid.UUID | None = None, details: dict[str, Any] | None = None) -> None:
    """A change clickplane made on its own (a service went idle, came back, failed)."""
    activities.add(Activity(organization_id=organization_id, type=activity_type, actor_type="system",
                            service_id=service_id, details=details or {}))


PLAIN_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 date-time. A space where the offset's sign should be is a `+` that an unencoded query string
# turned into a space (`...05+02:00` -> `...05 02:00`), so it is read as one.
DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?:Z|(?P<sign>[+ -])\d{2}:\d{2})")
ONE_DAY, ONE_SECOND, ONE_MICROSECOND = timedelta(days=1), timedelta(seconds=1), timedelta(microseconds=1)
# The UTC days a bound may fall on: what a datetime holds, less its last day, after which to_date's exclusive
# end (the instant after the day or second it names) could not be written.
FIRST_DAY, LAST_DAY = date.min, date.max - ONE_DAY


@dataclass(frozen=True)
class Window:
    """Activities created in [start, end); a missing bound is open."""

    start: datetime | None = None
    end: datetime | None = None


def plain_date(text: str) -> date | None:
    """The day `text` names when it is a date written YYYY-MM-DD that the calendar has; else None."""
    try:
        return date.fromisoformat(text) if PLAIN_DATE.fullmatch(text) else None
    except ValueError:
        return None  # the shape is right but the calendar is not (2024-02-30)


def _moment(parameter: str, text: str) -> tuple[datetime, timedelta]:
    """What _parsed reads in `text`, refused naming the parameter unless it falls from FIRST_DAY to LAST_DAY."""
    out_of_range = BadRequest(f"{parameter} {text!r} is out of range: give a date or date-time from {FIRST_DAY} "
                              f"to {LAST_DAY} (in UTC)")
    try:
        moment, span = _parsed(parameter, text)
    except OverflowError:  # in UTC it is before the year 1 or after 9999 (0001-01-01T00:00:00+01:00)
        raise out_of_range from None
    if not FIRST_DAY <= moment.date() <= LAST_DAY:
        raise out_of_range
    return moment, span


def _parsed(parameter: str, text: str) -> tuple[datetime, timedelta]:
    """The instant `text` names, and how long it lasts at the precision it is written in: a plain date
    is the whole day in UTC, a date-time the whole second, or the microsecond when it has a fraction."""
    day = plain_date(text)
    if day is not None:
        return datetime.combine(day, datetime.min.time(), UTC), ONE_DAY
    try:
        upper = text.upper()
        match = DATE_TIME.fullmatch(upper)
        if match:
            if match["sign"] == " ":
                upper = f"{upper[:match.start('sign')]}+{upper[match.end('sign'):]}"
            moment = datetime.fromisoformat(upper).astimezone(UTC)
            return moment, ONE_MICROSECOND if match["fraction"] else ONE_SECOND
    except ValueError:
        pass  # the shape is right but the calendar or the clock is not (2024-02-30T..., 25:00)
    raise BadRequest(f"{parameter} {text!r} is neither a date (YYYY-MM-DD, a whole day in UTC) nor an RFC 3339 "
                     "date-time (such as 2024-01-02T03:04:05Z)")


def instant(parameter: str, text: str) -> datetime:
    """The instant `text` names (a plain date: the start of its day in UTC); raises BadRequest naming `parameter`."""
    return _moment(parameter, text)[0]


def window(from_date: str | None, to_date: str | None) -> Window:
    """The time range `from_date` to `to_date` select, both inclusive; raises BadRequest naming the bad one."""
    start = _moment("from_date", from_date)[0] if from_date is not None else None
    end = None
    if to_date is not None:
        moment, span = _moment("to_date", to_date)
        end = moment + span
    if start is not None and end is not None and start >= end:
        raise BadRequest(f"from_date {from_date} is after to_date {to_date}; give from_date no later than to_date")
    return Window(start, end)


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def to_wire(activity: Activity) -> schemas.Activity:
    return schemas.Activity.model_validate({
        "id": str(activity.id), "createdAt": activity.created_at, "type": activity.type,
        "actorType": activity.actor_type, "actorId": activity.actor_id, "actorIpAddress": activity.actor_ip_address,
        "organizationId": str(activity.organization_id), "serviceId": _text(activity.service_id),
        "userAgent": activity.user_agent, "targetKeyId": _text(activity.target_key_id),
        "keyUpdateType": activity.key_update_type,
    })


class ActivityService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list(self, organization_id: uuid.UUID, from_date: str | None, to_date: str | None
             ) -> list[schemas.Activity]:
        selected = window(from_date, to_date)
        with self.context.database.looking() as session:
            found = Activities(session).list(organization_id, selected.start, selected.end)
            return [to_wire(activity) for activity in found]

    def get(self, organization_id: uuid.UUID, activity_ref: str) -> schemas.Activity:
        try:
            activity_id = uuid.UUID(activity_ref)
        except ValueError:
            activity_id = None
        with self.context.database.looking() as session:
            activity = Activities(session).get(organization_id, activity_id) if activity_id else None
            if activity is None:
                raise NotFound(f"activity {activity_ref} does not exist in organization {organization_id}")
            return to_wire(activity)
