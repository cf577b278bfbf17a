"""The Cloud API's enumerations, as literal types shared by the wire schemas and the domain rules."""

from __future__ import annotations

from typing import Literal

from clickplane.kit.errors import BadRequest

Provider = Literal["aws", "gcp", "azure"]

Region = Literal[
    "ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
    "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "il-central-1",
    "us-east-1", "us-east-2", "us-west-2",
    "us-east1", "us-central1", "europe-west2", "europe-west4", "asia-southeast1", "asia-northeast1",
    "eastus", "eastus2", "westus3", "germanywestcentral", "centralus",
]  # fmt: skip

ServiceState = Literal[
    "starting", "stopping", "terminating", "softdeleting", "awaking", "partially_running",
    "provisioning", "running", "stopped", "terminated", "softdeleted", "degraded", "failed", "idle",
]  # fmt: skip

# What was asked of a service: the state the reconciler drives it toward (services/lifecycle.py).
DesiredState = Literal["running", "stopped", "idle", "deleted"]

# A Postgres service's observed state (the reference's pgStateProperty) and its intent (postgres/lifecycle.py).
PostgresState = Literal[
    "creating", "restarting", "running", "replaying_wal", "restoring_backup", "finalizing_restore", "unavailable",
    "stopped", "deleting",
]  # fmt: skip
PostgresDesiredState = Literal["running", "stopped", "deleted"]
# The reference's states of a ClickPipe; which of them a pipe passes through depends on its kind (clickpipes/).
ClickPipeState = Literal["Unknown", "Provisioning", "Running", "Degraded", "Stopping", "Stopped", "Failed",
                         "Completed", "InternalError", "Setup", "Snapshot", "Paused", "Pausing", "Modifying", "Resync"]
# What was asked of a pipe: to move data, to stand still (a CDC pipe pauses, another stops), or to be gone.
ClickPipeDesiredState = Literal["running", "stopped", "deleted"]

Tier = Literal[
    "development", "production", "dedicated_high_mem", "dedicated_high_cpu", "dedicated_standard",
    "dedicated_standard_n2d_standard_4", "dedicated_standard_n2d_standard_8",
    "dedicated_standard_n2d_standard_32", "dedicated_standard_n2d_standard_128",
    "dedicated_standard_n2d_standard_32_16SSD", "dedicated_standard_n2d_standard_64_24SSD",
]  # fmt: skip

AutoscalingMode = Literal["vertical", "horizontal"]
ReleaseChannel = Literal["slow", "default", "fast"]
Profile = Literal["v1-default", "v1-highmem-xs", "v1-highmem-s", "v1-highmem-m", "v1-highmem-l", "v1-highmem-xl"]
ComplianceType = Literal["hipaa", "pci"]
# The reference's three, plus the plain (non-TLS) ports a local service also offers for development.
EndpointProtocol = Literal["https", "nativesecure", "mysql", "http", "native"]
ToggleableProtocol = Literal["mysql"]
ByocState = Literal["infra-ready", "infra-provisioning", "infra-terminated"]

# Which regions belong to which provider, so a create can refuse `aws` in `eastus`.
REGIONS_BY_PROVIDER: dict[str, frozenset[str]] = {
    "aws": frozenset({"ap-northeast-1", "ap-northeast-2", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
                      "ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "il-central-1", "us-east-1",
                      "us-east-2", "us-west-2"}),
    "gcp": frozenset({"us-east1", "us-central1", "europe-west2", "europe-west4", "asia-southeast1",
                      "asia-northeast1"}),
    "azure": frozenset({"eastus", "eastus2", "westus3", "germanywestcentral", "centralus"}),
}

def check_provider_region(provider: str, region: str) -> None:
    """BadRequest unless `region` is one of `provider`'s."""
    if provider not in REGIONS_BY_PROVIDER:
        raise BadRequest(f"provider {provider!r} is not one of: {', '.join(sorted(REGIONS_BY_PROVIDER))}")
    if region not in REGIONS_BY_PROVIDER[provider]:
        choices = ", ".join(sorted(REGIONS_BY_PROVIDER[provider]))
        raise BadRequest(f"region {region!r} is not offered by provider {provider}; use one of: {choices}")


