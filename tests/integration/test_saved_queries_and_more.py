"""The endpoints clickhousectl calls that the reference lacks, through HTTP on a real clickplane over a real ClickHouse
service: saved queries and Query API endpoints (their SQL checked on the service, their pages, their names), an
endpoint's URL running its SQL for the keys it lists, snapshots and their configuration over the service's backups,
service profiles, and replica-aware routing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clickplane.store.models import QueryApiEndpoint
from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, clickplane, delete_services
from tests.integration.test_clickstack_alerts import clickhouse

pytestmark = [pytest.mark.integration, needs_clickhouse]

ADMIN_ROLE = "00000000-0000-4000-8000-000000000001"
EVENTS = "CREATE TABLE default.events (n UInt32, label String) ENGINE = MergeTree ORDER BY n"


class Api:
    def __init__(self, server: ClickplaneServer, service: dict[str, Any], client: httpx.Client) -> None:
        self.server, self.service, self.client = server, service, client

    def path(self, suffix: str) -> str:
        return self.server.org_path(f"/services/{self.service['id']}/{suffix}")

    def send(self, method: str, suffix: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.client.request(method, self.path(suffix), json=body, params=params)

    def result(self, method: str, suffix: str, body: Any = None, **params: Any) -> Any:
        response = self.send(method, suffix, body, **params)
        assert response.status_code == 200, response.text
        return response.json().get("result")

    def refused(self, response: httpx.Response, status: int, *words: str) -> None:
        assert response.status_code == status, response.text
        for word in words:
            assert word in response.json()["error"], response.text


@pytest.fixture(scope="module")
def api(server: ClickplaneServer) -> Iterator[Api]:
    created = server.create_service(name="newer")
    service = server.wait_for_state(created["service"]["id"], "running") | {"password": created["password"]}
    try:
        clickhouse(service, EVENTS)
        clickhouse(service, "INSERT INTO default.events VALUES (1, 'one'), (2, 'two'), (3, 'three')")
        with server.client() as client:
            yield Api(server, service, client)
    finally:
        delete_services(server)


@pytest.fixture
def second_key(server: ClickplaneServer, api: Api) -> Iterator[dict[str, Any]]:
    made = api.client.post(server.org_path("/keys"), json={"name": "runner", "assignedRoleIds": [ADMIN_ROLE]})
    assert made.status_code == 200, made.text
    key = made.json()["result"]
    try:
        yield key
    finally:
        assert api.client.delete(server.org_path(f"/keys/{key['key']['id']}")).status_code == 200


def saved(name: str, sql: str = "SELECT n FROM events", **fields: Any) -> dict[str, Any]:
    return {"name": name, "sql": sql, "database": "default", **fields}


def test_a_saved_query_is_checked_on_the_service_and_replaced_whole(api: Api) -> None:
    made = api.result("POST", "saved-queries", saved("by label", "SELECT n FROM events WHERE label = {l:String}",
                                                     parameters={"l": "two"}))
    try:
        assert made["parameters"] == {"l": "two"}
        assert made["database"] == "default"
        assert api.result("GET", f"saved-queries/{made['id']}") == made
        api.refused(api.send("POST", "saved-queries", saved("by label")), 409, "already has a saved query")
        api.refused(api.send("POST", "saved-queries", saved("no db", database="nowhere")), 400, "nowhere",
                    "does not exist")
        api.refused(api.send("POST", "saved-queries", saved("typo", "SELEC n FROM events")), 400, "Syntax error")
        api.refused(api.send("POST", "saved-queries", saved("column", "SELECT nope FROM events")), 400, "nope")
        api.refused(api.send("POST", "saved-queries", saved("table", "SELECT 1 FROM missing")), 400, "missing")
        api.refused(api.send("POST", "saved-queries", saved("unfilled", "SELECT {x:UInt8}")), 400, "x", "no value")
        api.refused(api.send("POST", "saved-queries", saved("unused", parameters={"y": "1"})), 400, "y")
        api.refused(api.send("POST", "saved-queries", saved(" ")), 400, "name")
        api.refused(api.send("POST", "saved-queries", saved("extra", extra=1)), 400, "extra")
        # A statement that writes is checked for its syntax only, and never run.
        ddl = api.result("POST", "saved-queries", saved("ddl", "CREATE TABLE made (a UInt8) ENGINE = Memory;"))
        assert clickhouse(api.service, "EXISTS TABLE default.made") == "0"
        api.result("DELETE", f"saved-queries/{ddl['id']}")
        # A replace keeps nothing: parameters left out are gone, so placeholders must go too.
        api.refused(api.send("PUT", f"saved-queries/{made['id']}", saved("by label", "SELECT {l:String}")), 400,
                    "l")
        replaced = api.result("PUT", f"saved-queries/{made['id']}", saved("all", "SELECT count() FROM events"))
        assert replaced == {"id": made["id"], "name": "all", "sql": "SELECT count() FROM events",
                            "database": "default", "parameters": {}}
    finally:
        assert api.send("DELETE", f"saved-queries/{made['id']}").status_code == 200
    api.refused(api.send("GET", f"saved-queries/{made['id']}"), 404, made["id"])
    api.refused(api.send("DELETE", f"saved-queries/{made['id']}"), 404)


def test_lists_are_paged_by_cursor_without_repeating_an_id(api: Api) -> None:
    ids = [api.result("POST", "saved-queries", saved(f"paged {n}"))["id"] for n in range(5)]
    try:
        everything = api.client.get(api.path("saved-queries")).json()
        assert [item["id"] for item in everything["result"]] == ids
        assert "nextCursor" not in everything
        assert set(everything["result"][0]) == {"id", "name", "database"}
        seen, cursor = [], None
        while True:
            page = api.send("GET", "saved-queries", limit=2, **({"cursor": cursor} if cursor else {})).json()
            assert page["limit"] == 2
            assert page["totalCount"] == 5
            seen += [item["id"] for item in page["result"]]
            cursor = page.get("nextCursor")
            if cursor is None:
                break
        assert seen == ids
        for limit in (0, 101):
            api.refused(api.send("GET", "saved-queries", limit=limit), 400, "limit")
        api.refused(api.send("GET", "saved-queries", cursor="nothing"), 400, "cursor")
    finally:
        for query_id in ids:
            api.result("DELETE", f"saved-queries/{query_id}")


def endpoint_body(name: str, keys: list[str], **fields: Any) -> dict[str, Any]:
    return {"name": name, "sql": "SELECT n, label FROM events WHERE n >= {min:UInt32} ORDER BY n",
            "database": "default", "parameters": {"min": "2"}, "apiKeyIds": keys, "roles": ["sql_console_read_only"],
            **fields}


def run(server: ClickplaneServer, url: str, auth: tuple[str, str], body: Any = None, **headers: str
        ) -> httpx.Response:
    assert url.startswith(server.base_url)
    return httpx.post(url, json=body, auth=auth, headers=headers, timeout=60, verify=server.verify)


def preflight_of(server: ClickplaneServer, url: str, origin: str | None) -> httpx.Response:
    """The OPTIONS a browser sends before a run from a page of `origin`."""
    headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    return httpx.options(url, headers=headers | ({"Origin": origin} if origin else {}), timeout=10,
                         verify=server.verify)


def rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_a_query_api_endpoints_url_runs_its_sql_for_the_keys_it_lists(server: ClickplaneServer, api: Api,
                                                                      second_key: dict[str, Any]) -> None:
    own = (server.credentials.key_id, server.credentials.key_secret)
    other = (second_key["keyId"], second_key["keySecret"])
    mine = api.client.get("/v1/whoami").json()["result"]["keyId"]
    api.refused(api.send("POST", "query-api-endpoints", endpoint_body("e", [str(uuid.uuid4())])),  # no key's id
                400, "apiKeyIds")
    api.refused(api.send("POST", "query-api-endpoints", endpoint_body("e", [])), 400, "apiKeyIds")
    api.refused(api.send("POST", "query-api-endpoints", endpoint_body("e", [mine], roles=[])), 400, "roles")
    api.refused(api.send("POST", "query-api-endpoints", endpoint_body("e", [mine], allowedOrigins="x")), 400)
    made = api.result("POST", "query-api-endpoints", endpoint_body(
        "from two", [mine], allowedOrigins=["https://app.example.com"]))
    try:
        assert made["ownerType"] == "apiKey"
        assert made["apiKeyIds"] == [mine]
        assert made["url"] == f"{server.base_url}/.well-known/runQuery/{made['id']}"
        listed = api.result("GET", "query-api-endpoints")
        assert [item["id"] for item in listed] == [made["id"]]
        assert "sql" not in listed[0]
        assert rows(run(server, made["url"], own)) == [{"n": 2, "label": "two"}, {"n": 3, "label": "three"}]
        assert rows(run(server, made["url"], own, {"queryVariables": {"min": "3"}})) == [{"n": 3, "label": "three"}]
        assert rows(run(server, made["url"], own, {"queryVariables": {"min": 3}})) == [{"n": 3, "label": "three"}]
        # The value is a literal, whatever it holds; one of the wrong type is ClickHouse's to refuse.
        assert run(server, made["url"], own, {"queryVariables": {"min": "1') OR (1"}}).status_code == 400
        compact = run(server, made["url"] + "?format=CSV", own)
        assert compact.text.splitlines() == ['2,"two"', '3,"three"']
        assert run(server, made["url"], other).status_code == 403
        allowed = run(server, made["url"], own, Origin="https://app.example.com")
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        assert run(server, made["url"], own, Origin="https://evil.example.com").status_code == 403
        # A browser's preflight, with no credentials: what the run takes, for an allowed origin only; an unknown
        # endpoint is refused alike.
        preflight = preflight_of(server, made["url"], "https://app.example.com")
        assert preflight.status_code == 204, preflight.text
        assert (preflight.headers["access-control-allow-origin"], preflight.headers["access-control-allow-methods"]
                ) == ("https://app.example.com", "POST")
        assert {"authorization", "content-type"} <= set(
            preflight.headers["access-control-allow-headers"].replace(" ", "").split(","))
        for url, origin in ((made["url"], "https://evil.example.com"), (made["url"], None),
                            (made["url"].replace(made["id"], str(uuid.uuid4())), "https://app.example.com")):
            refused = preflight_of(server, url, origin)
            assert refused.status_code == 403, refused.text
            assert "access-control-allow-origin" not in refused.headers
        # Read-only unless the endpoint has sql_console_admin: an INSERT is accepted (syntax), refused when run.
        writer = api.result("PUT", f"query-api-endpoints/{made['id']}", endpoint_body(
            "writer", [mine, second_key["key"]["id"]], sql="INSERT INTO events VALUES (9, 'nine')", parameters={}))
        assert writer["url"] == made["url"]
        assert writer["allowedOrigins"] == []
        refused = run(server, writer["url"], other)
        assert refused.status_code == 403, refused.text
        assert "readonly" in refused.text
        assert clickhouse(api.service, "SELECT count() FROM default.events") == "3"
        # A user's endpoint may be read, not changed.
        with server.store() as session:
            row = session.get(QueryApiEndpoint, uuid.UUID(made["id"]))
            assert row is not None
            row.owner_type = "user"
            session.commit()
        assert api.result("GET", f"query-api-endpoints/{made['id']}")["ownerType"] == "user"
        api.refused(api.send("PUT", f"query-api-endpoints/{made['id']}", endpoint_body("e", [mine])), 403, "user")
        api.refused(api.send("DELETE", f"query-api-endpoints/{made['id']}"), 403, "user")
    finally:
        with server.store() as session:
            row = session.get(QueryApiEndpoint, uuid.UUID(made["id"]))
            if row is not None:
                row.owner_type = "apiKey"
                session.commit()
        assert api.send("DELETE", f"query-api-endpoints/{made['id']}").status_code == 200
    assert run(server, made["url"], own).status_code == 404


def test_snapshots_are_the_services_backups_and_their_configuration_its_schedule(server: ClickplaneServer,
                                                                                  api: Api) -> None:
    assert api.result("GET", "snapshotConfiguration") == {"enabled": True, "gap": 1440.0, "timeFrame": 1440.0}
    done = clickplane("backup", "create", api.service["id"], env=server.env)
    assert done.returncode == 0, done.stderr
    backups = api.result("GET", "backups")
    assert api.result("GET", "snapshots") == backups
    assert backups
    assert api.result("GET", f"snapshots/{backups[0]['id']}") == backups[0]
    api.refused(api.send("GET", "snapshots/not-an-id"), 404, "not-an-id")
    try:
        changed = api.result("PATCH", "snapshotConfiguration", {"gap": 720.0, "timeFrame": 2880})
        assert changed == {"enabled": True, "gap": 720.0, "timeFrame": 2880.0}
        assert api.result("GET", "backupConfiguration")["backupPeriodInHours"] == 12
        assert api.result("GET", "backupConfiguration")["backupRetentionPeriodInHours"] == 48
        assert api.result("PATCH", "snapshotConfiguration", {"enabled": False})["enabled"] is False
        assert api.result("GET", "snapshotConfiguration") == {"enabled": False, "gap": 720.0, "timeFrame": 2880.0}
        api.refused(api.send("PATCH", "snapshotConfiguration", {"gap": 30}), 400, "gap", "360")
        api.refused(api.send("PATCH", "snapshotConfiguration", {"timeFrame": 100.5}), 400, "timeFrame")
        api.refused(api.send("PATCH", "snapshotConfiguration", {"enabled": "yes"}), 400, "enabled")
    finally:
        api.result("PATCH", "snapshotConfiguration", {"enabled": True, "gap": 1440, "timeFrame": 1440})


def test_service_profiles_of_a_region(server: ClickplaneServer, api: Api) -> None:
    path = server.org_path("/serviceProfiles")
    profiles = api.client.get(path, params={"region_id": "us-east-1"}).json()["result"]
    assert [p["profile"] for p in profiles] == ["v1-default", "v1-highmem-xs", "v1-highmem-s", "v1-highmem-m",
                                                 "v1-highmem-l", "v1-highmem-xl"]
    assert all(p["memoryGi"] == 8 and p["cpuCores"] == 2 for p in profiles)
    for params, word in (({"region_id": "mars-1"}, "mars-1"), ({}, "region_id"),
                         ({"byoc_id": "b-1"}, "b-1")):
        api.refused(api.client.get(path, params=params), 400, word)


def test_replica_aware_routing_is_kept_per_service(api: Api) -> None:
    assert api.result("GET", "replicaAwareRouting") == {"httpEnabled": False, "nativeEnabled": False}
    try:
        assert api.result("PATCH", "replicaAwareRouting", {"httpEnabled": True}) == {
            "httpEnabled": True, "nativeEnabled": False}
        assert api.result("PATCH", "replicaAwareRouting", {"nativeEnabled": True}) == {
            "httpEnabled": True, "nativeEnabled": True}
        api.refused(api.send("PATCH", "replicaAwareRouting", {"httpEnabled": 1}), 400, "httpEnabled")
    finally:
        api.result("PATCH", "replicaAwareRouting", {"httpEnabled": False, "nativeEnabled": False})
