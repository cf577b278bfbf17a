"""How the API itself is served: HTTPS on request, and health and readiness outside /v1."""

from __future__ import annotations

import ssl

import httpx
import pytest

from tests.integration.harness import ClickplaneServer


def test_health_and_readiness_answer_without_credentials(server: ClickplaneServer) -> None:
    health = httpx.get(f"{server.base_url}/healthz")
    ready = httpx.get(f"{server.base_url}/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    document = httpx.get(f"{server.base_url}/v1").json()
    assert not {"/healthz", "/readyz"} & document["paths"].keys()  # not part of the Cloud API


def test_serve_tls_answers_https_verified_by_clickplanes_ca(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_TLS"] = "true"
    fresh_server.start()
    assert fresh_server.base_url.startswith("https://")
    with fresh_server.client() as client:
        organizations = client.get("/v1/organizations")
    assert organizations.status_code == 200
    assert organizations.json()["result"][0]["id"] == fresh_server.credentials.organization_id
    document = httpx.get(f"{fresh_server.base_url}/v1", verify=fresh_server.verify).json()
    assert document["servers"][0]["url"] == fresh_server.base_url
    with pytest.raises(httpx.ConnectError):  # not trusted without clickplane's CA
        httpx.get(f"{fresh_server.base_url}/v1", verify=ssl.create_default_context())
    with pytest.raises(httpx.HTTPError):  # and no plain HTTP on the same port
        httpx.get(f"http://127.0.0.1:{fresh_server.port}/v1", timeout=5)
