"""Who may do what: permissions, system roles, policies, and the one map from API operation to permission.

A role is a set of policies; a policy ALLOWs or DENYs permissions on resources. Resources are
`organization/<id>` and `instance/<id>` (a service), with `*` wildcards (`instance/*`, `*`). A
caller may act when some policy of its roles allows the permission on the resource and none denies
it: DENY beats ALLOW.
"""

from __future__ import annotations

import fnmatch
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Effect = Literal["ALLOW", "DENY"]

ORGANIZATION_VIEW = "control-plane:organization:view"
ORGANIZATION_MANAGE = "control-plane:organization:manage"
SERVICE_VIEW = "control-plane:service:view"
SERVICE_MANAGE = "control-plane:service:manage"
KEYS_VIEW = "control-plane:organization:api-keys:view"
KEYS_MANAGE = "control-plane:organization:api-keys:manage"
MEMBERS_VIEW = "control-plane:organization:members:view"
MEMBERS_MANAGE = "control-plane:organization:members:manage"
ROLES_VIEW = "control-plane:organization:roles:view"
ROLES_MANAGE = "control-plane:organization:roles:manage"
ACTIVITIES_VIEW = "control-plane:organization:activities:view"
BILLING_VIEW = "control-plane:organization:billing:view"
QUERY_ENDPOINTS = "sql-console:query-endpoints:use"
# The reference names the view permission of Postgres services; manage follows its pattern.
POSTGRES_VIEW = "control-plane:postgres-service:view"
POSTGRES_MANAGE = "control-plane:postgres-service:manage"

ALL_PERMISSIONS = frozenset({
    ORGANIZATION_VIEW, ORGANIZATION_MANAGE, SERVICE_VIEW, SERVICE_MANAGE, KEYS_VIEW, KEYS_MANAGE, MEMBERS_VIEW,
    MEMBERS_MANAGE, ROLES_VIEW, ROLES_MANAGE, ACTIVITIES_VIEW, BILLING_VIEW, QUERY_ENDPOINTS, POSTGRES_VIEW,
    POSTGRES_MANAGE,
})
# Permissions that act on one service; every other one acts on the organization.
SERVICE_PERMISSIONS = frozenset({SERVICE_VIEW, SERVICE_MANAGE, QUERY_ENDPOINTS})

