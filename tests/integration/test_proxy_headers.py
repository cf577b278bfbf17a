"""Whose address a request has: the connection's, unless the operator names the proxy it came through.

A key restricted to 10.0.0.1 must not be usable from 127.0.0.1 by adding `X-Forwarded-For: 10.0.0.1`, and the
activity log must not record whatever that header says. With CLICKPLANE_TRUSTED_PROXIES naming the proxy, its
X-Forwarded-For is believed, but only when it holds an IP address.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.harness import ClickplaneServer, Credentials

ADMIN_ROLE = "00000000-0000-4000-8000-000000000001"


def restricted_key(server: ClickplaneServer, source: str) -> Credentials:
    with server.client() as admin:
        made = admin.post(server.org_path("/keys"), json={
            "name": f"restricted {uuid.uuid4().hex[:6]}", "assignedRoleIds": [ADMIN_ROLE],
            "ipAccessList": [{"source": source}]})
    assert made.status_code == 200, made.text
    result = made.json()["result"]
    return Credentials(server.credentials.organization_id, result["keyId"], result["keySecret"])


def address_recorded_for(server: ClickplaneServer, forwarded_for: str) -> str | None:
    """The actorIpAddress of the activity of a key created by a request saying `X-Forwarded-For: forwarded_for`."""
    with server.client() as admin:
        made = admin.post(server.org_path("/keys"), json={"name": f"key {uuid.uuid4().hex[:6]}"},
                          headers={"X-Forwarded-For": forwarded_for})
        assert made.status_code == 200, made.text
        activities = admin.get(server.org_path("/activities")).json()["result"]
    key_id = made.json()["result"]["key"]["id"]
    activity: dict[str, Any] = next(a for a in activities if a["type"] == "key_create" and a["targetKeyId"] == key_id)
    return activity.get("actorIpAddress")  # absent when unknown


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(server: ClickplaneServer) -> None:
    key = restricted_key(server, "10.0.0.1")
    with server.client(key) as client:
        whoami = client.get("/v1/whoami", headers={"X-Forwarded-For": "10.0.0.1"})
        query = client.post(f"/service/{uuid.uuid4()}/run", json={"sql": "SELECT 1"},
                            headers={"X-Forwarded-For": "10.0.0.1"})
    assert whoami.status_code == 403, whoami.text
    assert "may not be used from address 127.0.0.1" in whoami.json()["error"]
    assert query.status_code == 403, query.text

    assert address_recorded_for(server, "not an ip at all") == "127.0.0.1"
    assert address_recorded_for(server, "10.0.0.1") == "127.0.0.1"


def test_a_trusted_proxy_gives_the_clients_address_when_it_is_one(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_TRUSTED_PROXIES"] = "127.0.0.1, ::1"
    fresh_server.start()
    key = restricted_key(fresh_server, "10.0.0.1")
    with fresh_server.client(key) as client:
        through_proxy = client.get("/v1/whoami", headers={"X-Forwarded-For": "10.0.0.1"})
        nonsense = client.get("/v1/whoami", headers={"X-Forwarded-For": "not an ip at all"})
        direct = client.get("/v1/whoami")
    assert through_proxy.status_code == 200, through_proxy.text
    assert nonsense.status_code == 403, nonsense.text
    assert direct.status_code == 403, direct.text

    assert address_recorded_for(fresh_server, "192.0.2.7") == "192.0.2.7"
    assert address_recorded_for(fresh_server, "not an ip at all") is None


def test_a_trusted_proxies_setting_that_is_no_address_stops_serve(fresh_server: ClickplaneServer) -> None:
    fresh_server.settings["CLICKPLANE_TRUSTED_PROXIES"] = "127.0.0.1, proxy.example"
    with pytest.raises(AssertionError, match="clickplane serve exited with 1"):
        fresh_server.start()
    assert "trusted_proxies: 'proxy.example' is not an IP address or network" in fresh_server.log()
