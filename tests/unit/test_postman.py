"""The Postman export: collection layout, names, variables, auth and bodies; the environment; fetching."""

from __future__ import annotations

import base64
import json
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clickplane.postman import ExportError, Json, Target, collection, environment, example, fetch, write

ORG = "11111111-1111-1111-1111-111111111111"
SERVICE = "22222222-2222-2222-2222-222222222222"
SECRET = "s3cret"
UUID_PARAMETER = {"in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}

DOCUMENT: Json = {
    "openapi": "3.1.0",
    "info": {"title": "OpenAPI spec for ClickHouse Cloud", "version": "1.0", "description": "Test API."},
    "servers": [{"url": "http://served.example:8000"}],
    "paths": {
        "/v1/organizations": {"get": {"summary": "Get list of available organizations"}},
        "/v1/organizations/{organizationId}/services": {
            "parameters": [{"name": "organizationId", "description": "Organization id.", **UUID_PARAMETER}],
            "get": {"summary": "List of organization services",
                    "parameters": [{"name": "filter", "in": "query", "schema": {"type": "string"}},
                                   {"name": "page", "in": "query", "required": True, "schema": {"type": "integer"}}]},
            "post": {"summary": "Create new service", "description": "Creates a service.",
                     "requestBody": {"content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/ServicePostRequest"}}}}},
        },
        "/v1/organizations/{organizationId}": {
            "get": {"summary": "Get organization details",
                    "parameters": [{"$ref": "#/components/parameters/organizationId"}]},
            "patch": {"summary": "Update organization details",
                      "requestBody": {"content": {"application/json": {"example": {"name": "renamed"}}}}},
        },
        "/v1/organizations/{organizationId}/services/{serviceId}": {
            "get": {"summary": "Get service details"},
        },
        "/v1/organizations/{organizationId}/keys/{keyId}": {
            "get": {"operationId": "openApiKeyGet"},
            "delete": {},
        },
    },
    "components": {
        "parameters": {"organizationId": {"name": "organizationId", **UUID_PARAMETER}},
        "schemas": {
            "IpAccessListEntry": {"type": "object", "required": ["source"], "properties": {
                "source": {"type": "string"},
                "description": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}},
            "ServicePostRequest": {"type": "object", "required": ["name", "provider", "region"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 50},
                "provider": {"type": "string", "enum": ["aws", "gcp"]},
                "region": {"type": "string", "example": "us-east-1"},
                "ipAccessList": {"type": "array", "minItems": 1,
                                 "items": {"$ref": "#/components/schemas/IpAccessListEntry"}},
                "tier": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}}},
        },
    },
}


def requests(items: list[Json], folders: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Json]]:
    """Every request with the names of the folders above it, in collection order."""
    for item in items:
        if "item" in item:
            yield from requests(item["item"], (*folders, item["name"]))
        else:
            yield folders, item


def by_name(name: str) -> Json:
    return next(item for _, item in requests(collection(DOCUMENT)["item"]) if item["name"] == name)


def test_requests_sit_in_one_folder_per_path_segment_in_document_order() -> None:
    layout = [(" > ".join(folders), item["name"]) for folders, item in requests(collection(DOCUMENT)["item"])]

    assert layout == [
        ("v1 > organizations", "Get list of available organizations"),
        ("v1 > organizations > {organizationId} > services", "List of organization services"),
        ("v1 > organizations > {organizationId} > services", "Create new service"),
        ("v1 > organizations > {organizationId} > services > {serviceId}", "Get service details"),
        ("v1 > organizations > {organizationId}", "Get organization details"),
        ("v1 > organizations > {organizationId}", "Update organization details"),
        ("v1 > organizations > {organizationId} > keys > {keyId}", "openApiKeyGet"),
        ("v1 > organizations > {organizationId} > keys > {keyId}",
         "DELETE /v1/organizations/{organizationId}/keys/{keyId}"),
    ]


