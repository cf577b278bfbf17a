"""What a ClickStack object must agree with beyond its own shape (which schemas.py checks): the other objects of
its service that it names, and for a source or a saved search, the service's ClickHouse itself. A failed check
is a 400 saying what to change (or, for a dashboard's validate, the error it answers with)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from clickplane.clickstack.queries import (
    ValueQuery,
    aggregate_of,
    check_expressions,
    column_types,
    condition,
    table_of,
)
from clickplane.clickstack.repository import ClickStackObjects
from clickplane.kit.errors import BadRequest
from clickplane.runtime.pipes.destination import Destination

# The displays whose value an alert can follow (HyperDX: a time chart or a number).
ALERTABLE_DISPLAYS = frozenset({"line", "stacked_bar", "number"})
# Source fields that name another source of the same service.
LINKED_SOURCE_FIELDS = ("logSourceId", "traceSourceId", "metricSourceId", "sessionSourceId")


def connection_id(service_id: uuid.UUID) -> str:
    """The one built-in connection of a service (the Cloud API has no connection endpoints): the service's
    ClickHouse, named by the first 24 hex digits of the service's id."""
    return service_id.hex[:24]


def team_id(service_id: uuid.UUID) -> str:
    """The ClickStack team of a service (one per service, as on ClickHouse Cloud): its id's last 24 hex digits."""
    return service_id.hex[8:]


@dataclass(frozen=True)
class Neighbours:
    """The service's objects that an object may name, by kind and id."""

    connection: str
    sources: Mapping[str, Mapping[str, Any]]
    saved_searches: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    dashboards: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    webhooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def neighbours_of(session: Session, service_id: uuid.UUID) -> Neighbours:
    objects = ClickStackObjects(session)

    def of(kind: str) -> dict[str, dict[str, Any]]:
        return {row.id: row.document for row in objects.of_service(service_id, kind)}

    return Neighbours(connection=connection_id(service_id), sources=of("sources"),
                      saved_searches=of("saved-searches"), dashboards=of("dashboards"), webhooks=of("webhooks"))


# Sources.

def check_source_links(source: Mapping[str, Any], neighbours: Neighbours, own_id: str | None) -> None:
    if source.get("connection") != neighbours.connection:
        raise BadRequest(f"connection: this service's ClickStack has one connection, {neighbours.connection} (its "
                         f"ClickHouse); {source.get('connection')!r} is not it")
    for key in LINKED_SOURCE_FIELDS:
        linked = source.get(key)
        if linked and linked != own_id and linked not in neighbours.sources:
            raise BadRequest(f"{key}: no source {linked} in this service; create it first or leave the field out")


async def check_source_tables(source: Mapping[str, Any], destination: Destination) -> None:
    """The source's tables exist in the service's ClickHouse, and each of its expressions resolves over them."""
    table = table_of(source)
    if source.get("kind") == "metric":
        for metric, name in (source.get("metricTables") or {}).items():
            if name and not await column_types(destination, table.database, name):
                raise BadRequest(f"metricTables.{metric}: no table {table.database}.{name} in the service's "
                                 "ClickHouse; create it (the OpenTelemetry exporter makes otel_metrics_*) or "
                                 "name one that exists")
        return
    if not await column_types(destination, table.database, table.table):
        raise BadRequest(f"from: no table {table.database}.{table.table} in the service's ClickHouse; create it "
                         "or name one that exists")
    await check_expressions(destination, table, list(_expressions(source)))


