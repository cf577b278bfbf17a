"""Rules for services: what a create may ask for, and what a new service looks like."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from clickplane.api.schemas.common import IpAccessListEntry, ResourceTag
from clickplane.api.schemas.service import ServicePostRequest
from clickplane.domain.enums import REGIONS_BY_PROVIDER
from clickplane.domain.errors import BadRequest
from clickplane.domain.secrets import new_service_password, password_double_sha1_hex, password_sha256_hex
from clickplane.store.models import Service
from clickplane.store.repositories import Services

# A local service is sized like ClickHouse Cloud's smallest: one replica of 8 GiB.
DEFAULT_REPLICA_MEMORY_GB = 8.0
DEFAULT_IDLE_TIMEOUT_MINUTES = 15
# What the legacy total-memory fields were measured over.
LEGACY_REPLICAS_IN_TOTAL = 3


@dataclass(frozen=True)
class NewService:
    service: Service
    password: str  # shown once, in the create response


def validate_ip_access_list(entries: list[IpAccessListEntry]) -> list[dict[str, str]]:
    """Every source must be an IPv4/IPv6 address or CIDR; stored as given, one entry per source."""
    seen: set[str] = set()
    result: list[dict[str, str]] = []
    for index, entry in enumerate(entries):
        try:
            network = ipaddress.ip_network(entry.source.strip(), strict=False)
        except ValueError:
            raise BadRequest(
                f"ipAccessList[{index}].source {entry.source!r} is not an IP address or CIDR range "
                "(examples: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32, 0.0.0.0/0 for anywhere)") from None
        if str(network) in seen:
            continue
        seen.add(str(network))
        result.append({"source": entry.source.strip(), "description": entry.description or ""})
    return result


def validate_tags(tags: list[ResourceTag]) -> list[dict[str, str]]:
    keys = [tag.key for tag in tags]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise BadRequest(f"tags: key {duplicates[0]!r} is given more than once; each key may appear once")
    return [{"key": tag.key, "value": tag.value or ""} for tag in tags]


def _check_name(name: str) -> str:
    if name != name.strip() or not name.isprintable():
        raise BadRequest("name must not start or end with spaces nor contain control characters")
    return name


def _check_region(request: ServicePostRequest) -> None:
    if request.region not in REGIONS_BY_PROVIDER[request.provider]:
        choices = ", ".join(sorted(REGIONS_BY_PROVIDER[request.provider]))
        raise BadRequest(
            f"region {request.region!r} is not offered by provider {request.provider}; use one of: {choices}")


def _refuse_unavailable(request: ServicePostRequest) -> None:
    """Features a cloud would honour but clickplane cannot: refuse them rather than pretend."""
    if request.hasTransparentDataEncryption:
        raise BadRequest("hasTransparentDataEncryption: transparent data encryption is not available in "
                         "clickplane; omit the field or set it to false")
    if request.encryptionKey or request.encryptionAssumedRoleIdentifier:
        raise BadRequest("encryptionKey: customer-managed disk encryption is not available in clickplane; "
                         "encrypt the data directory's file system instead")
    if request.byocId:
        raise BadRequest(f"byocId: no bring-your-own-cloud infrastructure {request.byocId!r} exists in this "
                         "organization")
    if request.backupId:
        raise BadRequest(f"backupId: backup {request.backupId} was not found in this organization")
    if any(change.enabled for change in request.endpoints or []):
        raise BadRequest("endpoints: the MySQL interface is not offered by clickplane services; "
                         "connect with the native or HTTPS protocol")


def _memory(request: ServicePostRequest) -> tuple[float, float]:
    low = request.minReplicaMemoryGb
    high = request.maxReplicaMemoryGb
    if low is None and request.minTotalMemoryGb is not None:
        low = request.minTotalMemoryGb / LEGACY_REPLICAS_IN_TOTAL
    if high is None and request.maxTotalMemoryGb is not None:
        high = request.maxTotalMemoryGb / LEGACY_REPLICAS_IN_TOTAL
    low = low if low is not None else (high if high is not None else DEFAULT_REPLICA_MEMORY_GB)
    high = high if high is not None else max(low, DEFAULT_REPLICA_MEMORY_GB)
    if low > high:
        raise BadRequest(f"minReplicaMemoryGb ({low:g}) must not exceed maxReplicaMemoryGb ({high:g})")
    return low, high


def _replicas(request: ServicePostRequest) -> tuple[str, int, int | None, int | None]:
    """(autoscalingMode, numReplicas, minReplicas, maxReplicas) under the reference's rules."""
    band = (request.minReplicas, request.maxReplicas)
    if (band[0] is None) != (band[1] is None):
        raise BadRequest("minReplicas and maxReplicas must be given together")
    if band[0] is not None and request.numReplicas is not None:
        raise BadRequest("numReplicas cannot be combined with minReplicas/maxReplicas; give one or the other")
    low, high = band
    if low is not None and high is not None and low > high:
        raise BadRequest(f"minReplicas ({low}) must not exceed maxReplicas ({high})")
    mode = request.autoscalingMode or "vertical"
    if mode == "horizontal":
        if low is None:
            raise BadRequest("autoscalingMode horizontal needs minReplicas and maxReplicas")
        if request.minReplicaMemoryGb != request.maxReplicaMemoryGb:
            raise BadRequest("autoscalingMode horizontal needs minReplicaMemoryGb equal to maxReplicaMemoryGb")
        return mode, low, low, high
    if low is not None and low != high:
        raise BadRequest("a minReplicas/maxReplicas band that differs needs autoscalingMode horizontal")
    return mode, request.numReplicas or low or 1, None, None


