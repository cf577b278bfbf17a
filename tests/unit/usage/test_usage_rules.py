"""Usage and cost rules: what a look at a service accrues by UTC day, what it costs, and the report's dates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.settings import Settings
from clickplane.store.models import ClickPipeUsageDay, UsageDay
from clickplane.usage.service import (
    GIB,
    Cost,
    Prices,
    Sample,
    Use,
    accrue,
    cost,
    days_between,
    locked,
    pipe_to_wire,
    report_days,
    to_wire,
)
from tests.shared import shared_file

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PRICES = Prices(compute_per_gib_hour=0.5, storage_per_gib_month=3.0, backup_per_gib_month=1.5, clickpipes_per_gib=0.25)


def sample(running: bool = True, memory: float = 8, replicas: int = 2, storage: int = 0, backups: int = 0) -> Sample:
    return Sample(running=running, replica_memory_gib=memory, replicas=replicas, storage_bytes=storage,
                  backup_bytes=backups)


def test_a_span_within_one_day_is_all_that_day() -> None:
    assert list(days_between(NOON, NOON + MINUTE)) == [(date(2026, 3, 10), 60.0)]
    assert list(days_between(NOON, NOON)) == []


def test_a_span_is_split_at_each_utc_midnight() -> None:
    start = datetime(2026, 3, 10, 23, 59, 30, tzinfo=UTC)
    assert list(days_between(start, start + timedelta(days=1, minutes=1))) == [
        (date(2026, 3, 10), 30.0), (date(2026, 3, 11), 86400.0), (date(2026, 3, 12), 30.0)]


def test_days_are_utc_days_whatever_zone_the_times_are_in() -> None:
    start = datetime(2026, 3, 11, 1, 0, tzinfo=timezone(timedelta(hours=2)))  # 23:00 UTC the day before
    assert [day for day, _ in days_between(start, start + MINUTE)] == [date(2026, 3, 10)]


def test_a_running_service_accrues_compute_for_its_memory_and_replicas_and_its_storage_and_backups() -> None:
    (use,) = accrue(sample(memory=8, replicas=2, storage=3 * GIB, backups=GIB), NOON, NOON + MINUTE)
    assert use == Use(date(2026, 3, 10), compute_gib_seconds=8 * 2 * 60, storage_gib_seconds=3 * 60,
                      backup_gib_seconds=60)


def test_a_stopped_service_accrues_no_compute_but_keeps_paying_for_its_data() -> None:
    (use,) = accrue(sample(running=False, storage=GIB, backups=2 * GIB), NOON, NOON + MINUTE)
    assert (use.compute_gib_seconds, use.storage_gib_seconds, use.backup_gib_seconds) == (0, 60, 120)


def test_a_stopped_service_with_nothing_stored_accrues_nothing() -> None:
    assert accrue(sample(running=False), NOON, NOON + MINUTE) == []


def test_accrual_over_midnight_goes_to_both_days() -> None:
    start = datetime(2026, 3, 10, 23, 59, 45, tzinfo=UTC)
    uses = accrue(sample(memory=1, replicas=1, storage=GIB), start, start + MINUTE)
    assert [(u.day, u.compute_gib_seconds, u.storage_gib_seconds) for u in uses] == [
        (date(2026, 3, 10), 15, 15), (date(2026, 3, 11), 45, 45)]


def test_compute_is_priced_per_gib_hour_and_storage_and_backups_per_gib_month_of_30_days() -> None:
    one_hour_of_4_gib = Use(NOON.date(), compute_gib_seconds=4 * 3600)
    assert cost(one_hour_of_4_gib, PRICES) == Cost(compute=2.0, storage=0.0, backup=0.0)
    a_day_of_10_gib = Use(NOON.date(), storage_gib_seconds=10 * 86400, backup_gib_seconds=10 * 86400)
    priced = cost(a_day_of_10_gib, PRICES)
    assert priced.storage == pytest.approx(10 * 3.0 / 30)
    assert priced.backup == pytest.approx(10 * 1.5 / 30)
    assert priced.total == pytest.approx(priced.compute + 1.0 + 0.5)


def test_prices_come_from_settings() -> None:
    assert Prices.of(Settings(price_compute_per_gib_hour=1, price_storage_per_gib_month=2,
                              price_backup_per_gib_month=3, price_clickpipes_per_gib=4)) == Prices(1, 2, 3, 4)


def test_a_day_is_locked_once_it_is_over() -> None:
    today = date(2026, 3, 10)
    assert locked(date(2026, 3, 9), today)
    assert not locked(today, today)


def test_a_report_covers_from_date_to_date_both_included_up_to_31_days() -> None:
    assert report_days("2026-03-10", "2026-03-10") == (date(2026, 3, 10), date(2026, 3, 10))
    assert report_days("2026-01-01", "2026-01-31") == (date(2026, 1, 1), date(2026, 1, 31))
    assert report_days("2024-02-01", "2024-03-02") == (date(2024, 2, 1), date(2024, 3, 2))


def refused(from_date: str, to_date: str) -> str:
    with pytest.raises(BadRequest) as caught:
        report_days(from_date, to_date)
    return caught.value.message


def test_a_report_of_32_days_is_refused_naming_to_date() -> None:
    assert refused("2026-01-01", "2026-02-01").startswith("to_date 2026-02-01 is more than 30 days after from_date")


def test_from_date_after_to_date_is_refused() -> None:
    assert refused("2026-03-11", "2026-03-10").startswith("from_date 2026-03-11 is after to_date 2026-03-10")


@pytest.mark.parametrize("value", ["2026-02-30", "2026-3-10", "20260310", "2026-03-10T00:00:00Z", "today", ""])
def test_anything_but_a_plain_date_is_refused_naming_the_parameter(value: str) -> None:
    assert refused(value, "2026-03-10").startswith(f"from_date {value!r} is not a date")
    assert refused("2026-03-10", value).startswith(f"to_date {value!r} is not a date")


def test_a_record_has_every_field_of_the_reference_with_uuids_numbers_and_a_date() -> None:
    reference = json.loads(shared_file("reference", "clickhouse-cloud-openapi.json").read_text())["components"]
    service_id, warehouse_id = uuid.uuid4(), uuid.uuid4()
    day = UsageDay(service_id=service_id, day=date(2026, 3, 9), organization_id=uuid.uuid4(),
                   data_warehouse_id=warehouse_id, service_name="billed", compute_gib_seconds=4 * 3600,
                   storage_gib_seconds=10 * 86400, backup_gib_seconds=0.0, storage_bytes=10 * GIB)
    record = json.loads(to_wire(day, PRICES, today=date(2026, 3, 10)).model_dump_json())

    assert set(record) == set(reference["schemas"]["UsageCostRecord"]["properties"])
    assert set(record["metrics"]) == set(reference["schemas"]["UsageCostMetrics"]["properties"])
    assert all(isinstance(value, float) for value in record["metrics"].values())
    assert (record["serviceId"], record["entityId"], record["dataWarehouseId"]) == (
        str(service_id), str(service_id), str(warehouse_id))
    assert (record["date"], record["entityType"], record["entityName"], record["locked"]) == (
        "2026-03-09", "service", "billed", True)
    assert record["metrics"]["computeCHC"] == 2.0
    assert record["metrics"]["storageCHC"] == pytest.approx(1.0)
    assert record["totalCHC"] == pytest.approx(3.0)
    assert not to_wire(day, PRICES, today=date(2026, 3, 9)).locked


def test_a_clickpipe_day_costs_what_it_read_its_initial_load_apart() -> None:
    pipe_id, service_id, warehouse_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    day = ClickPipeUsageDay(pipe_id=pipe_id, day=date(2026, 3, 9), organization_id=uuid.uuid4(),
                            service_id=service_id, data_warehouse_id=warehouse_id, pipe_name="orders", rows=10,
                            initial_load_bytes=2 * GIB, transfer_bytes=GIB // 2)
    record = pipe_to_wire(day, PRICES, date(2026, 3, 10))
    assert (record.entityType, record.entityId, record.serviceId) == ("clickpipe", pipe_id, service_id)
    assert record.metrics.initialLoadCHC == pytest.approx(2 * 0.25)
    assert record.metrics.dataTransferCHC == pytest.approx(0.5 * 0.25)
    assert record.metrics.computeCHC == 0
    assert record.totalCHC == pytest.approx(2.5 * 0.25)
    assert record.locked
