"""Wire models of backups, backup schedules and backup buckets."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel, Timestamp

BucketProvider = Literal["AWS", "GCP", "AZURE"]


class BackupBucketProperties(ResponseModel):
    """Where backups are written. clickplane writes them to directories: `bucketPath` (AWS, GCP) is an
    absolute directory path, `containerName` (AZURE) a directory under the data directory's `buckets/`."""

    bucketProvider: BucketProvider = Field(description="AWS, GCP or AZURE.")
    bucketPath: str | None = Field(default=None, description="AWS and GCP: absolute path of the directory.")
    iamRoleArn: str | None = Field(default=None, description="AWS: role ARN, recorded (the local runtime needs none).")
    iamRoleSessionName: str | None = Field(default=None, description="AWS: role session name, recorded.")
    accessKeyId: str | None = Field(default=None, description="GCP: HMAC key id, recorded.")
    containerName: str | None = Field(default=None, description="AZURE: directory name under <data dir>/buckets/.")


class BackupBucket(BackupBucketProperties):
    id: UUID = Field(description="Id of the bucket configuration.")


class Backup(ResponseModel):
    id: UUID = Field(description="Backup id.")
    status: Literal["done", "error", "in_progress"] = Field(description="Only a done backup can be restored.")
    serviceId: str = Field(description="The service it was taken of.")
    startedAt: Timestamp = Field(description="When it started (RFC 3339, UTC).")
    finishedAt: Timestamp | None = Field(default=None, description="When it finished; absent while in progress.")
    sizeInBytes: int | None = Field(default=None, description="Bytes it holds; absent until it is done.")
    durationInSeconds: float = Field(description="How long it took, or has been running while in progress.")
    type: Literal["full", "incremental"] = Field(description="Always full: every backup holds all the data.")
    backupName: str = Field(description="Its path in its bucket: <service id>/<backup id>.")
    bucket: BackupBucketProperties | None = Field(
        default=None, description="The bucket it was written to; absent when it is in the data directory.")
    error: str | None = Field(default=None, description="Why it failed (status error); a clickplane addition.")


class BackupConfiguration(ResponseModel):
    backupPeriodInHours: int | None = Field(default=None, description="Hours between backups.")
    backupRetentionPeriodInHours: int | None = Field(default=None, description="Hours a backup is kept.")
    backupStartTime: str | None = Field(default=None, description="HH:MM (UTC) backups start at, if fixed.")


class BackupConfigurationPatchRequest(RequestModel):
    """Fields left out keep their value; a field set to null returns to its default."""

    backupPeriodInHours: float | None = Field(
        default=None, description="Hours between backups: 6, 8, 12, 16, 20, 24, 36 or 48 (default 24).")
    backupRetentionPeriodInHours: float | None = Field(
        default=None, description="Hours each backup is kept: whole days, 24 to 1080 (default 24).")
    backupStartTime: str | None = Field(
        default=None, description="HH:MM (UTC) to take backups at, with a period of 24 (reset to it unless "
                                  "48 is given). null (the default) takes them every backupPeriodInHours.")


class BackupBucketFields(RequestModel):
    """What a bucket request may give beside its provider; which fields a provider takes is checked after."""

    bucketPath: str | None = Field(default=None, max_length=4096,
                                   description="AWS and GCP (required): absolute path of a directory.")
    iamRoleArn: str | None = Field(default=None, max_length=2048, description="AWS: role ARN, recorded.")
    iamRoleSessionName: str | None = Field(default=None, max_length=64, description="AWS: role session name.")
    accessKeyId: str | None = Field(default=None, max_length=256, description="GCP: HMAC key id, recorded.")
    secretAccessKey: str | None = Field(default=None, max_length=4096,
                                        description="GCP: HMAC secret; only a keyed hash of it is kept.")
    containerName: str | None = Field(default=None, max_length=63,
                                      description="AZURE (required): directory name under <data dir>/buckets/.")
    connectionString: str | None = Field(default=None, max_length=4096,
                                         description="AZURE: only a keyed hash of it is kept.")


class BackupBucketPostRequest(BackupBucketFields):
    bucketProvider: BucketProvider = Field(description="AWS, GCP or AZURE.")


class BackupBucketPatchRequest(BackupBucketFields):
    """Given fields replace the stored ones, null clears one; another provider replaces the whole bucket."""

    bucketProvider: BucketProvider | None = Field(default=None, description="Omit to keep the bucket's provider.")


class Snapshot(Backup):
    """A backup, as clickhousectl's `service snapshot` shows it: the same fields (absent from the reference)."""


class SnapshotConfiguration(ResponseModel):
    """The backup schedule in clickhousectl's `service snapshot config` terms (absent from the reference)."""

    enabled: bool = Field(description="Whether backups are taken on schedule (the operator's are taken anyway).")
    gap: float = Field(description="Minutes between backups: backupPeriodInHours times 60.")
    timeFrame: float = Field(description="Minutes each backup is kept: backupRetentionPeriodInHours times 60.")


class SnapshotConfigurationPatchRequest(RequestModel):
    """Fields left out (or null) keep their value."""

    enabled: bool | None = Field(default=None, description="false: take no backups on schedule; true: take them.")
    gap: float | None = Field(default=None, description="Minutes between backups: 360, 480, 720, 960, 1200, 1440, "
                                                        "2160 or 2880 (backupPeriodInHours times 60).")
    timeFrame: float | None = Field(default=None, description="Minutes each backup is kept: whole days, 1440 to "
                                                              "64800 (backupRetentionPeriodInHours times 60).")
