"""Wire models of scaling schedules: the request's entries (the response's models are the service's, as a
service shows its schedule too: services/schemas.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from clickplane.kit import weekly
from clickplane.kit.enums import AutoscalingMode
from clickplane.kit.schemas import PRINTABLE, RequestModel
from clickplane.services.schemas import IdleTimeoutMinutes, ReplicaCount, ReplicaMemoryGb

Weekday = Annotated[int, Field(ge=0, le=6), weekly.INTEGER]


class ScalingScheduleEntryRequest(RequestModel):
    name: Annotated[str, PRINTABLE] = Field(min_length=1, max_length=255, description="A label for the entry.")
    weekdays: list[Weekday] = Field(min_length=1, max_length=7,
                                    description="Weekdays it applies on: 0 = Sunday, 1 = Monday, ..., 6 = Saturday.")
    startHourUtc: Annotated[int, Field(ge=0, le=23), weekly.INTEGER] = Field(
        description="UTC hour (0-23) the entry comes into force, inclusive.")
    endHourUtc: Annotated[int, Field(ge=1, le=24), weekly.INTEGER] = Field(
        description="UTC hour (1-24) it ends, exclusive; 24 is midnight, less than startHourUtc spans midnight.")
    autoscalingMode: AutoscalingMode | None = Field(default=None, description="vertical (the default) or horizontal.")
    minReplicaMemoryGb: ReplicaMemoryGb = Field(
        default=None, description="Minimum memory per replica, GiB; with maxReplicaMemoryGb, or neither (the base's).")
    maxReplicaMemoryGb: ReplicaMemoryGb = Field(
        default=None, description="Maximum memory per replica, GiB: the memory limit of the service's queries.")
    numReplicas: ReplicaCount | None = Field(default=None, description="Replica count of a vertical entry.")
    minReplicas: ReplicaCount | None = Field(default=None, description="Minimum replicas, with maxReplicas.")
    maxReplicas: ReplicaCount | None = Field(default=None, description="Maximum replicas, with minReplicas.")
    idleScaling: bool | None = Field(default=None, description="Whether the service may idle in the window.")
    idleTimeoutMinutes: IdleTimeoutMinutes = None


class ScalingSchedulePostRequest(RequestModel):
    entries: list[ScalingScheduleEntryRequest] = Field(
        max_length=50, description="The schedule's entries, replacing any before; [] clears the schedule.")
