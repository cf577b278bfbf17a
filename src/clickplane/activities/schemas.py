"""Wire models of the organization's activity log."""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field, WithJsonSchema

from clickplane.kit.enums import ActivityType, ActorType, ClickplaneActivityType, KeyUpdateType
from clickplane.kit.schemas import ResponseModel, Timestamp

# Documented as the reference's enumeration plus the types clickplane records beyond it (changes the reference
# has no type for, such as service_update_tags): record() accepts only these, so every answer matches the
# document. The field stays a plain string so that an entry is never hidden or refused when read back.
OpenActivityType = Annotated[str, WithJsonSchema({
    "type": "string", "enum": [*get_args(ActivityType), *get_args(ClickplaneActivityType)]})]


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
