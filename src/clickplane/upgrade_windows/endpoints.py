"""A service's upgrade window: get, set, delete."""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.upgrade_windows.schemas import UpgradeWindow, UpgradeWindowPutRequest
from clickplane.upgrade_windows.service import UpgradeWindowService

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/upgradeWindow"
ERRORS = (400, 401, 404, 409, 500)
UPGRADES = (" An upgrade moves the service to the ClickHouse binary the operator configured for its release "
            "channel (clickhouse_release_channels), restarting it with its data; clickhouseVersion is then what "
            "the new server answers to SELECT version().")


def add_routes(api: Api, context: AppContext) -> None:
    windows = UpgradeWindowService(context)

    @api.route("GET", PATH, "upgradeWindowGet", "Get service upgrade window", TAG,
               "The service's upgrade window; 404 when none is set.", UpgradeWindow)
    async def get_window(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(windows.get(caller, organizationId, serviceId))

    @api.route("PUT", PATH, "upgradeWindowUpdate", "Set service upgrade window", TAG,
               "Sets the window: 6 hours from startHourUtc (0, 6, 12 or 18) on weekday (0 = Sunday). Upgrades "
               "happen only inside it; a primary service's window is its warehouse's secondaries' too (400 on a "
               "secondary)." + UPGRADES, UpgradeWindow, errors=ERRORS)
    async def put_window(caller: Caller, organizationId: UUID, serviceId: UUID,
                         body: JsonBody[UpgradeWindowPutRequest]) -> Response:
        return ok(windows.put(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", PATH, "upgradeWindowDelete", "Delete service upgrade window", TAG,
               "Removes the window: upgrades then happen as soon as the channel's binary changes. 404 when none "
               "is set, 400 on a secondary service.", None, errors=ERRORS)
    async def delete_window(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        windows.delete(caller, organizationId, serviceId)
        return acknowledged()