# Every API operation and the one permission it needs. `None`: any authenticated key (its own identity).
OPERATION_PERMISSIONS: dict[str, str | None] = {
    "whoami": None,
    "organizationGetList": ORGANIZATION_VIEW,
    "organizationGet": ORGANIZATION_VIEW,
    "organizationUpdate": ORGANIZATION_MANAGE,
    "organizationPrivateEndpointConfigGetList": ORGANIZATION_VIEW,
    "organizationQuotasGetList": ORGANIZATION_VIEW,
    "organizationQuotaGet": ORGANIZATION_VIEW,
    "activityGetList": ACTIVITIES_VIEW,
    "activityGet": ACTIVITIES_VIEW,
    "instanceGetList": SERVICE_VIEW,
    "instanceGet": SERVICE_VIEW,
    "instanceCreate": SERVICE_MANAGE,
    "instanceUpdate": SERVICE_MANAGE,
    "instanceDelete": SERVICE_MANAGE,
    "instanceStateUpdate": SERVICE_MANAGE,
    "instanceScalingUpdate": SERVICE_MANAGE,
    "instanceReplicaScalingUpdate": SERVICE_MANAGE,
    "instancePasswordUpdate": SERVICE_MANAGE,
    "instancePrivateEndpointConfigGet": SERVICE_VIEW,
    "instanceQueryEndpointGet": SERVICE_VIEW,
    "instanceQueryEndpointUpsert": SERVICE_MANAGE,
    "instanceQueryEndpointDelete": SERVICE_MANAGE,
    "backupConfigurationGet": SERVICE_VIEW,
    "openapiKeyGetList": KEYS_VIEW,
    "openapiKeyGet": KEYS_VIEW,
    "openapiKeyCreate": KEYS_MANAGE,
    "openapiKeyUpdate": KEYS_MANAGE,
    "openapiKeyDelete": KEYS_MANAGE,
    "organizationRolesGetList": ROLES_VIEW,
    "organizationRoleGet": ROLES_VIEW,
    "organizationRolePost": ROLES_MANAGE,
    "organizationRolePatch": ROLES_MANAGE,
    "organizationRoleDelete": ROLES_MANAGE,
    "organizationPrometheusGet": ORGANIZATION_VIEW,
    "instancePrometheusGet": SERVICE_VIEW,
    "postgresOrgPrometheusGet": POSTGRES_VIEW,
    "postgresInstancePrometheusGet": POSTGRES_VIEW,
    "postgresServiceGetList": POSTGRES_VIEW,
    "postgresServiceGet": POSTGRES_VIEW,
    "postgresServiceCertsGet": POSTGRES_VIEW,
    "postgresInstanceConfigGet": POSTGRES_VIEW,
    "postgresInstanceMetricsGet": POSTGRES_VIEW,
    "slowQueryPatternsGetList": POSTGRES_VIEW,
    "slowQueryPatternGet": POSTGRES_VIEW,
    "postgresBackupGetList": POSTGRES_VIEW,
    "postgresLogsGet": POSTGRES_VIEW,
    "postgresInstanceCreateReadReplica": POSTGRES_MANAGE,
    "postgresInstanceRestore": POSTGRES_MANAGE,
    "postgresServiceCreate": POSTGRES_MANAGE,
    "postgresServicePatch": POSTGRES_MANAGE,
    "postgresServiceDelete": POSTGRES_MANAGE,
    "postgresServiceSetPassword": POSTGRES_MANAGE,
    "postgresServicePatchState": POSTGRES_MANAGE,
    "postgresInstanceConfigPost": POSTGRES_MANAGE,
    "postgresInstanceConfigPatch": POSTGRES_MANAGE,
    "usageCostGet": BILLING_VIEW,
    "backupGetList": SERVICE_VIEW,
    "backupGet": SERVICE_VIEW,
    "backupConfigurationUpdate": SERVICE_MANAGE,
    "backupBucketGet": SERVICE_VIEW,
    "backupBucketCreate": SERVICE_MANAGE,
    "backupBucketUpdate": SERVICE_MANAGE,
    "backupBucketDelete": SERVICE_MANAGE,
    "serviceClickhouseSettingsListGet": SERVICE_VIEW,
    "serviceClickhouseSettingsSchemaGet": SERVICE_VIEW,
    "serviceClickhouseSettingGet": SERVICE_VIEW,
    "serviceClickhouseSettingsUpdate": SERVICE_MANAGE,
    "serviceClickhouseSettingDelete": SERVICE_MANAGE,
    "memberGetList": MEMBERS_VIEW,
    "memberGet": MEMBERS_VIEW,
    "memberUpdate": MEMBERS_MANAGE,
    "memberDelete": MEMBERS_MANAGE,
    "invitationGetList": MEMBERS_VIEW,
    "invitationGet": MEMBERS_VIEW,
    "invitationCreate": MEMBERS_MANAGE,
    "invitationDelete": MEMBERS_MANAGE,
    # ClickPipes act on their service: what may see or change the service may see or change its pipes.
    "clickPipeGetList": SERVICE_VIEW,
    "clickPipeGet": SERVICE_VIEW,
    "clickPipeSettingsGet": SERVICE_VIEW,
    "clickPipesContextGet": SERVICE_VIEW,
    "clickPipeCdcScalingGet": SERVICE_VIEW,
    "clickPipeReversePrivateEndpointGetList": SERVICE_VIEW,
    "clickPipeReversePrivateEndpointGet": SERVICE_VIEW,
    "clickPipeCreate": SERVICE_MANAGE,
    "clickPipeUpdate": SERVICE_MANAGE,
    "clickPipeDelete": SERVICE_MANAGE,
    "clickPipeStateUpdate": SERVICE_MANAGE,
    "clickPipeScalingUpdate": SERVICE_MANAGE,
    "clickPipeSettingsUpdate": SERVICE_MANAGE,
    "clickPipeSchemaDiscovery": SERVICE_MANAGE,
    "clickPipeCdcScalingUpdate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointCreate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointUpdate": SERVICE_MANAGE,
    "clickPipeReversePrivateEndpointDelete": SERVICE_MANAGE,
    # ClickStack's objects belong to their service (one ClickStack team per service): the service's permissions.
    "clickStackListSources": SERVICE_VIEW,
    "clickStackGetSource": SERVICE_VIEW,
    "clickStackListSavedSearches": SERVICE_VIEW,
    "clickStackGetSavedSearch": SERVICE_VIEW,
    "clickStackListDashboards": SERVICE_VIEW,
    "clickStackGetDashboard": SERVICE_VIEW,
    "clickStackValidateDashboard": SERVICE_VIEW,
    "clickStackListAlerts": SERVICE_VIEW,
    "clickStackGetAlert": SERVICE_VIEW,
    "clickStackListWebhooks": SERVICE_VIEW,
    "clickStackValidateWebhook": SERVICE_VIEW,
    "clickStackListRoles": SERVICE_VIEW,
    "clickStackGetRole": SERVICE_VIEW,
    "clickStackCreateSource": SERVICE_MANAGE,
    "clickStackUpdateSource": SERVICE_MANAGE,
    "clickStackDeleteSource": SERVICE_MANAGE,
    "clickStackCreateSavedSearch": SERVICE_MANAGE,
    "clickStackUpdateSavedSearch": SERVICE_MANAGE,
    "clickStackDeleteSavedSearch": SERVICE_MANAGE,
    "clickStackCreateDashboard": SERVICE_MANAGE,
    "clickStackUpdateDashboard": SERVICE_MANAGE,
    "clickStackDeleteDashboard": SERVICE_MANAGE,
    "clickStackCreateAlert": SERVICE_MANAGE,
    "clickStackUpdateAlert": SERVICE_MANAGE,
    "clickStackDeleteAlert": SERVICE_MANAGE,
    "clickStackCreateWebhook": SERVICE_MANAGE,
    "clickStackUpdateWebhook": SERVICE_MANAGE,
    "clickStackDeleteWebhook": SERVICE_MANAGE,
    "clickStackCreateRole": SERVICE_MANAGE,
    "clickStackUpdateRole": SERVICE_MANAGE,
    "clickStackDeleteRole": SERVICE_MANAGE,
    # Operations clickhousectl calls that the reference lacks: what a service holds, under the service's permissions.
    "savedQueryGetList": SERVICE_VIEW,
    "savedQueryGet": SERVICE_VIEW,
    "savedQueryCreate": SERVICE_MANAGE,
    "savedQueryUpdate": SERVICE_MANAGE,
    "savedQueryDelete": SERVICE_MANAGE,
    "queryApiEndpointGetList": SERVICE_VIEW,
    "queryApiEndpointGet": SERVICE_VIEW,
    "queryApiEndpointCreate": SERVICE_MANAGE,
    "queryApiEndpointUpdate": SERVICE_MANAGE,
    "queryApiEndpointDelete": SERVICE_MANAGE,
    "snapshotGetList": SERVICE_VIEW,
    "snapshotGet": SERVICE_VIEW,
    "snapshotConfigurationGet": SERVICE_VIEW,
    "snapshotConfigurationUpdate": SERVICE_MANAGE,
    "replicaAwareRoutingGet": SERVICE_VIEW,
    "replicaAwareRoutingUpdate": SERVICE_MANAGE,
    "serviceProfileGetList": ORGANIZATION_VIEW,
    # UDFs belong to the organization; attaching one changes the service it is installed on.
    "udfUploadSessionCreate": ORGANIZATION_MANAGE,
    "udfCreate": ORGANIZATION_MANAGE,
    "udfList": ORGANIZATION_VIEW,
    "udfGet": ORGANIZATION_VIEW,
    "udfDelete": ORGANIZATION_MANAGE,
    "udfVersionCreate": ORGANIZATION_MANAGE,
    "udfVersionList": ORGANIZATION_VIEW,
    "udfVersionDelete": ORGANIZATION_MANAGE,
    "udfAttachmentList": ORGANIZATION_VIEW,
    "udfAttachmentGet": SERVICE_VIEW,
    "udfAttach": SERVICE_MANAGE,
    "udfDetach": SERVICE_MANAGE,
    "scalingScheduleGet": SERVICE_VIEW,
    "scalingScheduleUpsert": SERVICE_MANAGE,
    "scalingScheduleDelete": SERVICE_MANAGE,
    "upgradeWindowGet": SERVICE_VIEW,
    "upgradeWindowUpdate": SERVICE_MANAGE,
    "upgradeWindowDelete": SERVICE_MANAGE,
    "instancePrivateEndpointCreate": SERVICE_MANAGE,
    # BYOC infrastructure is the organization's: creating services in it is an organization change.
    "organizationByocInfrastructureCreate": ORGANIZATION_MANAGE,
    "organizationByocInfrastructureUpdate": ORGANIZATION_MANAGE,
    "organizationByocInfrastructureDelete": ORGANIZATION_MANAGE,
}


