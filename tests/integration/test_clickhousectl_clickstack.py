"""The official clickhousectl CLI drives ClickStack against clickplane, through its HTTP API: every one of the 31
`cloud clickstack` subcommands, each with its exit code, each effect checked through the API (and for sources and
saved searches on the service's real ClickHouse, which they are checked against; for a webhook's write-only
headers, in the store).

Covered, each with its exit code (`--file` bodies from files the test writes):
- `source list`, `get` (by id and `--name`, a log and a trace source), `create --file` (refused for a table the
  ClickHouse lacks, then accepted once it is made there; refused for an expression that does not resolve there),
  `update --file` (by id and `--name`), `delete` (by id and `--name`; refused while a saved search or another
  source reads it);
- `saved-search list`, `get` (by id and `--name`), `create --file` (refused for a condition the ClickHouse
  refuses), `update --file`, `delete`;
- `dashboard list`, `get` (by id and `--name`), `create --file` (refused for a source the service lacks),
  `update --file` (tiles kept by id), `delete` (and the alert of its tile with it), `validate --file` (a valid
  body, a body naming no source of the service and one HyperDX's rules refuse: exit code 0 each time, nothing
  stored);
- `alert list`, `get` (by id and `--name`), `create --file` (refused for a saved search the service lacks, and by
  the CLI for a saved_search alert naming a dashboard), `update --file`, `delete`;
- `webhook list`, `create --file` (refused for a Slack URL off slack.com; and by the CLI for a Slack body),
  `update --file` (its sealed headers kept), `delete` (refused while an alert notifies it: "Cannot delete
  webhook", also with `--json`), `validate --file` (valid, a taken name, a Slack URL off slack.com: exit code 0
  each time); `webhook get` is no subcommand (exit code 2);
- `role list` (the predefined Admin, Member and ReadOnly first), `get` (by id and `--name`, a predefined role and
  one of the service's), `create --file` (refused under a predefined role's name; by the CLI without
  `integration`), `update --file` (refused for a predefined role), `delete` (refused for a predefined role).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from clickplane.store.models import ClickStackObject
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_clickstack_alerts import clickhouse
from tests.integration.test_cloud_clients import CLICKHOUSECTL
from tests.webhooks import webhook_receiver

pytestmark = [pytest.mark.integration, needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

MISSING_ID = "0" * 24
PREDEFINED_ROLES = ["Admin", "Member", "ReadOnly"]
# The service's ClickHouse is 18.16 in places: DateTime, not DateTime64.
LOGS_TABLE = ("CREATE TABLE default.app_logs (Timestamp DateTime, Body String, ServiceName String, "
              "SeverityText String) ENGINE = MergeTree ORDER BY Timestamp")
SPANS_TABLE = ("CREATE TABLE default.app_spans (Timestamp DateTime, TraceId String, SpanId String, ParentSpanId "
               "String, SpanName String, SpanKind String, ServiceName String, Duration UInt64, StatusCode String) "
               "ENGINE = MergeTree ORDER BY Timestamp")


class StackCli(LifecycleCli):
    """LifecycleCli for `cloud clickstack`: JSON bodies written to its directory, refusals with their exit code."""

    def stack(self, *args: str) -> str:
        return self.run("clickstack", *args)

    def stack_json(self, *args: str) -> Any:
        return self.json("clickstack", *args)

    def refused(self, *args: str, code: int = 1) -> str:
        """Run a `clickstack` command that must fail with `code`; return what it said (stderr and stdout)."""
        done: subprocess.CompletedProcess[str] = self.attempt("clickstack", *args)
        assert done.returncode == code, f"clickstack {' '.join(args)}: rc {done.returncode}: {done.stdout}" \
                                        f"{done.stderr}"
        return done.stderr + done.stdout

    def file(self, name: str, body: dict[str, Any]) -> str:
        """A body for --file, written to the CLI's directory; its name (the CLI runs there)."""
        (self.workdir / name).write_text(json.dumps(body))
        return name

    def clean_up(self) -> None:
        """Nothing: the service fixture deletes the service, and `emptied` its ClickStack objects."""


