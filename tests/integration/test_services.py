"""Services created through the API become real, reachable ClickHouse servers."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import httpx

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, clickplane

SERVICE = {"name": "walkthrough", "provider": "aws", "region": "us-east-1",
           "ipAccessList": [{"source": "127.0.0.1", "description": "this machine"}]}


def create_service(server: ClickplaneServer, **overrides: Any) -> dict[str, Any]:
    with server.client() as client:
        response = client.post(server.org_path("/services"), json={**SERVICE, **overrides})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == 200
    uuid.UUID(body["requestId"])
    return body["result"]  # type: ignore[no-any-return]


def endpoint(service: dict[str, Any], protocol: str) -> dict[str, Any]:
    return next(e for e in service["endpoints"] if e["protocol"] == protocol)


def query(url: str, password: str, sql: str, **options: Any) -> httpx.Response:
    return httpx.post(url, params={"query": sql}, auth=("default", password), timeout=10, **options)


@needs_clickhouse
def test_create_returns_password_once_and_service_reaches_running(server: ClickplaneServer) -> None:
    created = create_service(server)
    service, password = created["service"], created["password"]
    assert service["state"] == "provisioning"
    assert len(password) >= 16
    running = server.wait_for_state(service["id"], "running")
    assert running["clickhouseVersion"]
    assert "password" not in server.service(service["id"])
    http = endpoint(running, "http")
    answer = query(f"http://{http['host']}:{http['port']}/", password, "SELECT 1")
    assert answer.status_code == 200
    assert answer.text.strip() == "1"
    refused = query(f"http://{http['host']}:{http['port']}/", password + "x", "SELECT 1")
    assert refused.status_code != 200


@needs_clickhouse
def test_tls_endpoint_is_verified_by_clickplanes_ca(server: ClickplaneServer) -> None:
    created = create_service(server, name="tls")
    running = server.wait_for_state(created["service"]["id"], "running")
    https = endpoint(running, "https")
    printed = clickplane("ca-path", env=server.env)
    assert printed.returncode == 0, printed.stderr
    trusting_ca = ssl.create_default_context(cafile=printed.stdout.strip())
    answer = query(f"https://{https['host']}:{https['port']}/", created["password"], "SELECT 2", verify=trusting_ca)
    assert answer.text.strip() == "2"


@needs_clickhouse
def test_each_service_gets_its_own_server(server: ClickplaneServer) -> None:
    first, second = create_service(server, name="one"), create_service(server, name="two")
    ports = [endpoint(server.wait_for_state(s["service"]["id"], "running"), "http")["port"] for s in (first, second)]
    assert ports[0] != ports[1]
    # Each password opens its own service only.
    assert query(f"http://127.0.0.1:{ports[1]}/", first["password"], "SELECT 1").status_code != 200


def test_list_holds_created_services_in_creation_order(server: ClickplaneServer) -> None:
    created = [create_service(server, name=f"list-{i}")["service"]["id"] for i in range(2)]
    with server.client() as client:
        listed = [s["id"] for s in client.get(server.org_path("/services")).json()["result"]]
    assert listed.index(created[0]) < listed.index(created[1])
