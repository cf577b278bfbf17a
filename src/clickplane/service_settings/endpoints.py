"""A service's ClickHouse settings: list, describe, read, change and reset them.

Changes are checked against the service's running server (service_settings/service.py says how), stored
with the service, and applied by the reconciler to the server's `default` user within seconds, without a
restart. Each change is recorded as an activity.
"""

from __future__ import annotations

from uuid import UUID

from blacksheep import Response

from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.routes import Api
from clickplane.service_settings.schemas import (
    ServiceClickhouseSetting,
    ServiceClickhouseSettingsList,
    ServiceClickhouseSettingsPatchRequest,
    ServiceClickhouseSettingsPatchResponse,
    ServiceClickhouseSettingsSchema,
)
from clickplane.service_settings.service import SettingsService

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/clickhouseSettings"
NEEDS_RUNNING = " The service must be running: its own ClickHouse server says which settings exist."


def add_routes(api: Api, context: AppContext) -> None:
    settings = SettingsService(context)

    @api.route("GET", PATH, "serviceClickhouseSettingsListGet", "List ClickHouse settings", TAG,
               "The settings set through this API, by name, with their values. Every other setting has the "
               "engine's default.", ServiceClickhouseSettingsList,
               produces=Produces("settingName", "/result/settings/0/name"))
    async def list_settings(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(settings.list(caller, organizationId, serviceId))

    @api.route("GET", PATH + "/schema", "serviceClickhouseSettingsSchemaGet", "Get ClickHouse settings schema", TAG,
               "Every setting the service's ClickHouse server knows, by name: its type, description and default, "
               "and a warning for those whose change deserves a second look." + NEEDS_RUNNING,
               ServiceClickhouseSettingsSchema, errors=(400, 401, 404, 409, 500))
    async def settings_schema(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        return ok(await settings.schema(caller, organizationId, serviceId))

    @api.route("GET", PATH + "/{settingName}", "serviceClickhouseSettingGet", "Get ClickHouse setting", TAG,
               "The setting's value for the service: the one set through this API, else the engine's default "
               "(which needs the service running). 400 for a name ClickHouse does not know.",
               ServiceClickhouseSetting, errors=(400, 401, 404, 409, 500))
    async def get_setting(caller: Caller, organizationId: UUID, serviceId: UUID, settingName: str) -> Response:
        return ok(await settings.get(caller, organizationId, serviceId, settingName))

    @api.route("PATCH", PATH, "serviceClickhouseSettingsUpdate", "Update ClickHouse settings", TAG,
               "Sets one or more settings for the service's queries. Unknown names, values not of the setting's "
               "type and values the server refuses are answered with 400 naming them, and nothing is changed. "
               "The running server applies them within seconds, without a restart; DELETE returns one to its "
               "default." + NEEDS_RUNNING, ServiceClickhouseSettingsPatchResponse,
               errors=(400, 401, 404, 409, 500))
    async def update_settings(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ServiceClickhouseSettingsPatchRequest]) -> Response:
        return ok(await settings.update(caller, organizationId, serviceId, body.value))

    @api.route("DELETE", PATH + "/{settingName}", "serviceClickhouseSettingDelete",
               "Reset ClickHouse setting to default", TAG,
               "Returns the setting to the engine's default; the running server applies it within seconds. A "
               "setting that was never set is left as it is (200).", None, errors=(400, 401, 404, 409, 500))
    async def reset_setting(caller: Caller, organizationId: UUID, serviceId: UUID, settingName: str) -> Response:
        settings.reset(caller, organizationId, serviceId, settingName)
        return acknowledged()
