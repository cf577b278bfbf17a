"""The Query API's security (issue 12, item 2): `POST /service/{id}/run` needs `sql-console:query-endpoints:use`
on the service as well as the endpoint binding, and runs each key's SQL as a ClickHouse user of that key and
the endpoint's role, under the service's own settings: never as the control plane's internal user. A
read-only caller cannot write, and cannot kill another caller's query. Every effect is read from the
service's ClickHouse itself."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer, Credentials, wait_until
from tests.integration.test_query_api import (
    ServiceKeeper,
    answer,
    assert_envelope,
    bind,
    kill_directly,
    query,
    running_queries,
    succeeds,
)

pytestmark = needs_clickhouse

DEVELOPER_ROLE = "00000000-0000-4000-8000-000000000002"
QUERY_ENDPOINTS_ROLE = "00000000-0000-4000-8000-000000000003"
QUERY_ENDPOINTS = "sql-console:query-endpoints:use"
INTERNAL_USER = "clickplane"
# Runs until killed, and sends nothing before it ends.
ENDLESS_SQL = "SELECT count() FROM system.numbers"

MakeKey = Callable[..., tuple[Credentials, str]]


def policy(effect: str, resource: str) -> dict[str, Any]:
    return {"allowDeny": effect, "permissions": [QUERY_ENDPOINTS], "resources": [resource]}


def assert_refused_for_the_permission(response: httpx.Response, service_id: str) -> None:
    assert_envelope(response, 403, "FORBIDDEN: ")
    error = response.json()["error"]
    assert QUERY_ENDPOINTS in error, error
    assert f"instance/{service_id}" in error, error


def user_of(server: ClickplaneServer, service_id: str, credentials: Credentials) -> str:
    """The ClickHouse user a query sent through the Query API runs as, as ClickHouse itself lists it
    (18.16 has neither currentUser() nor user(): the query finds itself in system.processes by its id)."""
    run_id = str(uuid.uuid4())
    sql = f"SELECT user FROM system.processes WHERE query_id = '{run_id}'"  # noqa: S608 - our own uuid
    return succeeds(server, service_id, sql, run_id=run_id, credentials=credentials).strip()


@pytest.fixture
def keeper(server: ClickplaneServer) -> Iterator[ServiceKeeper]:
    kept = ServiceKeeper(server)
    try:
        yield kept
    finally:
        kept.remove_all()


@pytest.fixture(scope="module")
def service(server: ClickplaneServer) -> Iterator[tuple[dict[str, Any], str]]:
    """One running service for the tests that leave its settings alone."""
    kept = ServiceKeeper(server)
    try:
        yield kept.running("query-security")
    finally:
        kept.remove_all()


@pytest.fixture
def make_key(server: ClickplaneServer) -> Iterator[MakeKey]:
    """Makes keys (and custom roles) of the server's organization with the given roles; removes them after."""
    made: list[str] = []
    with server.client() as admin:

        def make(*role_ids: str, policies: list[dict[str, Any]] | None = None) -> tuple[Credentials, str]:
            roles = list(role_ids)
            if policies is not None:
                role = admin.post(server.org_path("/roles"), json={
                    "name": f"query-{uuid.uuid4().hex[:8]}", "actors": [], "policies": policies})
                assert role.status_code == 200, role.text
                roles.append(role.json()["result"]["id"])
                made.append(f"/roles/{roles[-1]}")
            created = admin.post(server.org_path("/keys"), json={
                "name": f"query-{uuid.uuid4().hex[:8]}", "assignedRoleIds": roles})
            assert created.status_code == 200, created.text
            result = created.json()["result"]
            made.insert(0, f"/keys/{result['key']['id']}")  # keys go before the roles they hold
            return (Credentials(server.credentials.organization_id, result["keyId"], result["keySecret"]),
                    str(result["key"]["id"]))

        try:
            yield make
        finally:
            for path in made:
                assert admin.delete(server.org_path(path)).status_code == 200, path


# --- the permission ------------------------------------------------------------------------------------------

