"""Wire models of services."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from clickplane.kit.enums import (
    AutoscalingMode,
    ComplianceType,
    EndpointProtocol,
    Profile,
    Provider,
    Region,
    ReleaseChannel,
    ServiceState,
    Tier,
    ToggleableProtocol,
)
from clickplane.kit.schemas import (
    DEPRECATED,
    MAX_IP_ACCESS_LIST_ENTRIES,
    WHOLE_FLOAT_AS_INTEGER,
    IpAccessListEntry,
    RequestModel,
    ResourceTag,
    ResponseModel,
    Timestamp,
    exact_multiple_of,
)

# Kept as whole minutes in a 32-bit integer column; a longer timeout (4,000 years) would mean never anyway.
MAX_IDLE_TIMEOUT_MINUTES = 2**31 - 1
IdleTimeoutMinutes = Annotated[float | None, Field(ge=5, le=MAX_IDLE_TIMEOUT_MINUTES,
                                                   description="Idle minutes, a whole number, at least 5.")]
ReplicaCount = Annotated[int, Field(ge=1, le=20), WHOLE_FLOAT_AS_INTEGER]
# Memory per replica a service may have, GiB: the reference's bounds and step.
MIN_REPLICA_MEMORY_GB, MAX_REPLICA_MEMORY_GB, REPLICA_MEMORY_STEP_GB = 8, 356, 4
ReplicaMemoryGb = Annotated[float | None, Field(ge=MIN_REPLICA_MEMORY_GB, le=MAX_REPLICA_MEMORY_GB,
                                                multiple_of=REPLICA_MEMORY_STEP_GB),
                            exact_multiple_of(REPLICA_MEMORY_STEP_GB)]
TotalMemoryGb = Annotated[float | None, Field(ge=24, le=1068, multiple_of=12, json_schema_extra=DEPRECATED),
                          exact_multiple_of(12)]


class ServiceEndpoint(ResponseModel):
    protocol: EndpointProtocol = Field(
        description="https and nativesecure are TLS; http and native are the plain local-development ports.")
    host: str = Field(description="Host name or address to connect to.")
    port: int = Field(description="TCP port.")
    username: str | None = Field(default=None, description="User name for this endpoint, when it needs one.")


class ServiceEndpointChange(RequestModel):
    protocol: ToggleableProtocol = Field(description="The endpoint to switch on or off.")
    enabled: bool = Field(description="Whether the endpoint should be enabled.")


class ScalingScheduleBaseConfig(ResponseModel):
    autoscalingMode: AutoscalingMode | None = Field(default=None, description="Mode outside any window.")
    minReplicaMemoryGb: float | None = Field(default=None, description="Minimum memory per replica, GiB.")
    maxReplicaMemoryGb: float | None = Field(default=None, description="Maximum memory per replica, GiB.")
    minReplicas: int | None = Field(default=None, description="Minimum replica count.")
    maxReplicas: int | None = Field(default=None, description="Maximum replica count.")
    idleScaling: bool | None = Field(default=None, description="Whether the service may idle.")
    idleTimeoutMinutes: int | None = Field(default=None, description="Minutes without queries before idling.")


class ScalingScheduleEntry(ScalingScheduleBaseConfig):
    """A time window with its own scaling: the base configuration's fields, plus when it applies."""

    id: UUID = Field(description="Entry id.")
    name: str = Field(description="Entry name.")
    weekdays: list[int] = Field(min_length=1, description="Weekdays it applies on: 0 = Sunday, ..., 6 = Saturday.")
    startHourUtc: int = Field(ge=0, le=23, description="First hour (UTC) of the window.")
    endHourUtc: int = Field(ge=1, le=24, description="Hour (UTC) the window ends, exclusive; less than the start "
                                                  "spans midnight.")
    autoscalingMode: AutoscalingMode = Field(description="Autoscaling mode inside the window.")
    isActiveNow: bool = Field(description="Whether the window is in force now.")


class ScalingSchedule(ResponseModel):
    entries: list[ScalingScheduleEntry] = Field(description="Time windows with their own scaling.")
    baseConfig: ScalingScheduleBaseConfig = Field(description="Scaling outside every window.")
    activeEntryId: UUID | None = Field(default=None, description="The window in force now, if any.")


