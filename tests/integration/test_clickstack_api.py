"""ClickStack's objects through the API, on a real clickplane over a real ClickHouse service: what each create
checks against the service's ClickHouse and its other objects, the rules of replaces and deletes (a dashboard
replace drops its dropped tiles' alerts, a webhook in use is a 409, predefined roles stay), the two dry runs, paging
and secrets that are never shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services

pytestmark = [pytest.mark.integration, needs_clickhouse]


class Stack:
    """The ClickStack of one running service, with a table of logs in its ClickHouse."""

    def __init__(self, server: ClickplaneServer, service: dict[str, Any], client: httpx.Client) -> None:
        self.server, self.service, self.client = server, service, client
        self.connection = service["id"].replace("-", "")[:24]

    def path(self, suffix: str) -> str:
        return self.server.org_path(f"/services/{self.service['id']}/clickstack/{suffix}")

    def post(self, suffix: str, body: Any) -> httpx.Response:
        return self.client.post(self.path(suffix), json=body)

    def made(self, suffix: str, body: Any) -> dict[str, Any]:
        response = self.post(suffix, body)
        assert response.status_code == 200, response.text
        return dict(response.json()["result"])

    def refused(self, response: httpx.Response, status: int, *words: str) -> str:
        assert response.status_code == status, response.text
        error = str(response.json()["error"])
        for word in words:
            assert word in error, error
        return error

    def source_body(self, **changes: Any) -> dict[str, Any]:
        return {"kind": "log", "name": "logs", "connection": self.connection,
                "from": {"databaseName": "default", "tableName": "logs"},
                "defaultTableSelectExpression": "Timestamp, Body", "timestampValueExpression": "Timestamp",
                "implicitColumnExpression": "Body", **changes}

    def webhook_body(self, **changes: Any) -> dict[str, Any]:
        return {"name": "hook", "service": "generic", "url": "http://127.0.0.1:9/hook", **changes}

    def dashboard_body(self, source_id: str, tiles: int = 2) -> dict[str, Any]:
        return {"name": "board", "tiles": [
            {"name": f"errors {n}", "x": 0, "y": n, "w": 6, "h": 3,
             "config": {"displayType": "number", "sourceId": source_id, "select": [{"aggFn": "count"}]}}
            for n in range(tiles)]}


@pytest.fixture(scope="module")
def stack(server: ClickplaneServer) -> Iterator[Stack]:
    created = server.create_service(name="stack")
    service = server.wait_for_state(created["service"]["id"], "running")
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    try:
        answer = httpx.post(f"http://127.0.0.1:{port}/", auth=("default", created["password"]), timeout=10,
                            content=b"CREATE TABLE default.logs (Timestamp DateTime, Body String, Level UInt8) "
                                    b"ENGINE = MergeTree ORDER BY Timestamp")
        assert answer.status_code == 200, answer.text
        with server.client() as client:
            yield Stack(server, service, client)
    finally:
        delete_services(server)


def test_a_source_must_name_the_services_connection_a_real_table_and_expressions_that_resolve(stack: Stack) -> None:
    stack.refused(stack.post("sources", stack.source_body(connection="0" * 24)), 400, "connection", stack.connection)
    stack.refused(stack.post("sources", stack.source_body(**{"from": {"databaseName": "default",
                                                                      "tableName": "nope"}})), 400, "default.nope")
    stack.refused(stack.post("sources", stack.source_body(bodyExpression="NoSuchColumn")), 400, "bodyExpression",
                  "NoSuchColumn")
    made = stack.made("sources", stack.source_body(id="ffffffffffffffffffffffff"))
    assert len(made["id"]) == 24
    assert made["id"] != "f" * 24
    assert made["kind"] == "log"
    assert made["from"] == {"databaseName": "default", "tableName": "logs"}
    listed = stack.client.get(stack.path("sources")).json()["result"]
    assert made["id"] in [item["id"] for item in listed]
    replaced = stack.client.put(stack.path(f"sources/{made['id']}"), json=stack.source_body(name="renamed"))
    assert replaced.status_code == 200
    assert replaced.json()["result"]["name"] == "renamed"
    missing = stack.client.get(stack.path("sources/000000000000000000000000"))
    stack.refused(missing, 404, "NOT_FOUND")
    assert stack.client.delete(stack.path(f"sources/{made['id']}")).status_code == 200


def test_a_saved_search_runs_on_the_server_and_takes_its_alerts_along_when_deleted(stack: Stack) -> None:
    source = stack.made("sources", stack.source_body(name="for searches"))
    stack.refused(stack.post("saved-searches", {"name": "bad", "sourceId": source["id"], "where": "Nope:1",
                                                "whereLanguage": "lucene"}), 400, "where")
    stack.refused(stack.post("saved-searches", {"name": "bad sql", "sourceId": source["id"],
                                                "where": "NoSuchColumn = 1", "whereLanguage": "sql"}), 400,
                  "NoSuchColumn")
    stack.refused(stack.post("saved-searches", {"name": "orphan", "sourceId": "0" * 24}), 400, "sourceId")
    search = stack.made("saved-searches", {"name": "errors", "sourceId": source["id"],
                                           "where": "error Level:>2", "whereLanguage": "lucene"})
    webhook = stack.made("webhooks", stack.webhook_body(name="for searches"))
    alert = stack.made("alerts", {"source": "saved_search", "savedSearchId": search["id"], "threshold": 1.0,
                                  "thresholdType": "above", "interval": "5m",
                                  "channel": {"type": "webhook", "webhookId": webhook["id"]}})
    assert alert["state"] == "OK"
    in_use = stack.client.delete(stack.path(f"webhooks/{webhook['id']}"))
    stack.refused(in_use, 409, "Cannot delete webhook: 1 alert(s) still reference it")
    stack.refused(stack.client.delete(stack.path(f"sources/{source['id']}")), 409, "saved-searches")
    assert stack.client.delete(stack.path(f"saved-searches/{search['id']}")).status_code == 200
    stack.refused(stack.client.get(stack.path(f"alerts/{alert['id']}")), 404)
    assert stack.client.delete(stack.path(f"webhooks/{webhook['id']}")).status_code == 200
    assert stack.client.delete(stack.path(f"sources/{source['id']}")).status_code == 200


def test_an_alert_names_objects_of_its_service_and_a_webhook_channel(stack: Stack) -> None:
    source = stack.made("sources", stack.source_body(name="for alerts"))
    search = stack.made("saved-searches", {"name": "all", "sourceId": source["id"]})
    base = {"source": "saved_search", "savedSearchId": search["id"], "threshold": 1.0, "thresholdType": "above",
            "interval": "1m"}
    stack.refused(stack.post("alerts", base | {"channel": {"type": "webhook", "webhookId": "0" * 24}}), 400,
                  "webhookId")
    stack.refused(stack.post("alerts", base | {"channel": {"type": "email", "emailRecipients": ["a@b.c"]}}), 400)
    stack.refused(stack.post("alerts", base | {"savedSearchId": "0" * 24,
                                               "channel": {"type": "webhook", "webhookId": "0" * 24}}), 400,
                  "savedSearchId")
    webhook = stack.made("webhooks", stack.webhook_body(name="for alerts"))
    channel = {"type": "webhook", "webhookId": webhook["id"]}
    stack.refused(stack.post("alerts", base | {"channel": channel, "name": "{{#if value}}open"}), 400, "name")
    made = stack.made("alerts", base | {"channel": channel, "name": "{{savedSearch.name}} is busy"})
    page = stack.client.get(stack.path("alerts"), params={"limit": 1, "offset": 0})
    assert page.status_code == 200
    assert len(page.json()["result"]) == 1
    beyond = stack.client.get(stack.path("alerts"), params={"limit": 1000, "offset": 1000})
    assert beyond.json()["result"] == []
    stack.refused(stack.client.get(stack.path("alerts"), params={"limit": 0}), 400, "limit")
    assert stack.client.delete(stack.path(f"alerts/{made['id']}")).status_code == 200


def test_a_dashboard_replace_drops_the_alerts_of_the_tiles_it_drops(stack: Stack) -> None:
    source = stack.made("sources", stack.source_body(name="for boards"))
    board = stack.made("dashboards", stack.dashboard_body(source["id"]))
    tiles = [tile["id"] for tile in board["tiles"]]
    assert len(set(tiles)) == 2
    assert all(len(tile) == 24 for tile in tiles)
    webhook = stack.made("webhooks", stack.webhook_body(name="for boards"))
    alerts = [stack.made("alerts", {"source": "tile", "dashboardId": board["id"], "tileId": tile, "threshold": 5.0,
                                    "thresholdType": "above", "interval": "1m",
                                    "channel": {"type": "webhook", "webhookId": webhook["id"]}}) for tile in tiles]
    kept = board["tiles"][0]
    replaced = stack.client.put(stack.path(f"dashboards/{board['id']}"),
                                json={"name": "board", "tiles": [{key: kept[key] for key in
                                                                  ("id", "name", "x", "y", "w", "h", "config")}]})
    assert replaced.status_code == 200, replaced.text
    assert [tile["id"] for tile in replaced.json()["result"]["tiles"]] == [tiles[0]]
    assert stack.client.get(stack.path(f"alerts/{alerts[0]['id']}")).status_code == 200
    stack.refused(stack.client.get(stack.path(f"alerts/{alerts[1]['id']}")), 404)
    assert stack.client.delete(stack.path(f"dashboards/{board['id']}")).status_code == 200
    stack.refused(stack.client.get(stack.path(f"alerts/{alerts[0]['id']}")), 404)


def test_validate_answers_valid_and_invalid_dashboards_and_webhooks_alike_and_stores_nothing(stack: Stack) -> None:
    source = stack.made("sources", stack.source_body(name="for validate"))
    before = stack.client.get(stack.path("dashboards")).json()["result"]
    valid = stack.post("dashboards/validate", stack.dashboard_body(source["id"])).json()["result"]
    assert valid["valid"] is True
    assert valid["errors"] == []
    assert valid["normalized"]["name"] == "board"
    unknown = stack.post("dashboards/validate", stack.dashboard_body("a" * 24))
    assert unknown.status_code == 200
    assert unknown.json()["result"] == {"valid": False, "normalized": None, "errors": [
        {"path": "", "message": f"Could not find the following source IDs: {'a' * 24}"}]}
    malformed = stack.post("dashboards/validate", {"name": "board"}).json()["result"]
    assert malformed["valid"] is False
    assert malformed["errors"][0]["path"] == "tiles"
    assert stack.client.get(stack.path("dashboards")).json()["result"] == before
    hook = stack.post("webhooks/validate", stack.webhook_body(url="ftp://example.com/x")).json()["result"]
    assert hook["valid"] is False
    assert hook["errors"]
    good = stack.post("webhooks/validate", stack.webhook_body(headers={"Authorization": "Bearer s"})).json()
    assert good["result"]["valid"] is True
    assert "headers" not in good["result"]["normalized"]


def test_webhook_secrets_are_never_shown_and_a_replace_keeps_them_unless_the_url_changes(stack: Stack) -> None:
    made = stack.made("webhooks", stack.webhook_body(name="secret", headers={"Authorization": "Bearer s3cr3t"},
                                                     queryParams={"token": "t0k"}))
    assert "headers" not in made
    assert "queryParams" not in made
    listed = stack.client.get(stack.path("webhooks"))
    assert "s3cr3t" not in listed.text
    assert "t0k" not in listed.text
    stack.refused(stack.post("webhooks", stack.webhook_body(name="secret")), 400, "already exists")
    stack.refused(stack.post("webhooks", stack.webhook_body(name="userinfo", url="http://u:p@127.0.0.1/x")), 400)
    stack.refused(stack.post("webhooks", stack.webhook_body(name="slack", service="slack",
                                                            url="https://example.com/x")), 400, "slack.com")
    with stack.server.store() as session:
        from clickplane.store.models import ClickStackObject

        sealed = session.get(ClickStackObject, made["id"])
        assert sealed is not None
        assert sealed.sealed_secrets
        assert "s3cr3t" not in sealed.sealed_secrets
    assert stack.client.delete(stack.path(f"webhooks/{made['id']}")).status_code == 200


def test_predefined_roles_are_listed_and_stay(stack: Stack) -> None:
    roles = stack.client.get(stack.path("roles")).json()["result"]
    predefined = {role["name"]: role for role in roles if role["isPredefined"]}
    assert set(predefined) == {"Admin", "Member", "ReadOnly"}
    admin = predefined["Admin"]["id"]
    stack.refused(stack.client.delete(stack.path(f"roles/{admin}")), 400, "predefined")
    stack.refused(stack.post("roles", {"name": "Admin", "permissions": []}), 400, "predefined")
    mine = stack.made("roles", {"name": "dashboards", "permissions": [{"action": "read", "subject": "Dashboard"}]})
    assert {"action": "read", "subject": "Connection"} in [
        {key: item[key] for key in ("action", "subject")} for item in mine["permissions"]]
    assert stack.client.get(stack.path(f"roles/{admin}")).json()["result"]["name"] == "Admin"
    assert stack.client.delete(stack.path(f"roles/{mine['id']}")).status_code == 200


def test_a_dry_run_of_nothing_and_a_page_past_any_offset_are_refused(stack: Stack) -> None:
    stack.refused(stack.client.post(stack.path("webhooks/validate")), 400, "missing")
    stack.refused(stack.client.post(stack.path("dashboards/validate")), 400, "missing")
    stack.refused(stack.client.get(stack.path("webhooks"), params={"offset": 2**63}), 400, "offset")
