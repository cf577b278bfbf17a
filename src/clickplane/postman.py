"""A Postman collection and environment for a running clickplane, ready for `newman run` as they are.

The collection is built from the OpenAPI document the server serves at `/v1`, laid out as Postman's
own import (openapi-to-postmanv2, folder strategy "Paths") lays it out: one folder per path segment
(`v1 > organizations > {organizationId}`), each request in the folder of its full path and named
after its operation's summary, with `{{baseUrl}}` as host. On top of what the import gives, it is
configured as ClickHouse's Postman walkthrough does by hand: Basic auth on the collection from
`{{keyId}}`/`{{keySecret}}`, and the path variables `organizationId`/`serviceId` set to
`{{orgid}}`/`{{serviceid}}`. The environment holds the values of those variables.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from clickplane.runtime.files import write_atomically

Json = dict[str, Any]

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Path variables the walkthrough fills from the environment; any other is left for the user to fill.
PATH_VARIABLE_VALUES = {"organizationId": "{{orgid}}", "serviceId": "{{serviceid}}"}
STRING_FORMAT_EXAMPLES = {"uuid": "00000000-0000-0000-0000-000000000000", "date-time": "2025-01-01T00:00:00Z",
                          "date": "2025-01-01"}
MAX_EXAMPLE_DEPTH = 8  # a self-referencing schema stops here
COLLECTION_FILE = "collection.json"
ENVIRONMENT_FILE = "environment.json"
_PATH_PARAMETER = re.compile(r"^\{(.+)\}$")


@dataclass(frozen=True)
class Target:
    """Where and as whom the exported requests are sent."""

    base_url: str
    key_id: str
    key_secret: str
    organization_id: str
    service_id: str


class ExportError(Exception):
    """Why the export cannot be made, worded for the user (server unreachable, key refused, ...)."""


def resolve(document: Json, node: Json) -> Json:
    """`node` with local `$ref`s (`#/components/...`) followed."""
    seen: set[str] = set()
    while "$ref" in node:
        reference = str(node["$ref"])
        if not reference.startswith("#/") or reference in seen:
            raise ValueError(f"cannot resolve $ref {reference!r}")
        seen.add(reference)
        target: Any = document
        for part in reference[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def example(document: Json, schema: Json, depth: int = 0) -> Any:
    """A small value valid for `schema`: given examples and defaults first, then the first enum value,
    the first non-null alternative, and for objects only the properties that are required or have no
    default."""
    schema = resolve(document, schema)
    if depth > MAX_EXAMPLE_DEPTH:
        return None
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combinator in ("anyOf", "oneOf", "allOf"):
        choices = [choice for choice in schema.get(combinator, [])
                   if resolve(document, choice).get("type") != "null"]
        if choices:
            return example(document, choices[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kind = next((each for each in kind if each != "null"), None)
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {name: example(document, prop, depth + 1) for name, prop in schema.get("properties", {}).items()
                if name in required or "default" not in resolve(document, prop)}
    if kind == "array":
        return [example(document, schema.get("items", {}), depth + 1)] * int(schema.get("minItems", 0))
    if kind == "string":
        text = STRING_FORMAT_EXAMPLES.get(schema.get("format", ""), "string")
        return text.ljust(int(schema.get("minLength", 0)), "x")[:schema.get("maxLength")]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


def _folder(items: list[Json], name: str) -> list[Json]:
    """The items of the folder `name` in `items`, created at the end if there is none yet."""
    for item in items:
        if item["name"] == name and "item" in item:
            return item["item"]  # type: ignore[no-any-return]
    folder: Json = {"name": name, "item": []}
    items.append(folder)
    return folder["item"]  # type: ignore[no-any-return]


def _parameters(document: Json, path_item: Json, operation: Json) -> dict[tuple[str, str], Json]:
    """The operation's parameters by (in, name), the operation's overriding the path's."""
    parameters: dict[tuple[str, str], Json] = {}
    for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
        resolved = resolve(document, parameter)
        parameters[(resolved["in"], resolved["name"])] = resolved
    return parameters


def _url(path: str, parameters: dict[tuple[str, str], Json]) -> Json:
    segments = [segment for segment in path.split("/") if segment]
    postman_path = [_PATH_PARAMETER.sub(r":\1", segment) for segment in segments]
    variables = []
    for segment in segments:
        if match := _PATH_PARAMETER.match(segment):
            name = match.group(1)
            variable: Json = {"key": name, "value": PATH_VARIABLE_VALUES.get(name, "")}
            if description := parameters.get(("path", name), {}).get("description"):
                variable["description"] = description
            variables.append(variable)
    query = [{"key": parameter["name"], "value": "", "disabled": not parameter.get("required", False),
              **({"description": parameter["description"]} if parameter.get("description") else {})}
             for (location, _), parameter in parameters.items() if location == "query"]
    return {"raw": "/".join(["{{baseUrl}}", *postman_path]), "host": ["{{baseUrl}}"], "path": postman_path,
            "query": query, "variable": variables}


def _body(document: Json, operation: Json) -> Json | None:
    """A raw JSON body from the operation's JSON request body: its example, else one from its schema."""
    if "requestBody" not in operation:
        return None
    media = resolve(document, operation["requestBody"]).get("content", {}).get("application/json")
    if media is None:
        return None
    if "example" in media:
        value = media["example"]
    elif media.get("examples"):
        value = resolve(document, next(iter(media["examples"].values()))).get("value")
    else:
        value = example(document, media.get("schema", {}))
    return {"mode": "raw", "raw": json.dumps(value, indent=2), "options": {"raw": {"language": "json"}}}