ActivityType = Literal[
    "create_organization", "organization_update_name", "transfer_service_in", "transfer_service_out",
    "save_payment_method", "marketplace_subscription", "migrate_marketplace_billing_details_in",
    "migrate_marketplace_billing_details_out", "organization_update_tier", "organization_invite_create",
    "organization_invite_delete", "organization_member_join", "organization_member_add", "organization_member_leave",
    "organization_member_delete", "organization_member_update_role", "organization_member_update_roles",
    "organization_member_update_mfa_method", "organization_saml_connection_create",
    "organization_saml_connection_update", "user_login", "user_login_failed", "user_logout", "key_create",
    "key_delete", "openapi_key_update", "service_create", "service_start", "service_stop", "service_awaken",
    "service_idle", "service_running", "service_partially_running", "service_delete", "service_update_name",
    "service_update_ip_access_list", "service_update_autoscaling_memory", "service_update_autoscaling_idling",
    "service_update_password", "service_update_autoscaling_replicas", "service_update_max_allowable_replicas",
    "service_update_backup_configuration", "service_update_snapshot_configuration", "service_restore_backup",
    "service_update_release_channel", "service_update_gpt_usage_consent", "service_update_private_endpoints",
    "service_import_to_organization", "service_export_from_organization", "service_maintenance_start",
    "service_maintenance_end", "service_update_core_dump", "backup_delete",
]  # fmt: skip
# Changes clickplane records that the reference has no activity type for, named in the reference's manner.
ClickplaneActivityType = Literal[
    "organization_update_core_dumps", "organization_update_private_endpoints", "role_create", "role_update",
    "role_delete", "service_update_tags", "service_update_clickhouse_settings", "service_update_query_endpoint",
    "service_delete_query_endpoint", "service_create_backup_bucket", "service_update_backup_bucket",
    "service_delete_backup_bucket", "postgres_service_create", "postgres_service_delete", "postgres_service_update",
    "postgres_service_update_password", "postgres_service_update_ip_access_list", "postgres_service_update_config",
    "postgres_service_restart", "postgres_service_promote", "postgres_service_switchover", "postgres_service_running",
    "postgres_service_unavailable", "clickpipe_create", "clickpipe_update", "clickpipe_delete", "clickpipe_start",
    "clickpipe_stop", "clickpipe_resync", "clickpipe_update_scaling", "clickpipe_update_settings", "clickpipe_running",
    "clickpipe_failed", "clickpipe_completed", "service_update_clickpipes_cdc_scaling",
    "reverse_private_endpoint_create", "reverse_private_endpoint_update", "reverse_private_endpoint_delete",
    "clickstack_source_create", "clickstack_source_update", "clickstack_source_delete",
    "clickstack_saved_search_create", "clickstack_saved_search_update", "clickstack_saved_search_delete",
    "clickstack_dashboard_create", "clickstack_dashboard_update", "clickstack_dashboard_delete",
    "clickstack_alert_create", "clickstack_alert_update", "clickstack_alert_delete", "clickstack_alert_fired",
    "clickstack_alert_resolved", "clickstack_webhook_create", "clickstack_webhook_update",
    "clickstack_webhook_delete", "clickstack_role_create", "clickstack_role_update", "clickstack_role_delete",
    "saved_query_create", "saved_query_update", "saved_query_delete", "query_api_endpoint_create",
    "query_api_endpoint_update", "query_api_endpoint_delete", "service_update_replica_aware_routing",
    "udf_create", "udf_delete", "udf_version_create", "udf_version_delete", "udf_attach", "udf_detach",
    "service_update_scaling_schedule", "service_delete_scaling_schedule", "service_update_upgrade_window",
    "service_delete_upgrade_window", "byoc_infrastructure_create",
    "byoc_infrastructure_update", "byoc_infrastructure_delete",
]  # fmt: skip
# Every type the activity log may hold: record() takes only these, so the documented enumeration is complete.
RecordedActivityType = ActivityType | ClickplaneActivityType
ActorType = Literal["user", "support", "system", "api"]
KeyUpdateType = Literal[
    "created", "deleted", "name-changed", "role-changed", "state-changed", "date-changed", "ip-access-list-changed",
    "org-role-changed", "default-service-role-changed", "service-role-changed", "roles-v2-changed",
]  # fmt: skip

QuotaCode = Literal["services-per-organization", "postgres-services-per-organization", "replicas-per-warehouse"]
QuotaScope = Literal["organization", "warehouse"]

UsageEntityType = Literal["datawarehouse", "service", "clickpipe"]
