"""ClickHouse services: the rules (what a create may ask for, what a new service looks like, how a change or a
resize applies) and `ClickHouseServices`, whose methods are the API's use cases, each in a transaction of its
own, waking the reconciler once it has committed a new intent."""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from pydantic_core import to_json
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth import permissions
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import new_service_password, password_sha256_hex
from clickplane.backups.repository import Backups
from clickplane.backups.service import restore_source
from clickplane.clickpipes.repository import ClickPipes
from clickplane.kit.cloud_ids import check_endpoint_id
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType, check_provider_region
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.kit.schemas import MAX_IP_ACCESS_LIST_ENTRIES, IpAccessListEntry
from clickplane.kit.validation import validate_tags
from clickplane.organizations.lookup import visible as visible_organization
from clickplane.organizations.repository import Organizations
from clickplane.quotas import service as quotas
from clickplane.services import lifecycle, schemas
from clickplane.services.lifecycle import Command
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import ServiceRows, Services
from clickplane.services.scaling_view import base_of, current_base, schedule_to_wire
from clickplane.services.schemas import (
    InstanceTagsPatch,
    IpAccessListPatch,
    ServicePasswordPatchRequest,
    ServicePatchRequest,
    ServicePostRequest,
    ServiceReplicaScalingPatchRequest,
    ServiceScalingPatchRequest,
    ServicPrivateEndpointePostRequest,
)
from clickplane.store.models import Organization, ScalingSchedule, Service

# A local service is sized like ClickHouse Cloud's smallest: one replica of 8 GiB.
DEFAULT_REPLICA_MEMORY_GB = 8.0
DEFAULT_IDLE_TIMEOUT_MINUTES = 15
# What the legacy total-memory fields were measured over.
LEGACY_REPLICAS_IN_TOTAL = 3
MAX_TAGS = 50

T = TypeVar("T")


@dataclass(frozen=True)
class NewService:
    service: Service
    password: str  # shown once, in the create response


def validate_ip_access_list(entries: list[IpAccessListEntry]) -> list[dict[str, str]]:
    """Every source must be an IPv4/IPv6 address or CIDR; stored as given, one entry per source, at most
    MAX_IP_ACCESS_LIST_ENTRIES of them."""
    seen: set[str] = set()
    result: list[dict[str, str]] = []
    for index, entry in enumerate(entries):
        if "%" in entry.source:  # a zone index (fe80::1%eth0), which Python's parser takes but ClickHouse may not
            raise BadRequest(f"ipAccessList[{index}].source {entry.source!r}: a zone index (%...) has no meaning in "
                             "an access list; give the address alone")
        try:
            network = ipaddress.ip_network(entry.source.strip(), strict=False)
        except ValueError:
            raise BadRequest(
                f"ipAccessList[{index}].source {entry.source!r} is not an IP address or CIDR range "
                "(examples: 203.0.113.7, 10.0.0.0/8, 2001:db8::/32, 0.0.0.0/0 for anywhere)") from None
        if str(network) in seen:
            continue
        if len(seen) == MAX_IP_ACCESS_LIST_ENTRIES:
            raise BadRequest(f"ipAccessList: a list holds at most {MAX_IP_ACCESS_LIST_ENTRIES} entries; cover "
                             "addresses with CIDR ranges (10.0.0.0/8) instead of listing them one by one")
        seen.add(str(network))
        result.append({"source": entry.source.strip(), "description": entry.description or ""})
    return result


def _check_name(name: str) -> str:
    if name != name.strip() or not name.isprintable():
        raise BadRequest("name must not start or end with spaces nor contain control characters")
    return name


