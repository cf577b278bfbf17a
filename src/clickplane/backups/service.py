"""Rules for backups: a service's schedule, which backup is due and which have expired, what a bucket
may name, where backups are kept, and which backup a new service may start from; and `BackupService`, whose
methods are the API's use cases, each in a transaction of its own.

Schedule, as ClickHouse Cloud's configurable backups: a backup every `backupPeriodInHours` (6, 8, 12,
16, 20, 24, 36 or 48), each kept `backupRetentionPeriodInHours` (whole days, 1 to 45). A
`backupStartTime` "HH:MM" (UTC) means backups at that time: every day with a period of 24 hours, every
other day with 48 (as clickhousectl allows); setting one resets any other period to 24. Defaults: every
24 hours, kept 24 hours, no start time. A service's first backup comes one period after it was created
(or at the first start time after that); the newest done backup is never pruned, so a service always
keeps one to restore from. A disabled schedule takes none (the operator's `clickplane backup create` still does)
and still prunes.

Snapshots (clickhousectl's `service snapshot`, absent from the reference) are these backups under another name, and
snapshotConfiguration is this schedule in minutes: `gap` is the period, `timeFrame` the retention, `enabled`
whether it takes backups; a gap or time frame that is not a period or retention above is refused.

Buckets: the local runtime writes backups to directories, so a bucket names one, under the operator's bucket
root (`<data dir>/buckets/` unless set). AWS and GCP: `bucketPath` is an absolute directory path under it;
AZURE: `containerName` is a directory in it. The local runtime needs no credentials: a GCP
`secretAccessKey` or Azure `connectionString` that is sent is kept only as a keyed hash. Without a
bucket, backups are kept under `<data dir>/backups/`. Either way a backup is the directory
`<root>/<service id>/<backup id>/`, and its `backupName` is `<service id>/<backup id>`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.auth.secrets import SecretHasher
from clickplane.backups import schemas
from clickplane.backups.repository import BackupBuckets, BackupConfigurations, Backups
from clickplane.backups.schemas import (
    BackupBucketPatchRequest,
    BackupBucketPostRequest,
    BackupConfigurationPatchRequest,
    SnapshotConfigurationPatchRequest,
)
from clickplane.kit.context import AppContext
from clickplane.kit.enums import RecordedActivityType
from clickplane.kit.errors import BadRequest, Conflict, NotFound
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.services.schemas import ServicePostRequest
from clickplane.store import models
from clickplane.store.models import utcnow

PERIODS_HOURS = (6, 8, 12, 16, 20, 24, 36, 48)
DAY_HOURS = 24
START_TIME_PERIODS_HOURS = (24, 48)  # every day, or every other day, at the start time
MAX_RETENTION_HOURS = 45 * DAY_HOURS
START_TIME = re.compile(r"(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)")
# Azure's rule for container names, which also makes them safe directory names.
CONTAINER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")
BUCKET_FIELDS = {
    "AWS": ("bucketPath", "iamRoleArn", "iamRoleSessionName"),
    "GCP": ("bucketPath", "accessKeyId", "secretAccessKey"),
    "AZURE": ("containerName", "connectionString"),
}
SECRET_FIELDS = ("secretAccessKey", "connectionString")
# Stored columns of a bucket's non-secret fields.
BUCKET_COLUMNS = {"bucketPath": "bucket_path", "iamRoleArn": "iam_role_arn",
                  "iamRoleSessionName": "iam_role_session_name", "accessKeyId": "access_key_id",
                  "containerName": "container_name"}


@dataclass(frozen=True)
class Schedule:
    period_hours: int = DAY_HOURS
    retention_hours: int = DAY_HOURS
    start_time: str | None = None
    enabled: bool = True  # whether backups are taken on schedule at all

    @classmethod
    def of(cls, stored: models.BackupConfiguration | None) -> Schedule:
        if stored is None:
            return cls()
        return cls(stored.period_hours, stored.retention_hours, stored.start_time, stored.enabled)


DEFAULT_SCHEDULE = Schedule()


def _whole(value: float, field: str) -> int:
    if value != int(value):
        raise BadRequest(f"{field} must be a whole number of hours, not {value:g}")
    return int(value)


def patched_schedule(current: Schedule, patch: BackupConfigurationPatchRequest) -> Schedule:
    """`current` with the PATCH applied: fields left out are kept, null ones return to their default."""
    given = patch.model_fields_set
    schedule = current
    if "backupPeriodInHours" in given:
        period = DEFAULT_SCHEDULE.period_hours
        if patch.backupPeriodInHours is not None:
            period = _whole(patch.backupPeriodInHours, "backupPeriodInHours")
            if period not in PERIODS_HOURS:
                raise BadRequest(f"backupPeriodInHours must be one of {', '.join(map(str, PERIODS_HOURS))}, "
                                 f"not {period}")
        schedule = replace(schedule, period_hours=period)
    if "backupRetentionPeriodInHours" in given:
        retention = DEFAULT_SCHEDULE.retention_hours
        if patch.backupRetentionPeriodInHours is not None:
            retention = _whole(patch.backupRetentionPeriodInHours, "backupRetentionPeriodInHours")
            if retention % DAY_HOURS or not DAY_HOURS <= retention <= MAX_RETENTION_HOURS:
                raise BadRequest("backupRetentionPeriodInHours must be a whole number of days: a multiple of 24 "
                                 f"from 24 to {MAX_RETENTION_HOURS}, not {retention}")
        schedule = replace(schedule, retention_hours=retention)
    if "backupStartTime" in given:
        start = patch.backupStartTime
        if start is not None and not START_TIME.fullmatch(start):
            raise BadRequest(f"backupStartTime must be HH:MM in UTC, 00:00 to 23:59, not {start!r}")
        schedule = replace(schedule, start_time=start)
    if schedule.start_time is not None and schedule.period_hours not in START_TIME_PERIODS_HOURS:
        if "backupPeriodInHours" in given and patch.backupPeriodInHours is not None:
            raise BadRequest("with a backupStartTime, backupPeriodInHours must be 24 or 48 (a backup every day or "
                             "every other day at that time); set backupStartTime to null to choose another period")
        schedule = replace(schedule, period_hours=DAY_HOURS)
    return schedule


MINUTES = 60


def snapshot_patch(patch: SnapshotConfigurationPatchRequest) -> BackupConfigurationPatchRequest:
    """clickhousectl's `gap` and `timeFrame` (minutes) as the backup schedule's period and retention (hours);
    fields left out or null are left out."""
    given = patch.model_dump(include={"gap", "timeFrame"}, exclude_none=True)
    return BackupConfigurationPatchRequest.model_validate(
        {hours: given[minutes] / MINUTES for minutes, hours in (("gap", "backupPeriodInHours"),
                                                              ("timeFrame", "backupRetentionPeriodInHours"))
         if minutes in given})


def patched_snapshot_schedule(current: Schedule, patch: SnapshotConfigurationPatchRequest) -> Schedule:
    """`current` with clickhousectl's PATCH applied; its errors name the minutes it gave."""
    try:
        schedule = patched_schedule(current, snapshot_patch(patch))
    except BadRequest as error:
        raise BadRequest(f"{error.message} (gap is backupPeriodInHours and timeFrame backupRetentionPeriodInHours, "
                         f"in minutes: gap one of {', '.join(str(h * MINUTES) for h in PERIODS_HOURS)}, timeFrame "
                         f"a multiple of {DAY_HOURS * MINUTES} up to {MAX_RETENTION_HOURS * MINUTES})") from None
    return schedule if patch.enabled is None else replace(schedule, enabled=patch.enabled)