@dataclass(frozen=True)
class Policy:
    effect: Effect
    permissions: tuple[str, ...]
    resources: tuple[str, ...]

    def covers(self, permission: str, resource: str) -> bool:
        return (any(fnmatch.fnmatchcase(permission, granted) for granted in self.permissions)
                and any(fnmatch.fnmatchcase(resource, scope) for scope in self.resources))


@dataclass(frozen=True)
class SystemRole:
    id: uuid.UUID
    name: str
    legacy_name: str  # the key `roles` value it stands for
    policies: tuple[Policy, ...]


# Fixed ids, the same in every installation, so scripts can name them.
ADMIN = SystemRole(uuid.UUID("00000000-0000-4000-8000-000000000001"), "Admin", "admin",
                   (Policy("ALLOW", ("*",), ("*",)),))
DEVELOPER = SystemRole(
    uuid.UUID("00000000-0000-4000-8000-000000000002"), "Developer", "developer",
    (Policy("ALLOW", (ORGANIZATION_VIEW, SERVICE_VIEW, KEYS_VIEW, MEMBERS_VIEW, ROLES_VIEW, ACTIVITIES_VIEW,
                      BILLING_VIEW, POSTGRES_VIEW), ("*",)),),
)
QUERY_ENDPOINTS_ROLE = SystemRole(uuid.UUID("00000000-0000-4000-8000-000000000003"), "Query endpoints",
                                  "query_endpoints", (Policy("ALLOW", (QUERY_ENDPOINTS,), ("instance/*",)),))
