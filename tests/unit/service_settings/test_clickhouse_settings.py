"""ClickHouse settings: reading the engine's catalog, checking requests against it, and storing changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.service_settings.service import (
    SettingInfo,
    check_name,
    check_values,
    kind_of,
    parse_catalog,
    parse_request,
    probe_refusal,
    warnings_for,
)
from clickplane.services.service import reset_clickhouse_setting, set_clickhouse_settings
from clickplane.store.models import Service

# As 18.16 answers CATALOG_SQL (no type column), and as a modern server does (type, default, is_obsolete).
OLD_ROWS = [
    {"name": "max_threads", "value": "8", "changed": 0, "description": "Threads."},
    {"name": "totals_auto_threshold", "value": "0.5", "changed": 0, "description": "Threshold."},
    {"name": "load_balancing", "value": "random", "changed": 0, "description": "Balancing."},
]
MODERN_ROWS = [
    {"name": "join_use_nulls", "value": "0", "type": "Bool", "default": "0", "description": "Nulls.", "is_obsolete": 0},
    {"name": "max_block_size", "value": "100", "type": "NonZeroUInt64", "default": "65409", "description": "Rows."},
    {"name": "max_execution_time", "value": "0", "type": "Seconds", "default": "0", "description": "Time."},
    {"name": "allow_experimental_x", "value": "0", "type": "Bool", "default": "0", "description": "Old.",
     "is_obsolete": 1},
]
CATALOG = parse_catalog("\n".join(json.dumps(row) for row in OLD_ROWS + MODERN_ROWS) + "\n")


def test_the_catalog_takes_types_and_defaults_from_the_engine_where_it_names_them() -> None:
    assert CATALOG["max_threads"] == SettingInfo("max_threads", "8", "number", "Threads.")
    assert CATALOG["load_balancing"].kind == "string"
    assert CATALOG["join_use_nulls"].kind == "boolean"
    assert CATALOG["max_block_size"] == SettingInfo("max_block_size", "65409", "integer", "Rows.",
                                                        engine_type="NonZeroUInt64")  # default, not value
    assert CATALOG["max_execution_time"].kind == "number"
    assert CATALOG["allow_experimental_x"].obsolete


@pytest.mark.parametrize(("engine_type", "default", "kind"), [
    (None, "0", "number"), (None, "0.5", "number"), (None, "random", "string"), (None, "", "string"),
    ("Bool", "0", "boolean"), ("UInt64", "0", "integer"), ("Int64", "-1", "integer"), ("Float", "0", "number"),
    ("Milliseconds", "5", "integer"), ("MaxThreads", "'auto(4)'", "string"), ("LoadBalancing", "random", "string"),
])
def test_kind_of(engine_type: str | None, default: str, kind: str) -> None:
    assert kind_of(engine_type, default) == kind


@pytest.mark.parametrize("settings", [
    {"max_threads": "4"}, {"max_threads": "-1.5e3"}, {"totals_auto_threshold": ".25"}, {"join_use_nulls": "true"},
    {"join_use_nulls": "1"}, {"max_block_size": "+100"}, {"load_balancing": "anything: the engine checks it"},
])
def test_values_of_the_settings_type_are_accepted(settings: dict[str, str]) -> None:
    check_values(CATALOG, settings)


@pytest.mark.parametrize(("settings", "message"), [
    ({"max_threads": "many"}, "settings.max_threads: 'many' is not a number"),
    ({"join_use_nulls": "2"}, "settings.join_use_nulls: '2' is not a boolean"),
    ({"max_block_size": "1.5"}, "settings.max_block_size: '1.5' is not an integer"),
    ({"nope": "1", "max_threads": "x", "also_nope": "2"}, "ClickHouse has no setting 'also_nope', 'nope'"),
])
def test_unknown_names_and_values_of_another_type_are_refused(settings: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_values(CATALOG, settings)


@pytest.mark.parametrize(("body", "settings"), [
    ({"max_threads": "4"}, {"max_threads": "4"}),
    ('{"max_threads": 4, "join_use_nulls": true, "ratio": 0.5}', {"max_threads": "4", "join_use_nulls": "1",
                                                                 "ratio": "0.5"}),
    ({"join_use_nulls": False}, {"join_use_nulls": "0"}),
])
def test_a_request_gives_an_object_or_a_string_holding_one(body: Any, settings: dict[str, str]) -> None:
    assert parse_request(body) == settings


@pytest.mark.parametrize(("body", "message"), [
    ("max_threads=4", "settings must be a JSON object"),
    ('["max_threads"]', "settings must be a JSON object"),
    ({}, "settings is empty"),
    ({"max threads": "4"}, "'max threads' is not a ClickHouse setting name"),
    ({"x><evil/><y": "4"}, "is not a ClickHouse setting name"),
    ({"max_threads": None}, "settings.max_threads: give the value as a string, number or boolean"),
    ({"max_threads": [4]}, "settings.max_threads: give the value as a string"),
    ({"format_schema": "a\nb"}, "at most 1024 printable characters"),
    ({"format_schema": "x" * 1025}, "at most 1024 printable characters"),
])
def test_malformed_requests_are_refused(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_request(body)


def test_a_setting_name_in_a_path_must_be_an_identifier() -> None:
    assert check_name("max_threads") == "max_threads"
    with pytest.raises(BadRequest, match="not a ClickHouse setting name"):
        check_name("max-threads")


@pytest.mark.parametrize(("answer", "refusal"), [
    ("Code: 62, e.displayText() = DB::Exception: Empty query, e.what() = DB::Exception\n", None),
    ("Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR) (version 24.8.1.1)\n", None),
    ("Code: 212, e.displayText() = DB::Exception: Unknown load balancing mode: 'foo', must be one of 'random', "
     "e.what() = DB::Exception\n", "Unknown load balancing mode: 'foo', must be one of 'random'"),
    ("Code: 72. DB::Exception: Unsigned type must not contain '-' symbol. (CANNOT_PARSE_NUMBER) (version 24.8.1.1)",
     "Unsigned type must not contain '-' symbol. (CANNOT_PARSE_NUMBER)"),
    ("", "no reason given"),
])
def test_the_probe_is_accepted_only_when_the_server_got_as_far_as_the_empty_query(answer: str,
                                                                                    refusal: str | None) -> None:
    assert probe_refusal(answer) == refusal


def test_warnings_name_only_the_settings_that_have_one() -> None:
    assert [name for name, _ in warnings_for(["max_threads", "max_memory_usage", "readonly"])] == [
        "max_memory_usage", "readonly"]


def test_setting_and_resetting_bumps_the_generation_only_on_a_change() -> None:
    service = Service(clickhouse_settings={}, generation=1)

    assert set_clickhouse_settings(service, {"max_threads": "4", "readonly": "0"}) == {"max_threads": "4",
                                                                                       "readonly": "0"}
    assert set_clickhouse_settings(service, {"max_threads": "4", "readonly": "1"}) == {"readonly": "1"}
    assert set_clickhouse_settings(service, {"max_threads": "4"}) == {}
    assert service.generation == 3
    assert reset_clickhouse_setting(service, "max_threads")
    assert not reset_clickhouse_setting(service, "max_threads")
    assert service.clickhouse_settings == {"readonly": "1"}
    assert service.generation == 4
