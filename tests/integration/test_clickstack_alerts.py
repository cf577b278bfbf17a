"""ClickStack alerts end to end on real servers: a source over a real table of a clickplane ClickHouse service, a
saved search, a webhook to a receiver in this test, and an alert with a threshold. Rows past the threshold make
the receiver get one ALERT delivery per window, with the documented body and headers; when the rows stop, one
resolved delivery; a restart of serve in between loses and doubles nothing, as the Idempotency-Keys show."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.webhooks import Received, Receiver, webhook_receiver

pytestmark = [pytest.mark.integration, needs_clickhouse]
# A "minute" of alert windows, in seconds: a 1m alert's window lasts this long.
MINUTE_SECONDS = 3
THRESHOLD = 3


def clickhouse(service: dict[str, Any], sql: str) -> str:
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    response = httpx.post(f"http://127.0.0.1:{port}/", content=sql.encode(), auth=("default", service["password"]),
                          timeout=10)
    assert response.status_code == 200, response.text
    return response.text.strip()


class Inserter:
    """Writes `error` lines into the table, more than THRESHOLD per window, until stopped."""

    def __init__(self, service: dict[str, Any]) -> None:
        self.service, self.stopping = service, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.wait(MINUTE_SECONDS / 6):
            clickhouse(self.service, "INSERT INTO default.app_logs (Timestamp, Body, ServiceName) VALUES "
                                     "(now(), 'disk error on sda', 'api'), (now(), 'all fine', 'api')")

    def __enter__(self) -> Inserter:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)


@pytest.fixture
def alerting(fresh_server: ClickplaneServer) -> Iterator[tuple[ClickplaneServer, dict[str, Any]]]:
    fresh_server.settings["CLICKPLANE_ALERT_MINUTE_SECONDS"] = str(MINUTE_SECONDS)
    fresh_server.start()
    created = fresh_server.create_service(name="observed")
    service = fresh_server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    try:
        clickhouse(service, "CREATE TABLE default.app_logs (Timestamp DateTime, Body String, ServiceName String) "
                            "ENGINE = MergeTree ORDER BY Timestamp")
        yield fresh_server, service
    finally:
        if fresh_server.process is None:
            fresh_server.start()
        delete_services(fresh_server)


def stack_path(server: ClickplaneServer, service: dict[str, Any], suffix: str) -> str:
    return server.org_path(f"/services/{service['id']}/clickstack/{suffix}")


def create(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


def set_up_alert(server: ClickplaneServer, service: dict[str, Any], receiver: Receiver) -> dict[str, Any]:
    with server.client() as client:
        source = create(client, stack_path(server, service, "sources"), {
            "kind": "log", "name": "app logs", "connection": service["id"].replace("-", "")[:24],
            "from": {"databaseName": "default", "tableName": "app_logs"},
            "defaultTableSelectExpression": "Timestamp, ServiceName, Body", "timestampValueExpression": "Timestamp",
            "implicitColumnExpression": "Body", "serviceNameExpression": "ServiceName", "bodyExpression": "Body"})
        search = create(client, stack_path(server, service, "saved-searches"), {
            "name": "errors", "sourceId": source["id"], "select": "Timestamp, Body", "where": "error",
            "whereLanguage": "lucene"})
        webhook = create(client, stack_path(server, service, "webhooks"), {
            "name": "on call", "service": "generic", "url": receiver.url, "headers": {"X-Token": "t0ken"}})
        assert "headers" not in webhook  # write-only
        return create(client, stack_path(server, service, "alerts"), {
            "source": "saved_search", "savedSearchId": search["id"], "threshold": float(THRESHOLD),
            "thresholdType": "above", "interval": "1m", "channel": {"type": "webhook", "webhookId": webhook["id"]}})


def states(receiver: Receiver) -> list[str]:
    return [message(request)["state"] for request in receiver.snapshot()]


def message(request: Received) -> dict[str, Any]:
    """The default template's fields, in order: title | body | link | state | startTime | endTime | eventId."""
    title, body, link, state, start, end, event = request.json()["text"].split(" | ")
    return {"title": title, "body": body, "link": link, "state": state, "start": int(start), "end": int(end),
            "eventId": event}


