"""Rules for backups: schedules (validation, when a backup is due, which have expired), buckets, and which
backup a new service may start from. Times are given, never read from a clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from clickplane.auth.secrets import SecretHasher
from clickplane.backups import service as rules
from clickplane.backups.repository import Backups
from clickplane.backups.schemas import (
    BackupBucketPatchRequest,
    BackupBucketPostRequest,
    BackupConfigurationPatchRequest,
    SnapshotConfigurationPatchRequest,
)
from clickplane.backups.service import Schedule, Storage
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.organizations.repository import Organizations
from clickplane.services.controller import intent_of
from clickplane.services.repository import Services
from clickplane.services.schemas import ServicePostRequest
from clickplane.store import models

HASHER = SecretHasher(b"k" * 32)
STORAGE = Storage(Path("/srv/clickplane"), Path("/"))  # a bucket may be anywhere: the rules about its name
NOW = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


def patched(current: Schedule = rules.DEFAULT_SCHEDULE, **fields: Any) -> Schedule:
    return rules.patched_schedule(current, BackupConfigurationPatchRequest.model_validate(fields))


def refusal(**fields: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        patched(**fields)
    return caught.value.message


def test_defaults_are_a_daily_backup_kept_a_day() -> None:
    assert Schedule.of(None) == Schedule(period_hours=24, retention_hours=24, start_time=None)


def test_a_patch_keeps_what_it_leaves_out_and_null_restores_the_default() -> None:
    current = Schedule(period_hours=12, retention_hours=72)

    assert patched(current, backupRetentionPeriodInHours=48.0) == Schedule(12, 48)
    assert patched(current, backupPeriodInHours=None) == Schedule(24, 72)
    assert patched(current, backupRetentionPeriodInHours=None, backupPeriodInHours=6) == Schedule(6, 24)
    assert patched(current) == current


def test_a_start_time_takes_a_period_of_a_day_or_two_until_it_is_cleared() -> None:
    daily = patched(Schedule(period_hours=12), backupStartTime="02:30")
    assert daily == Schedule(period_hours=24, start_time="02:30")
    every_other_day = patched(daily, backupPeriodInHours=48.0)
    assert every_other_day == Schedule(period_hours=48, start_time="02:30")
    assert patched(Schedule(period_hours=48), backupStartTime="04:00") == Schedule(48, start_time="04:00")
    assert patched(daily, backupStartTime=None) == Schedule(period_hours=24)
    assert patched(daily, backupStartTime=None, backupPeriodInHours=8) == Schedule(period_hours=8)
    with pytest.raises(BadRequest, match="must be 24 or 48"):
        patched(daily, backupPeriodInHours=12)
    assert "must be 24 or 48" in refusal(backupStartTime="01:00", backupPeriodInHours=6)


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"backupPeriodInHours": 5}, "one of 6, 8, 12, 16, 20, 24, 36, 48"),
    ({"backupPeriodInHours": 12.5}, "whole number"),
    ({"backupRetentionPeriodInHours": 36}, "multiple of 24"),
    ({"backupRetentionPeriodInHours": 0}, "multiple of 24"),
    ({"backupRetentionPeriodInHours": 1104}, "from 24 to 1080"),
    ({"backupStartTime": "24:00"}, "HH:MM"),
    ({"backupStartTime": "2:30"}, "HH:MM"),
])
def test_values_outside_the_references_ranges_are_refused(fields: dict[str, Any], fragment: str) -> None:
    assert fragment in refusal(**fields)


def test_the_longest_retention_and_every_listed_period_are_accepted() -> None:
    assert patched(backupRetentionPeriodInHours=1080).retention_hours == 1080
    assert [patched(backupPeriodInHours=float(p)).period_hours for p in rules.PERIODS_HOURS] == list(
        rules.PERIODS_HOURS)


def test_without_a_start_time_a_backup_is_due_a_period_after_the_last_or_after_creation() -> None:
    every_12 = Schedule(period_hours=12)
    created = NOW - 11 * HOUR

    assert not rules.backup_due(every_12, None, created, NOW)
    assert rules.backup_due(every_12, None, created, NOW + HOUR)
    assert not rules.backup_due(every_12, NOW - 2 * HOUR, created - 100 * HOUR, NOW)
    assert rules.backup_due(every_12, NOW - 12 * HOUR, created - 100 * HOUR, NOW)


def test_with_a_start_time_a_backup_is_due_once_a_day_at_that_time() -> None:
    at_0200 = Schedule(start_time="02:00")
    created = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    before_first_slot = datetime(2026, 11, 27, 1, 59, tzinfo=UTC)
    first_slot = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)

    assert not rules.backup_due(at_0200, None, created, before_first_slot)
    assert rules.backup_due(at_0200, None, created, first_slot)
    taken = first_slot + timedelta(minutes=1)
    assert not rules.backup_due(at_0200, taken, created, first_slot + 23 * HOUR)
    assert rules.backup_due(at_0200, taken, created, first_slot + 24 * HOUR)
    # A backup begun before the day's start time does not stand in for it.
    assert rules.backup_due(at_0200, first_slot - HOUR, created, first_slot + HOUR)


def test_with_a_start_time_and_48_hours_a_backup_is_due_every_other_day_at_that_time() -> None:
    at_0200 = Schedule(period_hours=48, start_time="02:00")
    taken = datetime(2026, 11, 27, 2, 1, tzinfo=UTC)
    created = taken - 100 * HOUR

    assert not rules.backup_due(at_0200, taken, created, taken + 24 * HOUR)
    assert not rules.backup_due(at_0200, taken, created, taken + 47 * HOUR)
    assert rules.backup_due(at_0200, taken, created, taken + 48 * HOUR)


def test_latest_start_is_today_or_yesterday_in_utc() -> None:
    assert rules.latest_start("10:30", NOW) == NOW
    assert rules.latest_start("10:31", NOW) == NOW + timedelta(minutes=1) - timedelta(days=1)
    in_paris = NOW.astimezone(timezone(timedelta(hours=1)))  # 11:30 there, 10:30 UTC
    assert rules.latest_start("11:00", in_paris) == datetime(2026, 11, 26, 11, 0, tzinfo=UTC)


def backup(status: str, age_hours: float) -> models.Backup:
    return models.Backup(id=uuid.uuid4(), status=status, started_at=NOW - age_hours * HOUR)


def test_expired_backups_are_those_past_retention_but_never_the_newest_done_or_one_in_progress() -> None:
    kept_two_days = Schedule(retention_hours=48)
    fresh, newest_done_old = backup("done", 47), backup("done", 60)
    old_done, old_error, stuck = backup("done", 70), backup("error", 49), backup("in_progress", 100)

    assert rules.expired([fresh, newest_done_old, old_done, old_error, stuck], kept_two_days, NOW) == [
        newest_done_old, old_done, old_error]
    assert rules.expired([newest_done_old, old_done, old_error], kept_two_days, NOW) == [old_done, old_error]


SERVICE_ID = uuid.uuid4()


def bucket(current: models.BackupBucket | None = None, **fields: Any) -> models.BackupBucket:
    model = BackupBucketPostRequest if current is None else BackupBucketPatchRequest
    return rules.new_bucket(SERVICE_ID, current, model.model_validate(fields), STORAGE, HASHER)


def bucket_refusal(current: models.BackupBucket | None = None, **fields: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        bucket(current, **fields)
    return caught.value.message


def test_an_aws_bucket_is_a_directory_and_its_role_is_recorded() -> None:
    made = bucket(bucketProvider="AWS", bucketPath="/var/backups/ch/", iamRoleArn="arn:aws:iam::1:role/r")

    assert (made.provider, made.bucket_path, made.iam_role_arn, made.secret_hash) == (
        "AWS", "/var/backups/ch", "arn:aws:iam::1:role/r", None)
    assert STORAGE.root(made) == Path("/var/backups/ch")
    assert rules.bucket_properties(made) == {"bucketProvider": "AWS", "bucketPath": "/var/backups/ch",
                                             "iamRoleArn": "arn:aws:iam::1:role/r"}


def test_secrets_are_kept_only_as_keyed_hashes() -> None:
    gcp = bucket(bucketProvider="GCP", bucketPath="/b", accessKeyId="GOOG1", secretAccessKey="s3cr3t")
    azure = bucket(bucketProvider="AZURE", containerName="nightly-1", connectionString="AccountKey=abc")

    assert gcp.secret_hash == HASHER.hash("s3cr3t")
    assert azure.secret_hash == HASHER.hash("AccountKey=abc")
    assert "s3cr3t" not in str(rules.bucket_properties(gcp))
    assert STORAGE.root(azure) == Path("/nightly-1")


def test_a_patch_changes_given_fields_clears_null_ones_and_keeps_the_rest() -> None:
    current = bucket(bucketProvider="AWS", bucketPath="/b", iamRoleArn="arn", iamRoleSessionName="s")

    changed = bucket(current, bucketPath="/c", iamRoleSessionName=None)

    assert (changed.id, changed.bucket_path, changed.iam_role_arn, changed.iam_role_session_name) == (
        current.id, "/c", "arn", None)
    gcp = bucket(current, bucketProvider="GCP", bucketPath="/g")
    assert (gcp.provider, gcp.iam_role_arn) == ("GCP", None)
    assert gcp.id != current.id


def test_a_gcp_patch_without_its_secret_keeps_the_stored_hash() -> None:
    current = bucket(bucketProvider="GCP", bucketPath="/g", secretAccessKey="one")
    assert bucket(current, bucketPath="/h").secret_hash == HASHER.hash("one")
    assert bucket(current, secretAccessKey="two").secret_hash == HASHER.hash("two")


@pytest.mark.parametrize(("fields", "fragment"), [
    ({"bucketProvider": "AWS"}, "bucketPath is required"),
    ({"bucketProvider": "AWS", "bucketPath": "s3://my-bucket/backups"}, "absolute, normalized directory path"),
    ({"bucketProvider": "GCP", "bucketPath": "relative/dir"}, "absolute"),
    ({"bucketProvider": "AWS", "bucketPath": "/srv/../etc"}, "normalized"),
    ({"bucketProvider": "AWS", "bucketPath": "/srv/clickplane/services/x"}, "services' own directories"),
    ({"bucketProvider": "AZURE"}, "containerName is required"),
    ({"bucketProvider": "AZURE", "containerName": "Has_Upper"}, "lowercase"),
    ({"bucketProvider": "AZURE", "containerName": "../up"}, "lowercase"),
    ({"bucketProvider": "AWS", "bucketPath": "/b", "containerName": "c"}, "not a field of AWS buckets"),
    ({"bucketProvider": "AZURE", "containerName": "abc", "secretAccessKey": "x"}, "not a field of AZURE"),
])
def test_bucket_requests_the_local_runtime_cannot_use_are_refused(fields: dict[str, Any], fragment: str) -> None:
    assert fragment in bucket_refusal(**fields)


def test_a_bucket_without_a_provider_is_refused() -> None:
    with pytest.raises(BadRequest, match="bucketProvider is required"):
        rules.new_bucket(SERVICE_ID, None, BackupBucketPatchRequest(bucketPath="/b"), STORAGE, HASHER)


def stored_backup(session: Session, status: str = "done", region: str = "us-east-1") -> models.Backup:
    organization = Organizations(session).add(models.Organization(id=uuid.uuid4(), name="org"))
    service = Services(session).add(models.Service(
        id=uuid.uuid4(), organization_id=organization.id, name="s", provider="aws", region=region,
        password_sha256_hex="0" * 64, min_replica_memory_gb=8, max_replica_memory_gb=8, data_warehouse_id=uuid.uuid4()))
    backup_id = uuid.uuid4()
    return Backups(session).add(models.Backup(
        id=backup_id, organization_id=organization.id, service_id=service.id, status=status,
        backup_name=f"{service.id}/{backup_id}", location=f"/srv/clickplane/backups/{service.id}/{backup_id}"))


def restore(session: Session, source: models.Backup, organization_id: uuid.UUID | None = None,
            **fields: Any) -> str | None:
    request = ServicePostRequest.model_validate({"name": "n", "provider": "aws", "region": "us-east-1",
                                                 "backupId": str(source.id), **fields})
    return rules.restore_source(request, organization_id or source.organization_id, Backups(session), Services(session))


def test_a_new_service_starts_from_a_done_backup_of_its_organization(session: Session) -> None:
    source = stored_backup(session)
    assert restore(session, source) == source.location
    no_backup = ServicePostRequest(name="n", provider="aws", region="us-east-1")
    assert rules.restore_source(no_backup, source.organization_id, Backups(session), Services(session)) is None


def test_a_restore_reaches_the_runtime_as_the_file_uri_of_the_directory_the_store_keeps(session: Session) -> None:
    """The store keeps plain paths, as it did before runtimes took URIs; the URI is made when the runtime is asked."""
    source = stored_backup(session)
    source.location += " copy"  # a space, which a URI escapes
    service = session.get(models.Service, source.service_id)
    assert service is not None
    service.restore_from = restore(session, source)
    session.flush()

    assert service.restore_from == source.location
    assert intent_of(service).spec.restore_from == f"file://{source.location.replace(' ', '%20')}"


@pytest.mark.parametrize(("status", "region", "other_organization", "fragment"), [
    ("in_progress", "us-east-1", False, "is in_progress; only a done backup"),
    ("error", "us-east-1", False, "is error"),
    ("done", "eu-west-1", False, "same provider and region"),
    ("done", "us-east-1", True, "was not found in this organization"),
])
def test_other_backups_are_refused(session: Session, status: str, region: str, other_organization: bool,
                                   fragment: str) -> None:
    source = stored_backup(session, status, region)
    with pytest.raises(BadRequest, match=fragment):
        restore(session, source, uuid.uuid4() if other_organization else None)


def test_a_bucket_must_be_under_the_bucket_root_however_it_is_spelled(tmp_path: Path) -> None:
    root = tmp_path / "buckets"
    (root / "nightly").mkdir(parents=True)
    (root / "to-etc").symlink_to("/etc")
    (root / "to-ssh").symlink_to(tmp_path)
    confined = Storage(tmp_path / "data", root)

    assert confined.check_bucket_path(str(root / "nightly")) == str(root / "nightly")
    assert confined.check_bucket_path(str(root / "not-yet-made")) == str(root / "not-yet-made")
    for outside in ("/etc", "/root/.ssh", "/proc/self", str(tmp_path), str(root / "to-etc"),
                    str(root / "to-ssh" / "x")):
        with pytest.raises(BadRequest) as refused:
            confined.check_bucket_path(outside)
        assert f"is not under {root}" in refused.value.message
        assert "CLICKPLANE_BACKUP_BUCKET_ROOT" in refused.value.message
    azure = rules.new_bucket(SERVICE_ID, None, BackupBucketPostRequest(bucketProvider="AZURE",
                                                                        containerName="nightly"), confined, HASHER)
    assert confined.root(azure) == root / "nightly"


def test_a_bucket_turned_into_a_link_out_of_the_root_gets_no_backup(tmp_path: Path) -> None:
    root = tmp_path / "buckets"
    root.mkdir()
    confined = Storage(tmp_path / "data", root)
    accepted = bucket(bucketProvider="AWS", bucketPath=str(root / "nightly"))
    backup_id = uuid.uuid4()
    assert confined.location(accepted, SERVICE_ID, backup_id) == root / "nightly" / str(SERVICE_ID) / str(backup_id)

    (root / "nightly").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Conflict, match="outside the directory backup buckets must be in"):
        confined.location(accepted, SERVICE_ID, backup_id)


def snapshot_patched(current: Schedule = rules.DEFAULT_SCHEDULE, **fields: Any) -> Schedule:
    return rules.patched_snapshot_schedule(current, SnapshotConfigurationPatchRequest.model_validate(fields))


def test_a_snapshot_configuration_is_the_schedule_in_minutes() -> None:
    assert rules.snapshot_configuration_to_wire(rules.DEFAULT_SCHEDULE).model_dump() == {
        "enabled": True, "gap": 1440.0, "timeFrame": 1440.0}
    schedule = snapshot_patched(gap=720.0, timeFrame=2880)
    assert (schedule.period_hours, schedule.retention_hours, schedule.enabled) == (12, 48, True)
    assert snapshot_patched(schedule, enabled=False) == Schedule(12, 48, None, enabled=False)
    assert snapshot_patched(schedule, gap=None) == schedule  # null keeps, as a field left out does
    started = Schedule(24, 24, "06:00")
    assert snapshot_patched(started, gap=2880).period_hours == 48  # a start time keeps taking 24 or 48


def test_a_gap_or_time_frame_that_is_no_period_or_retention_is_refused_in_minutes() -> None:
    for fields in ({"gap": 30}, {"gap": 90.5}, {"timeFrame": 100}, {"timeFrame": 1440 * 46}):
        with pytest.raises(BadRequest, match="gap is backupPeriodInHours") as caught:
            snapshot_patched(**fields)
        assert "360" in caught.value.message


def test_a_disabled_schedule_takes_no_backup() -> None:
    disabled = Schedule(enabled=False)
    assert not rules.backup_due(disabled, None, NOW - 30 * HOUR, NOW)
    assert rules.backup_due(Schedule(), None, NOW - 30 * HOUR, NOW)