class CurrentScaling(ResponseModel):
    effectiveAutoscalingMode: AutoscalingMode = Field(description="Autoscaling mode applied now.")
    effectiveMinReplicaMemoryGb: float = Field(description="Minimum memory per replica applied now, GiB.")
    effectiveMaxReplicaMemoryGb: float = Field(description="Maximum memory per replica applied now, GiB.")
    effectiveMinReplicas: int = Field(description="Minimum replica count applied now.")
    effectiveMaxReplicas: int = Field(description="Maximum replica count applied now.")
    effectiveIdleScaling: bool = Field(description="Whether the service may idle now.")
    effectiveIdleTimeoutMinutes: int = Field(description="Idle timeout applied now, minutes.")
    activeEntryId: UUID | None = Field(default=None, description="Schedule entry in force, if any.")


class Service(ResponseModel):
    id: UUID = Field(description="Service id.")
    name: str = Field(min_length=1, max_length=50, description="Service name.")
    provider: Provider = Field(description="Cloud provider label the service was created with.")
    region: Region = Field(description="Region label the service was created with.")
    state: ServiceState = Field(description="Observed state of the service.")
    clickhouseVersion: str | None = Field(default=None, description="Version the ClickHouse server reports.")
    endpoints: list[ServiceEndpoint] = Field(default_factory=list, description="Where clients connect.")
    tier: Tier | None = Field(default=None, json_schema_extra=DEPRECATED, description="Legacy size class.")
    minTotalMemoryGb: float | None = Field(default=None, json_schema_extra=DEPRECATED, description="Legacy: 3 x min.")
    maxTotalMemoryGb: float | None = Field(default=None, json_schema_extra=DEPRECATED, description="Legacy: 3 x max.")
    minReplicaMemoryGb: float | None = Field(default=None, description="Minimum memory per replica, GiB.")
    maxReplicaMemoryGb: float | None = Field(default=None, description="Maximum memory per replica, GiB.")
    numReplicas: int | None = Field(default=None, ge=1, le=20, description="Replica count (vertical mode).")
    minReplicas: int | None = Field(default=None, ge=1, le=20, description="Minimum replicas (horizontal).")
    maxReplicas: int | None = Field(default=None, ge=1, le=20, description="Maximum replicas (horizontal).")
    autoscalingMode: AutoscalingMode = Field(description="How the service scales.")
    replicaMemoryGb: float | None = Field(default=None, description="Fixed memory per replica (horizontal).")
    idleScaling: bool = Field(description="Whether the service stops itself when idle.")
    idleTimeoutMinutes: float | None = Field(default=None, description="Minutes without queries before idling.")
    ipAccessList: list[IpAccessListEntry] = Field(default_factory=list, description="Who may connect.")
    createdAt: Timestamp = Field(description="When the service was created (RFC 3339, UTC).")
    encryptionKey: str | None = Field(default=None, description="Customer disk-encryption key, if any.")
    encryptionAssumedRoleIdentifier: str | None = Field(default=None, description="Role for that key.")
    iamRole: str | None = Field(default=None, description="Role used to reach object storage.")
    privateEndpointIds: list[str] = Field(default_factory=list, description="Attached private endpoints.")
    availablePrivateEndpointIds: list[str] = Field(default_factory=list,
                                                   description="Private endpoints that could be attached.")
    dataWarehouseId: str | None = Field(default=None, description="Warehouse (compute group) of the service.")
    isPrimary: bool | None = Field(default=None, description="Whether this is its warehouse's first service.")
    isReadonly: bool | None = Field(default=None, description="Whether the service only reads.")
    releaseChannel: ReleaseChannel | None = Field(default=None, description="Upgrade cadence.")
    byocId: str | None = Field(default=None, description="Bring-your-own-cloud infrastructure id.")
    hasTransparentDataEncryption: bool | None = Field(default=None, description="Whether TDE is on.")
    profile: Profile | None = Field(default=None, description="Instance profile.")
    transparentDataEncryptionKeyId: str | None = Field(default=None, description="TDE key id.")
    encryptionRoleId: str | None = Field(default=None, description="Role used for TDE.")
    complianceType: ComplianceType | None = Field(default=None, description="Regulatory regime.")
    tags: list[ResourceTag] = Field(default_factory=list, max_length=50, description="Key/value labels.")
    enableCoreDumps: bool | None = Field(default=None, description="Whether core dumps are collected.")
    scalingSchedule: ScalingSchedule | None = Field(default=None, description="Time-based scaling, if set.")
    currentScaling: CurrentScaling = Field(description="Scaling in force right now.")


