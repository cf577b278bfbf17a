"""A service's life on a real ClickHouse server: stop, start, update, passwords, scaling, delete.
Every effect is checked on the ClickHouse process itself, not only in the API's answers."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until

pytestmark = needs_clickhouse


def http_port(service: dict[str, Any]) -> int:
    return int(next(e["port"] for e in service["endpoints"] if e["protocol"] == "http"))


def sql(port: int, password: str, query: str, source: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.post(f"http://127.0.0.1:{port}/", params={"query": query}, auth=("default", password))


def accepts(port: int, password: str, source: str = "127.0.0.1") -> bool:
    return sql(port, password, "SELECT 1", source).status_code == 200


def refuses(port: int, password: str, source: str = "127.0.0.1") -> bool:
    return sql(port, password, "SELECT 1", source).status_code != 200


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def service_dir(server: ClickplaneServer, service_id: str) -> Path:
    return server.data_dir / "services" / service_id


def clickhouse_pid(server: ClickplaneServer, service_id: str) -> int:
    return int((service_dir(server, service_id) / "clickhouse.pid").read_text().split()[0])


def patch(server: ClickplaneServer, service_id: str, suffix: str, body: dict[str, Any]) -> httpx.Response:
    with server.client() as client:
        return client.patch(server.org_path(f"/services/{service_id}{suffix}"), json=body)


def command(server: ClickplaneServer, service_id: str, name: str) -> httpx.Response:
    return patch(server, service_id, "/state", {"command": name})


def running_service(server: ClickplaneServer, **fields: Any) -> tuple[dict[str, Any], str]:
    created = server.create_service(**fields)
    return server.wait_for_state(created["service"]["id"], "running"), created["password"]


def test_stop_stops_the_process_and_start_brings_the_data_back(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="stop-start")
    port, service_id = http_port(service), service["id"]
    assert sql(port, password, "CREATE TABLE kept (n UInt32) ENGINE = MergeTree ORDER BY n").status_code == 200
    assert sql(port, password, "INSERT INTO kept SELECT number FROM system.numbers LIMIT 1000").status_code == 200

    stopping = command(server, service_id, "stop")
    assert stopping.status_code == 200, stopping.text
    assert stopping.json()["result"]["state"] in ("stopping", "stopped")
    server.wait_for_state(service_id, "stopped")
    assert not port_open(port)

    assert command(server, service_id, "start").json()["result"]["state"] == "starting"
    again = server.wait_for_state(service_id, "running")
    assert sql(http_port(again), password, "SELECT count() FROM kept").text.strip() == "1000"


def test_commands_refused_by_the_state_machine_say_what_to_do(server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="refusals")
    service_id = service["id"]
    assert command(server, service_id, "awake").json()["result"]["state"] == "running"  # nothing to do
    with server.client() as client:
        refused = client.delete(server.org_path(f"/services/{service_id}"))
    assert refused.status_code == 409
    assert refused.json()["error"] == "CONFLICT: service is running; stop it first. Current state: 'running'"
    command(server, service_id, "stop")
    server.wait_for_state(service_id, "stopped")
    woken = command(server, service_id, "awake")
    assert woken.status_code == 409
    assert "start it instead" in woken.json()["error"]
    bad = command(server, service_id, "reboot")
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("BAD_REQUEST: command")


def test_delete_stops_the_server_frees_its_port_and_removes_its_data(server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="doomed")
    service_id, port = service["id"], http_port(service)
    command(server, service_id, "stop")
    server.wait_for_state(service_id, "stopped")
    with server.client() as client:
        deleted = client.delete(server.org_path(f"/services/{service_id}"))
        assert deleted.status_code == 200
        assert set(deleted.json()) == {"status", "requestId"}
        wait_until(lambda: client.get(server.org_path(f"/services/{service_id}")).status_code == 404,
                   what="the deleted service to answer 404")
    assert not service_dir(server, service_id).exists()
    assert not port_open(port)


def test_a_provisioning_service_can_be_deleted(server: ClickplaneServer) -> None:
    created = server.create_service(name="short-lived")
    service_id = created["service"]["id"]
    with server.client() as client:
        assert client.delete(server.org_path(f"/services/{service_id}")).status_code == 200
        wait_until(lambda: client.get(server.org_path(f"/services/{service_id}")).status_code == 404,
                   what="the deleted service to answer 404")
    wait_until(lambda: not service_dir(server, service_id).exists(), what="its data to be removed")


def test_update_changes_name_tags_and_release_channel(server: ClickplaneServer) -> None:
    service_id = server.create_service(name="before", tags=[{"key": "env", "value": "dev"},
                                                           {"key": "team", "value": "a"}])["service"]["id"]
    updated = patch(server, service_id, "", {
        "name": "after", "releaseChannel": "fast",
        "tags": {"add": [{"key": "env", "value": "prod"}], "remove": [{"key": "team"}]}})
    assert updated.status_code == 200, updated.text
    result = updated.json()["result"]
    assert (result["name"], result["releaseChannel"]) == ("after", "fast")
    assert result["tags"] == [{"key": "env", "value": "prod"}]
    assert server.service(service_id)["name"] == "after"
    assert patch(server, service_id, "", {"endpoints": [{"protocol": "mysql", "enabled": True}]}).status_code == 400


def test_ip_access_list_changes_reach_the_running_server(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="networks")
    port, service_id = http_port(service), service["id"]
    assert accepts(port, password, "127.0.0.1")
    changed = patch(server, service_id, "", {"ipAccessList": {"remove": [{"source": "127.0.0.1"}],
                                                              "add": [{"source": "127.0.0.2/32"}]}})
    assert changed.json()["result"]["ipAccessList"] == [{"source": "127.0.0.2/32", "description": ""}]
    wait_until(lambda: refuses(port, password, "127.0.0.1"), what="ClickHouse to refuse 127.0.0.1")
    assert accepts(port, password, "127.0.0.2")


def test_generated_password_replaces_the_old_one(server: ClickplaneServer) -> None:
    service, old = running_service(server, name="passwords")
    port = http_port(service)
    response = patch(server, service["id"], "/password", {})
    assert response.status_code == 200
    new = response.json()["result"]["password"]
    assert new != old
    wait_until(lambda: accepts(port, new) and refuses(port, old), what="the new password to take over")


def test_password_set_by_its_hash_returns_nothing_and_works(server: ClickplaneServer) -> None:
    service, old = running_service(server, name="hashed")
    port, chosen = http_port(service), "chosen-password-" + uuid.uuid4().hex
    digest = base64.b64encode(hashlib.sha256(chosen.encode()).digest()).decode()
    double_sha1 = hashlib.sha1(hashlib.sha1(chosen.encode()).digest()).hexdigest()  # noqa: S324 - MySQL's scheme
    response = patch(server, service["id"], "/password", {"newPasswordHash": digest,
                                                         "newDoubleSha1Hash": double_sha1})
    assert response.status_code == 200
    assert "password" not in response.json()["result"]
    wait_until(lambda: accepts(port, chosen) and refuses(port, old), what="the chosen password to take over")
    assert patch(server, service["id"], "/password", {"newPasswordHash": "not base64!"}).status_code == 400


def test_scaling_is_validated_recorded_and_becomes_the_memory_limit(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="scaled")
    service_id, port = service["id"], http_port(service)
    scaled = patch(server, service_id, "/replicaScaling", {"minReplicaMemoryGb": 12, "maxReplicaMemoryGb": 16,
                                                           "numReplicas": 2, "idleTimeoutMinutes": 30})
    assert scaled.status_code == 200, scaled.text
    result = scaled.json()["result"]
    assert (result["minReplicaMemoryGb"], result["maxReplicaMemoryGb"], result["numReplicas"]) == (12, 16, 2)
    assert result["currentScaling"]["effectiveMaxReplicaMemoryGb"] == 16
    assert result["currentScaling"]["effectiveIdleTimeoutMinutes"] == 30
    limit = str(16 << 30)
    wait_until(lambda: sql(port, password, "SELECT value FROM system.settings WHERE name = 'max_memory_usage'"
                           ).text.strip() == limit, what="ClickHouse to apply the memory limit")
    for bad in ({"maxReplicaMemoryGb": 10}, {"minReplicaMemoryGb": 4}, {"numReplicas": 21},
                {"minReplicaMemoryGb": 32, "maxReplicaMemoryGb": 16}, {"idleTimeoutMinutes": 1}):
        refused = patch(server, service_id, "/replicaScaling", bad)
        assert refused.status_code == 400, (bad, refused.text)
    legacy = patch(server, service_id, "/scaling", {"minTotalMemoryGb": 24, "maxTotalMemoryGb": 48})
    assert (legacy.json()["result"]["minReplicaMemoryGb"], legacy.json()["result"]["maxReplicaMemoryGb"]) == (8, 16)


def test_terraforms_refresh_reads_answer_for_every_service(server: ClickplaneServer) -> None:
    service_id = server.create_service(name="terraform")["service"]["id"]
    with server.client() as client:
        base = server.org_path(f"/services/{service_id}")
        private = client.get(f"{base}/privateEndpointConfig")
        backups = client.get(f"{base}/backupConfiguration")
        query_endpoint = client.get(f"{base}/serviceQueryEndpoint")
    assert private.status_code == 200
    assert set(private.json()["result"]) == {"endpointServiceId", "privateDnsHostname"}
    assert backups.json()["result"] == {"backupPeriodInHours": 24, "backupRetentionPeriodInHours": 24}
    assert query_endpoint.status_code == 404


def test_a_killed_clickhouse_is_restarted_with_its_data(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="crashy")
    service_id = service["id"]
    assert sql(http_port(service), password, "CREATE TABLE survivors (n UInt8) ENGINE = TinyLog").status_code == 200
    assert sql(http_port(service), password, "INSERT INTO survivors VALUES (7)").status_code == 200
    killed = clickhouse_pid(server, service_id)
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: clickhouse_pid(server, service_id) != killed and
               server.service(service_id)["state"] == "running", timeout=10,
               what="the killed server to be restarted")
    again = server.service(service_id)
    assert sql(http_port(again), password, "SELECT n FROM survivors").text.strip() == "7"


@pytest.mark.parametrize("count", [20])
def test_many_services_at_once_all_run_and_all_go_away(server: ClickplaneServer, count: int) -> None:
    created = [server.create_service(name=f"bulk-{i}") for i in range(count)]
    ids = [c["service"]["id"] for c in created]
    running = [server.wait_for_state(service_id, "running", timeout=120) for service_id in ids]
    ports = [e["port"] for s in running for e in s["endpoints"]]
    assert len(set(ports)) == len(ports)
    for created_service, service in zip(created, running, strict=True):
        assert accepts(http_port(service), created_service["password"])
    for service_id in ids:
        command(server, service_id, "stop")
    for service_id in ids:
        server.wait_for_state(service_id, "stopped", timeout=120)
    with server.client() as client:
        for service_id in ids:
            assert client.delete(server.org_path(f"/services/{service_id}")).status_code == 200
        wait_until(lambda: all(client.get(server.org_path(f"/services/{s}")).status_code == 404 for s in ids),
                   timeout=120, what="every service to be deleted")
    assert not any(service_dir(server, service_id).exists() for service_id in ids)
    assert not any(port_open(port) for port in ports)
