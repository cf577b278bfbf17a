"""Which service profiles a region offers: every profile of the reference's enumeration, in every region clickplane
takes. clickplane records a service's profile but runs every profile alike, so each is shown with the smallest
replica a service may have (memory goes up from there in steps of 4 GiB), and its cores at ClickHouse Cloud's 4 GiB
per core (the local runtime limits memory, not CPU). clickplane runs no bring-your-own-cloud infrastructure, so a
`byoc_id` names none; a region no provider offers is a 400, as a service created there would be."""

from __future__ import annotations

from typing import get_args

from clickplane.kit.enums import REGIONS_BY_PROVIDER, Profile
from clickplane.kit.errors import BadRequest
from clickplane.service_profiles.schemas import ServiceProfile
from clickplane.services.schemas import MIN_REPLICA_MEMORY_GB

GIB_PER_CORE = 4
REGIONS = frozenset().union(*REGIONS_BY_PROVIDER.values())


def profiles_in(region_id: str | None, byoc_id: str | None) -> list[ServiceProfile]:
    if byoc_id is not None:
        raise BadRequest(f"byoc_id: no bring-your-own-cloud infrastructure {byoc_id!r} exists in this organization "
                         "(clickplane runs services itself); ask with region_id instead")
    if region_id is None:
        raise BadRequest("region_id is required (or byoc_id): the region to list the service profiles of")
    if region_id not in REGIONS:
        raise BadRequest(f"region_id {region_id!r} is not a region clickplane offers; use one of: "
                         f"{', '.join(sorted(REGIONS))}")
    return [ServiceProfile(profile=profile, cpuCores=MIN_REPLICA_MEMORY_GB / GIB_PER_CORE,
                           memoryGi=MIN_REPLICA_MEMORY_GB) for profile in get_args(Profile)]