class ServicePostRequest(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "analytics", "provider": "aws", "region": "us-east-1",
        "ipAccessList": [{"source": "127.0.0.1", "description": "this machine"}]}]})

    name: str = Field(min_length=1, max_length=50, description="Service name, 1 to 50 characters.")
    provider: Provider = Field(description="Cloud provider label.")
    region: Region = Field(description="Region label; must belong to the provider.")
    tier: Tier | None = Field(default=None, json_schema_extra=DEPRECATED, description="Legacy size class.")
    ipAccessList: list[IpAccessListEntry] = Field(
        default_factory=list, max_length=MAX_IP_ACCESS_LIST_ENTRIES, description="Who may connect; empty means nobody.")
    minTotalMemoryGb: TotalMemoryGb = Field(default=None, description="Legacy: 3 x the minimum memory per replica.")
    maxTotalMemoryGb: TotalMemoryGb = Field(default=None, description="Legacy: 3 x the maximum memory per replica.")
    autoscalingMode: AutoscalingMode | None = Field(default=None, description="vertical (default) or horizontal.")
    minReplicaMemoryGb: ReplicaMemoryGb = Field(default=None,
                                                description="Minimum memory per replica, GiB, multiple of 4.")
    maxReplicaMemoryGb: ReplicaMemoryGb = Field(default=None,
                                                description="Maximum memory per replica, GiB, multiple of 4.")
    numReplicas: ReplicaCount | None = Field(default=None, description="Replica count (vertical mode).")
    minReplicas: ReplicaCount | None = Field(default=None, description="Minimum replicas (with max).")
    maxReplicas: ReplicaCount | None = Field(default=None, description="Maximum replicas (with min).")
    idleScaling: bool | None = Field(default=None, description="Stop the service when idle (default true).")
    idleTimeoutMinutes: IdleTimeoutMinutes = None
    isReadonly: bool | None = Field(default=None, description="Read-only; needs dataWarehouseId.")
    dataWarehouseId: str | None = Field(default=None, description="Join this existing warehouse.")
    backupId: UUID | None = Field(default=None, description="Start from this backup.")
    encryptionKey: str | None = Field(default=None, description="Customer disk-encryption key.")
    encryptionAssumedRoleIdentifier: str | None = Field(default=None, description="Role for that key.")
    privateEndpointIds: list[str] | None = Field(default=None, json_schema_extra=DEPRECATED,
                                                 description="Legacy: attach private endpoints later instead.")
    privatePreviewTermsChecked: bool | None = Field(default=None, description="Private preview terms accepted.")
    releaseChannel: ReleaseChannel | None = Field(default=None, description="Upgrade cadence.")
    byocId: str | None = Field(default=None, description="Bring-your-own-cloud infrastructure id.")
    hasTransparentDataEncryption: bool | None = Field(default=None, description="Enable TDE at creation.")
    endpoints: list[ServiceEndpointChange] | None = Field(default=None, description="Endpoints to toggle.")
    profile: Profile | None = Field(default=None, description="Instance profile.")
    complianceType: ComplianceType | None = Field(default=None, description="Regulatory regime.")
    tags: list[ResourceTag] | None = Field(default=None, max_length=50, description="Key/value labels.")
    enableCoreDumps: bool | None = Field(default=None, description="Collect core dumps.")


class ServicePostResponse(ResponseModel):
    service: Service = Field(description="The new service, in state provisioning.")
    password: str = Field(description="Password of the `default` user: shown only in this response.")


class IpAccessListPatch(RequestModel):
    add: list[IpAccessListEntry] | None = Field(default=None, description="Entries to add, after removals.")
    remove: list[IpAccessListEntry] | None = Field(default=None, description="Entries to remove (by source) first.")


class InstanceTagsPatch(RequestModel):
    add: list[ResourceTag] | None = Field(default=None, max_length=50, description="Tags to add or overwrite.")
    remove: list[ResourceTag] | None = Field(default=None, max_length=50, description="Tags to remove (by key).")


class InstancePrivateEndpointsPatch(RequestModel):
    add: list[str] | None = Field(default=None, description="Private endpoint ids to attach, after removals.")
    remove: list[str] | None = Field(default=None, description="Private endpoint ids to detach first.")


