"""ClickHouse settings: set, read, listed, described and reset through the API, checked against the
service's own server, and applied to its `default` user without a restart."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, wait_until
from tests.integration.test_activities import activities_of
from tests.integration.test_lifecycle import command, http_port, running_service, sql

SETTING, VALUE, DEFAULT = "max_result_rows", "12345", "0"
LIVE_SQL = "SELECT value FROM system.settings WHERE name = 'max_result_rows'"


def settings_path(server: ClickplaneServer, service_id: str, suffix: str = "") -> str:
    return server.org_path(f"/services/{service_id}/clickhouseSettings{suffix}")


def call(server: ClickplaneServer, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    with server.client() as client:
        return client.request(method, path, json=body)


def result(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def live_value(service: dict[str, Any], password: str) -> str:
    """SETTING as the service's `default` user's queries see it."""
    answer = sql(http_port(service), password, LIVE_SQL)
    assert answer.status_code == 200, answer.text
    return answer.text.strip()


@needs_clickhouse
def test_a_setting_round_trips_and_the_live_server_applies_it(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="settings")
    path = settings_path(server, service["id"])

    described = {entry["name"]: entry for entry in result(call(server, "GET", path + "/schema"))["settings"]}
    assert described[SETTING]["example"] == DEFAULT
    assert described[SETTING]["description"]
    assert "warning" in described["readonly"]
    assert result(call(server, "GET", f"{path}/{SETTING}")) == {"name": SETTING, "value": DEFAULT}

    changed = result(call(server, "PATCH", path, {"settings": {SETTING: int(VALUE), "readonly": "0"}}))
    assert json.loads(changed["settings"]) == {SETTING: VALUE, "readonly": "0"}
    assert [warning["name"] for warning in changed["warnings"]] == ["readonly"]
    assert result(call(server, "GET", path))["settings"] == [
        {"name": SETTING, "value": VALUE}, {"name": "readonly", "value": "0"}]
    assert result(call(server, "GET", f"{path}/{SETTING}")) == {"name": SETTING, "value": VALUE}
    wait_until(lambda: live_value(service, password) == VALUE, what=f"{SETTING} to reach the server")
    assert server.service(service["id"])["state"] == "running"  # applied without a stop

    assert call(server, "DELETE", f"{path}/{SETTING}").json()["status"] == 200
    assert call(server, "DELETE", f"{path}/{SETTING}").status_code == 200  # never set (any more): no-op
    assert result(call(server, "GET", path))["settings"] == [{"name": "readonly", "value": "0"}]
    assert result(call(server, "GET", f"{path}/{SETTING}")) == {"name": SETTING, "value": DEFAULT}
    wait_until(lambda: live_value(service, password) == DEFAULT, what=f"{SETTING} to return to default")

    recorded = [kind for kind, actor, _ in activities_of(server, service["id"]) if actor == "api"]
    assert recorded.count("service_update_clickhouse_settings") == 2  # the PATCH and the first DELETE


@needs_clickhouse
def test_a_setting_the_engine_does_not_take_is_refused_naming_it(server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="settings-refused")
    path = settings_path(server, service["id"])

    refused = {
        "'no_such_setting'": call(server, "PATCH", path, {"settings": {"no_such_setting": "1", SETTING: "1"}}),
        f"settings.{SETTING}: 'many'": call(server, "PATCH", path, {"settings": json.dumps({SETTING: "many"})}),
        "somewhere": call(server, "PATCH", path, {"settings": {"load_balancing": "somewhere"}}),
        "'x><y' is not a ClickHouse setting name": call(server, "PATCH", path, {"settings": {"x><y": "1"}}),
    }

    assert {response.status_code for response in refused.values()} == {400}
    assert [named for named, response in refused.items() if named not in response.json()["error"]] == []
    assert call(server, "GET", f"{path}/no_such_setting").status_code == 400
    assert result(call(server, "GET", path))["settings"] == []


@needs_clickhouse
def test_a_stopped_service_keeps_its_settings_but_cannot_check_new_ones(server: ClickplaneServer) -> None:
    service, password = running_service(server, name="settings-stopped")
    path = settings_path(server, service["id"])
    result(call(server, "PATCH", path, {"settings": {SETTING: VALUE}}))
    command(server, service["id"], "stop")
    server.wait_for_state(service["id"], "stopped")

    assert call(server, "PATCH", path, {"settings": {SETTING: "1"}}).status_code == 409
    assert result(call(server, "GET", f"{path}/{SETTING}"))["value"] == VALUE
    command(server, service["id"], "start")
    restarted = server.wait_for_state(service["id"], "running")
    assert live_value(restarted, password) == VALUE
