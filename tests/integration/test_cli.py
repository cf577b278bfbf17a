"""The `clickplane` command as a new user meets it."""

from __future__ import annotations

import json
import re
import shutil

import httpx

from tests.integration.harness import ClickplaneServer, clickplane, new_store, store_contents, store_env
from tests.stores import drop_database


def test_init_twice_fails_and_changes_nothing() -> None:
    data_dir, database_url = new_store()
    try:
        env = store_env(data_dir, database_url)
        first = clickplane("init", "--json", env=env)
        assert first.returncode == 0, first.stderr
        assert set(json.loads(first.stdout)) == {"organizationId", "keyId", "keySecret"}
        before = store_contents(database_url)
        assert before["organizations"]
        assert before["api_keys"]
        second = clickplane("init", "--json", env=env)
        assert second.returncode == 1
        assert "already initialized" in second.stderr
        assert second.stdout == ""
        assert store_contents(database_url) == before
    finally:
        shutil.rmtree(data_dir)
        drop_database(database_url)


def test_serve_on_an_empty_store_prints_working_credentials(fresh_server: ClickplaneServer) -> None:
    fresh_server.empty()  # start from nothing, as a new user does
    fresh_server.start()
    printed = fresh_server.log()
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
    assert printed.count("API key secret:") == fresh_server.log().count("API key secret:")
