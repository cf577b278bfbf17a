"""Checks of request fields that several resources share."""

from __future__ import annotations

from clickplane.kit.errors import BadRequest
from clickplane.kit.schemas import ResourceTag


def validate_tags(tags: list[ResourceTag]) -> list[dict[str, str]]:
    keys = [tag.key for tag in tags]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise BadRequest(f"tags: key {duplicates[0]!r} is given more than once; each key may appear once")
    return [{"key": tag.key, "value": tag.value or ""} for tag in tags]
