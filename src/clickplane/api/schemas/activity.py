"""Wire models of the organization's activity log."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field, WithJsonSchema

from clickplane.api.schemas.common import ResponseModel, Timestamp
from clickplane.domain.enums import ActivityType, ActorType, KeyUpdateType

# Documented as the reference's enumeration. A type recorded beyond it (clickplane also logs changes the
# reference has no type for, such as service_update_tags) is sent as recorded: Cloud API clients treat
# enumerations as open, and an audit log must not hide an entry or fail to render it.
OpenActivityType = Annotated[str, WithJsonSchema({"type": "string", "enum": list(get_args(ActivityType))})]


class Activity(ResponseModel):
    id: str = Field(description="Activity id.")
    createdAt: Timestamp = Field(description="When the change was made (RFC 3339, UTC).")
    type: OpenActivityType = Field(description="What changed.")
    actorType: ActorType = Field(description="Who made the change: api (an API key) or system (clickplane itself).")
    actorId: str | None = Field(default=None, description="Id of the API key that made the change; absent for system.")
    actorDetails: str | None = Field(default=None, description="More about the actor, when known.")
    actorIpAddress: str | None = Field(default=None, description="Address the API request came from.")
    organizationId: str = Field(description="Organization the activity belongs to.")
    serviceId: str | None = Field(default=None, description="Service the change was made to, if any.")
    userAgent: str | None = Field(default=None, description="User-Agent header of the API request.")
    targetKeyId: str | None = Field(default=None, description="For key activities: the API key that was changed.")
    keyUpdateType: KeyUpdateType | None = Field(default=None, description="For openapi_key_update: what changed.")
