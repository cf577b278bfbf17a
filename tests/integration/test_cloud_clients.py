"""Clients written for ClickHouse Cloud work by changing only the base URL: Postman (the docs'
walkthrough, through Postman's own importer and runner) and the official clickhousectl CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer
from tests.shared import shared_file


def running_service(server: ClickplaneServer, name: str) -> dict[str, Any]:
    with server.client() as client:
        created = client.post(server.org_path("/services"), json={
            "name": name, "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]})
    assert created.status_code == 200, created.text
    return server.wait_for_state(created.json()["result"]["service"]["id"], "running")


@needs_clickhouse
@pytest.mark.skipif(shutil.which("node") is None, reason="the Postman walkthrough needs Node.js")
def test_postman_walkthrough_passes_against_a_running_service(server: ClickplaneServer) -> None:
    walkthrough = shared_file("acceptance", "postman", "seed-walkthrough")
    service = running_service(server, "postman")
    env = {**os.environ, "BASE_URL": server.base_url, "KEY_ID": server.credentials.key_id,
           "KEY_SECRET": server.credentials.key_secret, "ORG_ID": server.credentials.organization_id,
           "SERVICE_ID": service["id"]}
    run = subprocess.run([str(walkthrough)], env=env, capture_output=True, text=True, timeout=600, check=False)
    lines = run.stdout.strip().splitlines()
    assert lines, f"the walkthrough printed nothing (exit {run.returncode}): {run.stderr}"
    assert lines[-1] == "seed-walkthrough: 9 passed, 0 failed", run.stdout + run.stderr


def clickhousectl_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("clickhousectl")
    return str(beside_python) if beside_python.exists() else shutil.which("clickhousectl")


CLICKHOUSECTL = clickhousectl_binary()


class Cli:
    """clickhousectl run as a user would: from an empty directory, credentials in the environment."""

    def __init__(self, server: ClickplaneServer, workdir: Path) -> None:
        assert CLICKHOUSECTL
        self.command = [CLICKHOUSECTL, "cloud", "--url", f"{server.base_url}/v1"]
        self.workdir = workdir
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "DO_NOT_TRACK": "1",
                    "CLICKHOUSE_CLOUD_API_KEY": server.credentials.key_id,
                    "CLICKHOUSE_CLOUD_API_SECRET": server.credentials.key_secret}

    def run(self, *args: str) -> str:
        done = subprocess.run([*self.command, *args], cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, f"clickhousectl {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json"))


@pytest.fixture
def cli(server: ClickplaneServer) -> Any:
    workdir = Path(tempfile.mkdtemp(prefix="clickhousectl-"))
    try:
        yield Cli(server, workdir)
    finally:
        shutil.rmtree(workdir)


@needs_clickhouse
@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed (pip install clickhousectl)")
def test_clickhousectl_org_and_service_commands(server: ClickplaneServer, cli: Cli) -> None:
    organization_id = server.credentials.organization_id
    assert organization_id in cli.run("org", "list")
    assert [o["id"] for o in cli.json("org", "list")] == [organization_id]
    assert organization_id in cli.run("org", "get")
    assert cli.json("org", "get")["id"] == organization_id

    created = cli.json("service", "create", "--name", "from-clickhousectl")
    service_id = created["service"]["id"]
    assert created["password"]
    assert created["service"]["state"] == "provisioning"
    assert service_id in cli.run("service", "list")
    assert service_id in [s["id"] for s in cli.json("service", "list")]
    server.wait_for_state(service_id, "running")
    assert "running" in cli.run("service", "get", service_id)
    got = cli.json("service", "get", service_id)
    assert got["state"] == "running"
    assert got["clickhouseVersion"]
    assert cli.run("service", "create", "--name", "from-clickhousectl-plain")  # human output, too
