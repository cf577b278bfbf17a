"""What an outside probe sent that was taken or answered 500 (issue 12, "Low"), through real HTTP: each is a 400
in the envelope whose error names the field and says the rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import needs_clickhouse
from tests.integration.harness import ClickplaneServer
from tests.integration.test_lifecycle import patch, running_service

MANY_ADDRESSES = [{"source": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"} for i in range(40_000)]
LIMIT = "ipAccessList: a list holds at most 1000 entries"


def refused(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == 400
    assert body["requestId"]
    error: str = body["error"]
    assert error.startswith("BAD_REQUEST: ")
    return error.removeprefix("BAD_REQUEST: ")


def request(server: ClickplaneServer, method: str, suffix: str, body: dict[str, Any] | None = None,
            params: dict[str, str] | None = None) -> httpx.Response:
    with server.client() as client:
        return client.request(method, server.org_path(suffix), json=body, params=params)


@pytest.mark.parametrize(("parameter", "value"), [
    ("to_date", "9999-12-31"), ("to_date", "9999-12-31T23:59:59-01:00"), ("from_date", "0001-01-01T00:00:00+01:00"),
])
def test_activity_dates_past_the_calendars_ends_are_a_400(server: ClickplaneServer, parameter: str,
                                                          value: str) -> None:
    error = refused(request(server, "GET", "/activities", params={parameter: value}))
    assert error == (f"{parameter} {value!r} is out of range: give a date or date-time from 0001-01-01 to "
                     "9999-12-30 (in UTC)")


def test_the_ends_of_the_range_select_every_activity(server: ClickplaneServer) -> None:
    assert request(server, "POST", "/keys", {"name": "an activity"}).status_code == 200
    every = request(server, "GET", "/activities").json()["result"]
    response = request(server, "GET", "/activities", params={"from_date": "0001-01-01", "to_date": "9999-12-30"})
    assert response.status_code == 200, response.text
    assert response.json()["result"] == every
    assert any(activity["type"] == "key_create" for activity in every)


def test_memory_a_hair_off_a_multiple_of_4_is_a_400(server: ClickplaneServer) -> None:
    body = {"name": "hair", "provider": "aws", "region": "us-east-1", "minReplicaMemoryGb": 8.0000000001}
    assert refused(request(server, "POST", "/services", body)) == "minReplicaMemoryGb: Input should be a multiple of 4"


@pytest.mark.parametrize(("suffix", "body"), [
    ("/keys", {"name": "line\nbreak"}),
    ("/keys", {"name": "\x1b[31mred"}),
    ("/roles", {"name": "del\x7f", "actors": [], "policies": []}),
    ("/roles", {"name": "c1\x85", "actors": [], "policies": []}),
])
def test_key_and_role_names_with_control_characters_are_a_400(server: ClickplaneServer, suffix: str,
                                                              body: dict[str, Any]) -> None:
    assert refused(request(server, "POST", suffix, body)).startswith("name: must not contain control characters")


def test_a_keys_ip_access_list_has_a_limit(server: ClickplaneServer) -> None:
    error = refused(request(server, "POST", "/keys", {"name": "many", "ipAccessList": MANY_ADDRESSES}))
    assert error == "ipAccessList: List should have at most 1000 items after validation, not 40000"


@needs_clickhouse
def test_a_services_ip_access_list_grows_to_the_limit_only_and_settings_fit_their_integers(
        server: ClickplaneServer) -> None:
    service, _ = running_service(server, name="limits")
    service_id = service["id"]
    added = {"ipAccessList": {"add": MANY_ADDRESSES}}
    assert refused(patch(server, service_id, "", added)).startswith(LIMIT)
    assert len(server.service(service_id)["ipAccessList"]) == 1

    too_big = {"settings": {"max_threads": "99999999999999999999999"}}
    error = refused(patch(server, service_id, "/clickhouseSettings", too_big))
    assert error.startswith("settings.max_threads: 99999999999999999999999 is out of range")
    assert "18446744073709551615" in error
    fits = patch(server, service_id, "/clickhouseSettings", {"settings": {"max_threads": "4"}})
    assert fits.status_code == 200, fits.text
