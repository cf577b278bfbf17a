"""Organization quotas: values from settings, usage from the services, and the refusals they cause."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from clickplane.kit.errors import BadRequest, NotFound
from clickplane.quotas import service as quotas
from clickplane.settings import Settings
from clickplane.store.models import Service

LIMITS = quotas.Limits(services_per_organization=3, replicas_per_warehouse=5, postgres_services_per_organization=2)


def service(warehouse: uuid.UUID | None = None, replicas: int = 1, max_replicas: int | None = None,
            desired_state: str = "running") -> Service:
    return Service(id=uuid.uuid4(), data_warehouse_id=warehouse or uuid.uuid4(), num_replicas=replicas,
                   max_replicas=max_replicas, desired_state=desired_state)


def usage(services: list[Service]) -> dict[str, int | None]:
    return {quota.code: quota.usage for quota in quotas.organization_quotas(LIMITS, services)}


def refusal(check: Callable[[], None]) -> str:
    with pytest.raises(BadRequest) as caught:
        check()
    return caught.value.message


def test_limits_come_from_settings_with_generous_defaults() -> None:
    assert quotas.Limits.of(Settings()) == quotas.Limits(services_per_organization=100, replicas_per_warehouse=20,
                                                         postgres_services_per_organization=20)
    lowered = Settings(quota_services_per_organization=2, quota_replicas_per_warehouse=4,
                       quota_postgres_services_per_organization=1)
    assert quotas.Limits.of(lowered) == quotas.Limits(2, 4, 1)


def test_every_quota_is_listed_with_its_value() -> None:
    listed = quotas.organization_quotas(LIMITS, [], postgres_services=1)
    assert [(q.code, q.scope, q.value, q.usage, q.adjustable) for q in listed] == [
        ("services-per-organization", "organization", 3, 0, True),
        ("postgres-services-per-organization", "organization", 2, 1, True),
        ("replicas-per-warehouse", "warehouse", 5, 0, True),
    ]
    assert all(quota.name and quota.description for quota in listed)


def test_usage_counts_services_not_being_deleted_and_the_busiest_warehouse() -> None:
    shared = uuid.uuid4()
    services = [service(shared, replicas=2), service(shared, max_replicas=3), service(replicas=4),
                service(shared, replicas=9, desired_state="deleted")]
    assert usage(services) == {"services-per-organization": 3, "postgres-services-per-organization": 0,
                               "replicas-per-warehouse": 5}


def test_one_quota_by_code_and_an_unknown_code() -> None:
    assert quotas.organization_quota(LIMITS, [], 0, "replicas-per-warehouse").value == 5
    with pytest.raises(NotFound, match="quota 'cpus' does not exist"):
        quotas.organization_quota(LIMITS, [], 0, "cpus")


def test_a_create_past_the_services_quota_is_refused() -> None:
    existing = [service(), service(), service(desired_state="deleted")]
    quotas.check_new_service(LIMITS, existing, service())
    existing.append(service())
    message = refusal(lambda: quotas.check_new_service(LIMITS, existing, service()))
    assert message.startswith("quota services-per-organization exceeded: the organization has 3 services, and the "
                              "limit is 3")


def test_a_create_joining_a_full_warehouse_is_refused() -> None:
    warehouse = uuid.uuid4()
    existing = [service(warehouse, replicas=3)]
    quotas.check_new_service(LIMITS, existing, service(warehouse, replicas=2))
    message = refusal(lambda: quotas.check_new_service(LIMITS, existing, service(warehouse, max_replicas=3)))
    assert f"warehouse {warehouse} would run 6 replicas, and the limit is 5" in message


def test_growing_past_the_replicas_quota_is_refused_but_shrinking_is_not() -> None:
    warehouse = uuid.uuid4()
    resized = service(warehouse, replicas=4)
    others = [service(warehouse, replicas=2), resized]
    message = refusal(lambda: quotas.check_resized(LIMITS, others, resized, replicas_before=1))
    assert "would run 6 replicas" in message
    resized.num_replicas = 3
    quotas.check_resized(LIMITS, others, resized, replicas_before=1)
    # Over a lowered limit already: a resize that does not add replicas still goes through.
    resized.num_replicas = 4
    quotas.check_resized(LIMITS, others, resized, replicas_before=5)
