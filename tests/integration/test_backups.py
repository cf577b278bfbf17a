"""Backups end to end: the operator takes one with `clickplane backup create`, the API and clickhousectl list
and show it, and a service created with its id holds the same rows; schedules and buckets over HTTP."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, clickplane, store_contents, wait_until
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli
from tests.integration.test_lifecycle import command, http_port, running_service, sql

pytestmark = needs_clickhouse

# A MergeTree table with several partitions and a Log table, in two databases.
TABLES = {
    "default.events": "(id UInt64, name String, at DateTime) ENGINE = MergeTree PARTITION BY id % 4 ORDER BY id",
    "default.audit": "(n UInt32, note String) ENGINE = Log",
    "shop.orders": "(id UInt64, amount Float64) ENGINE = MergeTree ORDER BY id",
}
ROWS = {
    "default.events": "SELECT number, toString(cityHash64(number)), toDateTime(1700000000 + number) "
                      "FROM numbers(100000)",
    "default.audit": "SELECT toUInt32(number), concat('note ', toString(number)) FROM numbers(1000)",
    "shop.orders": "SELECT number, number / 7 FROM numbers(5000)",
}


def run(service: dict[str, Any], password: str, query: str) -> str:
    answer = sql(http_port(service), password, query)
    assert answer.status_code == 200, f"{query}: {answer.text}"
    return answer.text


def checksums(service: dict[str, Any], password: str) -> dict[str, str]:
    """Each table's order-independent hash of every row, and its row count."""
    return {table: run(service, password, f"SELECT groupBitXor(cityHash64(*)), count() FROM {table}")  # noqa: S608
            for table in TABLES}