def test_collection_is_named_after_the_document_with_basic_auth_from_variables() -> None:
    exported = collection(DOCUMENT)

    assert exported["info"] == {"name": "OpenAPI spec for ClickHouse Cloud", "description": "Test API.",
                                "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}
    assert exported["auth"] == {"type": "basic", "basic": [
        {"key": "username", "value": "{{keyId}}", "type": "string"},
        {"key": "password", "value": "{{keySecret}}", "type": "string"}]}
    assert exported["variable"] == [{"key": "baseUrl", "value": "http://served.example:8000", "type": "string"}]
    assert all("auth" not in item["request"] for _, item in requests(exported["item"]))


def test_urls_take_base_url_as_host_and_known_path_variables_from_the_environment() -> None:
    url = by_name("Get service details")["request"]["url"]
    key = by_name("openApiKeyGet")["request"]["url"]

    assert url["raw"] == "{{baseUrl}}/v1/organizations/:organizationId/services/:serviceId"
    assert url["host"] == ["{{baseUrl}}"]
    assert url["path"] == ["v1", "organizations", ":organizationId", "services", ":serviceId"]
    assert url["variable"] == [{"key": "organizationId", "value": "{{orgid}}"},
                               {"key": "serviceId", "value": "{{serviceid}}"}]
    assert key["variable"] == [{"key": "organizationId", "value": "{{orgid}}"}, {"key": "keyId", "value": ""}]


def test_parameters_come_from_path_item_operation_and_refs() -> None:
    listing = by_name("List of organization services")["request"]["url"]
    details = by_name("Get organization details")["request"]["url"]

    assert listing["variable"] == [{"key": "organizationId", "value": "{{orgid}}", "description": "Organization id."}]
    assert listing["query"] == [{"key": "filter", "value": "", "disabled": True},
                                {"key": "page", "value": "", "disabled": False}]
    assert details["variable"] == [{"key": "organizationId", "value": "{{orgid}}"}]


def test_bodies_are_the_given_example_or_a_minimal_one_from_the_schema() -> None:
    create = by_name("Create new service")["request"]
    patch = by_name("Update organization details")["request"]
    get = by_name("Get service details")["request"]

    assert json.loads(create["body"]["raw"]) == {"name": "string", "provider": "aws", "region": "us-east-1",
                                                 "ipAccessList": [{"source": "string"}]}
    assert create["body"]["mode"] == "raw"
    assert create["body"]["options"] == {"raw": {"language": "json"}}
    assert create["header"] == [{"key": "Content-Type", "value": "application/json"},
                                {"key": "Accept", "value": "application/json"}]
    assert create["description"] == "Creates a service."
    assert json.loads(patch["body"]["raw"]) == {"name": "renamed"}
    assert "body" not in get
    assert get["header"] == [{"key": "Accept", "value": "application/json"}]


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "string", "format": "uuid"}, "00000000-0000-0000-0000-000000000000"),
    ({"type": "string", "minLength": 8}, "stringxx"),
    ({"type": "string", "maxLength": 3}, "str"),
    ({"type": ["integer", "null"], "minimum": 5}, 5),
    ({"type": "number"}, 0),
    ({"type": "boolean"}, False),
    ({"type": "boolean", "default": True}, True),
    ({"anyOf": [{"type": "null"}, {"type": "string", "enum": ["slow", "fast"]}]}, "slow"),
    ({"type": "array", "items": {"type": "string"}}, []),
    ({"type": "array", "minItems": 2, "items": {"type": "integer"}}, [0, 0]),
    ({"type": "string", "examples": ["first", "second"]}, "first"),
    ({}, None),
])
def test_example_values_follow_the_schema(schema: Json, expected: Any) -> None:
    assert example({}, schema) == expected


def test_a_self_referencing_schema_stops() -> None:
    document: Json = {"components": {"schemas": {"Node": {
        "type": "object", "required": ["child"], "properties": {"child": {"$ref": "#/components/schemas/Node"}}}}}}

    value = example(document, {"$ref": "#/components/schemas/Node"})

    depth = 0
    while isinstance(value, dict):
        value, depth = value["child"], depth + 1
    assert value is None
    assert depth < 20