def test_a_bound_key_without_roles_is_refused(server: ClickplaneServer, service: tuple[dict[str, Any], str],
                                              make_key: MakeKey) -> None:
    (details, password), (credentials, key_id) = service, make_key()
    bind(server, details["id"], key_id)
    refused = query(server, details["id"], "CREATE TABLE by_nobody (n UInt8) ENGINE = TinyLog",
                    credentials=credentials)
    assert_refused_for_the_permission(refused, details["id"])
    assert answer(details, password, "EXISTS TABLE by_nobody") == "0"


def test_a_bound_developer_key_is_refused(server: ClickplaneServer, service: tuple[dict[str, Any], str],
                                          make_key: MakeKey) -> None:
    (details, _), (credentials, key_id) = service, make_key(DEVELOPER_ROLE)
    bind(server, details["id"], key_id)
    assert_refused_for_the_permission(query(server, details["id"], "SELECT 1", credentials=credentials),
                                      details["id"])


def test_a_deny_on_the_service_beats_an_allow_on_every_service(server: ClickplaneServer,
                                                                service: tuple[dict[str, Any], str],
                                                                make_key: MakeKey) -> None:
    details, _ = service
    service_id = details["id"]
    allowed, allowed_id = make_key(policies=[policy("ALLOW", "instance/*")])
    denied, denied_id = make_key(policies=[policy("ALLOW", "instance/*"), policy("DENY", f"instance/{service_id}")])
    bind(server, service_id, allowed_id, denied_id)
    assert succeeds(server, service_id, "SELECT 1", credentials=allowed) == "1\n"  # the ALLOW alone lets it in
    assert_refused_for_the_permission(query(server, service_id, "SELECT 1", credentials=denied), service_id)


def test_a_bound_key_with_the_query_endpoints_role_runs_sql(server: ClickplaneServer,
                                                            service: tuple[dict[str, Any], str],
                                                            make_key: MakeKey) -> None:
    (details, _), (credentials, key_id) = service, make_key(QUERY_ENDPOINTS_ROLE)
    assert_envelope(query(server, details["id"], "SELECT 1", credentials=credentials), 403, "FORBIDDEN: ")  # unbound
    bind(server, details["id"], key_id)
    assert succeeds(server, details["id"], "SELECT 40 + 2", credentials=credentials) == "42\n"


# --- the ClickHouse user -------------------------------------------------------------------------------------

def test_queries_run_as_a_user_of_the_key_and_role_not_the_internal_user(
        server: ClickplaneServer, service: tuple[dict[str, Any], str], make_key: MakeKey) -> None:
    service_id = service[0]["id"]
    (first, first_id), (second, second_id) = make_key(QUERY_ENDPOINTS_ROLE), make_key(QUERY_ENDPOINTS_ROLE)
    bind(server, service_id, first_id, second_id)
    as_admin = {user_of(server, service_id, first), user_of(server, service_id, second)}
    assert as_admin == {f"query_admin_{uuid.UUID(first_id).hex}", f"query_admin_{uuid.UUID(second_id).hex}"}

    assert INTERNAL_USER not in as_admin

    bind(server, service_id, first_id, roles=["sql_console_read_only"])
    assert user_of(server, service_id, first) == f"query_read_only_{uuid.UUID(first_id).hex}"


def test_the_services_settings_apply_to_query_api_queries(server: ClickplaneServer, keeper: ServiceKeeper,
                                                          make_key: MakeKey) -> None:
    details, password = keeper.running("query-settings")
    service_id = details["id"]
    (reader, reader_id), (writer, writer_id) = make_key(QUERY_ENDPOINTS_ROLE), make_key(QUERY_ENDPOINTS_ROLE)
    bind(server, service_id, reader_id, writer_id)
    live = "SELECT value FROM system.settings WHERE name = 'max_result_rows'"
    assert succeeds(server, service_id, live, credentials=writer) == "0\n"
    with server.client() as client:
        changed = client.patch(server.org_path(f"/services/{service_id}/clickhouseSettings"),
                               json={"settings": {"max_result_rows": 12345, "readonly": "1"}})
    assert changed.status_code == 200, changed.text
    wait_until(lambda: succeeds(server, service_id, live, credentials=writer) == "12345\n",
               what="max_result_rows to reach the Query API's admin user")
    # readonly = 1 of the service holds for an admin endpoint's user too, as it does for `default`.
    refused = query(server, service_id, "CREATE TABLE despite (n UInt8) ENGINE = TinyLog", credentials=writer)
    assert refused.status_code >= 400, refused.text
    assert "readonly mode" in refused.text, refused.text
    assert answer(details, password, "EXISTS TABLE despite") == "0"

    bind(server, service_id, reader_id, roles=["sql_console_read_only"])
    assert succeeds(server, service_id, live, credentials=reader) == "12345\n"  # the read-only user's too