def backup_create(server: ClickplaneServer, service_id: str) -> dict[str, Any]:
    done = clickplane("backup", "create", service_id, env=server.env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def get(server: ClickplaneServer, suffix: str) -> httpx.Response:
    with server.client() as client:
        return client.get(server.org_path(suffix))


@dataclass
class BackedUp:
    service: dict[str, Any]
    password: str
    backup: dict[str, Any]
    checksums: dict[str, str]


@pytest.fixture(scope="module")
def backed_up(server: ClickplaneServer) -> BackedUp:
    """A service holding the TABLES, and a backup of it taken by the operator."""
    service, password = running_service(server, name="backed-up")
    run(service, password, "CREATE DATABASE shop")
    for table, columns in TABLES.items():
        run(service, password, f"CREATE TABLE {table} {columns}")
        run(service, password, f"INSERT INTO {table} {ROWS[table]}")
    before = checksums(service, password)
    assert before["default.events"].endswith("\t100000\n")
    return BackedUp(service, password, backup_create(server, service["id"]), before)


def test_the_operator_takes_a_backup_holding_every_table(server: ClickplaneServer, backed_up: BackedUp) -> None:
    backup = backed_up.backup
    service_id = backed_up.service["id"]

    assert (backup["status"], backup["type"], backup["serviceId"]) == ("done", "full", service_id)
    assert backup["backupName"] == f"{service_id}/{backup['id']}"
    location = server.data_dir / "backups" / service_id / backup["id"]
    manifest = json.loads((location / "manifest.json").read_text())
    assert {(t["database"], t["name"], t["copied"]) for t in manifest["tables"]} == {
        ("default", "events", "frozen parts"), ("default", "audit", "files up to sizes.json"),
        ("shop", "orders", "frozen parts")}
    assert backup["sizeInBytes"] == sum(p.stat().st_size for p in location.rglob("*") if p.is_file())
    assert backup["sizeInBytes"] > 1_000_000
    assert not list((server.data_dir / "services" / service_id / "data" / "shadow").glob("clickplane_*"))


def test_a_new_service_restored_from_the_backup_holds_the_same_rows(server: ClickplaneServer,
                                                                    backed_up: BackedUp) -> None:
    source, password = backed_up.service, backed_up.password
    for table in TABLES:
        run(source, password, f"DROP TABLE {table}")

    created = server.create_service(name="restored", backupId=backed_up.backup["id"])
    restored = server.wait_for_state(created["service"]["id"], "running")

    assert checksums(restored, created["password"]) == backed_up.checksums
    assert run(source, password, "EXISTS TABLE default.events") == "0\n"
    with server.client() as client:
        activities = client.get(server.org_path("/activities")).json()["result"]
    assert any(a["type"] == "service_restore_backup" and a["serviceId"] == restored["id"] for a in activities)


def test_a_restore_needs_a_done_backup_of_the_organization_in_the_same_region(server: ClickplaneServer,
                                                                             backed_up: BackedUp) -> None:
    def create(**fields: Any) -> httpx.Response:
        with server.client() as client:
            return client.post(server.org_path("/services"), json={
                "name": "nope", "provider": "aws", "region": "us-east-1", **fields})

    unknown = create(backupId="00000000-0000-4000-8000-00000000beef")
    elsewhere = create(backupId=backed_up.backup["id"], region="us-west-2")

    assert unknown.status_code == 400
    assert "was not found in this organization" in unknown.json()["error"]
    assert elsewhere.status_code == 400
    assert "same provider and region" in elsewhere.json()["error"]


def test_backups_are_listed_newest_first_and_got_one_by_one(server: ClickplaneServer, backed_up: BackedUp) -> None:
    service_id = backed_up.service["id"]
    newer = backup_create(server, service_id)

    listed = get(server, f"/services/{service_id}/backups").json()["result"]
    one = get(server, f"/services/{service_id}/backups/{backed_up.backup['id']}").json()["result"]

    assert [b["id"] for b in listed[:2]] == [newer["id"], backed_up.backup["id"]]
    assert one == next(b for b in listed if b["id"] == backed_up.backup["id"])
    assert one["finishedAt"] >= one["startedAt"]
    assert one["durationInSeconds"] >= 0
    missing = get(server, f"/services/{service_id}/backups/00000000-0000-4000-8000-00000000beef")
    assert missing.status_code == 404
    other = server.create_service(name="no-backups")["service"]["id"]
    assert get(server, f"/services/{other}/backups").json()["result"] == []
    assert get(server, f"/services/{other}/backups/{newer['id']}").status_code == 404


@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed (pip install clickhousectl)")
def test_clickhousectl_lists_gets_and_configures_backups(server: ClickplaneServer, backed_up: BackedUp,
                                                        tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    service_id, backup_id = backed_up.service["id"], backed_up.backup["id"]

    assert backup_id in [b["id"] for b in cli.json("backup", "list", service_id)]
    assert backup_id in cli.run("backup", "list", service_id)
    got = cli.json("backup", "get", service_id, backup_id)
    assert (got["id"], got["status"], got["sizeInBytes"]) == (backup_id, "done", backed_up.backup["sizeInBytes"])

    assert cli.json("service", "backup-config", "get", service_id) == {
        "backupPeriodInHours": 24.0, "backupRetentionPeriodInHours": 24.0}
    updated = cli.json("service", "backup-config", "update", service_id, "--backup-period-hours", "12",
                       "--backup-retention-period-hours", "72")
    assert updated == {"backupPeriodInHours": 12.0, "backupRetentionPeriodInHours": 72.0}
    daily = cli.json("service", "backup-config", "update", service_id, "--backup-start-time", "02:00",
                     "--backup-period-hours", "48")
    assert daily == {"backupPeriodInHours": 48.0, "backupRetentionPeriodInHours": 72.0, "backupStartTime": "02:00"}
    cleared = cli.json("service", "backup-config", "update", service_id, "--clear-backup-start-time")
    assert "backupStartTime" not in cleared
    assert get(server, f"/services/{service_id}/backupConfiguration").json()["result"] == {
        "backupPeriodInHours": 48, "backupRetentionPeriodInHours": 72}


def test_backup_configuration_is_validated_and_null_restores_defaults(server: ClickplaneServer) -> None:
    service_id = server.create_service(name="schedule")["service"]["id"]
    path = server.org_path(f"/services/{service_id}/backupConfiguration")

    with server.client() as client:
        changed = client.patch(path, json={"backupPeriodInHours": 6.0, "backupRetentionPeriodInHours": 240})
        refusals = [client.patch(path, json=body) for body in (
            {"backupPeriodInHours": 7}, {"backupRetentionPeriodInHours": 25}, {"backupRetentionPeriodInHours": 1104},
            {"backupStartTime": "25:00"}, {"backupStartTime": "01:00", "backupPeriodInHours": 6},
            {"backupPeriodInHours": "often"}, {"frequency": 6})]
        after_refusals = client.get(path).json()["result"]
        reset = client.patch(path, json={"backupPeriodInHours": None, "backupRetentionPeriodInHours": None})

    assert changed.json()["result"] == {"backupPeriodInHours": 6, "backupRetentionPeriodInHours": 240}
    assert [r.status_code for r in refusals] == [400] * 7
    assert [r.json()["error"].split(":")[0] for r in refusals] == ["BAD_REQUEST"] * 7
    assert "6, 8, 12, 16, 20, 24, 36, 48" in refusals[0].json()["error"]
    assert after_refusals == {"backupPeriodInHours": 6, "backupRetentionPeriodInHours": 240}
    assert reset.json()["result"] == {"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 24}


def test_a_bucket_directory_receives_the_services_backups(server: ClickplaneServer, backed_up: BackedUp) -> None:
    service_id = backed_up.service["id"]
    path = server.org_path(f"/services/{service_id}/backupBucket")
    bucket_dir = server.data_dir / "buckets" / "bucket-dir"  # under the default bucket root

    with server.client() as client:
        assert client.get(path).status_code == 404
        refused = client.post(path, json={"bucketProvider": "AWS", "bucketPath": "s3://bucket/backups"})
        created = client.post(path, json={"bucketProvider": "GCP", "bucketPath": str(bucket_dir),
                                          "accessKeyId": "GOOG1", "secretAccessKey": "hmac-secret"})
        again = client.post(path, json={"bucketProvider": "AWS", "bucketPath": str(bucket_dir)})
        backup = backup_create(server, service_id)
        patched = client.patch(path, json={"bucketProvider": "AZURE", "containerName": "nightly"})
        got = client.get(path)
        deleted = client.delete(path)
        gone = client.get(path)

    assert refused.status_code == 400
    assert "absolute, normalized directory path" in refused.json()["error"]
    assert created.json()["result"] == {"id": created.json()["result"]["id"], "bucketProvider": "GCP",
                                        "bucketPath": str(bucket_dir), "accessKeyId": "GOOG1"}
    assert again.status_code == 409
    assert (bucket_dir / service_id / backup["id"] / "manifest.json").exists()
    assert backup["bucket"] == {"bucketProvider": "GCP", "bucketPath": str(bucket_dir), "accessKeyId": "GOOG1"}
    assert "hmac-secret" not in repr(store_contents(server.database_url))
    assert patched.json()["result"]["containerName"] == "nightly"
    assert got.json()["result"] == patched.json()["result"]
    assert (deleted.status_code, deleted.json()["status"]) == (200, 200)
    assert gone.status_code == 404


def test_a_bucket_outside_the_bucket_root_is_refused(server: ClickplaneServer, backed_up: BackedUp,
                                                     tmp_path: Path) -> None:
    """Backups are written as the user clickplane runs as: a bucket may not point at /etc, a home directory, /proc,
    or, through a symbolic link, anywhere outside the operator's bucket root."""
    path = server.org_path(f"/services/{backed_up.service['id']}/backupBucket")
    root = server.data_dir / "buckets"
    root.mkdir(exist_ok=True)
    link = root / f"link-{uuid.uuid4().hex[:6]}"
    link.symlink_to(tmp_path)
    try:
        with server.client() as client:
            answers = [client.post(path, json={"bucketProvider": provider, "bucketPath": bucket_path})
                       for provider, bucket_path in (("AWS", "/etc"), ("AWS", "/root/.ssh"), ("GCP", "/proc/self"),
                                                     ("AWS", str(link)), ("AWS", str(link / "deeper")))]
            assert client.get(path).status_code == 404
    finally:
        link.unlink()
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert f"is not under {root.resolve()}" in answer.json()["error"], answer.text
    assert list(tmp_path.iterdir()) == []


def test_the_operator_cannot_back_up_what_is_not_running(server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="stopped")
    assert command(server, service["id"], "stop").status_code == 200
    server.wait_for_state(service["id"], "stopped")

    unknown = clickplane("backup", "create", "00000000-0000-4000-8000-00000000beef", env=server.env)
    stopped = clickplane("backup", "create", service["id"], env=server.env)

    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert "does not exist" in unknown.stderr
    assert (stopped.returncode, stopped.stdout) == (1, "")
    assert "is stopped: backups are taken from running services; start it first" in stopped.stderr
    assert get(server, f"/services/{service['id']}/backups").json()["result"] == []


def test_a_deleted_services_backups_go_with_it(server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="short-lived")
    service_id = service["id"]
    location = server.data_dir / "backups" / service_id / backup_create(server, service_id)["id"]
    assert location.exists()

    assert command(server, service_id, "stop").status_code == 200
    server.wait_for_state(service_id, "stopped")
    with server.client() as client:
        assert client.delete(server.org_path(f"/services/{service_id}")).status_code == 200

    wait_until(lambda: get(server, f"/services/{service_id}").status_code == 404, what="the service to be gone")
    assert not location.parent.exists()
