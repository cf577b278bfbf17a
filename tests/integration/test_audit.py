"""Every change made through the API shows up exactly once in /activities, with its type and its actor.

Runs in an organization of its own, so that nothing else writes to the log it reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer

SERVICE = {"name": "audited", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.is_success, response.text
    return response.json()  # type: ignore[no-any-return]


@needs_clickhouse
def test_each_change_is_in_the_log_once_with_its_type_and_actor(server: ClickplaneServer) -> None:
    credentials = server.create_organization("audit")
    org = f"/v1/organizations/{credentials.organization_id}"
    with server.client(credentials) as client:
        actor = ok(client.get("/v1/whoami"))["result"]["keyId"]

        def service_change(path: str, method: str = "PATCH", **body: Any) -> Callable[[], Any]:
            return lambda: ok(client.request(method, f"{org}/services/{state['service']}{path}", json=body or None))

        state: dict[str, str] = {}

        def create_service() -> None:
            state["service"] = ok(client.post(f"{org}/services", json=SERVICE))["result"]["service"]["id"]

        def create_key() -> None:
            state["key"] = ok(client.post(f"{org}/keys", json={"name": "spare"}))["result"]["key"]["id"]

        def create_role() -> None:
            state["role"] = ok(client.post(f"{org}/roles", json={
                "name": "auditors", "actors": [], "policies": [
                    {"allowDeny": "ALLOW", "permissions": ["control-plane:organization:view"], "resources": ["*"]}]}
            ))["result"]["id"]

        def invite() -> None:
            state["invitation"] = ok(client.post(f"{org}/invitations", json={"email": "audit@example.com"}))[
                "result"]["id"]

        steps: list[tuple[str, Callable[[], Any]]] = [
            ("organization_update_name", lambda: ok(client.patch(org, json={"name": "audited org"}))),
            ("key_create", create_key),
            ("openapi_key_update", lambda: ok(client.patch(f"{org}/keys/{state['key']}", json={"name": "spare2"}))),
            ("key_delete", lambda: ok(client.delete(f"{org}/keys/{state['key']}"))),
            ("role_create", create_role),
            ("role_update", lambda: ok(client.patch(f"{org}/roles/{state['role']}", json={"name": "auditors2"}))),
            ("role_delete", lambda: ok(client.delete(f"{org}/roles/{state['role']}"))),
            ("organization_invite_create", invite),
            ("organization_invite_delete", lambda: ok(client.delete(f"{org}/invitations/{state['invitation']}"))),
            ("service_create", create_service),
            ("service_update_name", service_change("", name="audited2")),
            ("service_update_ip_access_list", service_change("", ipAccessList={"add": [{"source": "10.0.0.0/8"}]})),
            ("service_update_password", service_change("/password")),
            ("service_update_autoscaling_memory", service_change("/replicaScaling", maxReplicaMemoryGb=12)),
            ("service_update_backup_configuration", service_change("/backupConfiguration",
                                                                   backupRetentionPeriodInHours=48)),
            ("service_stop", service_change("/state", command="stop")),
        ]
        for _, step in steps:
            step()
        server.wait_for_state_in(credentials, state["service"], "stopped")
        ok(client.delete(f"{org}/services/{state['service']}"))
        expected = Counter(kind for kind, _ in steps) + Counter(["service_delete"])

        logged = ok(client.get(f"{org}/activities"))["result"]
        by_api = [a for a in logged if a["actorType"] == "api"]
        assert Counter(a["type"] for a in by_api) == expected
        assert {a["actorId"] for a in by_api} == {actor}
        assert all(a["organizationId"] == credentials.organization_id for a in logged)
        service_activities = [a for a in by_api if a["type"].startswith("service_")]
        assert {a["serviceId"] for a in service_activities} == {state["service"]}
        key_activities = [a for a in by_api if a["type"] in ("key_create", "openapi_key_update", "key_delete")]
        assert {a["targetKeyId"] for a in key_activities} == {state["key"]}
        assert [a.get("keyUpdateType") for a in key_activities if a["type"] == "openapi_key_update"] == [
            "name-changed"]