def _refuse_unavailable(request: ServicePostRequest) -> None:
    """Features a cloud would honour but clickplane cannot: refuse them rather than pretend."""
    if request.hasTransparentDataEncryption:
        raise BadRequest("hasTransparentDataEncryption: transparent data encryption is not available in "
                         "clickplane; omit the field or set it to false")
    if request.encryptionKey or request.encryptionAssumedRoleIdentifier:
        raise BadRequest("encryptionKey: customer-managed disk encryption is not available in clickplane; "
                         "encrypt the data directory's file system instead")
    if request.byocId:
        raise BadRequest(f"byocId {request.byocId!r}: clickplane runs services on this machine and cannot place one "
                         "in bring-your-own-cloud infrastructure (it records BYOC infrastructure, provisions none); "
                         "omit byocId")
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


def plan_new_service(request: ServicePostRequest, organization_id: uuid.UUID, services: Services,
                     restore_from: str | None = None) -> NewService:
    """Validate a create request and build the service record, in state provisioning; `restore_from` is the
    directory of the backup it starts from (`backups.restore_source` checks the request's backupId)."""
    _check_name(request.name)
    check_provider_region(request.provider, request.region)
    _refuse_unavailable(request)
    low_memory, high_memory = _memory(request)
    mode, num_replicas, min_replicas, max_replicas = _replicas(request)
    warehouse_id, is_primary = _warehouse(request, organization_id, services)
    password = new_service_password()
    options = {
        "tier": request.tier, "releaseChannel": request.releaseChannel or "default",
        "profile": request.profile, "complianceType": request.complianceType,
        "enableCoreDumps": request.enableCoreDumps,
        "privateEndpointIds": [check_endpoint_id(request.provider, endpoint, f"privateEndpointIds[{index}]")
                               for index, endpoint in enumerate(dict.fromkeys(request.privateEndpointIds or []))],
    }
    service = Service(
        id=uuid.uuid4(), organization_id=organization_id, name=request.name,
        provider=request.provider, region=request.region, state="provisioning", desired_state="running",
        password_sha256_hex=password_sha256_hex(password),
        ip_access_list=validate_ip_access_list(request.ipAccessList),
        tags=validate_tags(request.tags or []),
        autoscaling_mode=mode, min_replica_memory_gb=low_memory, max_replica_memory_gb=high_memory,
        num_replicas=num_replicas, min_replicas=min_replicas, max_replicas=max_replicas,
        idle_scaling=True if request.idleScaling is None else request.idleScaling,
        idle_timeout_minutes=_whole_minutes(request.idleTimeoutMinutes or DEFAULT_IDLE_TIMEOUT_MINUTES),
        data_warehouse_id=warehouse_id, is_primary=is_primary, is_readonly=bool(request.isReadonly),
        options={k: v for k, v in options.items() if v is not None},
        generation=1, observed_generation=0, restore_from=restore_from,
    )
    return NewService(service=service, password=password)


def tag_filters(filters: list[str]) -> list[tuple[str, str | None]]:
    """`tag:KEY` or `tag:KEY=VALUE` filters as (key, value or None for any value)."""
    parsed: list[tuple[str, str | None]] = []
    for raw in filters:
        kind, _, condition = raw.partition(":")
        key, has_value, value = condition.partition("=")
        if kind != "tag" or not key:
            raise BadRequest(f"filter {raw!r} is not understood; use tag:KEY or tag:KEY=VALUE")
        parsed.append((key, value if has_value else None))
    return parsed


def has_tags(service_tags: list[Any], wanted: list[tuple[str, str | None]]) -> bool:
    """Whether a service's tags (its `tags`: key/value objects) hold every wanted one."""
    tags = {tag["key"]: tag["value"] for tag in service_tags}
    return all(key in tags and (value is None or tags[key] == value) for key, value in wanted)


def _bump(service: Service) -> None:
    """Mark a change the runtime must apply (password, networks, memory, replicas)."""
    service.generation += 1


