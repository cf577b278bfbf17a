"""The metering on a real SQLite store, with storage samples the tests choose and a clock they move (no sleeps)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from clickplane.backups.repository import Backups
from clickplane.store import models
from clickplane.store.database import Database
from clickplane.usage.meter import Meter
from clickplane.usage.repository import UsageDays
from clickplane.usage.service import GIB
from tests.unit.fakes import Clock

pytestmark = pytest.mark.anyio
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Storage:
    """What each service's server answers for its storage; a service not in `bytes` does not answer."""

    bytes: dict[uuid.UUID, int] = field(default_factory=dict)
    asked: list[uuid.UUID] = field(default_factory=list)

    async def __call__(self, service_id: uuid.UUID) -> int | None:
        self.asked.append(service_id)
        return self.bytes.get(service_id)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def storage() -> Storage:
    return Storage()


@pytest.fixture
def meter(database: Database, storage: Storage, clock: Clock) -> Meter:
    return Meter(database, storage, 60, clock)


@pytest.fixture
def organization(database: Database) -> uuid.UUID:
    with database.transaction() as session:
        session.add(models.Organization(id=(organization_id := uuid.uuid4()), name="org"))
    return organization_id


def add_service(database: Database, organization_id: uuid.UUID, state: str = "running", memory: float = 4,
                replicas: int = 2, name: str = "s") -> uuid.UUID:
    service_id = uuid.uuid4()
    with database.transaction() as session:
        session.add(models.Service(
            id=service_id, organization_id=organization_id, name=name, provider="aws", region="us-east-1",
            state=state, password_sha256_hex="0" * 64, min_replica_memory_gb=memory, max_replica_memory_gb=memory,
            num_replicas=replicas, data_warehouse_id=uuid.uuid4()))
    return service_id


def set_state(database: Database, service_id: uuid.UUID, state: str) -> None:
    with database.transaction() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        service.state = state


def usage_of(database: Database, organization_id: uuid.UUID) -> dict[tuple[uuid.UUID, date], models.UsageDay]:
    with database.transaction() as session:
        days = UsageDays(session).between(organization_id, date(2026, 1, 1), date(2026, 12, 31))
        return {(day.service_id, day.day): day for day in days}


async def look_after(meter: Meter, clock: Clock, elapsed: timedelta) -> None:
    clock.now += elapsed
    await meter.look()


async def test_the_first_look_only_samples_then_each_look_adds_what_was_used_since_the_last(
        meter: Meter, database: Database, organization: uuid.UUID, storage: Storage, clock: Clock) -> None:
    service_id = add_service(database, organization, memory=4, replicas=2, name="billed")
    storage.bytes[service_id] = 2 * GIB
    await meter.look()
    assert usage_of(database, organization) == {}

    await look_after(meter, clock, MINUTE)
    await look_after(meter, clock, MINUTE)

    day = usage_of(database, organization)[(service_id, START.date())]
    assert (day.compute_gib_seconds, day.storage_gib_seconds, day.backup_gib_seconds) == (4 * 2 * 120, 2 * 120, 0)
    assert (day.organization_id, day.service_name, day.storage_bytes) == (organization, "billed", 2 * GIB)
    assert storage.asked == [service_id] * 3


async def test_a_stopped_service_keeps_paying_for_its_last_storage_sample_and_is_not_asked(
        meter: Meter, database: Database, organization: uuid.UUID, storage: Storage, clock: Clock) -> None:
    service_id = add_service(database, organization, memory=1, replicas=1)
    storage.bytes[service_id] = GIB
    await meter.look()
    await look_after(meter, clock, MINUTE)
    set_state(database, service_id, "idle")
    storage.bytes[service_id] = 5 * GIB  # what it would say, were it asked
    await look_after(meter, clock, MINUTE)

    day = usage_of(database, organization)[(service_id, START.date())]
    assert (day.compute_gib_seconds, day.storage_gib_seconds) == (60, 120)
    assert len(storage.asked) == 2


