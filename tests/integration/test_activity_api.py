"""The activities API: the organization's changes, newest first, filtered by date, over HTTP and clickhousectl."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import ClickplaneServer
from tests.integration.test_cloud_clients import CLICKHOUSECTL, Cli


def rename_twice(server: ClickplaneServer, client: httpx.Client, name: str) -> None:
    """Two organization_update_name activities: a rename to `name` and back."""
    original = client.get(server.org_path()).json()["result"]["name"]
    for new_name in (name, original):
        assert client.patch(server.org_path(), json={"name": new_name}).status_code == 200


def activities(client: httpx.Client, path: str, **dates: str) -> list[dict[str, Any]]:
    response = client.get(path, params=dates)
    assert response.status_code == 200, response.text
    return response.json()["result"]  # type: ignore[no-any-return]


def new_renames(client: httpx.Client, path: str, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The renames listed now that were not listed `before`, in list order."""
    seen = {activity["id"] for activity in before}
    return [a for a in activities(client, path) if a["type"] == "organization_update_name" and a["id"] not in seen]


def test_changes_are_listed_newest_first_with_their_actor_and_read_one_by_one(server: ClickplaneServer) -> None:
    path = server.org_path("/activities")
    with server.client() as client:
        before = activities(client, path)
        rename_twice(server, client, "audited org")
        key_id = client.get("/v1/whoami").json()["result"]["keyId"]
        listed = activities(client, path)
        assert [a["createdAt"] for a in listed] == sorted((a["createdAt"] for a in listed), reverse=True)
        renames = new_renames(client, path, before)
        assert len(renames) == 2
        newest = renames[0]
        assert newest["actorType"] == "api"
        assert newest["actorId"] == key_id
        assert newest["actorIpAddress"] == "127.0.0.1"
        assert newest["userAgent"].startswith("python-httpx/")
        assert newest["organizationId"] == server.credentials.organization_id
        assert newest["createdAt"].endswith("Z")
        assert not {"serviceId", "targetKeyId", "keyUpdateType"} & newest.keys()  # absent, not null
        single = client.get(f"{path}/{newest['id']}")
        assert single.status_code == 200
        assert single.json()["result"] == newest
        for unknown in ("00000000-0000-4000-8000-000000000000", "not-an-id"):
            missing = client.get(f"{path}/{unknown}")
            assert missing.status_code == 404
            assert missing.json()["error"].startswith("NOT_FOUND: activity")


def test_dates_and_date_times_select_a_range_with_both_ends_included(server: ClickplaneServer) -> None:
    path = server.org_path("/activities")
    with server.client() as client:
        rename_twice(server, client, "dated org")
        newest = activities(client, path)[0]
        moment = newest["createdAt"]
        today = moment[:10]
        tomorrow = (datetime.fromisoformat(moment) + timedelta(days=1)).date().isoformat()
        yesterday = (datetime.fromisoformat(moment) - timedelta(days=1)).date().isoformat()
        assert newest in activities(client, path, from_date=today, to_date=today)
        assert newest in activities(client, path, from_date=moment, to_date=moment)
        assert newest in activities(client, path, to_date=moment.replace("Z", "+00:00"))
        assert newest not in activities(client, path, to_date=yesterday)
        assert activities(client, path, from_date=tomorrow) == []
        bad = client.get(path, params={"from_date": "last week"})
        assert bad.status_code == 400
        assert bad.json()["error"].startswith("BAD_REQUEST: from_date 'last week' is neither a date")
        backwards = client.get(path, params={"from_date": today, "to_date": yesterday})
        assert backwards.status_code == 400
        assert f"from_date {today} is after to_date {yesterday}" in backwards.json()["error"]


def test_another_organizations_activities_are_not_visible(server: ClickplaneServer) -> None:
    other = server.create_organization("activity neighbours")
    with server.client(other) as theirs, server.client() as ours:
        their_path = f"/v1/organizations/{other.organization_id}"
        assert theirs.patch(their_path, json={"name": "neighbours renamed"}).status_code == 200
        their_activity = activities(theirs, f"{their_path}/activities")[0]
        assert their_activity["organizationId"] == other.organization_id
        assert ours.get(server.org_path(f"/activities/{their_activity['id']}")).status_code == 404
        assert ours.get(f"{their_path}/activities").status_code == 404
        assert their_activity["id"] not in {a["id"] for a in activities(ours, server.org_path("/activities"))}


@pytest.mark.skipif(CLICKHOUSECTL is None, reason="clickhousectl is not installed")
def test_clickhousectl_lists_and_gets_activities(server: ClickplaneServer, tmp_path: Path) -> None:
    cli = Cli(server, tmp_path)
    path = server.org_path("/activities")
    with server.client() as client:
        before = activities(client, path)
        rename_twice(server, client, "cli audited org")
        newest = new_renames(client, path, before)[0]
    assert newest in cli.json("activity", "list")
    today = newest["createdAt"][:10]
    assert newest in cli.json("activity", "list", "--from-date", today, "--to-date", today)
    assert cli.json("activity", "get", newest["id"]) == newest
    table = cli.run("activity", "list")
    assert newest["id"] in table
    assert "organization_update_name" in cli.run("activity", "get", newest["id"])