def _expressions(source: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    for key, value in source.items():
        if key.endswith("Expression") and isinstance(value, str) and value.strip():
            yield key, value


# Saved searches.

def source_of(named: str | None, neighbours: Neighbours, key: str = "sourceId") -> Mapping[str, Any]:
    if not named or named not in neighbours.sources:
        raise BadRequest(f"{key}: no source {named} in this service; create the source first")
    return neighbours.sources[named]


async def search_query(search: Mapping[str, Any], source: Mapping[str, Any], destination: Destination
                       ) -> ValueQuery:
    """The rows a saved search finds, counted; checked by the server when `check` is awaited."""
    table = table_of(source)
    columns = await column_types(destination, table.database, table.table)
    conditions = [condition(search.get("where"), search.get("whereLanguage"), table, columns)]
    conditions += [f"({item['condition']})" for item in search.get("filters") or () if item.get("condition")]
    return ValueQuery(table=table, aggregate="count()", conditions=tuple(conditions))


# Dashboards.

def dashboard_problem(dashboard: Mapping[str, Any], neighbours: Neighbours, own_id: str | None = None
                      ) -> str | None:
    """The first of HyperDX's dashboard checks that fails, as its message; None when all pass."""
    tiles = list(dashboard.get("tiles") or ())
    configs = [tile.get("config") or {} for tile in tiles]
    for check in (_unknown_containers(dashboard, tiles), _unknown_sources(dashboard, neighbours),
                  _unknown_connections(configs, neighbours), _mismatched_connections(configs, neighbours),
                  _heatmaps_without_traces(configs, neighbours), _unknown_click_targets(configs, neighbours, own_id)):
        if check:
            return check
    return None


def _unknown_containers(dashboard: Mapping[str, Any], tiles: list[Mapping[str, Any]]) -> str | None:
    containers = {item["id"]: {tab["id"] for tab in item.get("tabs") or ()} for item in dashboard.get("containers")
                  or ()}
    missing = sorted({tile["containerId"] for tile in tiles if tile.get("containerId")
                      and tile["containerId"] not in containers})
    if missing:
        return f"Could not find the following container IDs: {', '.join(missing)}"
    tabs = sorted({tile["tabId"] for tile in tiles if tile.get("tabId")
                   and tile["tabId"] not in containers.get(tile.get("containerId") or "", set())})
    return f"Could not find the following tab IDs: {', '.join(tabs)}" if tabs else None


def sources_named_by_dashboard(dashboard: Mapping[str, Any]) -> set[str]:
    """The sources a dashboard's tiles and filters read."""
    named = {(tile.get("config") or {}).get("sourceId") for tile in dashboard.get("tiles") or ()}
    for item in dashboard.get("filters") or ():
        named |= {item.get("sourceId"), *(item.get("appliesToSourceIds") or ())}
    return {name for name in named if name}


def _unknown_sources(dashboard: Mapping[str, Any], neighbours: Neighbours) -> str | None:
    missing = sorted(sources_named_by_dashboard(dashboard) - set(neighbours.sources))
    return f"Could not find the following source IDs: {', '.join(missing)}" if missing else None


def _unknown_connections(configs: list[Mapping[str, Any]], neighbours: Neighbours) -> str | None:
    missing = sorted({config["connectionId"] for config in configs if config.get("connectionId")
                      and config["connectionId"] != neighbours.connection})
    return f"Could not find the following connection IDs: {', '.join(missing)}" if missing else None


def _mismatched_connections(configs: list[Mapping[str, Any]], neighbours: Neighbours) -> str | None:
    for config in configs:
        source = neighbours.sources.get(config.get("sourceId") or "")
        if source and config.get("connectionId") and source.get("connection") != config["connectionId"]:
            return (f"Source {config['sourceId']} uses connection {source.get('connection')}, not "
                    f"{config['connectionId']}")
    return None


def _heatmaps_without_traces(configs: list[Mapping[str, Any]], neighbours: Neighbours) -> str | None:
    wrong = sorted({config["sourceId"] for config in configs if config.get("displayType") == "heatmap"
                    and (neighbours.sources.get(config.get("sourceId") or "") or {}).get("kind") != "trace"})
    return f"Heatmap tiles must use trace sources: {', '.join(wrong)}" if wrong else None


def _unknown_click_targets(configs: list[Mapping[str, Any]], neighbours: Neighbours, own_id: str | None
                           ) -> str | None:
    for config in configs:
        click = config.get("onClick") or {}
        target = (click.get("target") or {}).get("id") if (click.get("target") or {}).get("mode") == "id" else None
        if target is None:
            continue
        if click.get("type") == "dashboard" and target != own_id and target not in neighbours.dashboards:
            return f"Could not find the following dashboard IDs: {target}"
        if click.get("type") == "search" and (neighbours.sources.get(target) or {}).get("kind") not in ("log",
                                                                                                          "trace"):
            return f"onClick search targets must be log or trace sources: {target}"
    return None


def alertable_tile_ids(dashboard: Mapping[str, Any]) -> set[str]:
    """The tiles an alert may follow: a time chart or a number, built from a source (not raw SQL)."""
    return {tile["id"] for tile in dashboard.get("tiles") or () if tile.get("id")
            and (tile.get("config") or {}).get("displayType") in ALERTABLE_DISPLAYS
            and (tile.get("config") or {}).get("configType") != "sql"}


# Alerts.

def check_alert_links(alert: Mapping[str, Any], neighbours: Neighbours) -> None:
    if alert.get("source") == "saved_search":
        if alert.get("savedSearchId") not in neighbours.saved_searches:
            raise BadRequest(f"savedSearchId: no saved search {alert.get('savedSearchId')} in this service")
    else:
        dashboard = neighbours.dashboards.get(alert.get("dashboardId") or "")
        if dashboard is None:
            raise BadRequest(f"dashboardId: no dashboard {alert.get('dashboardId')} in this service")
        tiles = {tile.get("id"): tile for tile in dashboard.get("tiles") or ()}
        if alert.get("tileId") not in tiles:
            raise BadRequest(f"tileId: dashboard {alert['dashboardId']} has no tile {alert.get('tileId')}")
        if alert["tileId"] not in alertable_tile_ids(dashboard):
            raise BadRequest(f"tileId: tile {alert['tileId']} cannot carry an alert: only line, stacked_bar and "
                             "number tiles built from a source can (a raw-SQL tile has no value clickplane can "
                             "follow per window)")
    channel = alert.get("channel") or {}
    if channel.get("type") != "webhook":
        raise BadRequest("channel: clickplane delivers alerts to webhooks only (it has no mail transport); give "
                         '{"type": "webhook", "webhookId": ...}')
    if channel.get("webhookId") not in neighbours.webhooks:
        raise BadRequest(f"channel.webhookId: no webhook {channel.get('webhookId')} in this service; create it first")


def tile_query(tile: Mapping[str, Any], source: Mapping[str, Any], columns: Mapping[str, str]) -> ValueQuery:
    """What a tile alert follows: the tile's last select item over its source, per its group."""
    config = tile.get("config") or {}
    table = table_of(source)
    select = (config.get("select") or [{"aggFn": "count"}])[-1]
    conditions = (condition(select.get("where"), select.get("whereLanguage"), table, columns),)
    return ValueQuery(table=table, aggregate=aggregate_of(select, table.timestamp), conditions=conditions,
                      group_by=config.get("groupBy") or None)
