"""Which server parameters a Postgres service lets its users set, and the reference's rules for their values.

The names are the reference's 32 (`pgConfig`) and the 29 more that clickhousectl 0.5.0 sends (the CLI wins).
Beyond the rules here, a value is checked by the engine's own parser of the service's version (the runtime's
`check_config`), which knows units, ranges and every enumeration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from clickplane.kit.errors import BadRequest


@dataclass(frozen=True)
class Rule:
    """What the reference says of a parameter's value: text or a number (`integer`, `number`: also given as text,
    with a unit), the least number, or the only texts allowed."""

    kind: Literal["integer", "number", "text"]
    minimum: float | None = None
    choices: tuple[str, ...] = ()

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "text":
            return {"type": "string", **({"enum": list(self.choices)} if self.choices else {})}
        number: dict[str, Any] = {"type": self.kind, **({"minimum": self.minimum} if self.minimum is not None else {})}
        return {"anyOf": [{"type": "string"}, number]}


# The reference's 31 parameters (its `pgConfig`), with its bounds in each parameter's base unit (kB, ms, ...).
REFERENCE_PARAMETERS: dict[str, Rule] = {
    "max_connections": Rule("integer", 1),
    "default_transaction_isolation": Rule("text", choices=("read committed", "repeatable read", "serializable")),
    "ssl_min_protocol_version": Rule("text", choices=("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")),
    "maintenance_work_mem": Rule("integer", 64),
    "work_mem": Rule("integer", 64),
    "effective_cache_size": Rule("integer", 8),
    "random_page_cost": Rule("number", 0),
    "effective_io_concurrency": Rule("integer", 0),
    "max_worker_processes": Rule("integer", 0),
    "max_parallel_workers": Rule("integer", 0),
    "max_parallel_workers_per_gather": Rule("integer", 0),
    "max_parallel_maintenance_workers": Rule("integer", 0),
    "statement_timeout": Rule("integer", 0),
    "lock_timeout": Rule("integer", 0),
    "idle_session_timeout": Rule("integer", 0),
    "idle_in_transaction_session_timeout": Rule("integer", 0),
    "transaction_timeout": Rule("integer", 0),
    "wal_sender_timeout": Rule("integer", 0),
    "wal_keep_size": Rule("integer", 0),
    "min_wal_size": Rule("integer", 32768),
    "max_wal_size": Rule("integer", 32768),
    "max_slot_wal_keep_size": Rule("integer", 0),
    "wal_compression": Rule("text", choices=("off", "on", "lz4", "zstd")),
    "autovacuum_max_workers": Rule("integer", 1),
    "autovacuum_naptime": Rule("integer", 1),
    "autovacuum_work_mem": Rule("integer", 1024),
    "autovacuum_vacuum_scale_factor": Rule("number", 0),
    "autovacuum_analyze_scale_factor": Rule("number", 0),
    "autovacuum_vacuum_insert_scale_factor": Rule("number", 0),
    "autovacuum_vacuum_cost_limit": Rule("integer", 1),
    "autovacuum_vacuum_cost_delay": Rule("integer", 0),
}
# The 29 more that clickhousectl 0.5.0 sends; the reference says nothing of their values but that they are text or
# numbers.
CLI_PARAMETERS: dict[str, Rule] = {name: Rule("number") for name in (
    "autovacuum_analyze_threshold", "autovacuum_freeze_max_age", "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_threshold", "bgwriter_delay", "bgwriter_flush_after", "bgwriter_lru_maxpages",
    "bgwriter_lru_multiplier", "checkpoint_timeout", "default_toast_compression", "enable_parallel_hash",
    "hash_mem_multiplier", "io_method", "io_workers", "log_lock_waits", "log_min_duration_statement",
    "log_parameter_max_length", "log_temp_files", "logical_decoding_work_mem", "maintenance_io_concurrency",
    "max_logical_replication_workers", "max_replication_slots", "max_sync_workers_per_subscription",
    "max_wal_senders", "shared_memory_percent", "temp_buffers", "track_activity_query_size", "vacuum_cost_delay",
    "wal_buffers",
)}  # fmt: skip
PARAMETERS = {**REFERENCE_PARAMETERS, **CLI_PARAMETERS}
# Where the reference's own examples give -1 (no limit; inherit vacuum_cost_limit) below its minimum.
_MINUS_ONE_ALLOWED = frozenset({"max_slot_wal_keep_size", "autovacuum_vacuum_cost_limit"})


def check_parameters(config: Mapping[str, object]) -> dict[str, str]:
    """The parameters as text, or BadRequest naming what is wrong: a name not allowed, a value of the wrong kind,
    below the reference's minimum or outside its choices."""
    checked: dict[str, str] = {}
    for name, value in config.items():
        rule = PARAMETERS.get(name)
        if rule is None:
            raise BadRequest(f"pgConfig: {name!r} is not a parameter a service may set; allowed: "
                             f"{', '.join(sorted(PARAMETERS))}")
        checked[name] = _checked_value(name, rule, value)
    return checked


def _checked_value(name: str, rule: Rule, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or (
            rule.kind == "text" and not isinstance(value, str)):
        kind = "a string" if rule.kind == "text" else "a string or a number"
        raise BadRequest(f"pgConfig.{name}: give {kind}, not {type(value).__name__}")
    if rule.choices and value not in rule.choices:
        raise BadRequest(f"pgConfig.{name}: {value!r} is not one of: {', '.join(rule.choices)}")
    number = _number(value)
    if number is not None and rule.minimum is not None and number < rule.minimum and not (
            number == -1 and name in _MINUS_ONE_ALLOWED):
        raise BadRequest(f"pgConfig.{name}: {value} is below the minimum of {rule.minimum:g}")
    return value if isinstance(value, str) else _number_text(value)


def _number(value: str | int | float) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None  # text with a unit ("64MB"): the engine's parser judges it


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)


def check_pgbouncer(config: Mapping[str, str] | None) -> None:
    """clickplane runs no PgBouncer beside its servers: say so rather than keep settings nothing applies."""
    if config:
        raise BadRequest("pgBouncerConfig: clickplane runs no PgBouncer, so its parameters would have no effect; "
                         "send an empty object {} and connect to the server directly")


def restart_message(names: tuple[str, ...]) -> str | None:
    if not names:
        return None
    return (f"Changes to {', '.join(sorted(names))} take effect after a restart: PATCH the service's state with "
            '{"command": "restart"}.')
