"""Validation of service create requests (the domain rules beyond the wire schema)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from clickplane.auth.secrets import password_sha256_hex
from clickplane.kit.errors import BadRequest
from clickplane.services.schemas import ServicePostRequest, ServiceReplicaScalingPatchRequest
from clickplane.services.service import apply_replica_scaling, plan_new_service

ORG = uuid.uuid4()


class NoWarehouses:
    def warehouse_exists(self, organization_id: uuid.UUID, warehouse_id: uuid.UUID) -> bool:
        return False


def plan(**fields: Any) -> Any:
    request = ServicePostRequest.model_validate({"name": "s", "provider": "aws", "region": "us-east-1", **fields})
    return plan_new_service(request, ORG, NoWarehouses())  # type: ignore[arg-type]


def refused(**fields: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        plan(**fields)
    return caught.value.message


def test_defaults_are_one_small_replica_that_may_idle() -> None:
    new = plan()
    service = new.service
    assert (service.num_replicas, service.min_replica_memory_gb, service.max_replica_memory_gb) == (1, 8, 8)
    assert service.state == "provisioning"
    assert service.desired_state == "running"
    assert service.idle_scaling is True
    assert service.is_primary is True
    assert service.password_sha256_hex == password_sha256_hex(new.password)
    assert new.password not in repr(service.__dict__)


def test_region_must_belong_to_provider() -> None:
    assert "eastus" in refused(region="eastus")
    assert plan(provider="azure", region="eastus").service.region == "eastus"


def test_memory_range_must_be_ordered() -> None:
    assert "minReplicaMemoryGb" in refused(minReplicaMemoryGb=16, maxReplicaMemoryGb=8)


def test_legacy_total_memory_is_spread_over_three_replicas() -> None:
    service = plan(minTotalMemoryGb=24, maxTotalMemoryGb=48).service
    assert (service.min_replica_memory_gb, service.max_replica_memory_gb) == (8, 16)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"minReplicas": 2}, "together"),
    ({"numReplicas": 2, "minReplicas": 1, "maxReplicas": 3}, "numReplicas"),
    ({"minReplicas": 3, "maxReplicas": 2}, "must not exceed"),
    ({"minReplicas": 1, "maxReplicas": 3}, "horizontal"),
    ({"autoscalingMode": "horizontal"}, "minReplicas"),
])
def test_replica_rules(fields: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(**fields)


def test_horizontal_band_is_kept() -> None:
    service = plan(autoscalingMode="horizontal", minReplicas=2, maxReplicas=5).service
    assert (service.autoscaling_mode, service.min_replicas, service.max_replicas) == ("horizontal", 2, 5)


def test_equal_band_is_a_fixed_vertical_count() -> None:
    service = plan(minReplicas=3, maxReplicas=3).service
    assert (service.autoscaling_mode, service.num_replicas) == ("vertical", 3)


@pytest.mark.parametrize("source", ["1.2.3", "300.1.1.1", "10.0.0.0/33", "example.com", ""])
def test_ip_access_list_takes_only_addresses_and_ranges(source: str) -> None:
    assert "ipAccessList[0]" in refused(ipAccessList=[{"source": source}])


def test_ip_access_list_keeps_entries_and_drops_repeats() -> None:
    entries = [{"source": "10.0.0.0/8"}, {"source": "2001:db8::/32", "description": "v6"}, {"source": "10.0.0.0/8"}]
    assert plan(ipAccessList=entries).service.ip_access_list == [
        {"source": "10.0.0.0/8", "description": ""}, {"source": "2001:db8::/32", "description": "v6"}]


def test_tag_keys_are_unique() -> None:
    assert "env" in refused(tags=[{"key": "env", "value": "a"}, {"key": "env", "value": "b"}])


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"hasTransparentDataEncryption": True}, "transparent data encryption"),
    ({"encryptionKey": "k"}, "encryption"),
    ({"byocId": "b"}, "byocId"),
    ({"endpoints": [{"protocol": "mysql", "enabled": True}]}, "MySQL"),
    ({"isReadonly": True}, "dataWarehouseId"),
    ({"dataWarehouseId": "not-a-uuid"}, "UUID"),
    ({"dataWarehouseId": str(uuid.uuid4())}, "not a warehouse"),
    ({"name": " padded"}, "name"),
    ({"name": "bell\u0007"}, "name"),
])
def test_what_clickplane_cannot_honour_is_refused_clearly(fields: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(**fields)


def test_a_change_of_replicas_alone_is_a_new_intent_for_the_runtime() -> None:
    service = plan().service
    service.generation = 1
    changed = apply_replica_scaling(service, ServiceReplicaScalingPatchRequest(numReplicas=3))
    assert changed == ["service_update_autoscaling_replicas"]
    assert (service.num_replicas, service.generation) == (3, 2)  # the kubernetes runtime then runs 3
    assert apply_replica_scaling(service, ServiceReplicaScalingPatchRequest(numReplicas=3)) == []
    assert service.generation == 2
