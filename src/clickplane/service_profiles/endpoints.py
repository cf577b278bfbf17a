"""GET /serviceProfiles: the service profiles a region offers (clickhousectl's `service profile list`; absent from
the reference document)."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import ok
from clickplane.kit.routes import Api
from clickplane.service_profiles.schemas import ServiceProfile
from clickplane.service_profiles.service import REGIONS, profiles_in

TAG = "Service"


def add_routes(api: Api, context: AppContext) -> None:
    @api.route("GET", "/v1/organizations/{organizationId}/serviceProfiles", "serviceProfileGetList",
               "List service profiles", TAG,
               "The profiles a service may be created with in `region_id`, each with the cores and memory of its "
               "smallest replica; clickplane runs every profile alike, with 8 to 356 GiB per replica. `byoc_id` names "
               "no infrastructure here (400). Absent from the reference; clickhousectl's `service profile list`.",
               list[ServiceProfile], parameters={"region_id": {"enum": sorted(REGIONS)}})
    async def list_profiles(caller: Caller, organizationId: UUID, region_id: str | None = None,
                            byoc_id: str | None = None) -> Response:
        return ok(profiles_in(region_id, byoc_id))
