"""The upgrade controller on a real store and a hand-moved clock: a service is moved to its release channel's
binary only inside its window (its own, or its warehouse primary's), at once without one, never when no channel
has a binary of its own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from clickplane.activities.repository import Activities
from clickplane.reconcile.loop import Slots
from clickplane.runtime.clickhouse.interface import Observation, ServiceSpec
from clickplane.services.controller import ServiceController
from clickplane.services.repository import Releases
from clickplane.settings import Settings
from clickplane.store import models
from clickplane.store.database import Database
from clickplane.upgrade_windows.controller import UpgradeController
from clickplane.upgrade_windows.schemas import UpgradeWindowPutRequest
from tests.unit.fakes import Clock

# A Wednesday (weekday 3), 13:00 UTC: inside a window from 12 on weekday 3.
WEDNESDAY = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
FAST = "/opt/fast/clickhouse-server"
DEFAULT = "/usr/bin/clickhouse-server"


def add_services(database: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """An organization with a primary and its secondary on the fast channel; returns the org and both ids."""
    with database.transaction() as session:
        organization = models.Organization(id=uuid.uuid4(), name="org")
        session.add(organization)
        warehouse = uuid.uuid4()
        ids = []
        for primary in (True, False):
            service = models.Service(
                id=uuid.uuid4(), organization_id=organization.id, name="s", provider="aws", region="us-east-1",
                state="running", desired_state="running", generation=1, observed_generation=1,
                password_sha256_hex="0" * 64, min_replica_memory_gb=8, max_replica_memory_gb=8,
                data_warehouse_id=warehouse, is_primary=primary, options={"releaseChannel": "fast"})
            session.add(service)
            ids.append(service.id)
        return organization.id, ids[0], ids[1]


def set_window(database: Database, organization_id: uuid.UUID, service_id: uuid.UUID, weekday: int) -> None:
    with database.transaction() as session:
        session.add(models.UpgradeWindow(service_id=service_id, organization_id=organization_id, weekday=weekday,
                                         start_hour_utc=12, duration_hours=6))


def run_due(controller: UpgradeController) -> int:
    work = list(controller.due(lambda _: False))
    for _, job in work:
        asyncio.run(job())
    return len(work)


def test_services_move_to_their_channels_binary_only_inside_the_primarys_window(database: Database) -> None:
    organization_id, primary, secondary = add_services(database)
    set_window(database, organization_id, primary, weekday=3)
    clock = Clock(WEDNESDAY - timedelta(hours=2))
    woken: list[bool] = []
    controller = UpgradeController(database, lambda: woken.append(True), {"fast": FAST}, DEFAULT, clock)
    assert run_due(controller) == 0
    clock.now = WEDNESDAY
    assert run_due(controller) == 2
    assert woken
    assert run_due(controller) == 0  # done once
    with database.looking() as session:
        assert Releases(session).binaries() == {primary: FAST, secondary: FAST}
        generations = {s.id: s.generation for s in session.query(models.Service)}
        recorded = [(a.type, a.actor_type, a.details["clickhouseBinary"]) for a in Activities(session).list(
            organization_id)]
    assert generations == {primary: 2, secondary: 2}
    assert recorded == [("service_maintenance_start", "system", FAST)] * 2


def test_without_a_window_the_upgrade_is_at_once_and_without_channels_never(database: Database) -> None:
    _, primary, _ = add_services(database)
    assert run_due(UpgradeController(database, lambda: None, {}, DEFAULT, Clock(WEDNESDAY))) == 0
    assert run_due(UpgradeController(database, lambda: None, {"slow": FAST}, DEFAULT, Clock(WEDNESDAY))) == 0
    assert run_due(UpgradeController(database, lambda: None, {"fast": FAST}, DEFAULT, Clock(WEDNESDAY))) == 2
    with database.looking() as session:
        assert Releases(session).binaries()[primary] == FAST


class StartingRuntime:
    """Records the binary of each start."""

    def __init__(self) -> None:
        self.started: list[str | None] = []

    async def start(self, spec: ServiceSpec) -> None:
        self.started.append(spec.binary)

    async def wait_until_up(self, service_id: str) -> Observation:
        return Observation(running=True, clickhouse_version="25.1")


def test_a_new_service_starts_on_its_channels_binary_at_once_and_is_not_upgraded_after(database: Database) -> None:
    organization_id, primary, secondary = add_services(database)
    set_window(database, organization_id, primary, weekday=5)  # closed now
    with database.transaction() as session:  # the primary is new: never started; the secondary ran already
        new = session.get(models.Service, primary)
        assert new is not None
        new.state, new.observed_generation = "provisioning", 0
        ran = session.get(models.Service, secondary)
        assert ran is not None
        ran.state = "stopped"
    runtime = StartingRuntime()
    services = ServiceController(database, runtime, None, Slots(4), lambda: None,  # type: ignore[arg-type]
                                 channel_binaries={"fast": FAST})
    for _, job in list(services.due(lambda _: False)):
        asyncio.run(job())
    assert runtime.started == [FAST, None]  # the one that ran before keeps the default until its window
    with database.looking() as session:
        assert Releases(session).binaries() == {primary: FAST}
    assert run_due(UpgradeController(database, lambda: None, {"fast": FAST}, DEFAULT, Clock(WEDNESDAY))) == 0


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_channel_binaries_are_checked_when_settings_are_read_naming_the_channel(tmp_path: Path) -> None:
    default = executable(tmp_path / "default" / "clickhouse-server")

    def channels(value: str) -> dict[str, str]:
        return Settings(data_dir=tmp_path, clickhouse_binary=str(default),
                        clickhouse_release_channels=value).release_channel_binaries

    fast = executable(tmp_path / "fast" / "clickhouse-server")
    assert channels(f"fast={fast}") == {"fast": str(fast)}
    with pytest.raises(ValueError, match=r"channel 'slow' names .*missing.*does not exist"):
        channels(f"fast={fast},slow={tmp_path / 'missing'}")
    with pytest.raises(ValueError, match=r"channel 'fast' .* is not a file"):
        channels(f"fast={tmp_path}")
    fast.chmod(0o644)
    with pytest.raises(ValueError, match=r"channel 'fast' .* not executable"):
        channels(f"fast={fast}")
    other_root = executable(tmp_path / "modern" / "clickhouse")
    with pytest.raises(ValueError, match=r"channel 'fast' .* rooted at <clickhouse>, unlike the default"):
        channels(f"fast={other_root}")
    kubernetes = Settings(data_dir=tmp_path, clickhouse_runtime="kubernetes",
                          clickhouse_release_channels=f"fast={tmp_path / 'missing'}")
    assert kubernetes.release_channel_binaries == {"fast": str(tmp_path / "missing")}  # serve refuses it itself


def test_removing_every_channel_mapping_moves_upgraded_services_back_to_the_default(database: Database) -> None:
    _, primary, secondary = add_services(database)
    assert run_due(UpgradeController(database, lambda: None, {"fast": FAST}, DEFAULT, Clock(WEDNESDAY))) == 2
    unmapped = UpgradeController(database, lambda: None, {}, DEFAULT, Clock(WEDNESDAY))
    assert run_due(unmapped) == 2
    with database.looking() as session:
        assert Releases(session).binaries() == {primary: DEFAULT, secondary: DEFAULT}
    assert run_due(unmapped) == 0


def test_a_service_being_deleted_is_never_upgraded(database: Database) -> None:
    _, primary, secondary = add_services(database)
    with database.transaction() as session:
        for service_id in (primary, secondary):
            service = session.get(models.Service, service_id)
            assert service is not None
            service.state, service.desired_state = "terminating", "deleted"
    assert run_due(UpgradeController(database, lambda: None, {"fast": FAST}, DEFAULT, Clock(WEDNESDAY))) == 0


@pytest.mark.parametrize(("body", "said"), [
    ({"weekday": False, "startHourUtc": 0}, "not true or false"), ({"weekday": 1, "startHourUtc": True},
                                                                   "not true or false"),
    ({"weekday": "3", "startHourUtc": 0}, "not the string '3'"), ({"weekday": 1, "startHourUtc": "12"}, "quotes")])
def test_a_windows_fields_are_json_integers_however_validated(body: dict[str, Any], said: str) -> None:
    for strict in (True, False):
        with pytest.raises(ValidationError, match=said):
            UpgradeWindowPutRequest.model_validate(body, strict=strict)
    assert UpgradeWindowPutRequest.model_validate({"weekday": 3.0, "startHourUtc": 12.0}).startHourUtc == 12