def _patched_ip_access_list(service: Service, patch: IpAccessListPatch) -> list[dict[str, str]]:
    removed = {_network_key(entry.source, f"ipAccessList.remove[{i}]") for i, entry in enumerate(patch.remove or [])}
    kept = [IpAccessListEntry.model_validate(entry) for entry in service.ip_access_list
            if _network_key(entry["source"], "ipAccessList") not in removed]
    return validate_ip_access_list([*kept, *(patch.add or [])])


def _network_key(source: str, where: str) -> str:
    try:
        return str(ipaddress.ip_network(source.strip(), strict=False))
    except ValueError:
        raise BadRequest(f"{where}: {source!r} is not an IP address or CIDR range") from None


def _patched_tags(service: Service, patch: InstanceTagsPatch) -> list[dict[str, str]]:
    removed = {tag.key for tag in patch.remove or []}
    tags = {tag["key"]: tag["value"] for tag in service.tags if tag["key"] not in removed}
    tags.update({tag["key"]: tag["value"] for tag in validate_tags(patch.add or [])})
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"tags: a service holds at most {MAX_TAGS} tags; remove some first")
    return [{"key": key, "value": value} for key, value in tags.items()]


def apply_patch(service: Service, patch: ServicePatchRequest) -> list[RecordedActivityType]:
    """Apply a PATCH to the service; returns the activity types of what changed."""
    changed: list[RecordedActivityType] = []
    if patch.endpoints and any(change.enabled for change in patch.endpoints):
        raise BadRequest("endpoints: the MySQL interface is not offered by clickplane services; "
                         "connect with the native or HTTPS protocol")
    if patch.transparentDataEncryptionKeyId is not None:
        raise BadRequest("transparentDataEncryptionKeyId: transparent data encryption is not available in clickplane")
    if patch.name is not None and patch.name != service.name:
        service.name = _check_name(patch.name)
        changed.append("service_update_name")
    if patch.ipAccessList is not None:
        networks = _patched_ip_access_list(service, patch.ipAccessList)
        if networks != service.ip_access_list:
            service.ip_access_list = networks
            _bump(service)
            changed.append("service_update_ip_access_list")
    if patch.tags is not None:
        service.tags = _patched_tags(service, patch.tags)
        changed.append("service_update_tags")
    options = dict(service.options)
    if patch.releaseChannel is not None and patch.releaseChannel != options.get("releaseChannel"):
        options["releaseChannel"] = patch.releaseChannel
        changed.append("service_update_release_channel")
    if patch.privateEndpointIds is not None:
        removed = set(patch.privateEndpointIds.remove or [])
        added = [check_endpoint_id(service.provider, e, f"privateEndpointIds.add[{i}]")
                 for i, e in enumerate(patch.privateEndpointIds.add or [])]
        attached = [e for e in options.get("privateEndpointIds", []) if e not in removed]
        options["privateEndpointIds"] = attached + [e for e in added if e not in attached]
        changed.append("service_update_private_endpoints")
    if patch.enableCoreDumps is not None and patch.enableCoreDumps != options.get("enableCoreDumps"):
        options["enableCoreDumps"] = patch.enableCoreDumps
        changed.append("service_update_core_dump")
    service.options = options
    return changed


def register_private_endpoint(organization: Organization, service: Service,
                              request: ServicPrivateEndpointePostRequest) -> dict[str, str]:
    """Record a private endpoint in the organization, attached to the service, in the service's provider and
    region; returns it as the organization lists it. Nothing routes through it here."""
    endpoint_id = check_endpoint_id(service.provider, request.id, "id")
    description = request.description or ""
    if not description.isprintable():
        raise BadRequest("description must not contain control characters")
    if any(known.get("id") == endpoint_id for known in organization.private_endpoints):
        raise Conflict(f"private endpoint {endpoint_id} is already registered in this organization; attach it to "
                       "this service with PATCH .../services/{serviceId} and privateEndpointIds.add")
    endpoint = {"id": endpoint_id, "description": description, "cloudProvider": service.provider,
                "region": service.region}
    organization.private_endpoints = [*organization.private_endpoints, endpoint]
    attached = service.options.get("privateEndpointIds", [])  # PATCH privateEndpointIds.add may have it already
    service.options = {**service.options,
                       "privateEndpointIds": attached if endpoint_id in attached else [*attached, endpoint_id]}
    return endpoint


