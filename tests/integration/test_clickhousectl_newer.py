"""The official clickhousectl CLI drives the endpoints it calls that the reference lacks, against clickplane through
its HTTP API over a real ClickHouse service: every subcommand of `saved-query` and `query-api-endpoint`, and
`service snapshot`, `service profile` and `service replica-aware-routing`, each with its exit code, each effect
checked through the API (and a Query API endpoint's URL run on the service).

Covered, each with its exit code:
- `saved-query create` (with `--sql` and `--param`, with `--sql-file`; refused for a database the service lacks),
  `list` (whole, then a page at a time with `--limit` and `--cursor`), `get` (by id and `--name`), `update` (by id
  and `--name`), `delete` (by id and `--name`);
- `query-api-endpoint create --file`, `list` (and its `--json` reshaped to items and pagination), `get` (by id
  and `--name`), `update --file` (by id and `--name`; refused with exit code 4 for a user's endpoint, as
  `delete` is), `delete` (by id and `--name`);
- `service snapshot list`, `get --snapshot-id` (and an id that is none), `config get`, `config update` (gap and
  time frame, enabled; refused for a gap that is no backup period);
- `service profile list --region` (and an unknown region, and `--byoc-id`);
- `service replica-aware-routing get` (by id and `--name`) and `update`.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clickplane.store.models import QueryApiEndpoint
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, clickplane, delete_services
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_clickstack_alerts import clickhouse
from tests.integration.test_cloud_clients import CLICKHOUSECTL

pytestmark = [pytest.mark.integration, needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

EVENTS = "CREATE TABLE default.events (n UInt32, label String) ENGINE = MergeTree ORDER BY n"


class NewerCli(LifecycleCli):
    """LifecycleCli that records each command's exit code, and writes --file bodies to its directory."""

    def __init__(self, server: ClickplaneServer, workdir: Any) -> None:
        super().__init__(server, workdir)
        self.exit_codes: list[tuple[str, int]] = []

    def ended(self, code: int, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command that must end with `code`, recording it (ids left out)."""
        done: subprocess.CompletedProcess[str] = self.attempt(*args)
        self.exit_codes.append((" ".join(arg for arg in args if not _is_id(arg)), done.returncode))
        assert done.returncode == code, f"{' '.join(args)}: rc {done.returncode}: {done.stdout}{done.stderr}"
        return done

    def expect(self, code: int, *args: str) -> str:
        """What a command that must end with `code` printed (stdout, then stderr)."""
        done = self.ended(code, *args)
        return done.stdout + done.stderr

    def json_of(self, *args: str) -> Any:
        return json.loads(self.ended(0, *args, "--json").stdout)

    def file(self, name: str, body: dict[str, Any]) -> str:
        (self.workdir / name).write_text(json.dumps(body))
        return name

    def clean_up(self) -> None:
        """Nothing: the service fixture deletes the service, and what it holds with it."""


def _is_id(arg: str) -> bool:
    try:
        uuid.UUID(arg)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    created = server.create_service(name="ctl newer")
    running = server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    try:
        clickhouse(running, EVENTS)
        clickhouse(running, "INSERT INTO default.events VALUES (1, 'one'), (2, 'two')")
        yield running
    finally:
        delete_services(server)


@pytest.fixture(scope="module")
def cli(server: ClickplaneServer) -> Iterator[NewerCli]:
    runner: NewerCli
    for runner in running_cli(NewerCli, server, "clickhousectl-newer-"):
        yield runner
        print("\nclickhousectl exit codes:", *(f"  {code}  {command}" for command, code in runner.exit_codes),
              sep="\n")


def api(server: ClickplaneServer, service: dict[str, Any], suffix: str) -> Any:
    with server.client() as client:
        response = client.get(server.org_path(f"/services/{service['id']}/{suffix}"))
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_saved_query_commands(server: ClickplaneServer, service: dict[str, Any], cli: NewerCli) -> None:
    sid = service["id"]
    made = cli.json_of("saved-query", "create", sid, "--name", "from one", "--database", "default",
                       "--sql", "SELECT n FROM events WHERE n >= {m:UInt32}", "--param", "m=1")
    assert made["parameters"] == {"m": "1"}
    (cli.workdir / "q.sql").write_text("SELECT count() FROM events\n")
    second = cli.json_of("saved-query", "create", sid, "--name", "count", "--database", "default",
                         "--sql-file", "q.sql")
    assert second["sql"] == "SELECT count() FROM events\n"
    assert "does not exist" in cli.expect(1, "saved-query", "create", sid, "--name", "x", "--database", "nowhere",
                                          "--sql", "SELECT 1")
    listed = cli.expect(0, "saved-query", "list", sid)
    assert "from one" in listed
    assert "count" in listed
    first_page = cli.json_of("saved-query", "list", sid, "--limit", "1")
    assert [q["id"] for q in first_page["result"]] == [made["id"]]
    next_page = cli.json_of("saved-query", "list", sid, "--limit", "1", "--cursor", first_page["nextCursor"])
    assert [q["id"] for q in next_page["result"]] == [second["id"]]
    assert "nextCursor" not in next_page
    assert cli.json_of("saved-query", "get", sid, made["id"])["sql"] == made["sql"]
    assert cli.json_of("saved-query", "get", sid, "--name", "count")["id"] == second["id"]
    replaced = cli.json_of("saved-query", "update", sid, made["id"], "--new-name", "all", "--database", "default",
                           "--sql", "SELECT n FROM events")
    assert replaced["parameters"] == {}
    cli.expect(0, "saved-query", "update", sid, "--name", "all", "--new-name", "all 2", "--database", "default",
               "--sql", "SELECT 2")
    assert api(server, service, f"saved-queries/{made['id']}")["name"] == "all 2"
    cli.expect(0, "saved-query", "delete", sid, made["id"])
    cli.expect(0, "saved-query", "delete", sid, "--name", "count")
    assert "No saved queries found" in cli.expect(0, "saved-query", "list", sid)
    cli.expect(1, "saved-query", "get", sid, made["id"])


def test_query_api_endpoint_commands(server: ClickplaneServer, service: dict[str, Any], cli: NewerCli) -> None:
    sid = service["id"]
    with server.client() as client:
        key = client.get("/v1/whoami").json()["result"]["keyId"]
    body = {"name": "events", "sql": "SELECT n, label FROM events WHERE n >= {m:UInt32} ORDER BY n",
            "database": "default", "parameters": {"m": "2"}, "apiKeyIds": [key], "roles": ["sql_console_read_only"],
            "allowedOrigins": ["https://app.example.com"]}
    made = cli.json_of("query-api-endpoint", "create", sid, "--file", cli.file("endpoint.json", body))
    assert made["ownerType"] == "apiKey"
    answer = httpx.post(made["url"], auth=(server.credentials.key_id, server.credentials.key_secret), timeout=60,
                        verify=server.verify)
    assert answer.status_code == 200, answer.text
    assert [json.loads(line) for line in answer.text.splitlines()] == [{"n": 2, "label": "two"}]
    assert "events" in cli.expect(0, "query-api-endpoint", "list", sid)
    reshaped = cli.json_of("query-api-endpoint", "list", sid, "--limit", "1")
    assert [item["id"] for item in reshaped["items"]] == [made["id"]]
    assert reshaped["pagination"]["totalRecords"] == 1
    assert cli.json_of("query-api-endpoint", "get", sid, made["id"])["sql"] == body["sql"]
    assert cli.json_of("query-api-endpoint", "get", sid, "--name", "events")["id"] == made["id"]
    cli.expect(0, "query-api-endpoint", "update", sid, made["id"], "--file", cli.file(
        "renamed.json", body | {"name": "events 2"}))
    cli.expect(0, "query-api-endpoint", "update", sid, "--name", "events 2", "--file", cli.file(
        "all.json", body | {"name": "all events", "parameters": {"m": "0"}}))
    assert api(server, service, f"query-api-endpoints/{made['id']}")["parameters"] == {"m": "0"}
    owned_by(server, made["id"], "user")
    try:
        assert "user" in cli.expect(4, "query-api-endpoint", "update", sid, made["id"], "--file", "all.json")
        cli.expect(4, "query-api-endpoint", "delete", sid, made["id"])
    finally:
        owned_by(server, made["id"], "apiKey")
    assert f"Deleted Query API endpoint {made['id']}" in cli.expect(0, "query-api-endpoint", "delete", sid,
                                                                    made["id"])
    other = cli.json_of("query-api-endpoint", "create", sid, "--file", "endpoint.json")
    cli.expect(0, "query-api-endpoint", "delete", sid, "--name", "events")
    assert api(server, service, "query-api-endpoints") == []
    cli.expect(1, "query-api-endpoint", "get", sid, other["id"])


def owned_by(server: ClickplaneServer, endpoint_id: str, owner_type: str) -> None:
    """Make the endpoint a user's (or the API's again): no API makes one a user's."""
    with server.store() as session:
        row = session.get(QueryApiEndpoint, uuid.UUID(endpoint_id))
        assert row is not None
        row.owner_type = owner_type
        session.commit()


