"""Backups of a service: list and get them, their schedule (backupConfiguration) and the bucket they are
written to (backupBucket). The reconciler takes them on schedule and the operator with `clickplane backup
create`; creating a service with `backupId` restores one."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from blacksheep import Response
from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.backups import service as rules
from clickplane.backups.repository import BackupBuckets, BackupConfigurations, Backups
from clickplane.backups.schemas import (
    Backup,
    BackupBucket,
    BackupBucketPatchRequest,
    BackupBucketPostRequest,
    BackupConfiguration,
    BackupConfigurationPatchRequest,
)
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import Conflict, NotFound
from clickplane.kit.routes import Api
from clickplane.services import service as service_rules
from clickplane.services.repository import Services
from clickplane.store import models
from clickplane.store.models import utcnow

TAG = "Backup"
SERVICE_PATH = "/v1/organizations/{organizationId}/services/{serviceId}"
CHANGE_ERRORS = (400, 401, 404, 409, 500)


def to_wire(backup: models.Backup, now: datetime) -> Backup:
    end = backup.finished_at or now
    return Backup.model_validate({
        "id": backup.id, "status": backup.status, "serviceId": str(backup.service_id), "startedAt": backup.started_at,
        "finishedAt": backup.finished_at, "sizeInBytes": backup.size_in_bytes,
        "durationInSeconds": max(0.0, (end - backup.started_at).total_seconds()), "type": backup.type,
        "backupName": backup.backup_name, "bucket": backup.bucket, "error": backup.error,
    })


def configuration_to_wire(schedule: rules.Schedule) -> BackupConfiguration:
    return BackupConfiguration(backupPeriodInHours=schedule.period_hours,
                               backupRetentionPeriodInHours=schedule.retention_hours,
                               backupStartTime=schedule.start_time)


def bucket_to_wire(bucket: models.BackupBucket) -> BackupBucket:
    return BackupBucket.model_validate({"id": bucket.id, **rules.bucket_properties(bucket)})


def add_routes(api: Api, context: AppContext) -> None:
    storage = rules.Storage(context.settings.data_dir.resolve(), context.settings.resolved_backup_bucket_root)

    @api.route("GET", f"{SERVICE_PATH}/backups", "backupGetList", "List of service backups", TAG,
               "The service's backups, newest first: taken on its schedule (backupConfiguration) or by the "
               "operator (`clickplane backup create`), each a full copy of its tables. A service's backups are "
               "deleted with it.", list[Backup], produces=Produces("backupId", "/result/0/id"))
    async def list_backups(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            now = utcnow()
            return ok([to_wire(backup, now) for backup in Backups(session).list(serviceId)])

    @api.route("GET", f"{SERVICE_PATH}/backups/{{backupId}}", "backupGet", "Get backup details", TAG,
               "One backup of the service. Create a service with its id as `backupId` to restore it.", Backup)
    async def get_backup(caller: Caller, organizationId: UUID, serviceId: UUID, backupId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            backup = Backups(session).get(organizationId, backupId)
            if backup is None or backup.service_id != serviceId:
                raise NotFound(f"backup {backupId} of service {serviceId} does not exist")
            return ok(to_wire(backup, utcnow()))

    @api.route("GET", f"{SERVICE_PATH}/backupConfiguration", "backupConfigurationGet",
               "Get service backup configuration", TAG,
               "How often backups are taken and how long they are kept (by default every 24 hours, kept 24 "
               "hours).", BackupConfiguration)
    async def get_backup_configuration(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            return ok(configuration_to_wire(rules.Schedule.of(BackupConfigurations(session).get(serviceId))))

    @api.route("PATCH", f"{SERVICE_PATH}/backupConfiguration", "backupConfigurationUpdate",
               "Update service backup configuration", TAG,
               "backupPeriodInHours: 6, 8, 12, 16, 20, 24, 36 or 48. backupRetentionPeriodInHours: whole days, 24 "
               "to 1080. backupStartTime: HH:MM (UTC) to take backups at, every day (period 24, which it resets "
               "other periods to) or every other day (48). A field set to null returns to its default (24, 24, "
               "none); fields left out are kept.", BackupConfiguration,
               errors=CHANGE_ERRORS)
    async def update_backup_configuration(caller: Caller, organizationId: UUID, serviceId: UUID,
                                          body: JsonBody[BackupConfigurationPatchRequest]) -> Response:
        with context.database.transaction() as session:
            service_rules.changeable(Services(session), caller, organizationId, serviceId)
            configurations = BackupConfigurations(session)
            schedule = rules.patched_schedule(rules.Schedule.of(configurations.get(serviceId)), body.value)
            configurations.put(models.BackupConfiguration(
                service_id=serviceId, period_hours=schedule.period_hours, retention_hours=schedule.retention_hours,
                start_time=schedule.start_time))
            record(Activities(session), caller, "service_update_backup_configuration", service_id=serviceId,
                   details=body.value.model_dump(exclude_unset=True))
            return ok(configuration_to_wire(schedule))

    def bucket_activity(session: Session, caller: Caller, activity_type: RecordedActivityType,
                        bucket: models.BackupBucket) -> None:
        record(Activities(session), caller, activity_type, service_id=bucket.service_id,
               details=rules.bucket_properties(bucket))  # no secret: those are kept only as hashes

    def existing_bucket(buckets: BackupBuckets, service_id: UUID) -> models.BackupBucket:
        bucket = buckets.get(service_id)
        if bucket is None:
            raise NotFound(f"service {service_id} has no backup bucket: its backups are kept in clickplane's data "
                           "directory. Create one with POST")
        return bucket

    @api.route("GET", f"{SERVICE_PATH}/backupBucket", "backupBucketGet", "Get service backup bucket", TAG,
               "The directory the service's backups are written to (see the bucket's fields); 404 when it has "
               "none and they are kept in clickplane's data directory.", BackupBucket)
    async def get_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.visible(Services(session), caller, organizationId, serviceId)
            return ok(bucket_to_wire(existing_bucket(BackupBuckets(session), serviceId)))

    @api.route("POST", f"{SERVICE_PATH}/backupBucket", "backupBucketCreate", "Create service backup bucket", TAG,
               "Write the service's next backups to a directory instead of clickplane's data directory, under the "
               "operator's bucket root (CLICKPLANE_BACKUP_BUCKET_ROOT, the data directory's buckets/ by default): "
               "for AWS and GCP, `bucketPath` is an absolute directory path under it; for AZURE, `containerName` "
               "names a directory in it. clickplane needs no "
               "credentials: a secretAccessKey or connectionString sent is kept only as a keyed hash.", BackupBucket,
               errors=CHANGE_ERRORS)
    async def create_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[BackupBucketPostRequest]) -> Response:
        with context.database.transaction() as session:
            service_rules.changeable(Services(session), caller, organizationId, serviceId)
            buckets = BackupBuckets(session)
            if buckets.get(serviceId) is not None:
                raise Conflict(f"service {serviceId} already has a backup bucket; change it with PATCH or delete it")
            bucket = buckets.put(rules.new_bucket(serviceId, None, body.value, storage, context.hasher))
            bucket_activity(session, caller, "service_create_backup_bucket", bucket)
            return ok(bucket_to_wire(bucket))

    @api.route("PATCH", f"{SERVICE_PATH}/backupBucket", "backupBucketUpdate", "Update service backup bucket", TAG,
               "Fields given replace the stored ones and null clears one; naming another bucketProvider replaces "
               "the bucket as a create would. Backups already taken stay where they were written.", BackupBucket,
               errors=CHANGE_ERRORS)
    async def update_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID,
                                   body: JsonBody[BackupBucketPatchRequest]) -> Response:
        with context.database.transaction() as session:
            service_rules.changeable(Services(session), caller, organizationId, serviceId)
            buckets = BackupBuckets(session)
            current = existing_bucket(buckets, serviceId)
            bucket = buckets.put(rules.new_bucket(serviceId, current, body.value, storage, context.hasher))
            bucket_activity(session, caller, "service_update_backup_bucket", bucket)
            return ok(bucket_to_wire(bucket))

    @api.route("DELETE", f"{SERVICE_PATH}/backupBucket", "backupBucketDelete", "Delete service backup bucket", TAG,
               "The service's next backups are kept in clickplane's data directory again; those already in the "
               "bucket stay there.", None, errors=(400, 401, 404, 409, 500))
    async def delete_backup_bucket(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        with context.database.transaction() as session:
            service_rules.changeable(Services(session), caller, organizationId, serviceId)
            buckets = BackupBuckets(session)
            bucket = existing_bucket(buckets, serviceId)
            bucket_activity(session, caller, "service_delete_backup_bucket", bucket)
            buckets.delete(bucket)
        return acknowledged()