def apply_replica_scaling(service: Service, request: ServiceReplicaScalingPatchRequest) -> list[RecordedActivityType]:
    """Resize a service under the create rules; returns the activity types of what changed."""
    mode = request.autoscalingMode or service.autoscaling_mode
    band_given = request.minReplicas is not None or request.maxReplicas is not None
    merged = ServicePostRequest.model_construct(
        name=service.name, provider=service.provider, region=service.region, autoscalingMode=mode,
        minReplicaMemoryGb=_first(request.minReplicaMemoryGb, service.min_replica_memory_gb),
        maxReplicaMemoryGb=_first(request.maxReplicaMemoryGb, service.max_replica_memory_gb),
        numReplicas=None if band_given or mode == "horizontal" else _first(request.numReplicas, service.num_replicas),
        minReplicas=_first(request.minReplicas, service.min_replicas) if mode == "horizontal" or band_given else None,
        maxReplicas=_first(request.maxReplicas, service.max_replicas) if mode == "horizontal" or band_given else None,
        minTotalMemoryGb=None, maxTotalMemoryGb=None,
    )
    low, high = _memory(merged)
    mode, replicas, min_replicas, max_replicas = _replicas(merged)
    changed: list[RecordedActivityType] = []
    if (low, high) != (service.min_replica_memory_gb, service.max_replica_memory_gb):
        service.min_replica_memory_gb, service.max_replica_memory_gb = low, high
        _bump(service)
        changed.append("service_update_autoscaling_memory")
    replica_shape = (mode, replicas, min_replicas, max_replicas)
    if replica_shape != (service.autoscaling_mode, service.num_replicas, service.min_replicas, service.max_replicas):
        service.autoscaling_mode, service.num_replicas, service.min_replicas, service.max_replicas = replica_shape
        _bump(service)  # the kubernetes runtime runs that many replicas (the local runtime runs one server anyway)
        changed.append("service_update_autoscaling_replicas")
    changed += _apply_idling(service, request.idleScaling, request.idleTimeoutMinutes)
    return changed


def apply_legacy_scaling(service: Service, request: ServiceScalingPatchRequest) -> list[RecordedActivityType]:
    """The older /scaling call: total memory over three replicas, replica count, idling."""
    def per_replica(total: float | None) -> float | None:
        return None if total is None else total / LEGACY_REPLICAS_IN_TOTAL

    return apply_replica_scaling(service, ServiceReplicaScalingPatchRequest(
        minReplicaMemoryGb=per_replica(request.minTotalMemoryGb),
        maxReplicaMemoryGb=per_replica(request.maxTotalMemoryGb),
        numReplicas=request.numReplicas, idleScaling=request.idleScaling,
        idleTimeoutMinutes=request.idleTimeoutMinutes))


def _first(given: T | None, current: T) -> T:
    return current if given is None else given


def _apply_idling(service: Service, idle_scaling: bool | None, timeout_minutes: float | None
                  ) -> list[RecordedActivityType]:
    before = (service.idle_scaling, service.idle_timeout_minutes)
    if idle_scaling is not None:
        service.idle_scaling = idle_scaling
    if timeout_minutes is not None:
        service.idle_timeout_minutes = _whole_minutes(timeout_minutes)
    after = (service.idle_scaling, service.idle_timeout_minutes)
    return ["service_update_autoscaling_idling"] if before != after else []


def _whole_minutes(timeout_minutes: float) -> int:
    if timeout_minutes != int(timeout_minutes):
        raise BadRequest("idleTimeoutMinutes must be a whole number of minutes")
    return int(timeout_minutes)