def latest_start(start_time: str, now: datetime) -> datetime:
    """The latest moment, at or before `now`, when the clock (UTC) read `start_time`."""
    match = START_TIME.fullmatch(start_time)
    assert match is not None, start_time  # validated when stored
    today = datetime.combine(now.astimezone(UTC).date(), time(int(match["hour"]), int(match["minute"])), UTC)
    return today if today <= now else today - timedelta(days=1)


def backup_due(schedule: Schedule, last_started: datetime | None, created: datetime, now: datetime) -> bool:
    """Whether a scheduled backup is due: a period after the newest backup began (whatever became of it)
    or, before the first, after the service was created. With a start time: at the latest start time,
    unless a backup began since the one a period before it (for 24 hours, that start time itself). Never when the
    schedule is disabled."""
    if not schedule.enabled:
        return False
    since = last_started or created
    if schedule.start_time is not None:
        skipped_days = timedelta(hours=schedule.period_hours - DAY_HOURS)
        return since < latest_start(schedule.start_time, now) - skipped_days
    return now - since >= timedelta(hours=schedule.period_hours)


def expired(backups: Sequence[models.Backup], schedule: Schedule, now: datetime) -> list[models.Backup]:
    """Backups older than the retention period, except any in progress and the newest done one."""
    done = [backup for backup in backups if backup.status == "done"]
    newest_done = max(done, key=lambda backup: backup.started_at) if done else None
    retention = timedelta(hours=schedule.retention_hours)
    return [backup for backup in backups
            if backup.status != "in_progress" and backup is not newest_done and now - backup.started_at > retention]


