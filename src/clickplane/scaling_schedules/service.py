"""Scaling schedules: the rules (what an entry may ask for, which entry is in force when, what applying one does
to its service) and `ScalingScheduleService`, whose methods are the API's use cases.

An entry is a weekly window (kit/weekly.py) with scaling of its own. Entries of one schedule may not overlap, so
at most one is in force at any moment. The reconciler (controller.py) applies the entry in force as a manual
scaling (PATCH .../replicaScaling) would: through the same rules, `apply_replica_scaling`, recorded as the same
activities, by the system. The service's scaling from before the first entry took over is kept as the schedule's
base configuration; an entry's fields are laid over it, and when no entry is in force it is put back. Memory is
both bounds or neither (the base's); replicas are a count (vertical) or a band (horizontal), or neither.

Every POST gives its entries new ids, so the reconciler applies a replaced schedule anew on its next pass.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record, record_system
from clickplane.auth.authentication import Caller
from clickplane.kit import weekly
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, NotFound
from clickplane.quotas import service as quotas
from clickplane.scaling_schedules.repository import ScalingSchedules
from clickplane.scaling_schedules.schemas import ScalingScheduleEntryRequest, ScalingSchedulePostRequest
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.services.scaling_view import (
    REPLICA_FIELDS,
    base_of,
    current_base,
    entry_in_force,
    schedule_to_wire,
)
from clickplane.services.schemas import ScalingSchedule as WireSchedule
from clickplane.services.schemas import ScalingScheduleBaseConfig, ServiceReplicaScalingPatchRequest
from clickplane.services.service import apply_replica_scaling
from clickplane.store.models import ScalingSchedule, Service, utcnow

UPDATED: Final = "service_update_scaling_schedule"
DELETED: Final = "service_delete_scaling_schedule"
# The fields of a scaling, as ServiceReplicaScalingPatchRequest names them.
SCALING_FIELDS = ("autoscalingMode", "minReplicaMemoryGb", "maxReplicaMemoryGb", "numReplicas", "minReplicas",
                  "maxReplicas", "idleScaling", "idleTimeoutMinutes")


def normalized_entry(index: int, entry: ScalingScheduleEntryRequest) -> dict[str, Any]:
    """The entry as stored (with a new id): a vertical entry's replicas as a count, a horizontal one's as a band;
    BadRequest naming the entry for what the reference's rules refuse."""
    where = f"entries[{index}] ({entry.name!r})"
    if entry.startHourUtc == entry.endHourUtc:
        raise BadRequest(f"{where}: startHourUtc and endHourUtc are both {entry.startHourUtc}; the end must differ "
                         "(24 ends at midnight, an end before the start spans midnight)")
    if len(set(entry.weekdays)) != len(entry.weekdays):
        raise BadRequest(f"{where}: weekdays lists a day twice")
    if (entry.minReplicaMemoryGb is None) != (entry.maxReplicaMemoryGb is None):
        raise BadRequest(f"{where}: give minReplicaMemoryGb and maxReplicaMemoryGb together, or neither to keep "
                         "the base configuration's memory")
    if entry.minReplicaMemoryGb is not None and entry.maxReplicaMemoryGb is not None \
            and entry.minReplicaMemoryGb > entry.maxReplicaMemoryGb:
        raise BadRequest(f"{where}: minReplicaMemoryGb ({entry.minReplicaMemoryGb:g}) exceeds maxReplicaMemoryGb "
                         f"({entry.maxReplicaMemoryGb:g})")
    if (entry.minReplicas is None) != (entry.maxReplicas is None):
        raise BadRequest(f"{where}: give minReplicas and maxReplicas together")
    band = (entry.minReplicas, entry.maxReplicas) if entry.minReplicas is not None else None
    if band is not None and entry.numReplicas is not None:
        raise BadRequest(f"{where}: numReplicas cannot be combined with minReplicas/maxReplicas; give one or the "
                         "other")
    mode = entry.autoscalingMode or "vertical"
    stored = entry.model_dump(exclude_none=True, exclude=set(REPLICA_FIELDS) | {"autoscalingMode"})
    if mode == "horizontal":
        if band is None or entry.minReplicaMemoryGb is None or entry.minReplicaMemoryGb != entry.maxReplicaMemoryGb:
            raise BadRequest(f"{where}: a horizontal entry needs minReplicas and maxReplicas, and "
                             "minReplicaMemoryGb equal to maxReplicaMemoryGb (the fixed memory of each replica)")
        if band[0] is not None and band[1] is not None and band[0] > band[1]:
            raise BadRequest(f"{where}: minReplicas ({band[0]}) exceeds maxReplicas ({band[1]})")
        stored.update(minReplicas=band[0], maxReplicas=band[1])
    elif band is not None:
        if band[0] != band[1]:
            raise BadRequest(f"{where}: a minReplicas/maxReplicas band that differs needs autoscalingMode "
                             "horizontal; a vertical entry takes numReplicas (or an equal band)")
        stored["numReplicas"] = band[0]
    elif entry.numReplicas is not None:
        stored["numReplicas"] = entry.numReplicas
    return {"id": str(uuid.uuid4()), "autoscalingMode": mode, **stored}


