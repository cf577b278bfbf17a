"""ClickHouse settings of a service: which exist, and which values they take, as its own server says.

The catalog is the running server's `system.settings` (CATALOG_SQL), read as the internal user, whose
profile no setting of the service reaches: its values are the engine's defaults. A change is accepted when
- every name is one the server knows (else 400 naming the unknown ones);
- each value has the setting's type where that type is simple: integer, number or boolean. Modern servers
  name each setting's type; 18.16 names none, so there a setting whose default is a number takes a number;
- a whole number fits the setting's integer type (INTEGER_RANGES): servers parse integers without checking
  for overflow (18.16 takes max_threads = 99999999999999999999999 as 200376420520689663);
- the server itself takes all of them together (the probe, PROBE_SQL), which catches what a type alone
  cannot, such as a mode that does not exist.

Accepted settings are stored with the service and written to its `default` user's profile by the runtime.
`SettingsService`'s methods are the API's use cases (list, describe, read, change, reset), each reading or
writing in a session of its own. Each change is recorded as a `service_update_clickhouse_settings` activity
(the reference has no type for it): `details.set` holds what a PATCH changed, `details.reset` the setting a
DELETE returned to its default.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from clickplane.activities.repository import Activities
from clickplane.activities.service import record
from clickplane.auth.authentication import Caller
from clickplane.kit.context import AppContext
from clickplane.kit.errors import BadRequest, Conflict
from clickplane.runtime.clickhouse.interface import CONFIG_SUBSTITUTION, SETTING_NAME
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
from clickplane.services.lookup import changeable, visible
from clickplane.services.repository import Services
from clickplane.services.service import reset_clickhouse_setting, set_clickhouse_settings

CATALOG_SQL = "SELECT * FROM system.settings FORMAT JSONEachRow"
# An empty query, sent with the settings as URL parameters. The server applies the parameters before it
# looks at the query, so the answer "Empty query" (code 62) means it took every setting, and any other
# error says what it refused. An empty query reads nothing, so no limit among the settings can fail it.
PROBE_SQL = ""
_ACCEPTED = re.compile(r"\bCode: 62\b")

ACTIVITY: Final = "service_update_clickhouse_settings"
MAX_VALUE_LENGTH = 1024
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BOOLEAN = frozenset({"0", "1", "true", "false"})
_INTEGER_TYPE = re.compile(r"(NonZero)?U?Int(8|16|32|64)|Milliseconds")
_SIZED_INTEGER_TYPE = re.compile(r"(?P<non_zero>NonZero)?(?P<unsigned>U?)Int(?P<bits>8|16|32|64)")
# The whole numbers a setting whose engine type is not a sized integer may take: a count held in a UInt64
# (MaxThreads, Milliseconds), or, where the server names no type (18.16), whatever any integer setting holds.
UINT64_RANGE = (0, 2**64 - 1)
UNTYPED_RANGE = (-2**63, 2**64 - 1)

# Settings whose change is worth a second thought, with what it does here.
WARNINGS = {
    "readonly": "1 or 2 makes every query of the default user read-only (1 also forbids changing settings per "
                "query): nothing can write to the service until it is reset.",
    "allow_ddl": "0 forbids CREATE, ALTER and DROP for the default user.",
    "max_memory_usage": "Replaces the memory limit that the service's scaling (maxReplicaMemoryGb) sets for queries.",
    "compatibility": "Makes the server behave like an older ClickHouse release; test your queries against it first.",
}
DEPRECATED = "ClickHouse keeps this setting only for compatibility and no longer acts on it."


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the server describes it."""

    name: str
    default: str
    kind: str  # integer, number, boolean or string
    description: str
    obsolete: bool = False
    engine_type: str | None = None  # as the server names it; None where it names none (18.16)


def kind_of(engine_type: str | None, default: str) -> str:
    """The simple type of a setting's values: from the type the server names, else from its default."""
    if engine_type is None:
        return "number" if _NUMBER.fullmatch(default) else "string"
    if engine_type == "Bool":
        return "boolean"
    if engine_type in ("Float", "Seconds"):
        return "number"
    return "integer" if _INTEGER_TYPE.fullmatch(engine_type) else "string"


