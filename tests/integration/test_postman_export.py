"""`clickplane postman` against a real `clickplane serve`, and the export run by Postman's runner, newman."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import ClickplaneServer, clickplane, free_port

WALKTHROUGH = ("Get list of available organizations", "Get organization details", "Get service details")
SERVICE = {"name": "pm", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": "127.0.0.1"}]}


def find_newman() -> Path | None:
    """newman as the acceptance harness installs it (seed-walkthrough's cache), else as `npx newman` does."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    found = sorted(cache.glob("seed-walkthrough/*/node_modules/.bin/newman"))
    npm = shutil.which("npm")
    if not found and npm:
        npm_cache = subprocess.run([npm, "config", "get", "cache"], capture_output=True, text=True, timeout=60,
                                   check=False).stdout.strip()
        found = sorted(Path(npm_cache).glob("_npx/*/node_modules/.bin/newman")) if npm_cache else []
    return found[0] if found else None


@pytest.fixture(scope="module")
def newman() -> Path:
    found = find_newman()
    if found is None or shutil.which("node") is None:
        pytest.skip("newman not found: run ../shared/acceptance/postman/seed-walkthrough once (it installs newman "
                    "into ~/.cache/seed-walkthrough/), or `npx newman --version`; node must be on PATH")
    return found


@pytest.fixture
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="clickplane-postman-") as directory:
        yield Path(directory)


def executions(report: dict[str, Any]) -> dict[str, tuple[int, Any]]:
    """Each request newman sent, by name: its HTTP status and its JSON body."""
    return {execution["item"]["name"]: (execution["response"]["code"],
                                        json.loads(bytes(execution["response"]["stream"]["data"])))
            for execution in report["run"]["executions"]}


def test_exported_collection_runs_the_walkthrough_requests_with_newman(
        server: ClickplaneServer, newman: Path, scratch: Path) -> None:
    with server.client() as client:
        created = client.post(server.org_path("/services"), json=SERVICE)
    assert created.status_code == 200, created.text
    service_id = created.json()["result"]["service"]["id"]
    credentials = {"CLICKHOUSE_CLOUD_API_KEY": server.credentials.key_id,
                   "CLICKHOUSE_CLOUD_API_SECRET": server.credentials.key_secret}

    exported = clickplane("postman", "--out", str(scratch / "export"), "--service-id", service_id,
                          env={**server.env, **credentials})  # the URL from CLICKPLANE_PORT, the key from env

    assert exported.returncode == 0, exported.stderr
    folders = [argument for name in WALKTHROUGH for argument in ("--folder", name)]
    run = subprocess.run([str(newman), "run", "collection.json", "-e", "environment.json", *folders,
                          "-r", "json", "--reporter-json-export", str(scratch / "report.json")],
                         cwd=scratch / "export", capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads((scratch / "report.json").read_text())
    assert report["run"]["failures"] == []
    sent = executions(report)
    assert sorted(sent) == sorted(WALKTHROUGH)
    assert all(status == 200 and body["status"] == 200 for status, body in sent.values()), sent
    organization_id = server.credentials.organization_id
    assert organization_id in [organization["id"] for organization in sent[WALKTHROUGH[0]][1]["result"]]
    assert sent[WALKTHROUGH[1]][1]["result"]["id"] == organization_id
    assert sent[WALKTHROUGH[2]][1]["result"]["id"] == service_id


def test_a_wrong_secret_is_refused_with_a_message_and_nothing_written(server: ClickplaneServer, scratch: Path) -> None:
    result = clickplane("postman", "--out", str(scratch), "--url", server.base_url,
                        "--key-id", server.credentials.key_id, "--key-secret", "wrong", env=server.env)

    assert result.returncode == 1
    assert "error: the server refused API key" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(scratch.iterdir()) == []


def test_an_unreachable_server_is_reported_without_a_traceback(scratch: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    result = clickplane("postman", "--out", str(scratch), "--url", url, "--key-id", "id", "--key-secret", "secret")

    assert result.returncode == 1
    assert f"error: cannot reach clickplane at {url}" in result.stderr
    assert "Traceback" not in result.stderr