async def test_the_last_storage_sample_outlives_a_restart(
        database: Database, organization: uuid.UUID, storage: Storage, clock: Clock) -> None:
    service_id = add_service(database, organization)
    storage.bytes[service_id] = GIB
    first = Meter(database, storage, 60, clock)
    await first.look()
    await look_after(first, clock, MINUTE)
    set_state(database, service_id, "stopped")

    restarted = Meter(database, storage, 60, clock)
    await restarted.look()
    await look_after(restarted, clock, MINUTE)

    day = usage_of(database, organization)[(service_id, START.date())]
    assert day.storage_gib_seconds == 120  # the minute before the restart and the minute after


async def test_a_server_that_does_not_answer_keeps_its_last_sample(
        meter: Meter, database: Database, organization: uuid.UUID, storage: Storage, clock: Clock) -> None:
    service_id = add_service(database, organization, memory=1, replicas=1)
    storage.bytes[service_id] = GIB
    await meter.look()
    del storage.bytes[service_id]
    await look_after(meter, clock, MINUTE)
    assert usage_of(database, organization)[(service_id, START.date())].storage_gib_seconds == 60


async def test_a_service_that_never_stored_anything_and_is_not_running_has_no_usage(
        meter: Meter, database: Database, organization: uuid.UUID, clock: Clock) -> None:
    add_service(database, organization, state="provisioning")
    await meter.look()
    await look_after(meter, clock, MINUTE)
    assert usage_of(database, organization) == {}


async def test_finished_backups_are_metered(
        meter: Meter, database: Database, organization: uuid.UUID, clock: Clock) -> None:
    service_id = add_service(database, organization, state="stopped")
    with database.transaction() as session:
        for status, size in (("done", GIB), ("done", 2 * GIB), ("error", None), ("in_progress", None)):
            Backups(session).add(models.Backup(organization_id=organization, service_id=service_id, status=status,
                                               size_in_bytes=size, backup_name="b", location="/b"))
    await meter.look()
    await look_after(meter, clock, MINUTE)
    day = usage_of(database, organization)[(service_id, START.date())]
    assert (day.compute_gib_seconds, day.storage_gib_seconds, day.backup_gib_seconds) == (0, 0, 3 * 60)


async def test_usage_over_midnight_goes_to_each_day_and_a_renamed_service_shows_its_new_name(
        meter: Meter, database: Database, organization: uuid.UUID, storage: Storage, clock: Clock) -> None:
    service_id = add_service(database, organization, memory=1, replicas=1, name="old")
    clock.now = datetime(2026, 3, 10, 23, 59, 30, tzinfo=UTC)
    await meter.look()
    await look_after(meter, clock, MINUTE)
    with database.transaction() as session:
        service = session.get(models.Service, service_id)
        assert service is not None
        service.name = "new"
    await look_after(meter, clock, MINUTE)

    usage = usage_of(database, organization)
    assert (usage[(service_id, date(2026, 3, 10))].compute_gib_seconds,
            usage[(service_id, date(2026, 3, 11))].compute_gib_seconds) == (30, 90)
    assert (usage[(service_id, date(2026, 3, 10))].service_name,
            usage[(service_id, date(2026, 3, 11))].service_name) == ("old", "new")


async def test_a_deleted_services_usage_stays(
        meter: Meter, database: Database, organization: uuid.UUID, clock: Clock) -> None:
    service_id = add_service(database, organization)
    await meter.look()
    await look_after(meter, clock, MINUTE)
    with database.transaction() as session:
        session.delete(session.get(models.Service, service_id))
    await look_after(meter, clock, MINUTE)
    assert usage_of(database, organization)[(service_id, START.date())].compute_gib_seconds == 4 * 2 * 60


async def test_thousands_of_services_are_metered_in_one_look(meter: Meter, clock: Clock, database: Database,
                                                             organization: uuid.UUID) -> None:
    services = 3500  # a store of a size the benchmark measures: one look meters them all
    with database.transaction() as session:
        session.add_all(models.Service(
            id=uuid.uuid4(), organization_id=organization, name=f"s{n}", provider="aws", region="us-east-1",
            state="running", password_sha256_hex="0" * 64, min_replica_memory_gb=4, max_replica_memory_gb=4,
            num_replicas=1, data_warehouse_id=uuid.uuid4()) for n in range(services))
    await meter.look()
    await look_after(meter, clock, MINUTE)
    used = usage_of(database, organization)
    assert len(used) == services
    assert {day.compute_gib_seconds for day in used.values()} == {4 * 60}