def test_service_snapshot_profile_and_routing_commands(server: ClickplaneServer, service: dict[str, Any],
                                                       cli: NewerCli) -> None:
    sid = service["id"]
    done = clickplane("backup", "create", sid, env=server.env)
    assert done.returncode == 0, done.stderr
    backup = json.loads(done.stdout)
    assert backup["id"] in cli.expect(0, "service", "snapshot", "list", sid)
    assert cli.json_of("service", "snapshot", "get", sid, "--snapshot-id", backup["id"])["status"] == "done"
    cli.expect(1, "service", "snapshot", "get", sid, "--snapshot-id", "none")
    assert cli.json_of("service", "snapshot", "config", "get", sid) == {"enabled": True, "gap": 1440.0,
                                                                       "timeFrame": 1440.0}
    try:
        cli.expect(0, "service", "snapshot", "config", "update", sid, "--gap", "720", "--time-frame", "2880")
        assert api(server, service, "backupConfiguration")["backupPeriodInHours"] == 12
        cli.expect(0, "service", "snapshot", "config", "update", sid, "--enabled", "false")
        assert api(server, service, "snapshotConfiguration")["enabled"] is False
        assert "gap" in cli.expect(1, "service", "snapshot", "config", "update", sid, "--gap", "30", "--time-frame",
                                   "1440")
    finally:
        cli.expect(0, "service", "snapshot", "config", "update", sid, "--enabled", "true", "--gap", "1440",
                   "--time-frame", "1440")

    profiles = cli.json_of("service", "profile", "list", "--region", "us-east-1")
    assert [p["profile"] for p in profiles] == ["v1-default", *(f"v1-highmem-{s}" for s in ("xs", "s", "m", "l", "xl"))]
    cli.expect(1, "service", "profile", "list", "--region", "mars-1")
    cli.expect(1, "service", "profile", "list", "--byoc-id", "b-1")

    assert cli.json_of("service", "replica-aware-routing", "get", sid) == {"httpEnabled": False,
                                                                          "nativeEnabled": False}
    try:
        cli.expect(0, "service", "replica-aware-routing", "update", sid, "--http-enabled", "true")
        assert cli.json_of("service", "replica-aware-routing", "get", "--name", "ctl newer") == {
            "httpEnabled": True, "nativeEnabled": False}
        cli.expect(0, "service", "replica-aware-routing", "update", sid, "--native-enabled", "true")
        assert api(server, service, "replicaAwareRouting") == {"httpEnabled": True, "nativeEnabled": True}
    finally:
        cli.expect(0, "service", "replica-aware-routing", "update", sid, "--http-enabled", "false",
                   "--native-enabled", "false")
