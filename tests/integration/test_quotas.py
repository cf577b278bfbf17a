"""Quotas over HTTP: the organization's limits with their usage, and creates and scale-ups past them refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.harness import ClickplaneServer

SERVICE = {"name": "quota", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}


def quotas(server: ClickplaneServer, client: httpx.Client) -> dict[str, dict[str, Any]]:
    response = client.get(server.org_path("/quotas"))
    assert response.status_code == 200, response.text
    return {quota["quotaCode"]: quota for quota in response.json()["result"]}


def test_quotas_are_listed_and_read_by_code(server: ClickplaneServer) -> None:
    with server.client() as client:
        listed = quotas(server, client)
        assert list(listed) == ["services-per-organization", "postgres-services-per-organization",
                                "replicas-per-warehouse"]
        services = listed["services-per-organization"]
        assert (services["scope"], services["value"], services["adjustable"]) == ("organization", 100, True)
        assert isinstance(services["usage"], int)
        postgres = listed["postgres-services-per-organization"]
        assert (postgres["scope"], postgres["value"], postgres["adjustable"]) == ("organization", 20, True)
        assert isinstance(postgres["usage"], int)
        assert (listed["replicas-per-warehouse"]["scope"], listed["replicas-per-warehouse"]["value"]) == (
            "warehouse", 20)
        assert all(quota["name"] and quota["description"] for quota in listed.values())
        single = client.get(server.org_path("/quotas/replicas-per-warehouse"))
        assert single.status_code == 200
        assert single.json()["result"]["quotaCode"] == "replicas-per-warehouse"
        unknown = client.get(server.org_path("/quotas/cpus-per-service"))
        assert unknown.status_code == 404
        assert unknown.json()["error"].startswith("NOT_FOUND: quota 'cpus-per-service' does not exist")


def test_creates_and_scale_ups_past_a_quota_are_refused_and_change_nothing(
        fresh_server: ClickplaneServer) -> None:
    # No ClickHouse is needed: a service that fails to start still counts against the quota.
    fresh_server.settings.update({"CLICKPLANE_QUOTA_SERVICES_PER_ORGANIZATION": "2",
                                  "CLICKPLANE_QUOTA_REPLICAS_PER_WAREHOUSE": "3",
                                  "CLICKPLANE_CLICKHOUSE_BINARY": "/nonexistent/clickhouse"})
    fresh_server.start()
    services_path = fresh_server.org_path("/services")
    with fresh_server.client() as client:
        too_many_replicas = client.post(services_path, json={**SERVICE, "numReplicas": 4})
        assert too_many_replicas.status_code == 400
        assert too_many_replicas.json()["error"].startswith("BAD_REQUEST: quota replicas-per-warehouse exceeded")
        first = client.post(services_path, json={**SERVICE, "numReplicas": 2}).json()["result"]["service"]
        assert client.post(services_path, json={**SERVICE, "name": "second"}).status_code == 200

        refused = client.post(services_path, json={**SERVICE, "name": "third"})
        assert refused.status_code == 400
        assert refused.json()["error"] == (
            "BAD_REQUEST: quota services-per-organization exceeded: the organization has 2 services, and the limit "
            "is 2; delete a service first, or have the operator raise CLICKPLANE_QUOTA_SERVICES_PER_ORGANIZATION")
        assert [s["name"] for s in client.get(services_path).json()["result"]] == ["quota", "second"]
        created = [a for a in client.get(fresh_server.org_path("/activities")).json()["result"]
                   if a["type"] == "service_create"]
        assert len(created) == 2

        scaled = client.patch(f"{services_path}/{first['id']}/replicaScaling", json={"numReplicas": 4})
        assert scaled.status_code == 400
        assert "would run 4 replicas, and the limit is 3" in scaled.json()["error"]
        assert client.get(f"{services_path}/{first['id']}").json()["result"]["numReplicas"] == 2
        assert client.patch(f"{services_path}/{first['id']}/scaling", json={"numReplicas": 3}).status_code == 200

        listed = quotas(fresh_server, client)
        assert (listed["services-per-organization"]["value"], listed["services-per-organization"]["usage"]) == (2, 2)
        assert (listed["replicas-per-warehouse"]["value"], listed["replicas-per-warehouse"]["usage"]) == (3, 3)


def test_a_postgres_create_past_its_quota_is_refused(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_QUOTA_POSTGRES_SERVICES_PER_ORGANIZATION"] = "1"
    fresh_server.start()
    body = {"name": "pg", "provider": "aws", "region": "us-east-1", "size": "r6gd.medium"}
    with fresh_server.client() as client:
        first = client.post(fresh_server.org_path("/postgres"), json=body)
        assert first.status_code == 200, first.text
        second = client.post(fresh_server.org_path("/postgres"), json=body)
        assert second.status_code == 400
        assert second.json()["error"].startswith("BAD_REQUEST: quota postgres-services-per-organization exceeded")
        assert len(client.get(fresh_server.org_path("/postgres")).json()["result"]) == 1
        assert quotas(fresh_server, client)["postgres-services-per-organization"]["usage"] == 1
        assert client.delete(fresh_server.org_path(f"/postgres/{first.json()['result']['id']}")).status_code == 200
