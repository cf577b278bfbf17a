"""Which server parameters a Postgres service lets its users set, and the reference's rules for their values.

The names are the reference's 32 (`pgConfig`) and the 29 more that clickhousectl 0.5.0 sends (the CLI wins).
Beyond the rules here, a value is checked by the engine's own parser of the service's version (the runtime's
`check_config`), which knows units, ranges and every enumeration.
"""

from __future__ import annotations

from collections.abc import Mapping

from clickplane.kit.errors import BadRequest

REFERENCE_PARAMETERS = frozenset({
    "max_connections", "default_transaction_isolation", "ssl_min_protocol_version", "maintenance_work_mem", "work_mem",
    "effective_cache_size", "random_page_cost", "effective_io_concurrency", "max_worker_processes",
    "max_parallel_workers", "max_parallel_workers_per_gather", "max_parallel_maintenance_workers", "statement_timeout",
    "lock_timeout", "idle_session_timeout", "idle_in_transaction_session_timeout", "transaction_timeout",
    "wal_sender_timeout", "wal_keep_size", "min_wal_size", "max_wal_size", "max_slot_wal_keep_size", "wal_compression",
    "autovacuum_max_workers", "autovacuum_naptime", "autovacuum_work_mem", "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_scale_factor", "autovacuum_vacuum_insert_scale_factor", "autovacuum_vacuum_cost_limit",
    "autovacuum_vacuum_cost_delay",
})  # fmt: skip
CLI_PARAMETERS = frozenset({
    "autovacuum_analyze_threshold", "autovacuum_freeze_max_age", "autovacuum_vacuum_insert_threshold",
    "autovacuum_vacuum_threshold", "bgwriter_delay", "bgwriter_flush_after", "bgwriter_lru_maxpages",
    "bgwriter_lru_multiplier", "checkpoint_timeout", "default_toast_compression", "enable_parallel_hash",
    "hash_mem_multiplier", "io_method", "io_workers", "log_lock_waits", "log_min_duration_statement",
    "log_parameter_max_length", "log_temp_files", "logical_decoding_work_mem", "maintenance_io_concurrency",
    "max_logical_replication_workers", "max_replication_slots", "max_sync_workers_per_subscription",
    "max_wal_senders", "shared_memory_percent", "temp_buffers", "track_activity_query_size", "vacuum_cost_delay",
    "wal_buffers",
})  # fmt: skip
ALLOWED_PARAMETERS = REFERENCE_PARAMETERS | CLI_PARAMETERS

# The reference's lower bounds of numbers, in each parameter's base unit (kB, ms, ...).
_MINIMUMS: dict[str, float] = {
    "max_connections": 1, "maintenance_work_mem": 64, "work_mem": 64, "effective_cache_size": 8, "random_page_cost": 0,
    "effective_io_concurrency": 0, "max_worker_processes": 0, "max_parallel_workers": 0,
    "max_parallel_workers_per_gather": 0, "max_parallel_maintenance_workers": 0, "statement_timeout": 0,
    "lock_timeout": 0, "idle_session_timeout": 0, "idle_in_transaction_session_timeout": 0, "transaction_timeout": 0,
    "wal_sender_timeout": 0, "wal_keep_size": 0, "min_wal_size": 32768, "max_wal_size": 32768,
    "max_slot_wal_keep_size": 0, "autovacuum_max_workers": 1, "autovacuum_naptime": 1, "autovacuum_work_mem": 1024,
    "autovacuum_vacuum_scale_factor": 0, "autovacuum_analyze_scale_factor": 0,
    "autovacuum_vacuum_insert_scale_factor": 0, "autovacuum_vacuum_cost_limit": 1, "autovacuum_vacuum_cost_delay": 0,
}  # fmt: skip
_CHOICES: dict[str, tuple[str, ...]] = {
    "default_transaction_isolation": ("read committed", "repeatable read", "serializable"),
    "ssl_min_protocol_version": ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"),
    "wal_compression": ("off", "on", "lz4", "zstd"),
}
# A server parameter that PostgreSQL itself sets from a unit's default when absent: -1 is allowed beside the
# reference's minimum for these (max_slot_wal_keep_size -1: no limit; autovacuum_vacuum_cost_limit -1: use
# vacuum_cost_limit), as the reference's own examples show.
_MINUS_ONE_ALLOWED = frozenset({"max_slot_wal_keep_size", "autovacuum_vacuum_cost_limit"})


def check_parameters(config: Mapping[str, object]) -> dict[str, str]:
    """The parameters as text, or BadRequest naming what is wrong: a name not allowed, a value of the wrong kind,
    below the reference's minimum or outside its choices."""
    checked: dict[str, str] = {}
    for name, value in config.items():
        if name not in ALLOWED_PARAMETERS:
            raise BadRequest(f"pgConfig: {name!r} is not a parameter a service may set; allowed: "
                             f"{', '.join(sorted(ALLOWED_PARAMETERS))}")
        checked[name] = _checked_value(name, value)
    return checked


def _checked_value(name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"pgConfig.{name}: give a string or a number, not {type(value).__name__}")
    choices = _CHOICES.get(name)
    if choices is not None and value not in choices:
        raise BadRequest(f"pgConfig.{name}: {value!r} is not one of: {', '.join(choices)}")
    number = _number(value)
    minimum = _MINIMUMS.get(name)
    if number is not None and minimum is not None and number < minimum and not (
            number == -1 and name in _MINUS_ONE_ALLOWED):
        raise BadRequest(f"pgConfig.{name}: {value} is below the minimum of {minimum:g}")
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
