"""The `clickplane` command as a new user meets it."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import httpx

from tests.integration.harness import ClickplaneServer, clickplane


def test_init_twice_fails_and_changes_nothing() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="clickplane-init-"))
    try:
        env = {**os.environ, "CLICKPLANE_DATA_DIR": str(data_dir)}
        first = clickplane("init", "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert set(json.loads(first.stdout)) == {"organizationId", "keyId", "keySecret"}
        store = (data_dir / "clickplane.db").read_bytes()
        second = clickplane("init", "--json", env=env)
        assert second.returncode == 1
        assert "already initialized" in second.stderr
        assert second.stdout == ""
        assert (data_dir / "clickplane.db").read_bytes() == store
    finally:
        shutil.rmtree(data_dir)


def test_serve_on_an_empty_store_prints_working_credentials(fresh_server: ClickplaneServer) -> None:
    shutil.rmtree(fresh_server.data_dir)  # start from nothing, as a new user does
    fresh_server.data_dir.mkdir()
    fresh_server.start()
    printed = (fresh_server.data_dir / "serve.log").read_text()
    key_id = re.search(r"API key ID:\s+(\S+)", printed)
    secret = re.search(r"API key secret:\s+(\S+)", printed)
    organization = re.search(r"Organization ID:\s+(\S+)", printed)
    assert key_id, printed
    assert secret, printed
    assert organization, printed
    assert f"{fresh_server.base_url}/v1" in printed
    answer = httpx.get(f"{fresh_server.base_url}/v1/organizations", auth=(key_id[1], secret[1]))
    assert answer.status_code == 200
    assert answer.json()["result"][0]["id"] == organization[1]
    # The secret is printed once: a restart does not print a new one.
    fresh_server.stop()
    fresh_server.start()
    assert printed.count("API key secret:") == (fresh_server.data_dir / "serve.log").read_text().count(
        "API key secret:")
