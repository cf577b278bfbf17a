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
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from clickplane.kit.errors import BadRequest
from clickplane.runtime.base import CONFIG_SUBSTITUTION, SETTING_NAME

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
