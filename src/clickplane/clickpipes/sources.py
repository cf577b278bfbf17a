"""What each kind of source asks of a request: the checks a create runs against the source itself and the
destination (so that a pipe that could never move a row is refused with a 400 saying why, not left to fail), how
its credentials are kept apart from what responses show, and how a PATCH changes it."""

from __future__ import annotations

import copy
from typing import Any

from clickplane.kit.errors import BadRequest
from clickplane.runtime.base import RuntimeFailure
from clickplane.runtime.pipes import objects, postgres_source
from clickplane.runtime.pipes.destination import Destination
from clickplane.runtime.pipes.errors import SourceProblem

_CREDENTIAL_KEYS = {"postgres": ("credentials",), "objectStorage": ("accessKey", "connectionString",
                                                                   "serviceAccountKey")}
_TABLE_ENGINES = ("ReplacingMergeTree", "MergeTree", "Null")
_CONNECT_TIMEOUT_SECONDS = 10.0


def credentials_of(kind: str, source: dict[str, Any]) -> dict[str, Any]:
    """The secrets the worker presents to the source: kept sealed, never shown."""
    return {key: source[key] for key in _CREDENTIAL_KEYS[kind] if source.get(key)}


def shown_source(kind: str, source: dict[str, Any]) -> dict[str, Any]:
    """The source as responses show it: everything but its secrets."""
    return {key: value for key, value in source.items() if key not in _CREDENTIAL_KEYS[kind]}


async def check_source(kind: str, source: dict[str, Any], destination: dict[str, Any], target: Destination) -> None:
    """BadRequest for anything that keeps the pipe from working, found by asking the source and the destination.
    Normalizes `source` and `destination` in place (defaults the reference implies)."""
    database = destination.setdefault("database", "default")
    if not await _database_exists(target, database):
        raise BadRequest(f"destination.database: the service has no database {database!r}; create it first")
    if kind == "postgres":
        await _check_postgres(source, destination)
    else:
        await _check_object_storage(source, destination, target)


async def _database_exists(target: Destination, database: str) -> bool:
    listed = await target.execute("SELECT name FROM system.databases FORMAT TSV")
    return database in listed.split("\n")


async def _check_postgres(source: dict[str, Any], destination: dict[str, Any]) -> None:
    if destination.get("tableDefinition") or destination.get("table"):
        raise BadRequest("destination: a Postgres pipe takes its tables from source.postgres.tableMappings; "
                         "give only destination.database (and roles)")
    if source.get("authentication") == "IAM_ROLE":
        raise BadRequest("source.postgres.authentication: IAM roles need AWS; use basic with "
                         "credentials {username, password}")
    credentials = source.get("credentials") or {}
    if not credentials.get("username"):
        raise BadRequest("source.postgres.credentials: give the username and password of a user with the "
                         "REPLICATION attribute (or a superuser)")
    settings = source.setdefault("settings", {})
    settings.setdefault("replicationMode", "cdc")
    for name in ("replicationSlotName", "publicationName"):
        if settings.get(name) == "":  # clients send "" for "not given"
            del settings[name]
    if settings.get("replicationSlotName") and settings["replicationMode"] != "cdc_only":
        raise BadRequest("source.postgres.settings.replicationSlotName: a slot is given only in cdc_only mode; in "
                         f"{settings['replicationMode']} mode the pipe makes its own")
    mappings = check_mappings(source.get("tableMappings") or [])
    source["tableMappings"] = mappings
    connection = await _connect(source)
    try:
        await postgres_source.check_server(connection)
        tables = await postgres_source.describe(connection, [(m["sourceSchemaName"], m["sourceTable"])
                                                             for m in mappings])
        _check_columns(mappings, tables)
        if settings.get("publicationName"):
            await postgres_source.ensure_publication(
                connection, settings["publicationName"], [(t.schema, t.name) for t in tables], False)
        if settings.get("replicationSlotName") and \
                await postgres_source.slot_position(connection, settings["replicationSlotName"]) is None:
            raise BadRequest(f"source.postgres.settings.replicationSlotName: the source has no slot "
                             f"{settings['replicationSlotName']!r}; create it (pgoutput) or leave the name out")
    except SourceProblem as problem:
        raise BadRequest(f"source.postgres: {problem}") from problem
    finally:
        await connection.close()


