"""What an outside probe sent that was taken or answered 500 (issue 12, "Low"): dates past the calendar's ends,
memory sizes a hair off a multiple, setting values that overflow the engine's integers, names with control
characters and IP access lists of any length. Each is refused with a message naming the field and the rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from clickplane.api.binders import describe_validation_error
from clickplane.api.schemas.common import MAX_IP_ACCESS_LIST_ENTRIES, IpAccessListEntry
from clickplane.api.schemas.keys import ApiKeyPatchRequest, ApiKeyPostRequest
from clickplane.api.schemas.roles import RoleCreateRequest, RoleUpdateRequest
from clickplane.api.schemas.service import (
    ServicePostRequest,
    ServiceReplicaScalingPatchRequest,
    ServiceScalingPatchRequest,
)
from clickplane.domain.activity import Window, window
from clickplane.domain.clickhouse_settings import check_values, parse_catalog
from clickplane.domain.errors import BadRequest
from clickplane.domain.services import validate_ip_access_list

SERVICE = {"name": "probe", "provider": "aws", "region": "us-east-1"}


def refusal(model: type[BaseModel], body: dict[str, Any]) -> str:
    """The 400's message for `body`, as the JSON body binder words it."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body), strict=True)
    return describe_validation_error(caught.value)


def bad_request(call: Any, *args: Any) -> str:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return caught.value.message


# Dates


@pytest.mark.parametrize(("from_date", "to_date", "parameter"), [
    (None, "9999-12-31", "to_date"),
    (None, "9999-12-31T23:59:59-01:00", "to_date"),
    (None, "9999-12-31T23:59:59Z", "to_date"),
    (None, "9999-12-31T23:59:59.999999Z", "to_date"),
    ("0001-01-01T00:00:00+01:00", None, "from_date"),
    ("9999-12-31", None, "from_date"),
])
def test_a_date_past_the_calendars_ends_is_refused_naming_the_parameter_and_the_range(
        from_date: str | None, to_date: str | None, parameter: str) -> None:
    value = from_date or to_date
    assert bad_request(window, from_date, to_date) == (
        f"{parameter} {value!r} is out of range: give a date or date-time from 0001-01-01 to 9999-12-30 (in UTC)")


def test_the_first_and_last_days_of_the_range_are_taken() -> None:
    selected = window("0001-01-01", "9999-12-30T23:59:59-00:00")
    assert selected == Window(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))


# Memory sizes


@pytest.mark.parametrize(("model", "field", "value", "step"), [
    (ServicePostRequest, "minReplicaMemoryGb", 8.0000000001, 4),
    (ServicePostRequest, "maxReplicaMemoryGb", 12.000000001, 4),
    (ServicePostRequest, "minTotalMemoryGb", 24.0000000001, 12),
    (ServicePostRequest, "maxTotalMemoryGb", 35.99999999999, 12),
    (ServiceReplicaScalingPatchRequest, "minReplicaMemoryGb", 8.0000000001, 4),
    (ServiceReplicaScalingPatchRequest, "maxReplicaMemoryGb", 355.9999999999, 4),
    (ServiceScalingPatchRequest, "minTotalMemoryGb", 24.0000000001, 12),
])
def test_memory_a_hair_off_a_multiple_is_refused(model: type[BaseModel], field: str, value: float,
                                                 step: int) -> None:
    body = {**SERVICE, field: value} if model is ServicePostRequest else {field: value}
    assert refusal(model, body) == f"{field}: Input should be a multiple of {step}"


def test_exact_multiples_are_taken() -> None:
    request = ServicePostRequest.model_validate_json(json.dumps(
        {**SERVICE, "minReplicaMemoryGb": 8.0, "maxReplicaMemoryGb": 356, "minTotalMemoryGb": 24.0}), strict=True)
    assert (request.minReplicaMemoryGb, request.maxReplicaMemoryGb, request.minTotalMemoryGb) == (8, 356, 24)


# ClickHouse setting values

# As 18.16 answers the catalog query (no types), and as a modern server does.
CATALOG = parse_catalog("\n".join(json.dumps(row) for row in [
    {"name": "max_threads", "value": "2", "changed": 0, "description": "Threads."},
    {"name": "totals_auto_threshold", "value": "0.5", "changed": 0, "description": "Threshold."},
    {"name": "max_block_size", "value": "65409", "type": "NonZeroUInt64", "default": "65409", "description": ""},
    {"name": "priority", "value": "0", "type": "Int64", "default": "0", "description": ""},
    {"name": "small", "value": "0", "type": "UInt8", "default": "0", "description": ""},
    {"name": "modern_threads", "value": "'auto(4)'", "type": "MaxThreads", "default": "'auto(4)'",
     "description": ""},
    {"name": "ratio", "value": "0", "type": "Float", "default": "0", "description": ""},
    {"name": "load_balancing", "value": "random", "type": "LoadBalancing", "default": "random", "description": ""},
]))