@dataclass(frozen=True)
class Storage:
    """Where backups are kept: under the control plane's data directory, or in a bucket, which is a directory
    under `bucket_root` (the operator's choice; `<data dir>/buckets` by default). Nothing a client sends can
    name a directory outside it, however the path is spelled or whatever symbolic links it passes through:
    clickplane writes backups as the user it runs as, often root."""

    data_dir: Path
    bucket_root: Path

    @property
    def default_root(self) -> Path:
        return self.data_dir / "backups"

    def root(self, bucket: models.BackupBucket | None) -> Path:
        if bucket is None:
            return self.default_root
        if bucket.provider == "AZURE":
            return self.bucket_root / str(bucket.container_name)
        return Path(str(bucket.bucket_path))

    def location(self, bucket: models.BackupBucket | None, service_id: uuid.UUID, backup_id: uuid.UUID) -> Path:
        """The directory of a new backup; Conflict when a bucket's directory has come to resolve outside the
        bucket root since it was accepted (a symbolic link put in its way)."""
        location = self.root(bucket) / str(service_id) / str(backup_id)
        if bucket is not None and not self._confined(location):
            raise Conflict(f"the service's backup bucket resolves to {location.resolve()}, outside the directory "
                           f"backup buckets must be in ({self.bucket_root}); point the bucket at a directory "
                           "under it")
        return location

    def service_root(self, service_id: uuid.UUID) -> Path:
        """Where the service's backups are kept when it has no bucket."""
        return self.default_root / str(service_id)

    def check_bucket_path(self, value: str) -> str:
        """An absolute, normalized directory path under the bucket root, where no service's files live."""
        path = PurePosixPath(value)
        if not path.is_absolute() or ".." in path.parts or "\0" in value or str(path) != value.rstrip("/"):
            raise BadRequest(f"bucketPath: clickplane keeps backups in directories; give an absolute, normalized "
                             f"directory path under {self.bucket_root} (such as {self.bucket_root / 'nightly'}), "
                             f"not {value!r}")
        if not self._confined(Path(path)):
            raise BadRequest(f"bucketPath {value!r} is not under {self.bucket_root}, the directory backup buckets "
                             "must be in (the operator sets it with CLICKPLANE_BACKUP_BUCKET_ROOT); give a directory "
                             "under it")
        if Path(path).resolve().is_relative_to(self.data_dir.resolve() / "services"):
            raise BadRequest(f"bucketPath {value!r} is inside the services' own directories, which are removed with "
                             "their services; choose a directory elsewhere")
        return str(path)

    def _confined(self, path: Path) -> bool:
        """Whether `path`, its symbolic links followed, is the bucket root or under it."""
        return path.resolve().is_relative_to(self.bucket_root.resolve())


def backup_uri(location: str) -> str:
    """How a runtime is told where a backup is: the `file://` URI of its directory. The store keeps the directory's
    plain path, as it always has (a backup's `location`, a restored service's `restore_from`): the control plane
    removes those directories itself, and records written before URIs read the same."""
    return Path(location).as_uri()


def bucket_properties(bucket: models.BackupBucket) -> dict[str, Any]:
    """The bucket as the API shows it (without its id): provider and its non-secret fields."""
    fields = {name: getattr(bucket, column) for name, column in BUCKET_COLUMNS.items()}
    return {"bucketProvider": bucket.provider, **{name: value for name, value in fields.items() if value is not None}}


def new_bucket(service_id: uuid.UUID, current: models.BackupBucket | None,
               request: BackupBucketPostRequest | BackupBucketPatchRequest, storage: Storage,
               hasher: SecretHasher) -> models.BackupBucket:
    """The bucket a create (`current` None) or a PATCH asks for: a PATCH's given fields replace the stored
    ones and null clears one; naming another provider replaces the whole bucket, as a create would."""
    provider = request.bucketProvider or (current.provider if current else None)
    if provider is None:
        raise BadRequest("bucketProvider is required: AWS, GCP or AZURE")
    kept = current is not None and current.provider == provider
    given = request.model_dump(include=request.model_fields_set - {"bucketProvider"})
    foreign = sorted(name for name, value in given.items() if value is not None and name not in BUCKET_FIELDS[provider])
    if foreign:
        raise BadRequest(f"{', '.join(foreign)}: not a field of {provider} buckets, which take "
                         f"{', '.join(BUCKET_FIELDS[provider])}")
    fields = {name: getattr(current, column) for name, column in BUCKET_COLUMNS.items()} if kept else {}
    fields.update({name: value for name, value in given.items() if name in BUCKET_COLUMNS})
    secrets = [given[name] for name in SECRET_FIELDS if name in given]  # null forgets the stored one
    secret_hash = current.secret_hash if current and kept else None
    if secrets:
        secret_hash = hasher.hash(secrets[0]) if secrets[0] is not None else None
    required = "containerName" if provider == "AZURE" else "bucketPath"
    if not fields.get(required):
        raise BadRequest(f"{required} is required for {provider} buckets")
    if provider == "AZURE" and not CONTAINER_NAME.fullmatch(fields["containerName"]):
        raise BadRequest("containerName must be 3 to 63 lowercase letters, digits and single hyphens, starting and "
                         "ending with a letter or digit; it names a directory under the data directory's buckets/")
    if provider != "AZURE":
        fields["bucketPath"] = storage.check_bucket_path(fields["bucketPath"])
    return models.BackupBucket(
        service_id=service_id, id=current.id if current and kept else uuid.uuid4(), provider=provider,
        secret_hash=secret_hash,
        **{column: fields.get(name) for name, column in BUCKET_COLUMNS.items()},
    )