def check_mappings(mappings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table mappings with their defaults; BadRequest for a duplicate, a dotted name or an unknown engine."""
    if not mappings:
        raise BadRequest("source.postgres.tableMappings: map at least one table (sourceSchemaName, sourceTable, "
                         "targetTable)")
    seen: set[tuple[str, str]] = set()
    for mapping in mappings:
        key = (mapping.get("sourceSchemaName") or "public", mapping["sourceTable"])
        if "." in key[0] or "." in key[1]:
            raise BadRequest(f"source.postgres.tableMappings: {key[0]}.{key[1]}: schema and table names with a dot "
                             "are not supported")
        if key in seen:
            raise BadRequest(f"source.postgres.tableMappings: {key[0]}.{key[1]} is mapped twice")
        seen.add(key)
        mapping["sourceSchemaName"] = key[0]
        mapping.setdefault("targetTable", f"{key[0]}_{key[1]}" if key[0] != "public" else key[1])
        mapping["targetTable"] = mapping["targetTable"] or key[1]
        mapping.setdefault("tableEngine", "ReplacingMergeTree")
        if mapping["tableEngine"] not in _TABLE_ENGINES:
            raise BadRequest(f"source.postgres.tableMappings: tableEngine {mapping['tableEngine']!r} is not one of "
                             f"{', '.join(_TABLE_ENGINES)}")
        if mapping.get("useCustomSortingKey") and not mapping.get("sortingKeys"):
            raise BadRequest(f"source.postgres.tableMappings: {key[0]}.{key[1]}: useCustomSortingKey needs "
                             "sortingKeys")
    return mappings


def _check_columns(mappings: list[dict[str, Any]], tables: list[postgres_source.SourceTable]) -> None:
    by_name = {(table.schema, table.name): table for table in tables}
    for mapping in mappings:
        table = by_name[(mapping["sourceSchemaName"], mapping["sourceTable"])]
        names = {column.name for column in table.columns}
        for field in ("excludedColumns", "sortingKeys"):
            unknown = sorted(set(mapping.get(field) or ()) - names)
            if unknown:
                raise BadRequest(f"source.postgres.tableMappings: {table.schema}.{table.name} has no column "
                                 f"{', '.join(unknown)} ({field})")
        keys = {column.name for column in table.columns if column.key_position is not None}
        if keys & set(mapping.get("excludedColumns") or ()):
            raise BadRequest(f"source.postgres.tableMappings: {table.schema}.{table.name}: a primary-key column "
                             "cannot be excluded")


def _postgres_endpoint(source: dict[str, Any], credentials: dict[str, Any]) -> postgres_source.PostgresEndpoint:
    """Where and how a Postgres pipe connects: TLS verified unless the request turns the check or TLS off."""
    tls: postgres_source.TlsMode = "disable" if source.get("disableTls") else \
        "require" if source.get("skipCertVerification") else "verify"
    return postgres_source.PostgresEndpoint(
        host=source["host"], port=int(source.get("port") or 5432), database=source["database"],
        user=credentials.get("username", ""), password=credentials.get("password", ""), tls=tls,
        ca_certificate=source.get("caCertificate") or None, tls_host=source.get("tlsHost") or None)


async def connect_postgres(source: dict[str, Any], credentials: dict[str, Any]) -> postgres_source.Connection:
    """A connection to a Postgres pipe's source; SourceProblem saying why there is none."""
    return await postgres_source.connect(_postgres_endpoint(source, credentials), _CONNECT_TIMEOUT_SECONDS)


async def _connect(source: dict[str, Any]) -> postgres_source.Connection:
    try:
        return await connect_postgres(source, source.get("credentials") or {})
    except SourceProblem as problem:
        raise BadRequest(f"source.postgres: {problem}") from problem


async def _check_object_storage(source: dict[str, Any], destination: dict[str, Any], target: Destination) -> None:
    authentication = source.get("authentication")
    if authentication not in (None, "IAM_USER"):
        raise BadRequest(f"source.objectStorage.authentication: {authentication} needs a cloud identity; give an "
                         "access key (IAM_USER with accessKey) or none for a public bucket")
    if authentication == "IAM_USER" and not (source.get("accessKey") or {}).get("accessKeyId"):
        raise BadRequest("source.objectStorage.accessKey: IAM_USER needs accessKey {accessKeyId, secretKey}")
    if source.get("queueUrl"):
        raise BadRequest("source.objectStorage.queueUrl: clickplane reads no event queue; continuous mode finds new "
                         "files by listing (keys after the last one loaded): leave queueUrl out")
    if source.get("skipInitialLoad") and source.get("startAfter"):
        raise BadRequest("source.objectStorage: startAfter cannot be combined with skipInitialLoad")
    formats = (await target.capabilities()).formats
    if source["format"] not in formats:
        raise BadRequest(f"source.objectStorage.format: the service's ClickHouse cannot read {source['format']}; "
                         f"it reads {', '.join(sorted(formats & _OBJECT_FORMATS))}")
    if not destination.get("table"):
        raise BadRequest("destination.table: name the table the files are loaded into")
    destination.setdefault("managedTable", True)
    if destination["managedTable"] and not destination.get("columns"):
        raise BadRequest("destination.columns: a managed table needs its columns ({name, type} each)")
    if not destination["managedTable"] and not await target.exists(destination["database"], destination["table"]):
        raise BadRequest(f"destination.table: {destination['database']}.{destination['table']} does not exist; "
                         "create it, or set managedTable with columns")
    keys = source.get("accessKey") or {}
    try:
        await objects.check(objects.ObjectSource(url=source["url"], access_key_id=keys.get("accessKeyId"),
                                                 secret_key=keys.get("secretKey"),
                                                 compression=source.get("compression") or "auto"))
    except (SourceProblem, RuntimeFailure) as problem:
        raise BadRequest(f"source.objectStorage: {problem}") from problem


_OBJECT_FORMATS = frozenset({"JSONEachRow", "JSONAsObject", "CSV", "CSVWithNames", "TabSeparated",
                             "TabSeparatedWithNames", "Parquet", "Avro"})


def edited_source(kind: str, shown: dict[str, Any], patch: dict[str, Any] | None, credentials: dict[str, Any]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source and credentials after a PATCH of `source.<kind>`: the fields the reference lets change."""
    source, secrets = copy.deepcopy(shown), dict(credentials)
    if not patch:
        return source, secrets
    for key in _CREDENTIAL_KEYS[kind]:
        if patch.get(key):
            secrets[key] = patch[key]
    if kind == "postgres":
        for key in ("host", "port", "database", "tlsHost", "caCertificate", "disableTls", "skipCertVerification"):
            if patch.get(key) is not None:
                source[key] = patch[key]
        settings = {key: value for key, value in (patch.get("settings") or {}).items() if value is not None}
        source["settings"] = source.get("settings", {}) | settings
        removed = {(m.get("sourceSchemaName") or "public", m["sourceTable"])
                   for m in patch.get("tableMappingsToRemove") or ()}
        kept = [m for m in source.get("tableMappings", []) if (m["sourceSchemaName"], m["sourceTable"]) not in removed]
        source["tableMappings"] = check_mappings(kept + list(patch.get("tableMappingsToAdd") or ()))
    else:
        for key in ("skipInitialLoad", "startAfter", "authentication", "iamRole"):
            if patch.get(key) is not None:
                source[key] = patch[key]
    return source, secrets