def normalized_entries(entries: Sequence[ScalingScheduleEntryRequest]) -> list[dict[str, Any]]:
    """Every entry normalized, none overlapping another (BadRequest naming both)."""
    stored = [normalized_entry(index, entry) for index, entry in enumerate(entries)]
    covered = [weekly.hours_of_week(e["weekdays"], e["startHourUtc"], e["endHourUtc"]) for e in stored]
    for later in range(len(stored)):
        for earlier in range(later):
            shared = covered[earlier] & covered[later]
            if shared:
                first = min(shared)
                raise BadRequest(
                    f"entries[{earlier}] ({stored[earlier]['name']!r}) and entries[{later}] "
                    f"({stored[later]['name']!r}) overlap (both cover {weekly.DAYS[first // 24]} {first % 24:02d}:00 "
                    "UTC); at most one entry may be in force at a time")
    return stored


def target_of(base: dict[str, Any], entry: dict[str, Any] | None) -> ServiceReplicaScalingPatchRequest:
    """The scaling in force with `entry` (None: the base): the entry's fields over the base's, its replicas
    (when it gives any) replacing the base's. A vertical entry that gives none over a horizontal base runs the
    base's least replica count."""
    given = {} if entry is None else {key: entry[key] for key in SCALING_FIELDS if key in entry}
    kept = {key: value for key, value in base.items() if key in SCALING_FIELDS and key not in REPLICA_FIELDS}
    if not given.keys() & set(REPLICA_FIELDS):
        replicas = {key: base[key] for key in REPLICA_FIELDS if base.get(key) is not None}
        if given.get("autoscalingMode", base["autoscalingMode"]) == "vertical" and "numReplicas" not in replicas:
            replicas = {"numReplicas": base["minReplicas"]}
        kept.update(replicas)
    return ServiceReplicaScalingPatchRequest.model_validate({**kept, **given})


def manually_scaled(schedule: ScalingSchedule, service: Service) -> bool:
    """Whether the service was scaled by hand since the schedule applied the entry in force."""
    return schedule.applied_config is not None and base_of(service) != schedule.applied_config


def switch(schedule: ScalingSchedule, service: Service, entry: dict[str, Any] | None,
           quota: tuple[quotas.Limits, Sequence[Service]] | None = None) -> list[RecordedActivityType]:
    """Put the service at `entry`'s scaling (None: back to the base) as a manual scaling would; returns the
    activity types of what changed. BadRequest when the scaling rules refuse the result, or when `quota` (the
    limits and the organization's services) is given and the result adds replicas past the warehouse's limit."""
    base = current_base(schedule, service)
    replicas_before = quotas.replicas(service)
    changes = apply_replica_scaling(service, target_of(base, entry))
    if quota is not None:
        quotas.check_resized(quota[0], quota[1], service, replicas_before)
    schedule.active_entry_id = None if entry is None else entry["id"]
    schedule.base_config = None if entry is None else base
    schedule.applied_config = None if entry is None else base_of(service)
    return changes


def applied_details(entry: dict[str, Any] | None) -> dict[str, Any]:
    """The details of an activity the schedule caused."""
    if entry is None:
        return {"scalingSchedule": {"baseConfig": True}}
    return {"scalingSchedule": {"entryId": entry["id"], "name": entry["name"]}}