def _warehouse(request: ServicePostRequest, organization_id: uuid.UUID,
               services: Services) -> tuple[uuid.UUID, bool]:
    if request.dataWarehouseId is None:
        if request.isReadonly:
            raise BadRequest("isReadonly needs dataWarehouseId: only a secondary service can be read-only")
        return uuid.uuid4(), True
    try:
        warehouse_id = uuid.UUID(request.dataWarehouseId)
    except ValueError:
        raise BadRequest(f"dataWarehouseId {request.dataWarehouseId!r} is not a UUID") from None
    if not services.warehouse_exists(organization_id, warehouse_id):
        raise BadRequest(f"dataWarehouseId {warehouse_id} is not a warehouse of this organization")
    return warehouse_id, False


def plan_new_service(request: ServicePostRequest, organization_id: uuid.UUID, services: Services) -> NewService:
    """Validate a create request and build the service record, in state provisioning."""
    _check_name(request.name)
    _check_region(request)
    _refuse_unavailable(request)
    low_memory, high_memory = _memory(request)
    mode, num_replicas, min_replicas, max_replicas = _replicas(request)
    warehouse_id, is_primary = _warehouse(request, organization_id, services)
    password = new_service_password()
    options = {
        "tier": request.tier, "releaseChannel": request.releaseChannel or "default",
        "profile": request.profile, "complianceType": request.complianceType,
        "enableCoreDumps": request.enableCoreDumps, "privateEndpointIds": request.privateEndpointIds or [],
    }
    service = Service(
        id=uuid.uuid4(), organization_id=organization_id, name=request.name,
        provider=request.provider, region=request.region, state="provisioning", desired_state="running",
        password_sha256_hex=password_sha256_hex(password),
        password_double_sha1_hex=password_double_sha1_hex(password),
        ip_access_list=validate_ip_access_list(request.ipAccessList),
        tags=validate_tags(request.tags or []),
        autoscaling_mode=mode, min_replica_memory_gb=low_memory, max_replica_memory_gb=high_memory,
        num_replicas=num_replicas, min_replicas=min_replicas, max_replicas=max_replicas,
        idle_scaling=True if request.idleScaling is None else request.idleScaling,
        idle_timeout_minutes=int(request.idleTimeoutMinutes or DEFAULT_IDLE_TIMEOUT_MINUTES),
        data_warehouse_id=warehouse_id, is_primary=is_primary, is_readonly=bool(request.isReadonly),
        options={k: v for k, v in options.items() if v is not None},
        generation=1, observed_generation=0,
    )
    return NewService(service=service, password=password)
