"""clickplane's own observability on a real `clickplane serve`: /metrics read by Prometheus' parser, and JSON logs
that carry each response's requestId and never a secret."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until

LIST_SERVICES = frozenset({"method": "GET", "route": "/v1/organizations/{organizationId}/services",
                           "status": "200"}.items())

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: ClickplaneServer) -> tuple[str, Samples]:
    """GET /metrics without credentials: its text, and each sample's value by name and labels."""
    answer = httpx.get(f"{server.base_url}/metrics", verify=server.verify)
    assert answer.status_code == 200, answer.text
    samples = {(sample.name, frozenset(sample.labels.items())): sample.value
               for family in text_string_to_metric_families(answer.text) for sample in family.samples}
    return answer.text, samples


def test_metrics_count_requests_by_route_and_show_the_reconciler(server: ClickplaneServer) -> None:
    _, before = scrape(server)
    with server.client() as client:
        for _ in range(3):
            assert client.get(server.org_path("/services")).status_code == 200
    text, after = scrape(server)
    counted = ("clickplane_http_requests_total", LIST_SERVICES)
    assert after[counted] - before.get(counted, 0.0) == 3
    assert ("clickplane_services", frozenset({("state", "running")})) in after
    passes = ("clickplane_reconciler_passes_total", frozenset())
    wait_until(lambda: scrape(server)[1][passes] > after[passes], what="a reconciler pass to be counted")
    assert after[("clickplane_reconciler_pass_duration_seconds_count", frozenset())] == after[passes]
    # Counts and templates only: nothing that names an organization or a key.
    assert server.credentials.organization_id not in text
    assert server.credentials.key_id not in text


def log_lines(server: ClickplaneServer) -> list[dict[str, Any]]:
    """serve.log, every line of which must be one JSON object."""
    lines = [json.loads(line) for line in (server.data_dir / "serve.log").read_text().splitlines()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    return lines


@needs_clickhouse
def test_json_logs_carry_request_ids_and_never_a_secret(fresh_server: ClickplaneServer) -> None:
    fresh_server.start("--log-format", "json")
    credentials = fresh_server.credentials
    created = fresh_server.create_service(name="logged")
    service_id, first_password = created["service"]["id"], created["password"]
    fresh_server.wait_for_state(service_id, "running")
    chosen = f"chosen-{uuid.uuid4().hex}"
    chosen_hash = base64.b64encode(hashlib.sha256(chosen.encode()).digest()).decode()
    with fresh_server.client() as client:
        key = client.post(fresh_server.org_path("/keys"), json={"name": "logged", "roles": ["developer"]}).json()
        reset = client.patch(fresh_server.org_path(f"/services/{service_id}/password"), json={})
        assert client.patch(fresh_server.org_path(f"/services/{service_id}/password"),
                            json={"newPasswordHash": chosen_hash}).status_code == 200
    new_key_id, new_key_secret = key["result"]["keyId"], key["result"]["keySecret"]
    with httpx.Client(base_url=fresh_server.base_url, auth=(new_key_id, new_key_secret)) as client:
        assert client.get(fresh_server.org_path()).status_code == 200
    assert httpx.get(f"{fresh_server.base_url}{fresh_server.org_path()}",
                     auth=(credentials.key_id, "not-the-secret")).status_code == 401
    request_id = reset.json()["requestId"]
    assert reset.headers["x-request-id"] == request_id

    def access_line() -> dict[str, Any] | None:
        return next((line for line in log_lines(fresh_server)
                     if line["logger"] == "clickplane.access" and line.get("requestId") == request_id), None)

    line = wait_until(access_line, what=f"the access line of request {request_id}")
    assert (line["method"], line["status"], line["keyId"]) == ("PATCH", 200, credentials.key_id)
    assert line["path"] == fresh_server.org_path(f"/services/{service_id}/password")
    fresh_server.stop()  # what it logs on its way out counts too
    log_lines(fresh_server)
    written = (fresh_server.data_dir / "serve.log").read_text()
    secrets = {"admin key secret": credentials.key_secret, "new key secret": new_key_secret,
               "first password": first_password, "reset password": reset.json()["result"]["password"],
               "chosen password": chosen, "chosen password's hash": chosen_hash, "wrong secret": "not-the-secret",
               "Authorization header": base64.b64encode(f"{credentials.key_id}:{credentials.key_secret}".encode())
               .decode()}
    assert not [name for name, secret in secrets.items() if secret in written]