def apply_in_force(session: Session, schedule: ScalingSchedule, service: Service, moment: datetime,
                   limits: quotas.Limits | None = None) -> bool:
    """Apply the entry in force at `moment` (or the base) if it is not the one applied, or again over a base a
    manual scaling changed, recording what changed as the system's; whether it was applied now. With `limits`,
    BadRequest (nothing changed) when that would add replicas past the warehouse's quota, as a manual scaling."""
    entry = entry_in_force(schedule.entries, moment)
    if (None if entry is None else entry["id"]) == schedule.active_entry_id \
            and not manually_scaled(schedule, service):
        return False
    quota = None if limits is None else (limits, Services(session).list(service.organization_id))
    for activity_type in switch(schedule, service, entry, quota):
        record_system(Activities(session), service.organization_id, activity_type, service_id=service.id,
                      details=applied_details(entry))
    return True


def not_found(service_id: uuid.UUID) -> NotFound:
    return NotFound(f"service {service_id} has no scaling schedule; POST .../scalingSchedule with entries sets one")


class ScalingScheduleService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> WireSchedule:
        with self.context.database.looking() as session:
            service = visible(Services(session), caller, organization_id, service_id)
            schedule = ScalingSchedules(session).get(service_id)
            if schedule is None:
                raise not_found(service_id)
            return schedule_to_wire(schedule, service)

    def upsert(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
               request: ScalingSchedulePostRequest) -> WireSchedule:
        """Replace the schedule (the reconciler applies it on its next pass); no entries clears it, as DELETE."""
        entries = normalized_entries(request.entries)
        limits = quotas.Limits.of(self.context.settings)
        with self.context.database.transaction() as session:
            service = changeable(Services(session), caller, organization_id, service_id)
            schedules = ScalingSchedules(session)
            schedule = schedules.get(service_id, for_update=True)
            base = base_of(service) if schedule is None else current_base(schedule, service)
            organization_services = Services(session).list(organization_id)
            for index, entry in enumerate(entries):  # the scaling rules and the quota take each entry over the base
                try:
                    trial = _trial(service)
                    apply_replica_scaling(trial, target_of(base, entry))
                    quotas.check_resized(limits, organization_services, trial, quotas.replicas(service))
                except BadRequest as refusal:
                    raise BadRequest(f"entries[{index}] ({entry['name']!r}) over the base configuration: "
                                     f"{refusal.message}") from None
            if not entries:
                if schedule is not None:
                    self._clear(session, caller, schedule, service)
                answer = WireSchedule(entries=[], baseConfig=ScalingScheduleBaseConfig())
            else:
                if schedule is None:
                    schedule = ScalingSchedule(service_id=service_id, organization_id=organization_id)
                    schedules.add(schedule)
                schedule.entries = entries
                record(Activities(session), caller, UPDATED, service_id=service_id,
                       details={"entries": [{k: v for k, v in e.items() if k != "id"} for e in entries]})
                session.flush()
                answer = schedule_to_wire(schedule, service, utcnow())  # the entries' new ids: none is applied yet
        self.context.reconcile_now.set()
        return answer

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
        """Remove the schedule, first putting the base configuration back if an entry is in force."""
        with self.context.database.transaction() as session:
            service = changeable(Services(session), caller, organization_id, service_id)
            schedule = ScalingSchedules(session).get(service_id, for_update=True)
            if schedule is None:
                raise not_found(service_id)
            self._clear(session, caller, schedule, service)
        self.context.reconcile_now.set()

    @staticmethod
    def _clear(session: Session, caller: Caller, schedule: ScalingSchedule, service: Service) -> None:
        if schedule.active_entry_id is not None:
            for activity_type in switch(schedule, service, None):
                record(Activities(session), caller, activity_type, service_id=service.id,
                       details=applied_details(None))
        ScalingSchedules(session).remove(schedule)
        record(Activities(session), caller, DELETED, service_id=service.id)


def _trial(service: Service) -> Service:
    """A detached copy of the service's scaling, for trying a change on it without touching the service."""
    return Service(autoscaling_mode=service.autoscaling_mode, min_replica_memory_gb=service.min_replica_memory_gb,
                   max_replica_memory_gb=service.max_replica_memory_gb, num_replicas=service.num_replicas,
                   min_replicas=service.min_replicas, max_replicas=service.max_replicas,
                   idle_scaling=service.idle_scaling, idle_timeout_minutes=service.idle_timeout_minutes,
                   generation=service.generation, name=service.name, provider=service.provider,
                   region=service.region)
