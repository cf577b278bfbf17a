"""How a service's scaling shows with its scaling schedule (scaling_schedules/ owns the schedules' rules): while
an entry is in force the service's own scaling fields hold the entry's (what runs), and the base configuration,
the scaling from before the entry with what manual scalings changed since, is kept on the schedule. The service
shows the base at its top level and what runs in `currentScaling`, as the reference's Service does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from clickplane.kit import weekly
from clickplane.services import schemas
from clickplane.store.models import ScalingSchedule, Service

REPLICA_FIELDS = ("numReplicas", "minReplicas", "maxReplicas")
REPLICA_SHAPE = ("autoscalingMode", *REPLICA_FIELDS)


def entry_in_force(entries: Sequence[dict[str, Any]], moment: datetime) -> dict[str, Any] | None:
    """The entry whose window holds `moment`, if any (entries do not overlap)."""
    return next((entry for entry in entries
                 if weekly.covers(entry["weekdays"], entry["startHourUtc"], entry["endHourUtc"], moment)), None)


def base_of(service: Service) -> dict[str, Any]:
    """The service's scaling now, as the fields of a replica scaling request."""
    horizontal = service.autoscaling_mode == "horizontal"
    return {"autoscalingMode": service.autoscaling_mode, "minReplicaMemoryGb": service.min_replica_memory_gb,
            "maxReplicaMemoryGb": service.max_replica_memory_gb,
            **({"minReplicas": service.min_replicas, "maxReplicas": service.max_replicas} if horizontal
               else {"numReplicas": service.num_replicas}),
            "idleScaling": service.idle_scaling, "idleTimeoutMinutes": service.idle_timeout_minutes}


def with_manual_changes(base: dict[str, Any], applied: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The base with what manual scalings changed since an entry was applied (the service's scaling `applied`
    then, `now` since): each field they changed, and the replicas with the mode as a whole if they changed any."""
    changed = {key for key in applied.keys() | now.keys() if applied.get(key) != now.get(key)}
    if changed & set(REPLICA_SHAPE):
        base = {key: value for key, value in base.items() if key not in REPLICA_SHAPE}
        changed |= set(REPLICA_SHAPE)
    return {**base, **{key: now[key] for key in changed if key in now}}


def current_base(schedule: ScalingSchedule, service: Service) -> dict[str, Any]:
    """The base configuration: the service's scaling when no entry is in force; else the one kept from before
    the entry, with what manual scalings changed since."""
    if schedule.active_entry_id is None or schedule.base_config is None:
        return base_of(service)
    if schedule.applied_config is None:
        return dict(schedule.base_config)
    return with_manual_changes(schedule.base_config, schedule.applied_config, base_of(service))


def schedule_to_wire(schedule: ScalingSchedule, service: Service, moment: datetime | None = None
                     ) -> schemas.ScalingSchedule:
    """The schedule as the API shows it: the entry in force the one applied, or with `moment` (entries just
    replaced, none of them applied yet) the one in force at `moment`."""
    active = schedule.active_entry_id
    if moment is not None:
        in_force = entry_in_force(schedule.entries, moment)
        active = None if in_force is None else in_force["id"]

    def wire_entry(entry: dict[str, Any]) -> schemas.ScalingScheduleEntry:
        fields = {key: value for key, value in entry.items() if key != "numReplicas"}
        if "numReplicas" in entry:
            fields.update(minReplicas=entry["numReplicas"], maxReplicas=entry["numReplicas"])
        return schemas.ScalingScheduleEntry.model_validate({**fields, "isActiveNow": entry["id"] == active})

    base = current_base(schedule, service)
    replicas = base.pop("numReplicas", None)
    if replicas is not None:
        base.update(minReplicas=replicas, maxReplicas=replicas)
    return schemas.ScalingSchedule(entries=[wire_entry(entry) for entry in schedule.entries],
                                   baseConfig=schemas.ScalingScheduleBaseConfig.model_validate(base),
                                   activeEntryId=None if active is None else uuid.UUID(active))