class Stack:
    """The service's ClickStack objects seen (and, for a test's premises, made) through the API."""

    def __init__(self, server: ClickplaneServer, service: dict[str, Any]) -> None:
        self.server, self.service_id = server, service["id"]

    def path(self, suffix: str) -> str:
        return self.server.org_path(f"/services/{self.service_id}/clickstack/{suffix}")

    def status(self, suffix: str) -> int:
        with self.server.client() as client:
            return client.get(self.path(suffix)).status_code

    def get(self, suffix: str) -> Any:
        with self.server.client() as client:
            response = client.get(self.path(suffix))
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.server.client() as client:
            response = client.post(self.path(kind), json=body)
        assert response.status_code == 200, response.text
        return dict(response.json()["result"])

    def ids(self, kind: str) -> list[str]:
        return [item["id"] for item in self.get(kind)]

    def sealed_secrets(self, webhook_id: str) -> str | None:
        """What the store keeps of a webhook's write-only headers and query parameters (never shown)."""
        with self.server.store() as session:
            row = session.get(ClickStackObject, webhook_id)
            assert row is not None
            return row.sealed_secrets


@pytest.fixture(scope="module")
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    """One running ClickHouse service for the module, with its password and a logs table; deleted afterwards."""
    created = server.create_service(name="ctl clickstack")
    running = server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    try:
        clickhouse(running, LOGS_TABLE)
        yield running
    finally:
        delete_services(server)


@pytest.fixture(scope="module")
def cli(server: ClickplaneServer) -> Iterator[StackCli]:
    yield from running_cli(StackCli, server, "clickhousectl-clickstack-")


@pytest.fixture
def stack(server: ClickplaneServer, service: dict[str, Any]) -> Iterator[Stack]:
    """The service's ClickStack, emptied after the test (through the API) so that the next starts from nothing."""
    made = Stack(server, service)
    yield made
    with server.client() as client:
        # Alerts before what they read; a source another reads goes on the second pass.
        for kind in ("alerts", "dashboards", "saved-searches", "webhooks", "roles", "sources", "sources"):
            for item in client.get(made.path(kind)).json()["result"]:
                if not item.get("isPredefined"):
                    client.delete(made.path(f"{kind}/{item['id']}"))
    for kind in ("alerts", "dashboards", "saved-searches", "webhooks", "sources"):
        assert made.get(kind) == [], kind
    assert [role["name"] for role in made.get("roles")] == PREDEFINED_ROLES


def connection(service: dict[str, Any]) -> str:
    """The id of the service's one ClickStack connection, its ClickHouse: the service id's first 24 hex digits."""
    return str(service["id"]).replace("-", "")[:24]


def log_source(service: dict[str, Any], name: str = "app logs", **fields: Any) -> dict[str, Any]:
    return {"kind": "log", "name": name, "connection": connection(service),
            "from": {"databaseName": "default", "tableName": "app_logs"},
            "defaultTableSelectExpression": "Timestamp, ServiceName, Body", "timestampValueExpression": "Timestamp",
            "implicitColumnExpression": "Body", "serviceNameExpression": "ServiceName", "bodyExpression": "Body",
            **fields}


def trace_source(service: dict[str, Any], log_source_id: str) -> dict[str, Any]:
    return {"kind": "trace", "name": "app spans", "connection": connection(service),
            "from": {"databaseName": "default", "tableName": "app_spans"},
            "defaultTableSelectExpression": "Timestamp, ServiceName, SpanName", "timestampValueExpression": "Timestamp",
            "durationExpression": "Duration", "durationPrecision": 9, "traceIdExpression": "TraceId",
            "spanIdExpression": "SpanId", "parentSpanIdExpression": "ParentSpanId", "spanNameExpression": "SpanName",
            "spanKindExpression": "SpanKind", "statusCodeExpression": "StatusCode",
            "serviceNameExpression": "ServiceName", "logSourceId": log_source_id}


def saved_search(source_id: str, **fields: Any) -> dict[str, Any]:
    return {"name": "errors", "sourceId": source_id, "select": "Timestamp, Body", "where": "error",
            "whereLanguage": "lucene", **fields}


def webhook(url: str, **fields: Any) -> dict[str, Any]:
    return {"name": "on call", "service": "generic", "url": url, "description": "the pager",
            "headers": {"X-Token": "t0ken"}, "body": '{"text": "{{title}}"}', **fields}


