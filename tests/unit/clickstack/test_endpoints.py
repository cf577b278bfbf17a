"""ClickStack's operations (clickstack/endpoints.py): the table they are registered from names the reference's
operations, paths and path parameters, each operation has the permission it should, and a page's bounds."""

from __future__ import annotations

import json

import pytest

from clickplane.auth.permissions import OPERATION_PERMISSIONS, SERVICE_MANAGE, SERVICE_VIEW
from clickplane.clickstack.endpoints import COLLECTIONS, MAX_PAGE, PATH, page
from clickplane.kit.errors import BadRequest
from tests.shared import shared_file

VALIDATES = {("POST", f"{PATH}/dashboards/validate"): "clickStackValidateDashboard",
             ("POST", f"{PATH}/webhooks/validate"): "clickStackValidateWebhook"}  # the second: clickhousectl's


def served() -> dict[tuple[str, str], str]:
    """The operations the table registers, by method and path."""
    operations = dict(VALIDATES)
    for collection in COLLECTIONS:
        many = f"{PATH}/{collection.kind}"
        one = f"{many}/{{{collection.path_id}}}"
        for method, path, operation in (("GET", many, collection.list), ("POST", many, collection.create),
                                         ("GET", one, collection.get), ("PUT", one, collection.update),
                                         ("DELETE", one, collection.delete)):
            if operation is not None:
                operations[method, path] = operation.operation_id
    return operations


def test_the_operations_are_the_references() -> None:
    document = json.loads(shared_file("reference", "clickhouse-cloud-openapi.json").read_text())
    reference = {(method.upper(), path): operation["operationId"] for path, item in document["paths"].items()
                 for method, operation in item.items()
                 if isinstance(operation, dict) and "ClickStack" in operation.get("tags", ())}
    assert len(reference) == 30
    assert served() == reference | {("POST", f"{PATH}/webhooks/validate"): "clickStackValidateWebhook"}


def test_each_operation_needs_the_services_permission() -> None:
    for (method, _), operation_id in served().items():
        expected = SERVICE_VIEW if method == "GET" or operation_id.startswith("clickStackValidate") else SERVICE_MANAGE
        assert OPERATION_PERMISSIONS[operation_id] == expected, operation_id


def test_a_page_defaults_to_the_largest() -> None:
    assert page(None, None) == (MAX_PAGE, 0)
    assert page(1, 2000) == (1, 2000)
    assert page(MAX_PAGE, 0) == (MAX_PAGE, 0)


@pytest.mark.parametrize(("limit", "offset", "message"), [
    (0, None, "limit must be between 1 and 1000, not 0"), (1001, None, "limit must be between 1 and 1000, not 1001"),
    (None, -1, "offset must be between 0 and 2147483647, not -1"),
    (None, 2**63, f"offset must be between 0 and 2147483647, not {2**63}")])
def test_a_page_out_of_bounds_is_refused(limit: int | None, offset: int | None, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        page(limit, offset)
    assert caught.value.message == message