def test_environment_holds_the_values_with_the_secret_marked() -> None:
    target = Target("http://127.0.0.1:8000", "key", SECRET, ORG, SERVICE)

    exported = environment("clickplane", target)

    assert exported["name"] == "clickplane"
    assert exported["_postman_variable_scope"] == "environment"
    assert {value["key"]: (value["value"], value["type"], value["enabled"]) for value in exported["values"]} == {
        "baseUrl": ("http://127.0.0.1:8000", "default", True), "keyId": ("key", "default", True),
        "keySecret": (SECRET, "secret", True), "orgid": (ORG, "default", True),
        "serviceid": (SERVICE, "default", True)}


def fake_server(services: list[str], secret: str = SECRET) -> httpx.MockTransport:
    """A clickplane that knows one key, one organization and `services`."""
    authorization = "Basic " + base64.b64encode(f"key:{secret}".encode()).decode()

    def envelope(result: Any) -> httpx.Response:
        return httpx.Response(200, json={"status": 200, "result": result})

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1":
            return httpx.Response(200, json=DOCUMENT)
        if request.headers.get("authorization") != authorization:
            return httpx.Response(401, json={"status": 401, "error": "UNAUTHORIZED: invalid API key ID or secret"})
        if request.url.path == "/v1/organizations":
            return envelope([{"id": ORG}])
        if request.url.path == f"/v1/organizations/{ORG}/services":
            return envelope([{"id": service} for service in services])
        return httpx.Response(404, json={"status": 404, "error": "NOT_FOUND"})

    return httpx.MockTransport(handle)


def test_fetch_finds_the_organization_and_its_first_service() -> None:
    document, target = fetch("http://plane.test/v1/", "key", SECRET, transport=fake_server([SERVICE, "other"]))

    assert document == DOCUMENT
    assert target == Target("http://plane.test", "key", SECRET, ORG, SERVICE)


def test_fetch_takes_a_given_service_and_leaves_it_empty_without_services() -> None:
    _, chosen = fetch("http://plane.test", "key", SECRET, "other", transport=fake_server([SERVICE, "other"]))
    _, none = fetch("http://plane.test", "key", SECRET, transport=fake_server([]))

    assert chosen.service_id == "other"
    assert none.service_id == ""


@pytest.mark.parametrize(("transport", "service_id", "message"), [
    (fake_server([SERVICE], secret="other"), None, "the server refused API key 'key' (HTTP 401: UNAUTHORIZED"),
    (fake_server([SERVICE]), "missing", f"no service missing in organization {ORG}"),
    (httpx.MockTransport(lambda request: httpx.Response(404, text="not here")), None,
     "http://plane.test/v1 did not serve an OpenAPI document (HTTP 404)"),
])
def test_fetch_explains_what_went_wrong(transport: httpx.MockTransport, service_id: str | None, message: str) -> None:
    with pytest.raises(ExportError, match=re.escape(message)):
        fetch("http://plane.test", "key", SECRET, service_id, transport=transport)


def test_fetch_reports_an_unreachable_server() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(ExportError, match=r"cannot reach clickplane at http://plane.test: Connection refused"):
        fetch("http://plane.test", "key", SECRET, transport=httpx.MockTransport(refuse))


def test_write_puts_both_files_in_the_directory_with_the_environment_private() -> None:
    target = Target("http://127.0.0.1:8000", "key", SECRET, ORG, SERVICE)
    with tempfile.TemporaryDirectory() as scratch:
        collection_file, environment_file = write(Path(scratch) / "out", DOCUMENT, target)

        assert collection_file == Path(scratch) / "out" / "collection.json"
        assert json.loads(collection_file.read_text()) == collection(DOCUMENT)
        assert json.loads(environment_file.read_text()) == environment(
            "OpenAPI spec for ClickHouse Cloud (http://127.0.0.1:8000)", target)
        assert stat.S_IMODE(environment_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(collection_file.stat().st_mode) == 0o644