def restore_source(request: ServicePostRequest, organization_id: uuid.UUID, backups: Backups,
                   services: Services) -> str | None:
    """The directory of the backup a new service starts from, as stored (None without backupId): a done backup of a
    service of the organization, in the region the new service asks for."""
    if request.backupId is None:
        return None
    backup = backups.get(organization_id, request.backupId)
    if backup is None:
        raise BadRequest(f"backupId: backup {request.backupId} was not found in this organization")
    if backup.status != "done":
        raise BadRequest(f"backupId: backup {backup.id} is {backup.status}; only a done backup can be restored")
    source = services.get(organization_id, backup.service_id)
    if source is not None and (source.provider, source.region) != (request.provider, request.region):
        raise BadRequest(f"backupId: backup {backup.id} is of a service in {source.provider} {source.region}; a "
                         "service restored from it must be created in the same provider and region")
    return backup.location


def to_wire(backup: models.Backup, now: datetime) -> schemas.Backup:
    end = backup.finished_at or now
    return schemas.Backup.model_validate({
        "id": backup.id, "status": backup.status, "serviceId": str(backup.service_id), "startedAt": backup.started_at,
        "finishedAt": backup.finished_at, "sizeInBytes": backup.size_in_bytes,
        "durationInSeconds": max(0.0, (end - backup.started_at).total_seconds()), "type": backup.type,
        "backupName": backup.backup_name, "bucket": backup.bucket, "error": backup.error,
    })


def snapshot_configuration_to_wire(schedule: Schedule) -> schemas.SnapshotConfiguration:
    return schemas.SnapshotConfiguration(enabled=schedule.enabled, gap=schedule.period_hours * MINUTES,
                                         timeFrame=schedule.retention_hours * MINUTES)


def configuration_to_wire(schedule: Schedule) -> schemas.BackupConfiguration:
    return schemas.BackupConfiguration(backupPeriodInHours=schedule.period_hours,
                                       backupRetentionPeriodInHours=schedule.retention_hours,
                                       backupStartTime=schedule.start_time)


def bucket_to_wire(bucket: models.BackupBucket) -> schemas.BackupBucket:
    return schemas.BackupBucket.model_validate({"id": bucket.id, **bucket_properties(bucket)})


def existing_bucket(buckets: BackupBuckets, service_id: uuid.UUID) -> models.BackupBucket:
    bucket = buckets.get(service_id)
    if bucket is None:
        raise NotFound(f"service {service_id} has no backup bucket: its backups are kept in clickplane's data "
                       "directory. Create one with POST")
    return bucket