def test_an_alert_fires_once_per_window_survives_a_restart_and_resolves_once(
        alerting: tuple[ClickplaneServer, dict[str, Any]]) -> None:
    server, service = alerting
    with webhook_receiver() as receiver:
        alert = set_up_alert(server, service, receiver)
        assert alert["state"] == "OK"
        with Inserter(service):
            wait_until(lambda: states(receiver).count("ALERT") >= 2, what="two ALERT deliveries")
            server.stop()
            time.sleep(MINUTE_SECONDS * 2)  # windows close while no serve evaluates them
            server.start()
            before = states(receiver).count("ALERT")
            wait_until(lambda: states(receiver).count("ALERT") >= before + 3, what="ALERT deliveries after restart")
        wait_until(lambda: "OK" in states(receiver), what="the resolved delivery")
        time.sleep(MINUTE_SECONDS * 2)  # another window or two: no second resolved delivery may follow
        requests = receiver.snapshot()
        with server.client() as client:
            shown = client.get(stack_path(server, service, f"alerts/{alert['id']}")).json()["result"]

    messages = [message(request) for request in requests]
    keys = [request.headers["idempotency-key"] for request in requests]
    assert len(set(keys)) == len(keys), "a notification was delivered twice"
    alerts = [item for item in messages if item["state"] == "ALERT"]
    step = MINUTE_SECONDS * 1000
    assert [item["start"] for item in alerts] == list(range(alerts[0]["start"], alerts[-1]["start"] + step, step)), \
        "a window was lost or doubled across the restart"
    assert all(item["end"] - item["start"] == step for item in messages)
    assert [item["state"] for item in messages] == ["ALERT"] * len(alerts) + ["OK"]
    assert messages[-1]["start"] == alerts[-1]["end"]  # resolved by the window right after the last one firing
    for request in requests:
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-token"] == "t0ken"
        assert len(request.headers["idempotency-key"]) >= 32
    assert alerts[0]["title"].startswith('🚨 Alert for "errors" - ')
    assert alerts[0]["title"].endswith("lines found")
    assert messages[-1]["title"].startswith('✅ ')
    assert len({item["eventId"] for item in messages}) == 1  # one alert, one group: one event
    assert shown["state"] == "OK"


def test_a_tile_alert_follows_its_tiles_value_per_group(alerting: tuple[ClickplaneServer, dict[str, Any]]) -> None:
    """A line tile counting error lines per service: only the group past the threshold fires, and resolves."""
    server, service = alerting
    with webhook_receiver() as receiver, server.client() as client:
        source = create(client, stack_path(server, service, "sources"), {
            "kind": "log", "name": "app logs", "connection": service["id"].replace("-", "")[:24],
            "from": {"databaseName": "default", "tableName": "app_logs"},
            "defaultTableSelectExpression": "Timestamp, Body", "timestampValueExpression": "Timestamp",
            "implicitColumnExpression": "Body"})
        board = create(client, stack_path(server, service, "dashboards"), {"name": "ops", "tiles": [{
            "name": "errors by service", "x": 0, "y": 0, "w": 6, "h": 3,
            "config": {"displayType": "line", "sourceId": source["id"], "groupBy": "ServiceName",
                       "select": [{"aggFn": "count", "where": "error", "whereLanguage": "lucene"}]}}]})
        webhook = create(client, stack_path(server, service, "webhooks"), {
            "name": "tiles", "service": "generic", "url": receiver.url,
            "body": '{"state": "{{state}}", "title": "{{title}}", "start": {{startTime}}, "event": "{{eventId}}"}'})
        create(client, stack_path(server, service, "alerts"), {
            "source": "tile", "dashboardId": board["id"], "tileId": board["tiles"][0]["id"],
            "threshold": float(THRESHOLD), "thresholdType": "above", "interval": "1m",
            "channel": {"type": "webhook", "webhookId": webhook["id"]}})
        with Inserter(service):  # 'api' logs six error lines a window; 'web' one, below the threshold
            wait_until(lambda: len(receiver.snapshot()) >= 2, what="two ALERT deliveries")
            clickhouse(service, "INSERT INTO default.app_logs VALUES (now(), 'one error', 'web')")
        wait_until(lambda: any(r.json()["state"] == "OK" for r in receiver.snapshot()), what="the resolved one")
        bodies = [request.json() for request in receiver.snapshot()]

    assert [body["state"] for body in bodies] == ["ALERT"] * (len(bodies) - 1) + ["OK"]
    assert len({body["event"] for body in bodies}) == 1  # one group fired: api
    assert bodies[0]["title"].startswith('🚨 Alert for "errors by service" in "ops" - ')
    assert "meets or exceeds 3" in bodies[0]["title"]


def test_an_alert_does_not_wake_a_stopped_service_and_says_why(
        alerting: tuple[ClickplaneServer, dict[str, Any]]) -> None:
    server, service = alerting
    with webhook_receiver() as receiver:
        alert = set_up_alert(server, service, receiver)
        with server.client() as client:
            path = server.org_path(f"/services/{service['id']}")
            assert client.patch(f"{path}/state", json={"command": "stop"}).status_code == 200
            server.wait_for_state(service["id"], "stopped")

            def reason() -> str | None:
                shown = client.get(stack_path(server, service, f"alerts/{alert['id']}")).json()["result"]
                return shown.get("stateReason")

            said = wait_until(lambda: reason() if "stopped" in (reason() or "") else None, what="the reason")
            time.sleep(MINUTE_SECONDS * 2)  # windows pass: none wakes the service
            assert client.get(path).json()["result"]["state"] == "stopped"
        assert "alerts do not wake a service" in said
        assert receiver.snapshot() == []
