"""Backups of a service: list and get them, their schedule (backupConfiguration) and the bucket they are
written to (backupBucket); and the same as clickhousectl's snapshots (snapshots, snapshotConfiguration). The
reconciler takes them on schedule and the operator with `clickplane backup create`; creating a service with
`backupId` restores one."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.backups.schemas import (
    Backup,
    BackupBucket,
    BackupBucketPatchRequest,
    BackupBucketPostRequest,
    BackupConfiguration,
    BackupConfigurationPatchRequest,
    Snapshot,
    SnapshotConfiguration,
    SnapshotConfigurationPatchRequest,
)
from clickplane.backups.service import BackupService
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api

TAG = "Backup"
SERVICE_PATH = "/v1/organizations/{organizationId}/services/{serviceId}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)
SNAPSHOT_TAG = "Snapshot"
SNAPSHOTS = ("Absent from the reference; clickhousectl's `service snapshot` commands, which clickplane answers with "
             "its backups: a snapshot is a backup.")


def add_routes(api: Api, context: AppContext) -> None:
    backups = BackupService(context)

    @api.route("GET", f"{SERVICE_PATH}/backups", "backupGetList", "List of service backups", TAG,
               "The service's backups, newest first: taken on its schedule (backupConfiguration) or by the "
               "operator (`clickplane backup create`), each a full copy of its tables. A service's backups are "
               "deleted with it.", list[Backup], produces=Produces("backupId", "/result/0/id"))
    async def list_backups(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(backups.list(caller, organizationId, serviceId))

    @api.route("GET", f"{SERVICE_PATH}/backups/{{backupId}}", "backupGet", "Get backup details", TAG,
               "One backup of the service. Create a service with its id as `backupId` to restore it.", Backup)
    async def get_backup(caller: Caller, organizationId: UUID, serviceId: UUID, backupId: UUID) -> Response:
        return ok(backups.get(caller, organizationId, serviceId, backupId))

    @api.route("GET", f"{SERVICE_PATH}/backupConfiguration", "backupConfigurationGet",
               "Get service backup configuration", TAG,
               "How often backups are taken and how long they are kept (by default every 24 hours, kept 24 "
               "hours).", BackupConfiguration)
    async def get_backup_configuration(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(backups.configuration(caller, organizationId, serviceId))

    @api.route("PATCH", f"{SERVICE_PATH}/backupConfiguration", "backupConfigurationUpdate",
               "Update service backup configuration", TAG,
               "backupPeriodInHours: 6, 8, 12, 16, 20, 24, 36 or 48. backupRetentionPeriodInHours: whole days, 24 "
               "to 1080. backupStartTime: HH:MM (UTC) to take backups at, every day (period 24, which it resets "
               "other periods to) or every other day (48). A field set to null returns to its default (24, 24, "
               "none); fields left out are kept.", BackupConfiguration,
               errors=CHANGE_ERRORS)
    async def update_backup_configuration(caller: Caller, organizationId: UUID, serviceId: UUID,
                                          body: JsonBody[BackupConfigurationPatchRequest]) -> Response:
        return ok(backups.update_configuration(caller, organizationId, serviceId, body.value))

    @api.route("GET", f"{SERVICE_PATH}/backupBucket", "backupBucketGet", "Get service backup bucket", TAG,
               "The directory the service's backups are written to (see the bucket's fields); 404 when it has "
               "none and they are kept in clickplane's data directory.", BackupBucket)
    async def get_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(backups.bucket(caller, organizationId, serviceId))

    @api.route("POST", f"{SERVICE_PATH}/backupBucket", "backupBucketCreate", "Create service backup bucket", TAG,
               "Write the service's next backups to a directory instead of clickplane's data directory, under the "
               "operator's bucket root (CLICKPLANE_BACKUP_BUCKET_ROOT, the data directory's buckets/ by default): "
               "for AWS and GCP, `bucketPath` is an absolute directory path under it; for AZURE, `containerName` "
               "names a directory in it. clickplane needs no "
               "credentials: a secretAccessKey or connectionString sent is kept only as a keyed hash.", BackupBucket,
               errors=CHANGE_ERRORS)
    async def create_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[BackupBucketPostRequest]) -> Response:
        return ok(backups.create_bucket(caller, organizationId, serviceId, body.value))

    @api.route("PATCH", f"{SERVICE_PATH}/backupBucket", "backupBucketUpdate", "Update service backup bucket", TAG,
               "Fields given replace the stored ones and null clears one; naming another bucketProvider replaces "
               "the bucket as a create would. Backups already taken stay where they were written.", BackupBucket,
               errors=CHANGE_ERRORS)
    async def update_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[BackupBucketPatchRequest]) -> Response:
        return ok(backups.update_bucket(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", f"{SERVICE_PATH}/backupBucket", "backupBucketDelete", "Delete service backup bucket", TAG,
               "The service's next backups are kept in clickplane's data directory again; those already in the "
               "bucket stay there.", None, errors=(400, 401, 404, 409, 500))
    async def delete_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        backups.delete_bucket(caller, organizationId, serviceId)
        return acknowledged()

    @api.route("GET", f"{SERVICE_PATH}/snapshots", "snapshotGetList", "List service snapshots", SNAPSHOT_TAG,
               f"The service's backups (see backupGetList), newest first. {SNAPSHOTS}", list[Snapshot],
               produces=Produces("snapshotId", "/result/0/id"))
    async def list_snapshots(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(backups.snapshots(caller, organizationId, serviceId))

    @api.route("GET", f"{SERVICE_PATH}/snapshots/{{snapshotId}}", "snapshotGet", "Get a service snapshot",
               SNAPSHOT_TAG, f"One backup of the service (see backupGet). {SNAPSHOTS}", Snapshot)
    async def get_snapshot(caller: Caller, organizationId: UUID, serviceId: UUID, snapshotId: str) -> Response:
        return ok(backups.snapshot(caller, organizationId, serviceId, snapshotId))

    @api.route("GET", f"{SERVICE_PATH}/snapshotConfiguration", "snapshotConfigurationGet",
               "Get service snapshot configuration", SNAPSHOT_TAG,
               f"The backup schedule (backupConfiguration) in minutes. {SNAPSHOTS}", SnapshotConfiguration)
    async def get_snapshot_configuration(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(backups.snapshot_configuration(caller, organizationId, serviceId))

    @api.route("PATCH", f"{SERVICE_PATH}/snapshotConfiguration", "snapshotConfigurationUpdate",
               "Update service snapshot configuration", SNAPSHOT_TAG,
               "Changes the backup schedule: `gap` sets backupPeriodInHours (minutes: 360, 480, 720, 960, 1200, 1440, "
               "2160 or 2880), `timeFrame` backupRetentionPeriodInHours (minutes, whole days: 1440 to 64800), "
               "`enabled` false stops scheduled backups. Fields left out are kept. " + SNAPSHOTS,
               SnapshotConfiguration, errors=CHANGE_ERRORS)
    async def update_snapshot_configuration(caller: Caller, organizationId: UUID, serviceId: UUID,
                                            body: JsonBody[SnapshotConfigurationPatchRequest]) -> Response:
        return ok(backups.update_snapshot_configuration(caller, organizationId, serviceId, body.value))