def _request(document: Json, path: str, method: str, path_item: Json, operation: Json) -> Json:
    name = operation.get("summary") or operation.get("operationId") or f"{method.upper()} {path}"
    body = _body(document, operation)
    headers = [{"key": "Accept", "value": "application/json"}]
    if body is not None:
        headers.insert(0, {"key": "Content-Type", "value": "application/json"})
    request: Json = {"method": method.upper(), "header": headers,
                     "url": _url(path, _parameters(document, path_item, operation))}
    if body is not None:
        request["body"] = body
    if operation.get("description"):
        request["description"] = operation["description"]
    return {"name": name, "request": request}


def collection(document: Json) -> Json:
    """A Postman v2.1 collection of every operation in the OpenAPI `document`."""
    items: list[Json] = []
    for path, path_item in document.get("paths", {}).items():
        folder = items
        for segment in (segment for segment in path.split("/") if segment):
            folder = _folder(folder, segment)
        folder.extend(_request(document, path, method, path_item, operation)
                      for method, operation in path_item.items() if method in HTTP_METHODS)
    info = document.get("info", {})
    result: Json = {
        "info": {"name": info.get("title", "clickplane"), "schema": SCHEMA_URL},
        "item": items,
        "auth": {"type": "basic", "basic": [{"key": "username", "value": "{{keyId}}", "type": "string"},
                                            {"key": "password", "value": "{{keySecret}}", "type": "string"}]},
    }
    if info.get("description"):
        result["info"]["description"] = info["description"]
    if servers := document.get("servers"):  # as the import does; the environment's baseUrl takes precedence
        result["variable"] = [{"key": "baseUrl", "value": servers[0]["url"], "type": "string"}]
    return result


def environment(name: str, target: Target) -> Json:
    """A Postman environment with the values the collection's variables take."""
    values = [("baseUrl", target.base_url, "default"), ("keyId", target.key_id, "default"),
              ("keySecret", target.key_secret, "secret"), ("orgid", target.organization_id, "default"),
              ("serviceid", target.service_id, "default")]
    return {"name": name, "values": [{"key": key, "value": value, "type": kind, "enabled": True}
                                     for key, value, kind in values],
            "_postman_variable_scope": "environment"}


def _result(response: httpx.Response, what: str, key_id: str) -> Any:
    """The `result` of a Cloud API envelope, or an ExportError saying what went wrong."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if response.status_code in (401, 403):
        raise ExportError(f"the server refused API key {key_id!r} (HTTP {response.status_code}: {error}); "
                          "check --key-id and --key-secret")
    if response.status_code != 200 or not isinstance(body, dict) or "result" not in body:
        raise ExportError(f"{what} failed: HTTP {response.status_code} from {response.url}"
                          + (f": {error}" if error else ""))
    return body["result"]


def fetch(base_url: str, key_id: str, key_secret: str, service_id: str | None = None,
          transport: httpx.BaseTransport | None = None) -> tuple[Json, Target]:
    """The server's OpenAPI document, and the target: the key's organization and `service_id` (checked
    to exist) or the organization's first service ("" if it has none)."""
    base_url = base_url.rstrip("/").removesuffix("/v1")
    try:
        with httpx.Client(base_url=base_url, auth=(key_id, key_secret), timeout=30, transport=transport) as client:
            response = client.get("/v1")
            try:
                document = response.json()
            except ValueError:
                document = None
            if response.status_code != 200 or not isinstance(document, dict) or "openapi" not in document:
                raise ExportError(f"{base_url}/v1 did not serve an OpenAPI document (HTTP {response.status_code}); "
                                  "is this clickplane's URL?")
            organizations = _result(client.get("/v1/organizations"), "listing organizations", key_id)
            if not organizations:
                raise ExportError(f"API key {key_id!r} sees no organization")
            organization_id = str(organizations[0]["id"])
            services = _result(client.get(f"/v1/organizations/{organization_id}/services"),
                               "listing services", key_id)
    except httpx.TransportError as error:
        raise ExportError(f"cannot reach clickplane at {base_url}: {error}") from error
    service_ids = [str(service["id"]) for service in services]
    if service_id is not None and service_id not in service_ids:
        raise ExportError(f"no service {service_id} in organization {organization_id}")
    chosen = service_id or next(iter(service_ids), "")
    return document, Target(base_url, key_id, key_secret, organization_id, chosen)


def write(directory: Path, document: Json, target: Target) -> tuple[Path, Path]:
    """Write the collection and the environment (private: it holds the key secret) into `directory`. Refused
    when the directory or either file is a symbolic link: someone else may have put it there (in /tmp, say)
    to have the key secret, or a file of theirs, written where it points."""
    _refuse_link(directory)
    directory.mkdir(parents=True, exist_ok=True)
    exported = collection(document)
    paths = directory / COLLECTION_FILE, directory / ENVIRONMENT_FILE
    for path in paths:
        _refuse_link(path)
    write_atomically(paths[0], json.dumps(exported, indent=2).encode(), mode=0o644)
    write_atomically(paths[1], json.dumps(environment(f"{exported['info']['name']} ({target.base_url})", target),
                                          indent=2).encode())
    return paths


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise ExportError(f"{path} is a symbolic link, and clickplane writes through no link it did not make; "
                          "remove it, or give --out a directory of your own")
