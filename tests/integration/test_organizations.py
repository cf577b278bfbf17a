"""Organizations: the key's own organization only; update persists."""

from __future__ import annotations

from tests.integration.harness import ClickplaneServer


def test_list_and_get_show_the_keys_organization(server: ClickplaneServer) -> None:
    with server.client() as client:
        listed = client.get("/v1/organizations").json()
        single = client.get(server.org_path()).json()
    assert listed["status"] == 200
    assert [o["id"] for o in listed["result"]] == [server.credentials.organization_id]
    organization = single["result"]
    assert organization["id"] == server.credentials.organization_id
    assert organization["createdAt"].endswith("Z")
    assert organization["privateEndpoints"] == []


def test_update_renames_and_an_empty_patch_changes_nothing(server: ClickplaneServer) -> None:
    with server.client() as client:
        original = client.get(server.org_path()).json()["result"]
        renamed = client.patch(server.org_path(), json={"name": "renamed org", "enableCoreDumps": False})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["result"]["name"] == "renamed org"
        unchanged = client.patch(server.org_path(), json={})
        assert unchanged.json()["result"]["name"] == "renamed org"
        assert client.get(server.org_path()).json()["result"]["enableCoreDumps"] is False
        client.patch(server.org_path(), json={"name": original["name"], "enableCoreDumps": True})


def test_update_refuses_an_empty_name(server: ClickplaneServer) -> None:
    with server.client() as client:
        response = client.patch(server.org_path(), json={"name": ""})
    assert response.status_code == 400
    assert response.json()["error"].startswith("BAD_REQUEST: name")