SYSTEM_ROLES = (ADMIN, DEVELOPER, QUERY_ENDPOINTS_ROLE)
SYSTEM_ROLES_BY_ID = {role.id: role for role in SYSTEM_ROLES}
SYSTEM_ROLES_BY_LEGACY_NAME = {role.legacy_name: role for role in SYSTEM_ROLES}


def resource_of(permission: str, organization_id: uuid.UUID, service_id: uuid.UUID | None) -> str:
    if permission in SERVICE_PERMISSIONS:
        return f"instance/{service_id}" if service_id else "instance/*"
    return f"organization/{organization_id}"


@functools.lru_cache(maxsize=4096)
def allows(policies: tuple[Policy, ...], permission: str, resource: str) -> bool:
    """DENY beats ALLOW; nothing allowed is denied. Remembered: a pure function of its arguments that every
    request asks, with the same few arguments, and that wildcard matching makes costly."""
    relevant = [policy for policy in policies if policy.covers(permission, resource)]
    return any(p.effect == "ALLOW" for p in relevant) and not any(p.effect == "DENY" for p in relevant)


def allows_somewhere(policies: tuple[Policy, ...], permission: str) -> bool:
    """Whether some service-level ALLOW grants `permission` (a listing then shows only what it may)."""
    return any(policy.effect == "ALLOW" and any(fnmatch.fnmatchcase(permission, p) for p in policy.permissions)
               and any(r == "*" or r.startswith("instance/") for r in policy.resources) for policy in policies)


def policies_of(role_ids: tuple[str, ...], custom_roles: Mapping[str, list[Any]]) -> tuple[Policy, ...]:
    """The policies of the given roles: system roles from code, custom ones from their stored policies."""
    found: list[Policy] = []
    for role_id in role_ids:
        as_uuid = _as_uuid(role_id)
        system = SYSTEM_ROLES_BY_ID.get(as_uuid) if as_uuid else None
        if system is not None:
            found.extend(system.policies)
        found.extend(Policy(stored["allowDeny"], tuple(stored["permissions"]), tuple(stored["resources"]))
                     for stored in custom_roles.get(role_id, []))
    return tuple(found)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