class BackupService:
    def __init__(self, context: AppContext) -> None:
        self.context = context
        self.storage = Storage(context.settings.data_dir.resolve(), context.settings.resolved_backup_bucket_root)

    def list(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> list[schemas.Backup]:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id, service_id)
            now = utcnow()
            return [to_wire(backup, now) for backup in Backups(session).list(service_id)]

    def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, backup_id: uuid.UUID
            ) -> schemas.Backup:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id, service_id)
            backup = Backups(session).get(organization_id, backup_id)
            if backup is None or backup.service_id != service_id:
                raise NotFound(f"backup {backup_id} of service {service_id} does not exist")
            return to_wire(backup, utcnow())

    def configuration(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                      ) -> schemas.BackupConfiguration:
        return configuration_to_wire(self._schedule(caller, organization_id, service_id))

    def update_configuration(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                             patch: BackupConfigurationPatchRequest) -> schemas.BackupConfiguration:
        return configuration_to_wire(self._change_schedule(
            caller, organization_id, service_id, lambda schedule: patched_schedule(schedule, patch),
            "service_update_backup_configuration", patch.model_dump(exclude_unset=True)))

    def snapshots(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                  ) -> Sequence[schemas.Snapshot]:
        return [schemas.Snapshot.model_validate(backup.model_dump())
                for backup in self.list(caller, organization_id, service_id)]

    def snapshot(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, snapshot_id: str
                 ) -> schemas.Snapshot:
        try:
            backup_id = uuid.UUID(snapshot_id)
        except ValueError:
            raise NotFound(f"snapshot {snapshot_id!r} of service {service_id} does not exist: snapshot ids are "
                           "backup ids (UUIDs); list them with `service snapshot list`") from None
        return schemas.Snapshot.model_validate(self.get(caller, organization_id, service_id, backup_id).model_dump())

    def snapshot_configuration(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                               ) -> schemas.SnapshotConfiguration:
        return snapshot_configuration_to_wire(self._schedule(caller, organization_id, service_id))

    def update_snapshot_configuration(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                                      patch: SnapshotConfigurationPatchRequest) -> schemas.SnapshotConfiguration:
        return snapshot_configuration_to_wire(self._change_schedule(
            caller, organization_id, service_id, lambda schedule: patched_snapshot_schedule(schedule, patch),
            "service_update_snapshot_configuration", patch.model_dump(exclude_none=True)))

    def _schedule(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> Schedule:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id, service_id)
            return Schedule.of(BackupConfigurations(session).get(service_id))

    def _change_schedule(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                         change: Callable[[Schedule], Schedule], activity: RecordedActivityType, details: dict[str, Any]
                         ) -> Schedule:
        """The service's backup schedule changed and stored, the change recorded as `activity`."""
        with self.context.database.transaction() as session:
            _changeable(session, caller, organization_id, service_id)
            configurations = BackupConfigurations(session)
            schedule = change(Schedule.of(configurations.get(service_id)))
            _store(configurations, service_id, schedule)
            record(Activities(session), caller, activity, service_id=service_id, details=details)
            return schedule

    def bucket(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> schemas.BackupBucket:
        with self.context.database.looking() as session:
            _visible(session, caller, organization_id, service_id)
            return bucket_to_wire(existing_bucket(BackupBuckets(session), service_id))

    def create_bucket(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                      request: BackupBucketPostRequest) -> schemas.BackupBucket:
        with self.context.database.transaction() as session:
            _changeable(session, caller, organization_id, service_id)
            buckets = BackupBuckets(session)
            if buckets.get(service_id) is not None:
                raise Conflict(f"service {service_id} already has a backup bucket; change it with PATCH or delete it")
            bucket = buckets.put(new_bucket(service_id, None, request, self.storage, self.context.hasher))
            _record_bucket(session, caller, "service_create_backup_bucket", bucket)
            return bucket_to_wire(bucket)

    def update_bucket(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                      patch: BackupBucketPatchRequest) -> schemas.BackupBucket:
        with self.context.database.transaction() as session:
            _changeable(session, caller, organization_id, service_id)
            buckets = BackupBuckets(session)
            current = existing_bucket(buckets, service_id)
            bucket = buckets.put(new_bucket(service_id, current, patch, self.storage, self.context.hasher))
            _record_bucket(session, caller, "service_update_backup_bucket", bucket)
            return bucket_to_wire(bucket)

    def delete_bucket(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
        with self.context.database.transaction() as session:
            _changeable(session, caller, organization_id, service_id)
            buckets = BackupBuckets(session)
            bucket = existing_bucket(buckets, service_id)
            _record_bucket(session, caller, "service_delete_backup_bucket", bucket)
            buckets.delete(bucket)


def _store(configurations: BackupConfigurations, service_id: uuid.UUID, schedule: Schedule) -> None:
    configurations.put(models.BackupConfiguration(
        service_id=service_id, period_hours=schedule.period_hours, retention_hours=schedule.retention_hours,
        start_time=schedule.start_time, enabled=schedule.enabled))


def _visible(session: Session, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
    visible(Services(session), caller, organization_id, service_id)


def _changeable(session: Session, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> None:
    """The service is the caller's, locked for the change, and not being deleted."""
    changeable(Services(session), caller, organization_id, service_id)


def _record_bucket(session: Session, caller: Caller, activity_type: RecordedActivityType,
                   bucket: models.BackupBucket) -> None:
    record(Activities(session), caller, activity_type, service_id=bucket.service_id,
           details=bucket_properties(bucket))  # no secret: those are kept only as hashes
