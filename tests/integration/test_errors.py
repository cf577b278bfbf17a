"""Bad requests get a clear 4xx in the Cloud API's error envelope, and change nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.integration.harness import ClickplaneServer, Credentials, clickplane

VALID = {"name": "ok", "provider": "aws", "region": "us-east-1", "ipAccessList": []}


def services_snapshot(server: ClickplaneServer) -> list[str]:
    with server.client() as client:
        return sorted(s["id"] for s in client.get(server.org_path("/services")).json()["result"])


def assert_error(response: httpx.Response, status: int, code: str, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    uuid.UUID(body["requestId"])
    assert "result" not in body
    assert body["error"].startswith(f"{code}: "), body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]


def post(server: ClickplaneServer, content: bytes, auth: tuple[str, str] | None = None) -> httpx.Response:
    creds = server.credentials
    return httpx.post(server.base_url + server.org_path("/services"), content=content,
                      auth=auth or (creds.key_id, creds.key_secret), timeout=30,
                      headers={"content-type": "application/json"})


CASES: dict[str, tuple[Callable[[ClickplaneServer], httpx.Response], int, str, tuple[str, ...]]] = {
    "wrong secret": (lambda s: post(s, b"{}", (s.credentials.key_id, "wrong")), 401, "UNAUTHORIZED", ()),
    "unknown key": (lambda s: post(s, b"{}", ("no-such-key", "secret")), 401, "UNAUTHORIZED", ()),
    "no credentials": (lambda s: httpx.get(s.base_url + "/v1/organizations"), 401, "UNAUTHORIZED", ("Basic",)),
    "malformed JSON": (lambda s: post(s, b'{"name": '), 400, "BAD_REQUEST", ("not valid JSON",)),
    "not an object": (lambda s: post(s, b"[1, 2]"), 400, "BAD_REQUEST", ("JSON object",)),
    "wrong type": (lambda s: post(s, b'{"name": 5, "provider": "aws", "region": "us-east-1"}'),
                   400, "BAD_REQUEST", ("name",)),
    "unknown region": (lambda s: post(s, b'{"name": "x", "provider": "aws", "region": "mars-1"}'),
                       400, "BAD_REQUEST", ("region",)),
    "region of another provider": (lambda s: post(s, b'{"name": "x", "provider": "aws", "region": "eastus"}'),
                                   400, "BAD_REQUEST", ("eastus", "aws")),
    "missing field": (lambda s: post(s, b'{"name": "x", "provider": "aws"}'), 400, "BAD_REQUEST",
                      ("region", "required")),
    "misspelt field": (lambda s: post(s, b'{"name": "x", "provider": "aws", "region": "us-east-1", "nmae": 1}'),
                       400, "BAD_REQUEST", ("nmae",)),
    "bad ip": (lambda s: post(s, b'{"name":"x","provider":"aws","region":"us-east-1",'
                                 b'"ipAccessList":[{"source":"1.2.3"}]}'), 400, "BAD_REQUEST", ("1.2.3",)),
    "memory not a multiple of 4": (lambda s: post(s, b'{"name":"x","provider":"aws","region":"us-east-1",'
                                                 b'"minReplicaMemoryGb":10}'), 400, "BAD_REQUEST",
                                   ("minReplicaMemoryGb",)),
    "ten megabyte body": (lambda s: post(s, b'{"name":"' + b"a" * 10_000_000 + b'"}'), 413,
                          "PAYLOAD_TOO_LARGE", ()),
    "service id not a UUID": (lambda s: s.client().get(s.org_path("/services/not-a-uuid")), 400,
                              "BAD_REQUEST", ("serviceId",)),
    "unknown service": (lambda s: s.client().get(s.org_path(f"/services/{uuid.uuid4()}")), 404, "NOT_FOUND", ()),
    "unknown organization": (lambda s: s.client().get(f"/v1/organizations/{uuid.uuid4()}"), 404, "NOT_FOUND", ()),
    "unknown path": (lambda s: s.client().get("/v1/nothing-here"), 404, "NOT_FOUND", ()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_request_is_refused_and_changes_nothing(server: ClickplaneServer, case: str) -> None:
    send, status, code, fragments = CASES[case]
    before = services_snapshot(server)
    assert_error(send(server), status, code, *fragments)
    assert services_snapshot(server) == before


def test_another_organizations_key_sees_nothing_of_this_one(server: ClickplaneServer) -> None:
    made = clickplane("org", "create", "--name", "other", "--json", env=server.env)
    assert made.returncode == 0, made.stderr
    other = Credentials.from_json(made.stdout)
    with server.client() as mine:
        service_id = mine.post(server.org_path("/services"), json={**VALID, "name": "private"}).json()[
            "result"]["service"]["id"]
    before = services_snapshot(server)
    with server.client(other) as theirs:
        orgs = theirs.get("/v1/organizations").json()["result"]
        assert [o["id"] for o in orgs] == [other.organization_id]
        for path in ("", "/services", f"/services/{service_id}"):
            assert_error(theirs.get(server.org_path(path)), 404, "NOT_FOUND")
        assert_error(theirs.post(server.org_path("/services"), json=VALID), 404, "NOT_FOUND")
        assert_error(theirs.patch(server.org_path(), json={"name": "stolen"}), 404, "NOT_FOUND")
        # Their own organization, with this organization's service id: still not found.
        assert_error(theirs.get(f"/v1/organizations/{other.organization_id}/services/{service_id}"), 404,
                     "NOT_FOUND")
    assert services_snapshot(server) == before
    with server.client() as mine:
        assert mine.get(server.org_path()).json()["result"]["name"] != "stolen"