def change_password(service: Service, request: ServicePasswordPatchRequest) -> str | None:
    """Set a new password; returns it when generated, None when the client sent its hash."""
    if request.newPasswordHash is None:
        password = new_service_password()
        service.password_sha256_hex = password_sha256_hex(password)
        _bump(service)
        return password
    try:
        digest = base64.b64decode(request.newPasswordHash, validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise BadRequest("newPasswordHash must be the base64 of a SHA-256 digest: "
                         "echo -n \"$PASSWORD\" | sha256sum | tr -d '-' | xxd -r -p | base64")
    double_sha1 = request.newDoubleSha1Hash  # checked, then not kept: clickplane serves no MySQL protocol
    if double_sha1 is not None and not re.fullmatch(r"[0-9a-fA-F]{40}", double_sha1):
        raise BadRequest("newDoubleSha1Hash must be 40 hexadecimal digits (the SHA-1 of the SHA-1 of the password)")
    service.password_sha256_hex = digest.hex()
    _bump(service)
    return None


def set_clickhouse_settings(service: Service, settings: dict[str, str]) -> dict[str, str]:
    """Set ClickHouse settings already checked against the engine; returns those whose value changed."""
    changed = {name: value for name, value in settings.items() if service.clickhouse_settings.get(name) != value}
    if changed:
        service.clickhouse_settings = {**service.clickhouse_settings, **changed}
        _bump(service)
    return changed


def reset_clickhouse_setting(service: Service, name: str) -> bool:
    """Return a setting to the engine's default; False when it was not set."""
    if name not in service.clickhouse_settings:
        return False
    service.clickhouse_settings = {key: value for key, value in service.clickhouse_settings.items() if key != name}
    _bump(service)
    return True


def _current_scaling(service: Service, schedule: ScalingSchedule | None) -> schemas.CurrentScaling:
    """What runs: the service's own scaling fields (an entry's while one is in force, scaling_view.py)."""
    return schemas.CurrentScaling(
        effectiveAutoscalingMode=service.autoscaling_mode,  # type: ignore[arg-type]
        effectiveMinReplicaMemoryGb=service.min_replica_memory_gb,
        effectiveMaxReplicaMemoryGb=service.max_replica_memory_gb,
        effectiveMinReplicas=service.min_replicas or service.num_replicas,
        effectiveMaxReplicas=service.max_replicas or service.num_replicas,
        effectiveIdleScaling=service.idle_scaling, effectiveIdleTimeoutMinutes=service.idle_timeout_minutes,
        activeEntryId=None if schedule is None or schedule.active_entry_id is None
        else uuid.UUID(schedule.active_entry_id),
    )


def to_wire(service: Service, schedule: ScalingSchedule | None = None) -> schemas.Service:
    """The service as the API shows it; with its scaling schedule, the schedule's base configuration at the top
    level (scaling_view.py)."""
    base = base_of(service) if schedule is None else current_base(schedule, service)
    horizontal = base["autoscalingMode"] == "horizontal"
    options = service.options
    return schemas.Service.model_validate({
        "id": service.id, "name": service.name, "provider": service.provider, "region": service.region,
        "state": service.state, "clickhouseVersion": service.clickhouse_version,
        "endpoints": service.endpoints, "tier": options.get("tier"),
        "minReplicaMemoryGb": base["minReplicaMemoryGb"], "maxReplicaMemoryGb": base["maxReplicaMemoryGb"],
        "numReplicas": None if horizontal else base.get("numReplicas"),
        "minReplicas": base.get("minReplicas") if horizontal else None,
        "maxReplicas": base.get("maxReplicas") if horizontal else None,
        "replicaMemoryGb": base["maxReplicaMemoryGb"] if horizontal else None,
        "autoscalingMode": base["autoscalingMode"], "idleScaling": base["idleScaling"],
        "idleTimeoutMinutes": base["idleTimeoutMinutes"], "ipAccessList": service.ip_access_list,
        "createdAt": service.created_at, "privateEndpointIds": options.get("privateEndpointIds", []),
        "dataWarehouseId": str(service.data_warehouse_id), "isPrimary": service.is_primary,
        "isReadonly": service.is_readonly, "releaseChannel": options.get("releaseChannel"),
        "profile": options.get("profile"), "complianceType": options.get("complianceType"),
        "hasTransparentDataEncryption": False, "enableCoreDumps": options.get("enableCoreDumps"),
        "tags": service.tags, "currentScaling": _current_scaling(service, schedule),
        "scalingSchedule": None if schedule is None else schedule_to_wire(schedule, service),
    })


@dataclass(frozen=True)
class RenderedService:
    """A service of a list as JSON, with what callers' views of the list are chosen by."""

    id: uuid.UUID
    tags: list[dict[str, str]]
    json: bytes


def _rendered(row: Any, schedule: Any) -> bytes:
    """A service read with Core (and its schedule's row, or None) as JSON."""
    return to_json(to_wire(cast(Service, row), cast(ScalingSchedule | None, schedule)), exclude_none=True)


class ClickHouseServices:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    # Reads: the hottest of the API, served through the read cache from Core rows of a plain connection.

    def list_json(self, caller: Caller, organization_id: uuid.UUID, filters: list[str]) -> bytes:
        """The services the caller may view, carrying every tag of `filters`, as a JSON list."""
        wanted = tag_filters(filters)
        listed = self.context.read_cache.get(("services", organization_id),
                                             lambda: self._rendered_list(organization_id))
        return b"[" + b",".join(
            service.json for service in listed
            if permissions.allows(caller.policies, permissions.SERVICE_VIEW, f"instance/{service.id}")
            and has_tags(service.tags, wanted)) + b"]"

    def _rendered_list(self, organization_id: uuid.UUID) -> list[RenderedService]:
        with self.context.database.reading() as connection:
            reader = ServiceRows(connection)
            rows, schedules = reader.list(organization_id), reader.schedules(organization_id)
        return [RenderedService(row.id, row.tags, _rendered(row, schedules.get(row.id))) for row in rows]

    def get_json(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> bytes:
        rendered = self.context.read_cache.get(("service", service_id),
                                               lambda: self._rendered_one(organization_id, service_id))
        if rendered is None:
            raise Services.not_found(organization_id, service_id)
        return rendered

    def _rendered_one(self, organization_id: uuid.UUID, service_id: uuid.UUID) -> bytes | None:
        with self.context.database.reading() as connection:
            reader = ServiceRows(connection)
            row = reader.get(organization_id, service_id)
            schedule = None if row is None else reader.schedule(service_id)
        return None if row is None else _rendered(row, schedule)

    def create_private_endpoint(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                                request: ServicPrivateEndpointePostRequest) -> schemas.InstancePrivateEndpoint:
        with self.context.database.transaction() as session:
            organization = visible_organization(Organizations(session), caller, organization_id, for_update=True)
            service = changeable(Services(session), caller, organization_id, service_id)
            endpoint = register_private_endpoint(organization, service, request)
            _record(session, caller, service, ["service_update_private_endpoints"], {"add": [endpoint["id"]]})
        return schemas.InstancePrivateEndpoint.model_validate(endpoint)

    def private_endpoint_config(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                                ) -> schemas.PrivateEndpointConfig:
        with self.context.database.looking() as session:
            visible(Services(session), caller, organization_id, service_id)
        settings = self.context.settings
        return schemas.PrivateEndpointConfig(
            endpointServiceId="", privateDnsHostname=settings.service_advertised_host or settings.service_listen_host)

    # Changes: each records its intent and its activity in one transaction, then wakes the reconciler.

    def create(self, caller: Caller, organization_id: uuid.UUID, request: ServicePostRequest
               ) -> schemas.ServicePostResponse:
        with self.context.database.transaction() as session:
            visible_organization(Organizations(session), caller, organization_id, for_update=True)
            services = Services(session)
            restore_from = restore_source(request, organization_id, Backups(session), services)
            new = plan_new_service(request, organization_id, services, restore_from)
            quotas.check_new_service(quotas.Limits.of(self.context.settings), services.list(organization_id),
                                     new.service)
            services.add(new.service)
            _record(session, caller, new.service, ["service_create"], {"name": new.service.name})
            if restore_from is not None:
                _record(session, caller, new.service, ["service_restore_backup"], {"backupId": str(request.backupId)})
            created = schemas.ServicePostResponse(service=to_wire(new.service), password=new.password)
        self.context.reconcile_now.set()
        return created

    def update(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, patch: ServicePatchRequest
               ) -> schemas.Service:
        return self._change(caller, organization_id, service_id, lambda service, _: apply_patch(service, patch),
                            patch.model_dump(exclude_none=True, mode="json"))

    def rescale(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                request: ServiceReplicaScalingPatchRequest | ServiceScalingPatchRequest) -> schemas.Service:
        """Resize under the create rules and the replica quota (replicaScaling, or the legacy scaling form)."""
        def resize(service: Service, services: Services) -> list[RecordedActivityType]:
            replicas_before = quotas.replicas(service)
            changes = (apply_replica_scaling(service, request) if isinstance(request, ServiceReplicaScalingPatchRequest)
                       else apply_legacy_scaling(service, request))
            quotas.check_resized(quotas.Limits.of(self.context.settings), services.list(organization_id), service,
                                 replicas_before)
            return changes

        return self._change(caller, organization_id, service_id, resize, request.model_dump(exclude_none=True))

    def command(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, command: Command
                ) -> schemas.Service:
        """start, stop or awake, as the lifecycle table allows from the service's state."""
        def act(service: Service, _: Services) -> list[RecordedActivityType]:
            transition = lifecycle.apply(service.state, command)
            if transition is None:
                return []
            lifecycle.enter(service, transition)
            service.state_reason = None
            return [lifecycle.COMMAND_ACTIVITIES[command]]

        return self._change(caller, organization_id, service_id, act, {})

    def delete(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            service = visible(Services(session), caller, organization_id, service_id, for_update=True)
            transition = lifecycle.apply(service.state, "delete")
            if transition is not None:
                lifecycle.enter(service, transition)
                ClickPipes(session).delete_all_of(service_id)  # their slots are dropped before the service goes
                _record(session, caller, service, ["service_delete"], {"name": service.name})
        self.context.reconcile_now.set()

    def change_password(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                        request: ServicePasswordPatchRequest) -> schemas.ServicePasswordPatchResponse:
        """A new password for the `default` user: generated and shown once, or the one whose hash is sent."""
        password: str | None = None

        def act(service: Service, _: Services) -> list[RecordedActivityType]:
            nonlocal password
            password = change_password(service, request)
            return ["service_update_password"]

        self._change(caller, organization_id, service_id, act, {})
        return schemas.ServicePasswordPatchResponse(password=password)

    def _change(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                change: Callable[[Service, Services], list[RecordedActivityType]], details: dict[str, Any]
                ) -> schemas.Service:
        """Apply `change` to the service, locked and not being deleted, with an activity per change it reports."""
        with self.context.database.transaction() as session:
            services = Services(session)
            service = changeable(services, caller, organization_id, service_id)
            _record(session, caller, service, change(service, services), details)
            changed = to_wire(service, services.schedule_of(service.id))
        self.context.reconcile_now.set()
        return changed


def _record(session: Session, caller: Caller, service: Service, changes: list[RecordedActivityType],
            details: dict[str, Any]) -> None:
    for activity_type in changes:
        record(Activities(session), caller, activity_type, service_id=service.id, details=details)
