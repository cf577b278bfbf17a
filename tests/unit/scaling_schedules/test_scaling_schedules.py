"""Scaling schedules: weekly windows, the entry rules, and the controller switching a stored service between an
entry's scaling and its base configuration as a hand-moved clock crosses the windows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clickplane.activities.repository import Activities
from clickplane.auth.authentication import Caller, VerifiedKeys
from clickplane.auth.permissions import ADMIN
from clickplane.auth.secrets import SecretHasher
from clickplane.kit import weekly
from clickplane.kit.errors import BadRequest
from clickplane.quotas.service import Limits
from clickplane.scaling_schedules.controller import ScalingScheduleController
from clickplane.scaling_schedules.repository import ScalingSchedules
from clickplane.scaling_schedules.schemas import ScalingSchedulePostRequest
from clickplane.scaling_schedules.service import ScalingScheduleService, normalized_entries
from clickplane.services.scaling_view import schedule_to_wire
from clickplane.services.schemas import ServiceReplicaScalingPatchRequest
from clickplane.services.service import apply_replica_scaling
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from tests.unit.fakes import Clock, app_context

# A Monday (weekday 1), 10:30 UTC.
MONDAY = datetime(2026, 11, 30, 10, 30, tzinfo=UTC)


def entries(*bodies: dict[str, Any]) -> list[dict[str, Any]]:
    return normalized_entries(ScalingSchedulePostRequest.model_validate({"entries": list(bodies)}).entries)


def entry(**fields: Any) -> dict[str, Any]:
    return {"name": "busy", "weekdays": [1], "startHourUtc": 10, "endHourUtc": 12, **fields}


def test_weekdays_count_from_sunday_and_windows_may_span_midnight() -> None:
    assert weekly.weekday_of(MONDAY) == 1
    assert weekly.weekday_of(MONDAY - timedelta(days=1)) == 0
    assert weekly.covers([1], 10, 12, MONDAY)
    assert not weekly.covers([1], 10, 12, MONDAY + timedelta(hours=2))  # the end hour is exclusive
    assert weekly.covers([0], 22, 2, MONDAY.replace(hour=1))  # Sunday 22:00 to Monday 02:00
    assert weekly.covers([1], 0, 24, MONDAY.replace(hour=23))
    assert len(weekly.hours_of_week([6], 22, 2)) == 4
    assert 0 in weekly.hours_of_week([6], 22, 2)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"endHourUtc": 10}, "must differ"),
    ({"weekdays": [1, 1]}, "twice"),
    ({"minReplicaMemoryGb": 16}, "together"),
    ({"minReplicaMemoryGb": 24, "maxReplicaMemoryGb": 16}, "exceeds"),
    ({"minReplicas": 2}, "together"),
    ({"numReplicas": 2, "minReplicas": 2, "maxReplicas": 2}, "cannot be combined"),
    ({"minReplicas": 1, "maxReplicas": 3}, "needs autoscalingMode horizontal"),
    ({"autoscalingMode": "horizontal", "minReplicas": 1, "maxReplicas": 3}, "horizontal entry needs"),
])
def test_entries_the_rules_refuse_are_named(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment) as refused:
        entries(entry(**fields))
    assert "entries[0] ('busy')" in str(refused.value)


@pytest.mark.parametrize("fields", [{"weekdays": []}, {"weekdays": [7]}, {"startHourUtc": 24}, {"endHourUtc": 0},
                                    {"minReplicaMemoryGb": 10, "maxReplicaMemoryGb": 10}, {"name": ""},
                                    {"numReplicas": 0}, {"unknown": 1}])
def test_values_outside_the_references_ranges_are_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        entries(entry(**fields))


def test_overlapping_entries_are_refused_naming_both_and_an_hour_they_share() -> None:
    with pytest.raises(BadRequest, match=r"entries\[0\] \('busy'\) and entries\[1\] \('late'\) overlap.*Tuesday 01:00"):
        entries(entry(startHourUtc=20, endHourUtc=2), entry(name="late", weekdays=[2], startHourUtc=1, endHourUtc=3))
    assert len(entries(entry(), entry(name="after", startHourUtc=12, endHourUtc=14))) == 2


def test_a_vertical_band_is_a_count_and_each_entry_gets_an_id() -> None:
    stored = entries(entry(minReplicas=2, maxReplicas=2, minReplicaMemoryGb=16.0, maxReplicaMemoryGb=16.0))[0]
    assert stored["numReplicas"] == 2
    assert "minReplicas" not in stored
    assert stored["autoscalingMode"] == "vertical"
    assert uuid.UUID(stored["id"])


def add_service(database: Database, **scaling: Any) -> uuid.UUID:
    with database.transaction() as session:
        organization = models.Organization(id=uuid.uuid4(), name="org")
        session.add(organization)
        service = models.Service(
            id=uuid.uuid4(), organization_id=organization.id, name="s", provider="aws", region="us-east-1",
            state="running", desired_state="running", generation=1, observed_generation=1, idle_scaling=False,
            password_sha256_hex="0" * 64, data_warehouse_id=uuid.uuid4(),
            **{"min_replica_memory_gb": 8, "max_replica_memory_gb": 8, **scaling})
        session.add(service)
        return service.id


def schedule(database: Database, service_id: uuid.UUID, *bodies: dict[str, Any]) -> None:
    with database.transaction() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        session.add(models.ScalingSchedule(service_id=service_id, organization_id=service.organization_id,
                                           entries=entries(*bodies)))


def run_due(controller: ScalingScheduleController) -> int:
    work = list(controller.due(lambda _: False))
    for _, job in work:
        asyncio.run(job())
    return len(work)


def scaling(database: Database, service_id: uuid.UUID) -> tuple[float, float, int, int, bool, str | None]:
    with database.looking() as session:
        service = session.get(models.Service, service_id)
        found = ScalingSchedules(session).get(service_id)
        assert service is not None
        assert found is not None
        return (service.min_replica_memory_gb, service.max_replica_memory_gb, service.num_replicas,
                service.generation, service.idle_scaling, found.active_entry_id)


def test_the_controller_applies_the_entry_in_force_then_puts_the_base_back(database: Database) -> None:
    service_id = add_service(database)
    schedule(database, service_id, entry(minReplicaMemoryGb=16, maxReplicaMemoryGb=32, numReplicas=3,
                                         idleScaling=True))
    clock = Clock(MONDAY - timedelta(hours=1))
    woken: list[bool] = []
    controller = ScalingScheduleController(database, lambda: woken.append(True), clock)
    assert run_due(controller) == 0  # before the window: the base is in force already
    clock.now = MONDAY
    assert run_due(controller) == 1
    assert woken
    low, high, replicas, generation, idles, active = scaling(database, service_id)
    # A new intent for the runtime: the memory (its servers' limit) and the replicas (the kubernetes runtime's).
    assert (low, high, replicas, generation, idles) == (16, 32, 3, 3, True)
    assert active is not None
    assert run_due(controller) == 0  # applied once
    organization_id = scaling_org(database, service_id)
    with database.looking() as session:
        found, service = ScalingSchedules(session).get(service_id), session.get(models.Service, service_id)
        assert found is not None
        assert service is not None
        wire = schedule_to_wire(found, service)
        recorded = [(a.type, a.actor_type) for a in Activities(session).list(organization_id)]
    assert wire.activeEntryId is not None
    assert wire.entries[0].isActiveNow
    base = wire.baseConfig
    assert (base.maxReplicaMemoryGb, base.minReplicas, base.idleScaling) == (8, 1, False)
    assert {("service_update_autoscaling_memory", "system"), ("service_update_autoscaling_replicas", "system"),
            ("service_update_autoscaling_idling", "system")} <= set(recorded)
    clock.now = MONDAY + timedelta(hours=2)
    assert run_due(controller) == 1
    assert scaling(database, service_id) == (8, 8, 1, 5, False, None)


def test_an_entry_without_memory_keeps_the_bases_and_entries_follow_each_other(database: Database) -> None:
    service_id = add_service(database, min_replica_memory_gb=12, max_replica_memory_gb=24)
    schedule(database, service_id, entry(numReplicas=2), entry(name="next", startHourUtc=12, endHourUtc=14,
                                                               minReplicaMemoryGb=8, maxReplicaMemoryGb=8))
    clock = Clock(MONDAY)
    controller = ScalingScheduleController(database, lambda: None, clock)
    run_due(controller)
    assert scaling(database, service_id)[:3] == (12, 24, 2)
    clock.now = MONDAY + timedelta(hours=2)
    run_due(controller)
    assert scaling(database, service_id)[:3] == (8, 8, 1)  # the base's replicas, the entry's memory
    clock.now = MONDAY + timedelta(hours=4)
    run_due(controller)
    assert scaling(database, service_id)[:3] == (12, 24, 1)


def scaling_org(database: Database, service_id: uuid.UUID) -> uuid.UUID:
    with database.looking() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        return service.organization_id


def test_a_vertical_entry_over_a_horizontal_base_runs_its_least_replicas_and_the_band_comes_back(
        database: Database) -> None:
    service_id = add_service(database, autoscaling_mode="horizontal", num_replicas=2, min_replicas=2, max_replicas=4,
                             min_replica_memory_gb=16, max_replica_memory_gb=16)
    schedule(database, service_id, entry(minReplicaMemoryGb=32, maxReplicaMemoryGb=64))
    clock = Clock(MONDAY)
    controller = ScalingScheduleController(database, lambda: None, clock)
    run_due(controller)
    with database.looking() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        assert (service.autoscaling_mode, service.num_replicas, service.max_replica_memory_gb) == ("vertical", 2, 64)
    clock.now = MONDAY + timedelta(hours=2)
    run_due(controller)
    with database.looking() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        assert (service.autoscaling_mode, service.min_replicas, service.max_replicas) == ("horizontal", 2, 4)


def test_a_manual_scaling_while_an_entry_is_in_force_changes_the_base_the_entry_still_governs(
        database: Database) -> None:
    service_id = add_service(database)
    schedule(database, service_id, entry(minReplicaMemoryGb=16, maxReplicaMemoryGb=32))
    clock = Clock(MONDAY)
    controller = ScalingScheduleController(database, lambda: None, clock)
    run_due(controller)
    assert run_due(controller) == 0  # what the schedule itself applied is no manual change
    with database.transaction() as session:  # PATCH .../replicaScaling, as its rules apply it
        service = session.get(models.Service, service_id)
        assert service is not None
        apply_replica_scaling(service, ServiceReplicaScalingPatchRequest(maxReplicaMemoryGb=48,
                                                                         idleTimeoutMinutes=30))
    assert run_due(controller) == 1
    assert scaling(database, service_id)[:2] == (16, 32)  # the entry's memory again
    with database.looking() as session:
        found, service = ScalingSchedules(session).get(service_id), session.get(models.Service, service_id)
        assert found is not None
        assert service is not None
        base = schedule_to_wire(found, service).baseConfig
        assert (base.minReplicaMemoryGb, base.maxReplicaMemoryGb, base.idleTimeoutMinutes) == (8, 48, 30)
        assert service.idle_timeout_minutes == 30
    assert run_due(controller) == 0
    clock.now = MONDAY + timedelta(hours=2)
    run_due(controller)
    assert scaling(database, service_id)[:2] == (8, 48)


def test_the_controller_refuses_an_entry_past_the_replica_quota_as_a_manual_scaling(database: Database) -> None:
    service_id = add_service(database)
    schedule(database, service_id, entry(numReplicas=3))
    clock = Clock(MONDAY)
    controller = ScalingScheduleController(database, lambda: None, clock,
                                           limits=Limits(services_per_organization=10, replicas_per_warehouse=2))
    assert run_due(controller) == 1
    assert scaling(database, service_id)[2:] == (1, 1, False, None)  # nothing changed, the entry not applied
    assert run_due(controller) == 0  # refused once, not every pass
    allowed = ScalingScheduleController(database, lambda: None, clock,
                                        limits=Limits(services_per_organization=10, replicas_per_warehouse=3))
    run_due(allowed)
    assert scaling(database, service_id)[2] == 3


def schedule_service(database: Database, tmp_path: Path, **settings: Any) -> ScalingScheduleService:
    context = app_context(Settings(data_dir=tmp_path, database_url=database.url, **settings), database,
                          SecretHasher(b"k" * 32), VerifiedKeys(ttl_seconds=60))
    return ScalingScheduleService(context)


def admin_of(organization_id: uuid.UUID) -> Caller:
    return Caller(uuid.uuid4(), "admin", organization_id, (str(ADMIN.id),), ADMIN.policies)


def test_a_posted_entry_past_the_replica_quota_is_refused_as_a_manual_scaling(database: Database,
                                                                              tmp_path: Path) -> None:
    service_id = add_service(database)
    organization_id = scaling_org(database, service_id)
    schedules = schedule_service(database, tmp_path, quota_replicas_per_warehouse=2)
    request = ScalingSchedulePostRequest.model_validate({"entries": [entry(numReplicas=3)]})
    with pytest.raises(BadRequest, match=r"entries\[0\] \('busy'\).*replicas-per-warehouse"):
        schedules.upsert(admin_of(organization_id), organization_id, service_id, request)
    allowed = ScalingSchedulePostRequest.model_validate({"entries": [entry(numReplicas=2)]})
    assert len(schedules.upsert(admin_of(organization_id), organization_id, service_id, allowed).entries) == 1


def test_a_posts_answer_names_the_new_entry_in_force_never_a_replaced_one(database: Database, tmp_path: Path) -> None:
    service_id = add_service(database)
    organization_id = scaling_org(database, service_id)
    schedules = schedule_service(database, tmp_path)
    always = entry(weekdays=list(range(7)), startHourUtc=0, endHourUtc=24, numReplicas=2)
    far_day = (weekly.weekday_of(datetime.now(UTC)) + 3) % 7

    def post(*bodies: dict[str, Any]) -> Any:
        request = ScalingSchedulePostRequest.model_validate({"entries": list(bodies)})
        return schedules.upsert(admin_of(organization_id), organization_id, service_id, request)

    first = post(always)
    assert first.activeEntryId == first.entries[0].id
    assert first.entries[0].isActiveNow
    run_due(ScalingScheduleController(database, lambda: None))
    assert scaling(database, service_id)[5] == str(first.entries[0].id)  # applied
    replaced = post({**always, "weekdays": [far_day]})
    assert replaced.activeEntryId is None
    assert not replaced.entries[0].isActiveNow
    again = post(always)
    assert again.activeEntryId == again.entries[0].id != first.entries[0].id


@pytest.mark.parametrize(("fields", "said"), [
    ({"weekdays": [False]}, "not true or false"), ({"weekdays": [True]}, "not true or false"),
    ({"startHourUtc": True}, "not true or false"), ({"startHourUtc": "10"}, "not the string '10'"),
    ({"endHourUtc": "12"}, "without quotes")])
def test_weekdays_and_hours_are_json_integers_however_validated(fields: dict[str, Any], said: str) -> None:
    for strict in (True, False):
        with pytest.raises(ValidationError, match=said):
            ScalingSchedulePostRequest.model_validate({"entries": [entry(**fields)]}, strict=strict)
    assert entries(entry(weekdays=[1.0], startHourUtc=10.0, endHourUtc=12.0))[0]["weekdays"] == [1]
