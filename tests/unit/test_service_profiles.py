"""The service profiles a region offers, and the requests that name no region clickplane offers."""

from __future__ import annotations

import pytest

from clickplane.kit.errors import BadRequest
from clickplane.service_profiles.service import profiles_in


def test_every_profile_is_offered_in_every_region_with_the_smallest_replica() -> None:
    for region in ("us-east-1", "europe-west4", "eastus"):
        profiles = profiles_in(region, None)
        assert [p.profile for p in profiles] == ["v1-default", "v1-highmem-xs", "v1-highmem-s", "v1-highmem-m",
                                                 "v1-highmem-l", "v1-highmem-xl"]
        assert {(p.cpuCores, p.memoryGi) for p in profiles} == {(2.0, 8.0)}


@pytest.mark.parametrize(("region", "byoc", "words"), [
    ("mars-1", None, "'mars-1' is not a region"), (None, None, "region_id is required"),
    ("us-east-1", "b-1", "no bring-your-own-cloud infrastructure 'b-1'"),
])
def test_a_request_naming_no_offered_region_is_a_400(region: str | None, byoc: str | None, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        profiles_in(region, byoc)