def alert(webhook_id: str, **fields: Any) -> dict[str, Any]:
    return {"threshold": 3, "thresholdType": "above", "interval": "5m",
            "channel": {"type": "webhook", "webhookId": webhook_id}, **fields}


def line_tile(source_id: str, name: str = "Lines", **fields: Any) -> dict[str, Any]:
    return {"name": name, "x": 0, "y": 0, "w": 12, "h": 4,
            "config": {"displayType": "line", "sourceId": source_id, "select": [{"aggFn": "count"}]}, **fields}


def missing(output: str, *parts: str) -> list[str]:
    """What of `parts` the CLI's output lacks."""
    return [part for part in parts if part not in output]


def subset(shown: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether what is shown has every key of the body with its value."""
    return all(shown.get(key) == value for key, value in body.items())


def test_sources_and_saved_searches_are_checked_against_the_services_clickhouse(
        service: dict[str, Any], cli: StackCli, stack: Stack) -> None:
    service_id = service["id"]
    assert cli.stack_json("source", "list", service_id) == []
    assert "Name" in cli.stack("source", "list", service_id)  # an empty table, no "none found" line

    logs = log_source(service)
    created = cli.stack_json("source", "create", service_id, "--file", cli.file("logs.json", logs))
    log_id = created["id"]
    assert subset(created, logs)
    assert subset(stack.get(f"sources/{log_id}"), logs)
    assert cli.stack_json("source", "list", service_id) == [created]
    listed = cli.stack("source", "list", service_id)
    assert missing(listed, "app logs", log_id, "log") == []
    assert cli.stack_json("source", "get", service_id, log_id) == created
    assert cli.stack_json("source", "get", service_id, "--name", "app logs") == created
    assert "tableName: app_logs" in cli.stack("source", "get", service_id, log_id)

    # Checked on the service's ClickHouse: an expression over a column it lacks, a table it lacks (until made).
    unresolved = cli.refused("source", "create", service_id, "--file",
                             cli.file("unresolved.json", log_source(service, "bad", bodyExpression="Message")))
    assert "bodyExpression: 'Message' does not resolve over default.app_logs" in unresolved
    assert "Unknown identifier: Message" in unresolved
    traces = trace_source(service, log_id)
    traces_file = cli.file("traces.json", traces)
    assert "from: no table default.app_spans in the service's ClickHouse" in cli.refused(
        "source", "create", service_id, "--file", traces_file)
    assert stack.ids("sources") == [log_id]
    clickhouse(service, SPANS_TABLE)
    trace = cli.stack_json("source", "create", service_id, "--file", traces_file)
    trace_id = trace["id"]
    assert (trace["kind"], trace["logSourceId"]) == ("trace", log_id)
    assert cli.stack_json("source", "get", service_id, "--name", "app spans")["id"] == trace_id
    assert stack.ids("sources") == [log_id, trace_id]

    renamed = log_source(service, "app logs v2", severityTextExpression="SeverityText")
    updated = cli.stack_json("source", "update", service_id, log_id, "--file", cli.file("logs2.json", renamed))
    assert (updated["id"], updated["name"], updated["severityTextExpression"]) == (log_id, "app logs v2",
                                                                                  "SeverityText")
    assert subset(stack.get(f"sources/{log_id}"), renamed)
    again = log_source(service, "app logs v3", severityTextExpression="SeverityText")
    assert "name: app logs v3" in cli.stack("source", "update", service_id, "--name", "app logs v2", "--file",
                                            cli.file("logs3.json", again))
    assert stack.get(f"sources/{log_id}")["name"] == "app logs v3"
    assert "app logs v2" in cli.refused("source", "get", service_id, "--name", "app logs v2")  # no such name now

    search = saved_search(log_id)
    made = cli.stack_json("saved-search", "create", service_id, "--file", cli.file("search.json", search))
    search_id = made["id"]
    assert subset(made, search)
    assert subset(stack.get(f"saved-searches/{search_id}"), search)
    assert [item["id"] for item in cli.stack_json("saved-search", "list", service_id)] == [search_id]
    shown = cli.stack("saved-search", "list", service_id)
    assert missing(shown, "errors", search_id, "lucene") == []
    assert cli.stack_json("saved-search", "get", service_id, search_id)["where"] == "error"
    assert cli.stack_json("saved-search", "get", service_id, "--name", "errors")["id"] == search_id
    assert "where: error" in cli.stack("saved-search", "get", service_id, search_id)
    refused = cli.refused("saved-search", "create", service_id, "--file", cli.file("bad-search.json", saved_search(
        log_id, name="bad", where="NoSuchColumn = 1", whereLanguage="sql")))
    assert missing(refused, "the service's ClickHouse refused the query", "NoSuchColumn") == []
    changed = saved_search(log_id, name="disk errors", where="Body:disk", orderBy="Timestamp DESC", tags=["ops"])
    replaced = cli.stack_json("saved-search", "update", service_id, "--name", "errors", "--file",
                              cli.file("search2.json", changed))
    assert replaced["id"] == search_id
    assert subset(replaced, changed)
    assert subset(stack.get(f"saved-searches/{search_id}"), changed)
    assert stack.ids("saved-searches") == [search_id]

    in_use = cli.refused("source", "delete", service_id, log_id)
    assert "Cannot delete source" in in_use
    assert missing(in_use, search_id, trace_id) == []  # both readers named
    assert cli.stack_json("saved-search", "delete", service_id, "--name", "disk errors") == {"deleted": search_id}
    assert stack.status(f"saved-searches/{search_id}") == 404
    assert cli.stack_json("saved-search", "list", service_id) == []
    assert f"ClickStack source {trace_id} deleted" in cli.stack("source", "delete", service_id, trace_id)
    assert cli.stack_json("source", "delete", service_id, "--name", "app logs v3") == {"deleted": log_id}
    assert stack.status(f"sources/{log_id}") == 404
    assert cli.stack_json("source", "list", service_id) == []
    assert "does not exist" in cli.refused("source", "delete", service_id, log_id)


def test_webhooks_and_alerts_made_by_the_cli_and_the_webhook_an_alert_uses_kept(
        service: dict[str, Any], cli: StackCli, stack: Stack) -> None:
    service_id = service["id"]
    source = stack.create("sources", log_source(service))
    search = stack.create("saved-searches", saved_search(source["id"]))
    with webhook_receiver() as receiver:
        hook = webhook(receiver.url)
        hook_file = cli.file("webhook.json", hook)
        checked = cli.stack_json("webhook", "validate", service_id, "--file", hook_file)
        assert (checked["valid"], checked["errors"]) == (True, [])
        assert checked["normalized"]["url"] == receiver.url
        assert "headers" not in checked["normalized"]  # write-only, even in a dry run
        assert "valid: true" in cli.stack("webhook", "validate", service_id, "--file", hook_file)
        assert stack.get("webhooks") == []  # a dry run stores nothing

        created = cli.stack_json("webhook", "create", service_id, "--file", hook_file)
        webhook_id = created["id"]
        assert "headers" not in created
        assert subset(created, {key: value for key, value in hook.items() if key != "headers"})
        assert stack.sealed_secrets(webhook_id)
        assert cli.stack_json("webhook", "list", service_id) == [created]
        listed = cli.stack("webhook", "list", service_id)
        assert missing(listed, "on call", webhook_id, receiver.url) == []
        assert "unrecognized subcommand 'get'" in cli.refused("webhook", "get", service_id, webhook_id, code=2)

        taken = cli.stack_json("webhook", "validate", service_id, "--file", hook_file)
        assert taken["valid"] is False
        assert [error["path"] for error in taken["errors"]] == ["name"]
        assert "already exists" in taken["errors"][0]["message"]
        slack = {"name": "team slack", "service": "slack", "url": "https://example.com/services/T/B/x"}
        slack_file = cli.file("slack.json", slack)
        off_slack = cli.stack_json("webhook", "validate", service_id, "--file", slack_file)
        assert off_slack["valid"] is False
        assert off_slack["errors"] == [{"path": "url", "message": "of a Slack webhook must have a host that ends in "
                                                                  "slack.com"}]
        assert "valid: false" in cli.stack("webhook", "validate", service_id, "--file", slack_file)
        assert "must have a host that ends in slack.com" in cli.refused("webhook", "create", service_id, "--file",
                                                                        slack_file)
        assert "body is not supported for slack webhooks" in cli.refused(  # the CLI's check: no request
            "webhook", "create", service_id, "--file", cli.file("slack-body.json", slack | {
                "url": "https://hooks.slack.com/services/T/B/x", "body": "x"}))
        assert stack.ids("webhooks") == [webhook_id]

        edited = {key: value for key, value in hook.items() if key != "headers"} | {"description": "the new pager"}
        updated = cli.stack_json("webhook", "update", service_id, "--name", "on call", "--file",
                                 cli.file("webhook2.json", edited))
        assert (updated["id"], updated["description"]) == (webhook_id, "the new pager")
        assert [item["description"] for item in stack.get("webhooks")] == ["the new pager"]
        assert stack.sealed_secrets(webhook_id)  # headers left out are kept (same url and service)

        first = alert(webhook_id, source="saved_search", savedSearchId=search["id"], name="Disk errors over 3")
        made = cli.stack_json("alert", "create", service_id, "--file", cli.file("alert.json", first))
        alert_id = made["id"]
        assert (made["state"], made["threshold"], made["savedSearchId"]) == ("OK", 3.0, search["id"])
        assert made["channel"] == {"type": "webhook", "webhookId": webhook_id}
        stored = stack.get(f"alerts/{alert_id}")
        assert (stored["state"], stored["interval"], stored["name"]) == ("OK", "5m", "Disk errors over 3")
        assert [item["id"] for item in cli.stack_json("alert", "list", service_id)] == [alert_id]
        shown = cli.stack("alert", "list", service_id)
        assert missing(shown, "Disk errors over 3", alert_id, "saved_search") == []
        assert cli.stack_json("alert", "get", service_id, alert_id)["name"] == "Disk errors over 3"
        assert cli.stack_json("alert", "get", service_id, "--name", "Disk errors over 3")["id"] == alert_id
        assert "state: OK" in cli.stack("alert", "get", service_id, alert_id)
        assert f"savedSearchId: no saved search {MISSING_ID} in this service" in cli.refused(
            "alert", "create", service_id, "--file", cli.file("no-search.json", first | {"savedSearchId": MISSING_ID}))
        assert "cannot include dashboardId or tileId" in cli.refused(  # the CLI's check: no request
            "alert", "create", service_id, "--file", cli.file("with-board.json", first | {"dashboardId": MISSING_ID}))
        assert stack.ids("alerts") == [alert_id]

        second = first | {"threshold": 5.5, "interval": "15m", "name": "Disk errors over 5",
                          "message": "check {{title}}"}
        replaced = cli.stack_json("alert", "update", service_id, "--name", "Disk errors over 3", "--file",
                                  cli.file("alert2.json", second))
        assert (replaced["id"], replaced["threshold"], replaced["interval"]) == (alert_id, 5.5, "15m")
        stored = stack.get(f"alerts/{alert_id}")
        assert (stored["name"], stored["message"], stored["threshold"]) == ("Disk errors over 5", "check {{title}}",
                                                                            5.5)

        used = cli.refused("webhook", "delete", service_id, webhook_id)
        assert missing(used, "Cannot delete webhook", alert_id) == []
        as_json = cli.attempt("clickstack", "webhook", "delete", service_id, webhook_id, "--json")
        assert as_json.returncode == 1
        error = json.loads(as_json.stderr)["error"]
        assert error["code"] == "http_4xx"
        assert error["message"].startswith("CONFLICT: Cannot delete webhook")
        assert stack.ids("webhooks") == [webhook_id]

        assert f"ClickStack alert {alert_id} deleted" in cli.stack("alert", "delete", service_id, "--name",
                                                                    "Disk errors over 5")
        assert stack.status(f"alerts/{alert_id}") == 404
        assert cli.stack_json("alert", "list", service_id) == []
        assert cli.stack_json("webhook", "delete", service_id, "--name", "on call") == {"deleted": webhook_id}
        assert cli.stack_json("webhook", "list", service_id) == []
        assert "does not exist" in cli.refused("webhook", "delete", service_id, webhook_id)


def test_dashboards_validated_made_replaced_and_deleted_with_their_tiles_alerts(
        service: dict[str, Any], cli: StackCli, stack: Stack) -> None:
    service_id = service["id"]
    source_id = stack.create("sources", log_source(service))["id"]
    board = {"name": "Overview", "tags": ["ops"], "tiles": [line_tile(source_id)]}
    board_file = cli.file("board.json", board)

    checked = cli.stack_json("dashboard", "validate", service_id, "--file", board_file)
    assert (checked["valid"], checked["errors"]) == (True, [])
    assert checked["normalized"]["name"] == "Overview"
    assert checked["normalized"]["tiles"][0]["config"]["sourceId"] == source_id
    assert "valid: true" in cli.stack("dashboard", "validate", service_id, "--file", board_file)
    unknown = {"name": "Overview", "tiles": [line_tile(MISSING_ID)]}
    unknown_file = cli.file("unknown-source.json", unknown)
    elsewhere = cli.stack_json("dashboard", "validate", service_id, "--file", unknown_file)
    assert elsewhere["valid"] is False
    assert elsewhere["errors"] == [{"path": "", "message": f"Could not find the following source IDs: {MISSING_ID}"}]
    summed = line_tile(source_id)
    summed["config"]["select"] = [{"aggFn": "sum"}]
    broken = cli.stack_json("dashboard", "validate", service_id, "--file",
                            cli.file("sum.json", {"name": "Overview", "tiles": [summed]}))
    assert broken["valid"] is False
    [problem] = broken["errors"]
    assert problem["path"].startswith("tiles.0.config.")
    assert problem["path"].endswith("select.0.valueExpression")
    assert "aggFn is sum" in problem["message"]
    assert "valid: false" in cli.stack("dashboard", "validate", service_id, "--file", unknown_file)
    assert stack.get("dashboards") == []  # dry runs store nothing

    assert "Could not find the following source IDs" in cli.refused("dashboard", "create", service_id, "--file",
                                                                     unknown_file)
    created = cli.stack_json("dashboard", "create", service_id, "--file", board_file)
    board_id = created["id"]
    [tile] = created["tiles"]
    tile_id = tile["id"]
    assert (created["name"], created["tags"], tile["name"], tile["config"]["sourceId"]) == ("Overview", ["ops"],
                                                                                           "Lines", source_id)
    assert stack.get(f"dashboards/{board_id}")["tiles"][0]["id"] == tile_id
    assert [item["id"] for item in cli.stack_json("dashboard", "list", service_id)] == [board_id]
    shown = cli.stack("dashboard", "list", service_id)
    assert missing(shown, "Overview", board_id) == []
    assert cli.stack_json("dashboard", "get", service_id, board_id) == created
    assert cli.stack_json("dashboard", "get", service_id, "--name", "Overview")["id"] == board_id
    assert "name: Overview" in cli.stack("dashboard", "get", service_id, board_id)

    hook = stack.create("webhooks", webhook("http://127.0.0.1:9/hook"))
    tile_alert = stack.create("alerts", alert(hook["id"], source="tile", dashboardId=board_id, tileId=tile_id,
                                              threshold=10.0, interval="1h", name="Too many lines"))
    wider = {"name": "Overview v2", "tiles": [line_tile(source_id, id=tile_id, w=6),
                                              line_tile(source_id, "Number", x=6, w=6) | {"config": {
                                                  "displayType": "number", "sourceId": source_id,
                                                  "select": [{"aggFn": "count"}]}}]}
    replaced = cli.stack_json("dashboard", "update", service_id, "--name", "Overview", "--file",
                              cli.file("board2.json", wider))
    assert (replaced["id"], replaced["name"]) == (board_id, "Overview v2")
    assert [(item["name"], item["w"]) for item in replaced["tiles"]] == [("Lines", 6), ("Number", 6)]
    assert replaced["tiles"][0]["id"] == tile_id  # kept by its id
    assert replaced["tiles"][1]["id"] != tile_id  # a new tile, a new id
    assert [item["name"] for item in stack.get(f"dashboards/{board_id}")["tiles"]] == ["Lines", "Number"]
    assert stack.ids("alerts") == [tile_alert["id"]]  # its tile is kept, so is its alert

    assert cli.stack_json("dashboard", "delete", service_id, board_id) == {"deleted": board_id}
    assert stack.status(f"dashboards/{board_id}") == 404
    assert stack.status(f"alerts/{tile_alert['id']}") == 404  # gone with its dashboard
    assert cli.stack_json("dashboard", "list", service_id) == []
    assert "does not exist" in cli.refused("dashboard", "get", service_id, board_id)
    again = cli.stack_json("dashboard", "create", service_id, "--file", board_file)
    assert f"ClickStack dashboard {again['id']} deleted" in cli.stack("dashboard", "delete", service_id, "--name",
                                                                      "Overview")
    assert stack.get("dashboards") == []


def test_roles_list_the_predefined_ones_first_and_change_only_the_services_own(
        service: dict[str, Any], cli: StackCli, stack: Stack) -> None:
    service_id = service["id"]
    predefined = cli.stack_json("role", "list", service_id)
    assert [(role["name"], role["isPredefined"]) for role in predefined] == [(name, True) for name in
                                                                             PREDEFINED_ROLES]
    assert {"action": "manage", "subject": "all"} in predefined[0]["permissions"]
    listed = cli.stack("role", "list", service_id)
    assert missing(listed, *PREDEFINED_ROLES, *(role["id"] for role in predefined)) == []
    admin, _, read_only = predefined
    assert cli.stack_json("role", "get", service_id, "--name", "Admin") == admin
    assert cli.stack_json("role", "get", service_id, read_only["id"]) == read_only
    assert [role["id"] for role in stack.get("roles")] == [role["id"] for role in predefined]

    editors = {"name": "Dashboard editors", "description": "edit dashboards", "permissions": [
        {"action": "manage", "subject": "Dashboard", "integration": "mongodb"},
        {"action": "read", "subject": "Source", "integration": "mongodb", "conditions": {"kind": "log"}}]}
    created = cli.stack_json("role", "create", service_id, "--file", cli.file("role.json", editors))
    role_id = created["id"]
    assert (created["name"], created["description"], created["isPredefined"]) == ("Dashboard editors",
                                                                                  "edit dashboards", False)
    assert created["permissions"] == [*editors["permissions"], {"action": "read", "subject": "Connection"}]
    assert stack.get(f"roles/{role_id}")["permissions"] == created["permissions"]
    assert [role["name"] for role in cli.stack_json("role", "list", service_id)] == [*PREDEFINED_ROLES,
                                                                                     "Dashboard editors"]
    assert cli.stack_json("role", "get", service_id, "--name", "Dashboard editors") == created
    assert "isPredefined: false" in cli.stack("role", "get", service_id, role_id)
    assert "is a predefined role's name" in cli.refused("role", "create", service_id, "--file", cli.file(
        "member.json", editors | {"name": "Member"}))
    assert "integration must be clickhouse or mongodb" in cli.refused(  # the CLI's check: no request
        "role", "create", service_id, "--file", cli.file("bare.json", editors | {"permissions": [
            {"action": "read", "subject": "Dashboard"}]}))

    readers = {"name": "Dashboard readers", "permissions": [
        {"action": "read", "subject": "Dashboard", "integration": "mongodb"},
        {"action": "delete", "subject": "Dashboard", "integration": "mongodb", "inverted": True}]}
    readers_file = cli.file("role2.json", readers)
    updated = cli.stack_json("role", "update", service_id, "--name", "Dashboard editors", "--file", readers_file)
    assert (updated["id"], updated["name"]) == (role_id, "Dashboard readers")
    stored = stack.get(f"roles/{role_id}")
    assert (stored["name"], stored["permissions"]) == ("Dashboard readers", [
        *readers["permissions"], {"action": "read", "subject": "Connection"}])
    assert "is predefined and cannot be changed" in cli.refused("role", "update", service_id, "--name", "Admin",
                                                                "--file", readers_file)
    assert "is predefined and cannot be deleted" in cli.refused("role", "delete", service_id, read_only["id"])
    assert stack.get(f"roles/{admin['id']}") == admin

    assert cli.stack_json("role", "delete", service_id, "--name", "Dashboard readers") == {"deleted": role_id}
    assert stack.status(f"roles/{role_id}") == 404
    assert "does not exist" in cli.refused("role", "get", service_id, role_id)
    again = cli.stack_json("role", "create", service_id, "--file", cli.file("role.json", editors))
    assert f"ClickStack role {again['id']} deleted" in cli.stack("role", "delete", service_id, again["id"])
    assert [role["name"] for role in cli.stack_json("role", "list", service_id)] == PREDEFINED_ROLES

