"""API keys through the official CLI and over HTTP: create (generated or from hashes), list with paging,
get, update, disable, delete; `auth whoami/status/login`."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import ClickplaneServer, Credentials
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli

needs_cli = pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed")


def attempt(cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cli.command, *args], cwd=cli.workdir, env=cli.env, capture_output=True, text=True,
                          timeout=60, check=False)


@needs_cli
def test_clickhousectl_manages_keys_and_knows_who_it_is(server: ClickplaneServer, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    me = cli.json("auth", "whoami")
    assert me["actorType"] == "apiKey"
    assert me["organizationId"] == server.credentials.organization_id
    uuid.UUID(me["keyId"])
    assert "apiKey" in cli.run("auth", "status")

    name = f"ci-{uuid.uuid4().hex[:8]}"
    created = cli.json("key", "create", "--name", name, "--role-id", "00000000-0000-4000-8000-000000000002")
    key_uuid, key_id, secret = created["key"]["id"], created["keyId"], created["keySecret"]
    assert created["key"]["assignedRoles"][0]["roleName"] == "Developer"
    assert key_uuid in [k["id"] for k in cli.json("key", "list")["result"]]
    assert cli.json("key", "get", key_uuid)["name"] == name
    renamed = cli.json("key", "update", "--name", name, "--new-name", name + "-2")
    assert renamed["name"] == name + "-2"

    # The new key works as itself, with its role: it may read, not change.
    other = Cli(server, tmp_path)
    other.env = {**other.env, "CLICKHOUSE_CLOUD_API_KEY": key_id, "CLICKHOUSE_CLOUD_API_SECRET": secret}
    assert other.json("auth", "whoami")["keyId"] == key_uuid
    refused = attempt(other, "key", "create", "--name", "not-allowed")
    assert refused.returncode == 4, refused.stderr  # the CLI's exit status for 401/403

    cli.run("key", "update", key_uuid, "--state", "disabled")
    inactive = attempt(other, "auth", "whoami")
    assert inactive.returncode == 4
    assert "Key is not active" in inactive.stderr
    cli.run("key", "delete", key_uuid)
    assert key_uuid not in [k["id"] for k in cli.json("key", "list")["result"]]
    itself = attempt(cli, "key", "delete", me["keyId"])
    assert itself.returncode == 1
    assert "cannot delete itself" in itself.stderr


@needs_cli
def test_key_list_pages_with_cursors_and_the_cli_follows_them(server: ClickplaneServer, tmp_path: Path) -> None:
    org = server.create_organization("paging")
    cli = Cli(server, tmp_path)
    cli.env = {**cli.env, "CLICKHOUSE_CLOUD_API_KEY": org.key_id, "CLICKHOUSE_CLOUD_API_SECRET": org.key_secret}
    with server.client(org) as client:
        for index in range(4):
            assert client.post(f"/v1/organizations/{org.organization_id}/keys",
                               json={"name": f"k{index}"}).status_code == 200
        first = client.get(f"/v1/organizations/{org.organization_id}/keys", params={"limit": 2}).json()
    assert (len(first["result"]), first["limit"], first["totalCount"]) == (2, 2, 5)
    assert first["nextCursor"]
    everything = cli.run("key", "list", "--all")
    assert all(f"k{index}" in everything for index in range(4))
    paged = json.loads(cli.run("key", "list", "--limit", "2", "--cursor", first["nextCursor"], "--json"))
    assert [k["name"] for k in paged["result"]] == ["k1", "k2"]


def digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_a_key_made_from_hashes_never_sends_its_secret_and_authenticates(server: ClickplaneServer) -> None:
    key_id, secret = "client" + uuid.uuid4().hex[:14], uuid.uuid4().hex + uuid.uuid4().hex
    with server.client() as client:
        made = client.post(server.org_path("/keys"), json={
            "name": f"hashed-{key_id}", "hashData": {"keyIdHash": digest(key_id), "keyIdSuffix": key_id[-4:],
                                                      "keySecretHash": digest(secret)}})
        assert made.status_code == 200, made.text
        result: dict[str, Any] = made.json()["result"]
        assert "keyId" not in result
        assert "keySecret" not in result
        assert result["key"]["keySuffix"] == key_id[-4:]
        again = client.post(server.org_path("/keys"), json={"name": "dup", "hashData": {
            "keyIdHash": digest(key_id), "keyIdSuffix": key_id[-4:], "keySecretHash": digest(secret)}})
        assert again.status_code == 409
    whoami = httpx.get(f"{server.base_url}/v1/whoami", auth=(key_id, secret))
    assert whoami.status_code == 200
    assert whoami.json()["result"]["keyId"] == result["key"]["id"]
    assert httpx.get(f"{server.base_url}/v1/whoami", auth=(key_id, secret + "x")).status_code == 401


def test_an_expired_key_is_not_active(server: ClickplaneServer) -> None:
    with server.client() as client:
        past = client.post(server.org_path("/keys"), json={"name": "late", "expireAt": "2020-01-01T00:00:00Z"})
    assert past.status_code == 400
    assert "expireAt" in past.json()["error"]


def test_an_organization_holds_at_most_100_keys(server: ClickplaneServer) -> None:
    org: Credentials = server.create_organization("crowded")
    path = f"/v1/organizations/{org.organization_id}/keys"
    with server.client(org) as client:
        for index in range(99):  # the admin key is the first
            assert client.post(path, json={"name": f"n{index}"}).status_code == 200
        refused = client.post(path, json={"name": "one-too-many"})
    assert refused.status_code == 400
    assert "100 API keys" in refused.json()["error"]
