"""The official clickhousectl CLI drives scaling schedules, upgrade windows and private endpoints against
clickplane through its HTTP API, from an empty directory, each command with its exit code and each effect
checked through the API or on the service's ClickHouse.

Covered, with exit codes:
- `service scaling-schedule get` (1 before a schedule is set: 404; 0 after), `set --file` (0; by `--name` too;
  1 for overlapping entries, with the server's reason), `delete` (0; 1 once there is none). A set entry in force
  changes the memory limit the service's ClickHouse applies, and `service get` (0) shows it in currentScaling;
  the delete puts the base back;
- `service upgrade-window get` (1 before one is set; 0 after, its integers shown as `weekday: Wednesday (3)` and
  `duration: 6 hours`), `set --weekday --start-hour` (0; 2 for a start hour the CLI does not offer), `delete`
  (0; then get is 1);
- `service private-endpoint get-config` (0), `create --endpoint-id --description` (0; 1 for a GCP id on an AWS
  service, refused by the server; 2 for a malformed id, refused by the CLI before any request).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, delete_services, wait_until
from tests.integration.test_clickhousectl_lifecycle import LifecycleCli, running_cli
from tests.integration.test_cloud_clients import CLICKHOUSECTL

pytestmark = [pytest.mark.integration, needs_clickhouse,
              pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed "
                                 "(pip install clickhousectl)")]

GIB = 1 << 30
ALWAYS = {"name": "always", "weekdays": list(range(7)), "startHourUtc": 0, "endHourUtc": 24,
          "minReplicaMemoryGb": 16, "maxReplicaMemoryGb": 16}


class ServiceCli(LifecycleCli):
    def service_cmd(self, *args: str) -> str:
        return self.run("service", *args)

    def failed(self, *args: str, code: int = 1) -> str:
        done: subprocess.CompletedProcess[str] = self.attempt("service", *args)
        assert done.returncode == code, f"service {' '.join(args)}: rc {done.returncode}: {done.stdout}{done.stderr}"
        return done.stderr + done.stdout

    def file(self, name: str, body: dict[str, Any]) -> str:
        (self.workdir / name).write_text(json.dumps(body))
        return name


@pytest.fixture(scope="module")
def service(server: ClickplaneServer) -> Iterator[dict[str, Any]]:
    created = server.create_service(name="ctl-schedules", idleScaling=False)
    running = server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    try:
        yield running
    finally:
        delete_services(server)
        with server.client() as client:
            endpoints = client.get(server.org_path()).json()["result"]["privateEndpoints"]
            client.patch(server.org_path(), json={"privateEndpoints": {"remove": [
                {"id": endpoint["id"]} for endpoint in endpoints]}})


@pytest.fixture
def cli(server: ClickplaneServer) -> Iterator[ServiceCli]:
    yield from running_cli(ServiceCli, server, "clickhousectl-schedules-")


def memory_limit(service: dict[str, Any]) -> int:
    port = next(e["port"] for e in service["endpoints"] if e["protocol"] == "http")
    answer = httpx.post(f"http://127.0.0.1:{port}/", auth=("default", service["password"]), timeout=10,
                        params={"query": "SELECT value FROM system.settings WHERE name = 'max_memory_usage'"})
    assert answer.status_code == 200, answer.text
    return int(answer.text)


def test_scaling_schedule_get_set_delete(cli: ServiceCli, service: dict[str, Any]) -> None:
    service_id = service["id"]
    assert "no scaling schedule" in cli.failed("scaling-schedule", "get", service_id)
    schedule = cli.file("schedule.json", {"entries": [ALWAYS]})
    made = cli.json("service", "scaling-schedule", "set", service_id, "--file", schedule)
    assert [entry["name"] for entry in made["entries"]] == ["always"]
    wait_until(lambda: memory_limit(service) == 16 * GIB, what="the schedule's memory limit on ClickHouse")
    assert "always" in cli.service_cmd("scaling-schedule", "get", service_id)
    got = cli.json("service", "scaling-schedule", "get", "--name", "ctl-schedules")
    assert got["activeEntryId"] == got["entries"][0]["id"]
    assert got["baseConfig"]["maxReplicaMemoryGb"] == 8
    # `service get` reads the service with its schedule: the base at the top level, the entry's in currentScaling.
    shown = cli.json("service", "get", service_id)
    assert (shown["maxReplicaMemoryGb"], shown["currentScaling"]["effectiveMaxReplicaMemoryGb"]) == (8, 16)
    assert shown["currentScaling"]["activeEntryId"] == got["activeEntryId"]
    assert shown["scalingSchedule"]["activeEntryId"] == got["activeEntryId"]
    assert "ctl-schedules" in cli.service_cmd("get", service_id)
    overlapping = cli.file("overlap.json", {"entries": [ALWAYS, {**ALWAYS, "name": "again"}]})
    assert "overlap" in cli.failed("scaling-schedule", "set", service_id, "--file", overlapping)
    cli.json("service", "scaling-schedule", "set", "--name", "ctl-schedules", "--file", schedule)
    cli.service_cmd("scaling-schedule", "delete", service_id)
    wait_until(lambda: memory_limit(service) == 8 * GIB, what="the base memory limit back on ClickHouse")
    assert "no scaling schedule" in cli.failed("scaling-schedule", "get", service_id)
    assert "no scaling schedule" in cli.failed("scaling-schedule", "delete", service_id)


def test_upgrade_window_get_set_delete(cli: ServiceCli, service: dict[str, Any]) -> None:
    service_id = service["id"]
    assert "no upgrade window" in cli.failed("upgrade-window", "get", service_id)
    assert cli.json("service", "upgrade-window", "set", service_id, "--weekday", "3", "--start-hour", "12") == {
        "weekday": 3, "startHourUtc": 12, "duration": 6}
    shown = cli.service_cmd("upgrade-window", "get", service_id)
    assert "Wednesday (3)" in shown
    assert "6 hours" in shown
    cli.failed("upgrade-window", "set", service_id, "--weekday", "3", "--start-hour", "3", code=2)
    cli.service_cmd("upgrade-window", "delete", service_id)
    assert "no upgrade window" in cli.failed("upgrade-window", "get", service_id)


def test_private_endpoint_get_config_and_create(cli: ServiceCli, server: ClickplaneServer,
                                                service: dict[str, Any]) -> None:
    service_id = service["id"]
    config = cli.json("service", "private-endpoint", "get-config", service_id)
    assert set(config) == {"endpointServiceId", "privateDnsHostname"}
    made = cli.json("service", "private-endpoint", "create", service_id, "--endpoint-id", "vpce-0a1b2c3d",
                    "--description", "from the CLI")
    assert made == {"id": "vpce-0a1b2c3d", "description": "from the CLI", "cloudProvider": "aws",
                    "region": "us-east-1"}
    assert server.service(service_id)["privateEndpointIds"] == ["vpce-0a1b2c3d"]
    assert "vpce-" in cli.failed("private-endpoint", "create", service_id, "--endpoint-id", "123456789")
    assert "8 or 17" in cli.failed("private-endpoint", "create", service_id, "--endpoint-id", "vpce-XYZ", code=2)
    assert server.service(service_id)["privateEndpointIds"] == ["vpce-0a1b2c3d"]