# --- a read-only caller --------------------------------------------------------------------------------------

class Endless:
    """A query that runs until killed, sent through the Query API in a thread of its own."""

    def __init__(self, server: ClickplaneServer, service_id: str, credentials: Credentials) -> None:
        self.run_id = str(uuid.uuid4())
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._send, args=(server, service_id, credentials), daemon=True)

    def _send(self, server: ClickplaneServer, service_id: str, credentials: Credentials) -> None:
        self.response = query(server, service_id, ENDLESS_SQL, run_id=self.run_id, credentials=credentials)

    def start(self) -> Endless:
        self._thread.start()
        return self

    def join(self) -> None:
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), f"query {self.run_id} still running"


def test_a_read_only_caller_can_neither_write_nor_kill_another_callers_query(
        server: ClickplaneServer, service: tuple[dict[str, Any], str], make_key: MakeKey) -> None:
    details, password = service
    service_id = details["id"]
    (reader, reader_id), (other, other_id) = make_key(QUERY_ENDPOINTS_ROLE), make_key(QUERY_ENDPOINTS_ROLE)
    bind(server, service_id, reader_id, other_id, roles=["sql_console_read_only"])

    refused = query(server, service_id, "CREATE TABLE sneaky (n UInt8) ENGINE = TinyLog", credentials=reader)
    assert refused.status_code >= 400, refused.text
    assert "readonly mode" in refused.text, refused.text
    assert answer(details, password, "EXISTS TABLE sneaky") == "0"

    victim = Endless(server, service_id, other).start()
    try:
        wait_until(lambda: running_queries(details, password, victim.run_id), what=f"query {victim.run_id} to run")
        for kill in ("KILL QUERY WHERE 1 SYNC", f"KILL QUERY WHERE query_id = '{victim.run_id}' SYNC"):
            attempt = query(server, service_id, kill, credentials=reader)
            # 18.16 refuses the whole KILL ("Readonly user ... attempts to kill query created by ..."); what holds
            # on any server is that nothing was killed, SYNC having waited for whatever it would kill.
            assert "finished" not in attempt.text, (kill, attempt.text)
            assert running_queries(details, password, victim.run_id), f"{kill} killed another caller's query"
        # Its own queries it may still end.
        own_id = str(uuid.uuid4())
        assert succeeds(server, service_id, f"KILL QUERY WHERE query_id = '{own_id}' SYNC", credentials=reader) == ""
    finally:
        kill_directly(details, password, victim.run_id)
        victim.join()
    assert victim.response is not None
    assert "Query was cancelled" in victim.response.text, victim.response.text  # by the test's own KILL only


def test_a_read_only_callers_query_is_still_killed_when_its_client_goes_away(
        server: ClickplaneServer, service: tuple[dict[str, Any], str], make_key: MakeKey) -> None:
    """The kill runs as the internal user, scoped to the caller's user and query id."""
    details, password = service
    reader, reader_id = make_key(QUERY_ENDPOINTS_ROLE)
    bind(server, details["id"], reader_id, roles=["sql_console_read_only"])
    run_id = str(uuid.uuid4())
    basic = base64.b64encode(f"{reader.key_id}:{reader.key_secret}".encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", f"/service/{details['id']}/run", json.dumps({"sql": ENDLESS_SQL, "runId": run_id}),
                           headers={"content-type": "application/json", "authorization": f"Basic {basic}"})
        wait_until(lambda: running_queries(details, password, run_id), what=f"query {run_id} to start")
        connection.close()  # gone before the first byte of the answer
        wait_until(lambda: not running_queries(details, password, run_id), 15.0,
                   f"query {run_id} to be killed after its client went away")
    finally:
        connection.close()
        kill_directly(details, password, run_id)
