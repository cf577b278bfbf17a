"""Wire details every Cloud API client depends on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from pydantic import ValidationError

from clickplane.kit.binders import describe_validation_error
from clickplane.kit.schemas import rfc3339
from clickplane.services.schemas import ServicePostRequest


def test_timestamps_are_rfc3339_utc_with_z() -> None:
    assert rfc3339(datetime(2024, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2024-01-02T03:04:05Z"
    assert rfc3339(datetime(2024, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))) == "2024-01-02T03:04:05Z"


def describe(body: dict[str, object]) -> str:
    try:
        ServicePostRequest.model_validate(body)
    except ValidationError as error:
        return describe_validation_error(error)
    raise AssertionError("expected a validation error")


def test_validation_messages_name_the_field() -> None:
    assert describe({"name": "x", "provider": "aws"}).startswith("region: is required")
    assert describe({"name": "x", "provider": "aws", "region": "us-east-1", "ipAccessList": [{"source": 1}]}
                    ).startswith("ipAccessList[0].source:")
    assert "spelling" in describe({"name": "x", "provider": "aws", "region": "us-east-1", "nmae": "y"})
    assert "(and 2 more problems)" in describe({})