def parse_catalog(text: str) -> dict[str, SettingInfo]:
    """CATALOG_SQL's output by setting name; ValueError if it is not that."""
    catalog = {}
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            default = str(row.get("default", row["value"]))
            catalog[row["name"]] = SettingInfo(row["name"], default, kind_of(row.get("type"), default),
                                               str(row.get("description", "")), bool(row.get("is_obsolete", 0)),
                                               row.get("type"))
    return catalog


def check_name(name: str) -> str:
    if not SETTING_NAME.fullmatch(name):
        raise BadRequest(f"{name!r} is not a ClickHouse setting name: names are letters, digits and underscores")
    return name


def parse_request(settings: str | dict[str, Any]) -> dict[str, str]:
    """The request's settings, name to value as a string. The reference types the field as a string holding
    a JSON object; a JSON object itself is taken too."""
    pairs = _json_object(settings) if isinstance(settings, str) else settings
    if not pairs:
        raise BadRequest("settings is empty: give at least one setting to change")
    return {check_name(name): _value_text(name, value) for name, value in pairs.items()}


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BadRequest('settings must be a JSON object of names to values, such as {"max_threads": "4"}')
    return value


def _value_text(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise BadRequest(f"settings.{name}: give the value as a string, number or boolean; to return a setting "
                         f"to its default use DELETE .../clickhouseSettings/{name}")
    if not value.isprintable() or len(value) > MAX_VALUE_LENGTH:
        raise BadRequest(f"settings.{name}: a value is at most {MAX_VALUE_LENGTH} printable characters")
    if CONFIG_SUBSTITUTION in value:
        raise BadRequest(f"settings.{name}: a value may not contain {CONFIG_SUBSTITUTION!r}: ClickHouse would "
                         "substitute other values of its configuration for ${...}")
    return value


def check_known(catalog: dict[str, SettingInfo], names: Iterable[str]) -> None:
    unknown = sorted(set(names) - set(catalog))
    if unknown:
        raise BadRequest(f"ClickHouse has no setting {', '.join(map(repr, unknown))}; "
                         "GET .../clickhouseSettings/schema lists them")


def check_values(catalog: dict[str, SettingInfo], settings: dict[str, str]) -> None:
    """Every name known, every value of its simple type and every whole number within the setting's
    integer range; BadRequest naming what is not."""
    check_known(catalog, settings)
    for name, value in settings.items():
        info = catalog[name]
        if not fits(info.kind, value):
            raise BadRequest(f"settings.{name}: {value!r} is not {'an' if info.kind == 'integer' else 'a'} {info.kind}")
        bounds = integer_range(info)
        if bounds is not None and _INTEGER.fullmatch(value) and not bounds[0] <= int(value) <= bounds[1]:
            held_in = f"its type {info.engine_type}" if info.engine_type else "a 64-bit integer setting"
            raise BadRequest(f"settings.{name}: {value} is out of range for {held_in}: give a whole number from "
                             f"{bounds[0]} to {bounds[1]}")


def integer_range(info: SettingInfo) -> tuple[int, int] | None:
    """The lowest and highest whole number the setting holds; None for a setting that holds no integer
    (a Float, Seconds, a boolean or a string)."""
    sized = _SIZED_INTEGER_TYPE.fullmatch(info.engine_type or "")
    if sized:
        bits = int(sized["bits"])
        low, high = (0, 2**bits - 1) if sized["unsigned"] else (-2**(bits - 1), 2**(bits - 1) - 1)
        return (max(low, 1) if sized["non_zero"] else low), high
    if info.engine_type in ("MaxThreads", "Milliseconds"):
        return UINT64_RANGE
    if info.engine_type is None and info.kind == "number":
        return UNTYPED_RANGE
    return None


def fits(kind: str, value: str) -> bool:
    if kind == "integer":
        return bool(_INTEGER.fullmatch(value))
    if kind == "number":
        return bool(_NUMBER.fullmatch(value))
    if kind == "boolean":
        return value.lower() in _BOOLEAN
    return True


def probe_refusal(answer: str) -> str | None:
    """None when the probe's answer shows the server took every setting; else its reason, in one line."""
    if _ACCEPTED.search(answer):
        return None
    reason = answer.strip().splitlines()[0] if answer.strip() else "no reason given"
    reason = reason.split("DB::Exception: ", 1)[-1]
    return re.sub(r"(, e\.what\(\) = DB::Exception| \(version [^)]*\))+$", "", reason)


def warnings_for(names: list[str]) -> list[tuple[str, str]]:
    return [(name, WARNINGS[name]) for name in names if name in WARNINGS]


def schema_entry(info: SettingInfo) -> ServiceClickhouseSettingSchemaEntry:
    return ServiceClickhouseSettingSchemaEntry(
        name=info.name, type=info.kind, description=info.description,
        enum=[0, 1] if info.kind == "boolean" else None, warning=WARNINGS.get(info.name),
        deprecationNotice=DEPRECATED if info.obsolete else None, example=info.default)


@dataclass(frozen=True)
class SeenService:
    """What the settings' use cases need of a service, read in a session that is closed before its server
    is asked anything."""

    id: uuid.UUID
    state: str
    settings: dict[str, str]


class SettingsService:
    def __init__(self, context: AppContext) -> None:
        self.context = context

    def list(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
             ) -> ServiceClickhouseSettingsList:
        configured = sorted(self._look(caller, organization_id, service_id).settings.items())
        return ServiceClickhouseSettingsList(settings=[
            ServiceClickhouseSetting(name=name, value=value) for name, value in configured])

    async def schema(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID
                     ) -> ServiceClickhouseSettingsSchema:
        known = await self._catalog(self._look(caller, organization_id, service_id))
        return ServiceClickhouseSettingsSchema(settings=[schema_entry(known[name]) for name in sorted(known)])

    async def get(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, setting_name: str
                  ) -> ServiceClickhouseSetting:
        name = check_name(setting_name)
        service = self._look(caller, organization_id, service_id)
        value = service.settings.get(name)
        if value is None:
            known = await self._catalog(service)
            check_known(known, [name])
            value = known[name].default
        return ServiceClickhouseSetting(name=name, value=value)

    async def update(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID,
                     request: ServiceClickhouseSettingsPatchRequest) -> ServiceClickhouseSettingsPatchResponse:
        settings = parse_request(request.settings)
        await self._check(self._look(caller, organization_id, service_id), settings)
        with self.context.database.transaction() as session:
            service = changeable(Services(session), caller, organization_id, service_id)
            changed = set_clickhouse_settings(service, settings)
            if changed:
                record(Activities(session), caller, ACTIVITY, service_id=service.id, details={"set": changed})
        self.context.reconcile_now.set()
        warnings = [ServiceClickhouseSettingWarning(name=name, message=message)
                    for name, message in warnings_for(sorted(settings))]
        return ServiceClickhouseSettingsPatchResponse(settings=json.dumps(settings), warnings=warnings)

    def reset(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID, setting_name: str) -> None:
        name = check_name(setting_name)
        with self.context.database.transaction() as session:
            service = changeable(Services(session), caller, organization_id, service_id)
            if reset_clickhouse_setting(service, name):
                record(Activities(session), caller, ACTIVITY, service_id=service.id, details={"reset": name})
        self.context.reconcile_now.set()

    def _look(self, caller: Caller, organization_id: uuid.UUID, service_id: uuid.UUID) -> SeenService:
        with self.context.database.looking() as session:
            service = visible(Services(session), caller, organization_id, service_id)
            return SeenService(service.id, service.state, dict(service.clickhouse_settings))

    async def _catalog(self, service: SeenService) -> dict[str, SettingInfo]:
        """The settings the service's running server knows, with their defaults."""
        if service.state != "running":
            raise Conflict(f"service {service.id} is {service.state}: its ClickHouse settings are read from its "
                           f"running server; start it (or wake it) first. Current state: '{service.state}'")
        answer = await self._ask(service, CATALOG_SQL)
        if not answer.ok:
            raise RuntimeError(f"system.settings of service {service.id} could not be read: {answer.text[:500]}")
        return parse_catalog(answer.text)

    async def _check(self, service: SeenService, settings: dict[str, str]) -> None:
        """BadRequest unless the service's running server knows every setting and takes every value."""
        check_values(await self._catalog(service), settings)
        refusal = probe_refusal((await self._ask(service, PROBE_SQL, settings)).text)
        if refusal is not None:
            raise BadRequest(f"settings: ClickHouse refused them: {refusal}")

    async def _ask(self, service: SeenService, sql: str, settings: dict[str, str] | None = None) -> engine.Answer:
        answer = await engine.ask(self.context, service.id, sql, settings)
        if answer is None:
            raise Conflict(f"the ClickHouse server of service {service.id} is not answering; retry in a few seconds")
        return answer