class ServicePatchRequest(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=50, description="New name.")
    ipAccessList: IpAccessListPatch | None = Field(default=None, description="Changes to who may connect.")
    privateEndpointIds: InstancePrivateEndpointsPatch | None = Field(default=None,
                                                                     description="Private endpoints to change.")
    releaseChannel: ReleaseChannel | None = Field(default=None, description="New upgrade cadence.")
    endpoints: list[ServiceEndpointChange] | None = Field(default=None, description="Endpoints to toggle.")
    transparentDataEncryptionKeyId: str | None = Field(default=None, description="TDE key to rotate to.")
    tags: InstanceTagsPatch | None = Field(default=None, description="Tags to add or remove.")
    enableCoreDumps: bool | None = Field(default=None, description="Collect core dumps.")


class ServiceStatePatchRequest(RequestModel):
    command: Literal["start", "stop", "awake"] = Field(
        description="start a stopped service, stop a running or idle one, or awake an idle one.")


class ServiceScalingPatchRequest(RequestModel):
    minTotalMemoryGb: TotalMemoryGb = Field(default=None, description="Legacy: 3 x the minimum memory per replica.")
    maxTotalMemoryGb: TotalMemoryGb = Field(default=None, description="Legacy: 3 x the maximum memory per replica.")
    numReplicas: ReplicaCount | None = Field(default=None, description="Replica count.")
    idleScaling: bool | None = Field(default=None, description="Stop the service when idle.")
    idleTimeoutMinutes: IdleTimeoutMinutes = None


class ServiceReplicaScalingPatchRequest(RequestModel):
    minReplicaMemoryGb: ReplicaMemoryGb = Field(default=None,
                                                description="Minimum memory per replica, GiB, multiple of 4.")
    maxReplicaMemoryGb: ReplicaMemoryGb = Field(default=None,
                                                description="Maximum memory per replica, GiB, multiple of 4.")
    autoscalingMode: AutoscalingMode | None = Field(default=None, description="Switch mode; omit to keep it.")
    numReplicas: ReplicaCount | None = Field(default=None, description="Replica count (vertical mode).")
    minReplicas: ReplicaCount | None = Field(default=None, description="Minimum replicas (horizontal).")
    maxReplicas: ReplicaCount | None = Field(default=None, description="Maximum replicas (horizontal).")
    idleScaling: bool | None = Field(default=None, description="Stop the service when idle.")
    idleTimeoutMinutes: IdleTimeoutMinutes = None


class ServicePasswordPatchRequest(RequestModel):
    newPasswordHash: str | None = Field(
        default=None, description="Base64 of the SHA-256 of the new password; when given, no password is generated.")
    newDoubleSha1Hash: str | None = Field(
        default=None, description="Hex double SHA-1 of the new password, for MySQL clients; needs newPasswordHash. "
        "Checked, not kept: clickplane serves no MySQL protocol.")


class ServicePasswordPatchResponse(ResponseModel):
    password: str | None = Field(default=None, description="The generated password, shown only here.")


class ServicPrivateEndpointePostRequest(RequestModel):  # the reference's spelling
    id: str = Field(max_length=512, description="The private endpoint's id, of the service's provider: AWS vpce-..., "
                                                "a numeric GCP id, or an Azure resource id or GUID.")
    description: str | None = Field(default=None, max_length=255, description="What the endpoint is for.")


class InstancePrivateEndpoint(ResponseModel):
    id: str = Field(description="The private endpoint's id.")
    description: str = Field(description="What the endpoint is for.")
    cloudProvider: Provider = Field(description="Provider of the endpoint: the service's.")
    region: Region = Field(description="Region of the endpoint: the service's.")


class PrivateEndpointConfig(ResponseModel):
    endpointServiceId: str = Field(description="Private link service id; empty, as clickplane has no private link.")
    privateDnsHostname: str = Field(description="Host name for private connections; the service's own host here.")


class ServiceQueryAPIEndpoint(ResponseModel):
    id: str | None = Field(default=None, description="Id of the query endpoint.")
    openApiKeys: list[str] = Field(default_factory=list, description="API keys allowed to run queries.")
    roles: list[Literal["sql_console_read_only", "sql_console_admin"]] = Field(
        default_factory=list, description="Roles queries run with.")
    allowedOrigins: str | None = Field(default=None, description="Comma-separated origins allowed (CORS).")


# What a tag filter may be, as a regular expression for the API document: `tag:` and a key, or empty (the query
# string parser drops empty values, so the service's tag_filters never sees them).
TAG_FILTER_PATTERN = "^$|^tag:[^=]"
# The `filter` query parameter of the lists that take tag filters, as the document gives it.
TAG_FILTER = {"filter": {"items": {"type": "string", "pattern": TAG_FILTER_PATTERN}}}
