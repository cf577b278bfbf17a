"""Private endpoints and BYOC infrastructure on a real clickplane: recorded, checked and reported as the reference
defines them (the organization lists both, the service its endpoint ids); nothing routes through them here."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.harness import ClickplaneServer, delete_services

pytestmark = pytest.mark.integration


@pytest.fixture
def client(server: ClickplaneServer) -> Iterator[httpx.Client]:
    try:
        with server.client() as opened:
            yield opened
    finally:
        delete_services(server)
        with server.client() as opened:
            organization = opened.get(server.org_path()).json()["result"]
            removed = [{"id": endpoint["id"]} for endpoint in organization["privateEndpoints"]]
            opened.patch(server.org_path(), json={"privateEndpoints": {"remove": removed}})
            for infrastructure in organization["byocConfig"]:
                opened.delete(server.org_path(f"/byocInfrastructure/{infrastructure['id']}"))


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return str(response.json()["error"])


def test_a_private_endpoint_is_recorded_in_the_organization_and_attached_to_the_service(
        server: ClickplaneServer, client: httpx.Client) -> None:
    service_id = server.create_service(name="private", region="eu-west-1")["service"]["id"]
    path = server.org_path(f"/services/{service_id}/privateEndpoint")
    created = client.post(path, json={"id": "vpce-0123456789abcdef0", "description": "app VPC"})
    assert created.status_code == 200, created.text
    endpoint = {"id": "vpce-0123456789abcdef0", "description": "app VPC", "cloudProvider": "aws",
                "region": "eu-west-1"}
    assert created.json()["result"] == endpoint
    assert server.service(service_id)["privateEndpointIds"] == ["vpce-0123456789abcdef0"]
    assert endpoint in client.get(server.org_path()).json()["result"]["privateEndpoints"]
    config = client.get(server.org_path(f"/services/{service_id}/privateEndpointConfig")).json()["result"]
    assert config["endpointServiceId"] == ""
    assert "already registered" in error_of(client.post(path, json={"id": "vpce-0123456789abcdef0"}), 409)
    assert "vpce-" in error_of(client.post(path, json={"id": "12345"}), 400)
    assert "id" in error_of(client.post(path, json={"description": "no id"}), 400)
    patched = client.patch(server.org_path(f"/services/{service_id}"), json={"privateEndpointIds": {"add": ["x"]}})
    assert "privateEndpointIds.add[0]" in error_of(patched, 400)
    types = [a["type"] for a in client.get(server.org_path("/activities")).json()["result"]
             if a.get("serviceId") == service_id]
    assert "service_update_private_endpoints" in types


def test_byoc_infrastructure_is_recorded_listed_renamed_and_removed(server: ClickplaneServer,
                                                                     client: httpx.Client) -> None:
    path = server.org_path("/byocInfrastructure")
    body = {"regionId": "us-east-2", "accountId": "123456789012", "availabilityZoneSuffixes": ["a", "b", "c"],
            "vpcCidrRange": "10.20.0.0/16", "displayName": "prod"}
    created = client.post(path, json=body)
    assert created.status_code == 200, created.text
    made = created.json()["result"]
    assert {key: made[key] for key in ("state", "accountName", "regionId", "cloudProvider", "displayName")} == {
        "state": "infra-provisioning", "accountName": "123456789012", "regionId": "us-east-2",
        "cloudProvider": "aws", "displayName": "prod"}
    assert made in client.get(server.org_path()).json()["result"]["byocConfig"]
    assert "already" in error_of(client.post(path, json=body), 409)
    assert "12 digits" in error_of(client.post(path, json={**body, "accountId": "abc"}), 400)
    assert "regionId" in error_of(client.post(path, json={**body, "regionId": "mars-1"}), 400)
    renamed = client.patch(f"{path}/{made['id']}", json={"displayName": "production"})
    assert renamed.json()["result"]["displayName"] == "production"
    in_byoc = client.post(server.org_path("/services"), json={"name": "in-byoc", "provider": "aws",
                                                               "region": "us-east-2", "byocId": made["id"]})
    assert "cannot place one" in error_of(in_byoc, 400)
    assert client.delete(f"{path}/{made['id']}").status_code == 200
    assert error_of(client.delete(f"{path}/{made['id']}"), 404)
    assert made["id"] not in [b["id"] for b in client.get(server.org_path()).json()["result"]["byocConfig"]]