@pytest.mark.parametrize(("name", "value", "held_in", "low", "high"), [
    ("max_threads", "99999999999999999999999", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_threads", "18446744073709551616", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_threads", "-9223372036854775809", "a 64-bit integer setting", -2**63, 2**64 - 1),
    ("max_block_size", "18446744073709551616", "its type NonZeroUInt64", 1, 2**64 - 1),
    ("max_block_size", "0", "its type NonZeroUInt64", 1, 2**64 - 1),
    ("priority", "9223372036854775808", "its type Int64", -2**63, 2**63 - 1),
    ("small", "256", "its type UInt8", 0, 255),
    ("small", "-1", "its type UInt8", 0, 255),
    ("modern_threads", "99999999999999999999999", "its type MaxThreads", 0, 2**64 - 1),
])
def test_a_whole_number_outside_the_settings_integer_is_refused_naming_the_setting(
        name: str, value: str, held_in: str, low: int, high: int) -> None:
    assert bad_request(check_values, CATALOG, {name: value}) == (
        f"settings.{name}: {value} is out of range for {held_in}: give a whole number from {low} to {high}")


@pytest.mark.parametrize("settings", [
    {"max_threads": "18446744073709551615"}, {"max_threads": "-9223372036854775808"}, {"max_threads": "+4"},
    {"max_block_size": "1"}, {"priority": "-9223372036854775808"}, {"small": "255"},
    {"modern_threads": "auto"}, {"ratio": "99999999999999999999999"}, {"totals_auto_threshold": "1e30"},
])
def test_values_within_the_range_or_not_held_in_an_integer_are_taken(settings: dict[str, str]) -> None:
    check_values(CATALOG, settings)


# Names

CONTROL_CHARACTERS = ["\n", "\r", "\t", "\x1b", "\x00", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
@pytest.mark.parametrize(("model", "body"), [
    (ApiKeyPostRequest, {}), (ApiKeyPatchRequest, {}), (RoleCreateRequest, {"actors": [], "policies": []}),
    (RoleUpdateRequest, {}),
])
def test_a_name_with_a_control_character_is_refused_naming_the_field(model: type[BaseModel], body: dict[str, Any],
                                                                     control: str) -> None:
    assert refusal(model, {**body, "name": f"a{control}b"}) == (
        "name: must not contain control characters (such as a newline, tab or escape) nor other unprintable ones; "
        "give printable text")


@pytest.mark.parametrize("model", [ApiKeyPostRequest, ApiKeyPatchRequest, RoleUpdateRequest])
@pytest.mark.parametrize("name", ["ключ №1 — ci", "読み取り 専用", "ci-deploy (prod)"])
def test_printable_names_in_any_script_are_taken(model: type[BaseModel], name: str) -> None:
    assert model.model_validate_json(json.dumps({"name": name}), strict=True).model_dump()["name"] == name


# IP access lists


def addresses(count: int) -> list[IpAccessListEntry]:
    return [IpAccessListEntry(source=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") for i in range(count)]


def test_an_ip_access_list_holds_at_most_the_limit() -> None:
    assert MAX_IP_ACCESS_LIST_ENTRIES == 1000
    assert len(validate_ip_access_list(addresses(MAX_IP_ACCESS_LIST_ENTRIES))) == MAX_IP_ACCESS_LIST_ENTRIES
    assert bad_request(validate_ip_access_list, addresses(40_000)) == (
        "ipAccessList: a list holds at most 1000 entries; cover addresses with CIDR ranges (10.0.0.0/8) instead of "
        "listing them one by one")


def test_repeated_entries_do_not_count_against_the_limit() -> None:
    entries = addresses(MAX_IP_ACCESS_LIST_ENTRIES)
    assert len(validate_ip_access_list(entries + entries[:10])) == MAX_IP_ACCESS_LIST_ENTRIES


def test_a_key_request_says_the_limit_too() -> None:
    entries = [{"source": entry.source} for entry in addresses(MAX_IP_ACCESS_LIST_ENTRIES + 1)]
    assert refusal(ApiKeyPostRequest, {"name": "k", "ipAccessList": entries}) == (
        "ipAccessList: List should have at most 1000 items after validation, not 1001")
    assert refusal(ApiKeyPatchRequest, {"ipAccessList": entries}).startswith(
        "ipAccessList: List should have at most 1000 items")
