"""A service's ClickHouse settings: list, describe, read, change and reset them.

Changes are checked against the service's running server (service_settings/service.py says how), stored
with the service, and applied by the reconciler to the server's `default` user within seconds, without a
restart. Each change is recorded as a `service_update_clickhouse_settings` activity (the reference has no
type for it): `details.set` holds what a PATCH changed, `details.reset` the setting a DELETE returned to
its default.
"""

from __future__ import annotations

import json
from uuid import UUID

from blacksheep import Response

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit.binders import JsonBody
from clickplane.kit.context import AppContext
from clickplane.kit.docs import Produces
from clickplane.kit.envelope import acknowledged, ok
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.kit.routes import Api
from clickplane.service_settings import service as rules
from clickplane.service_settings.schemas import (
    ServiceClickhouseSetting,
    ServiceClickhouseSettingSchemaEntry,
    ServiceClickhouseSettingsList,
    ServiceClickhouseSettingsPatchRequest,
    ServiceClickhouseSettingsPatchResponse,
    ServiceClickhouseSettingsSchema,
    ServiceClickhouseSettingWarning,
)
from clickplane.services import engine
from clickplane.services import service as service_rules
from clickplane.services.repository import Services
from clickplane.store import models

TAG = "Service"
PATH = "/v1/organizations/{organizationId}/services/{serviceId}/clickhouseSettings"
NEEDS_RUNNING = " The service must be running: its own ClickHouse server says which settings exist."


def schema_entry(info: rules.SettingInfo) -> ServiceClickhouseSettingSchemaEntry:
    return ServiceClickhouseSettingSchemaEntry(
        name=info.name, type=info.kind, description=info.description,
        enum=[0, 1] if info.kind == "boolean" else None, warning=rules.WARNINGS.get(info.name),
        deprecationNotice=rules.DEPRECATED if info.obsolete else None, example=info.default)


def add_routes(api: Api, context: AppContext) -> None:

    def service_of(caller: Caller, organization_id: UUID, service_id: UUID) -> models.Service:
        with context.database.transaction() as session:
            return service_rules.visible(Services(session), caller, organization_id, service_id)

    async def catalog(service: models.Service) -> dict[str, rules.SettingInfo]:
        """The settings the service's running server knows, with their defaults."""
        if service.state != "running":
            raise Conflict(f"service {service.id} is {service.state}: its ClickHouse settings are read from its "
                           f"running server; start it (or wake it) first. Current state: '{service.state}'")
        answer = await engine.ask(context, service.id, rules.CATALOG_SQL)
        if answer is None:
            raise Conflict(f"the ClickHouse server of service {service.id} is not answering; retry in a few seconds")
        if not answer.ok:
            raise RuntimeError(f"system.settings of service {service.id} could not be read: {answer.text[:500]}")
        return rules.parse_catalog(answer.text)

    async def check(service: models.Service, settings: dict[str, str]) -> None:
        rules.check_values(await catalog(service), settings)
        answer = await engine.ask(context, service.id, rules.PROBE_SQL, settings)
        if answer is None:
            raise Conflict(f"the ClickHouse server of service {service.id} is not answering; retry in a few seconds")
        refusal = rules.probe_refusal(answer.text)
        if refusal is not None:
            raise BadRequest(f"settings: ClickHouse refused them: {refusal}")

    @api.route("GET", PATH, "serviceClickhouseSettingsListGet", "List ClickHouse settings", TAG,
               "The settings set through this API, by name, with their values. Every other setting has the "
               "engine's default.", ServiceClickhouseSettingsList,
               produces=Produces("settingName", "/result/settings/0/name"))
    async def list_settings(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        configured = sorted(service_of(caller, organizationId, serviceId).clickhouse_settings.items())
        return ok(ServiceClickhouseSettingsList(settings=[
            ServiceClickhouseSetting(name=name, value=value) for name, value in configured]))

    @api.route("GET", PATH + "/schema", "serviceClickhouseSettingsSchemaGet", "Get ClickHouse settings schema", TAG,
               "Every setting the service's ClickHouse server knows, by name: its type, description and default, "
               "and a warning for those whose change deserves a second look." + NEEDS_RUNNING,
               ServiceClickhouseSettingsSchema, errors=(400, 401, 404, 409, 500))
    async def settings_schema(caller: Caller, organizationId: UUID, serviceId: UUID) -> Response:
        known = await catalog(service_of(caller, organizationId, serviceId))
        return ok(ServiceClickhouseSettingsSchema(settings=[schema_entry(known[name]) for name in sorted(known)]))

    @api.route("GET", PATH + "/{settingName}", "serviceClickhouseSettingGet", "Get ClickHouse setting", TAG,
               "The setting's value for the service: the one set through this API, else the engine's default "
               "(which needs the service running). 400 for a name ClickHouse does not know.",
               ServiceClickhouseSetting, errors=(400, 401, 404, 409, 500))
    async def get_setting(caller: Caller, organizationId: UUID, serviceId: UUID, settingName: str) -> Response:
        name = rules.check_name(settingName)
        service = service_of(caller, organizationId, serviceId)
        value = service.clickhouse_settings.get(name)
        if value is None:
            known = await catalog(service)
            rules.check_known(known, [name])
            value = known[name].default
        return ok(ServiceClickhouseSetting(name=name, value=value))

    @api.route("PATCH", PATH, "serviceClickhouseSettingsUpdate", "Update ClickHouse settings", TAG,
               "Sets one or more settings for the service's queries. Unknown names, values not of the setting's "
               "type and values the server refuses are answered with 400 naming them, and nothing is changed. "
               "The running server applies them within seconds, without a restart; DELETE returns one to its "
               "default." + NEEDS_RUNNING, ServiceClickhouseSettingsPatchResponse,
               errors=(400, 401, 404, 409, 500))
    async def update_settings(caller: Caller, organizationId: UUID, serviceId: UUID,
                              body: JsonBody[ServiceClickhouseSettingsPatchRequest]) -> Response:
        settings = rules.parse_request(body.value.settings)
        await check(service_of(caller, organizationId, serviceId), settings)
        with context.database.transaction() as session:
            service = service_rules.changeable(Services(session), caller, organizationId, serviceId)
            changed = service_rules.set_clickhouse_settings(service, settings)
            if changed:
                record(Activities(session), caller, rules.ACTIVITY, service_id=service.id, details={"set": changed})
        context.reconcile_now.set()
        warnings = [ServiceClickhouseSettingWarning(name=name, message=message)
                    for name, message in rules.warnings_for(sorted(settings))]
        return ok(ServiceClickhouseSettingsPatchResponse(settings=json.dumps(settings), warnings=warnings))

    @api.route("DELETE", PATH + "/{settingName}", "serviceClickhouseSettingDelete",
               "Reset ClickHouse setting to default", TAG,
               "Returns the setting to the engine's default; the running server applies it within seconds. A "
               "setting that was never set is left as it is (200).", None, errors=(400, 401, 404, 409, 500))
    async def reset_setting(caller: Caller, organizationId: UUID, serviceId: UUID, settingName: str) -> Response:
        name = rules.check_name(settingName)
        with context.database.transaction() as session:
            service = service_rules.changeable(Services(session), caller, organizationId, serviceId)
            if service_rules.reset_clickhouse_setting(service, name):
                record(Activities(session), caller, rules.ACTIVITY, service_id=service.id, details={"reset": name})
        context.reconcile_now.set()
        return acknowledged()
