"""ClickStack's wire models (clickstack/schemas.py): each rule a request is held to, with a body that passes and one
that fails and what it is told; that responses read back what requests refuse; and that the models take the
reference's own examples."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, get_args

import pytest
from pydantic import BaseModel, RootModel, TypeAdapter, ValidationError
from pydantic_core import to_json

from clickplane.clickstack import schemas
from clickplane.kit.binders import describe_validation_error
from clickplane.kit.schemas import RequestModel
from tests.shared import SHARED_DIR, shared_file

OBJECT_ID = "65f5e4a3b9e77c001a567890"
WEBHOOK = {"type": "webhook", "webhookId": OBJECT_ID}


def accepted(model: type[BaseModel], body: Any) -> Any:
    """The body as a request is validated (strict JSON), dumped as the service stores it."""
    parsed = model.model_validate_json(json.dumps(body), strict=True)
    return parsed.model_dump(mode="json", by_alias=True, exclude_none=True)


def refused(model: type[BaseModel], body: Any) -> str:
    """What a request with this body is told (the 400's text)."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(json.dumps(body), strict=True)
    return describe_validation_error(caught.value)


# --- Alerts --------------------------------------------------------------------------------------------------------

def alert(**fields: Any) -> dict[str, Any]:
    return {"savedSearchId": OBJECT_ID, "threshold": 10, "thresholdType": "above", "interval": "5m",
            "channel": WEBHOOK} | fields


@pytest.mark.parametrize("threshold_type", ["between", "not_between"])
def test_a_range_alert_needs_an_upper_bound_at_least_its_threshold(threshold_type: str) -> None:
    assert accepted(schemas.ClickStackCreateAlertRequest,
                    alert(thresholdType=threshold_type, thresholdMax=10))["thresholdMax"] == 10
    assert refused(schemas.ClickStackCreateAlertRequest, alert(thresholdType=threshold_type)) == (
        f"thresholdMax: is required for thresholdType {threshold_type}: it is the range's upper bound")
    assert refused(schemas.ClickStackUpdateAlertRequest, alert(thresholdType=threshold_type, thresholdMax=9.5)) == (
        "thresholdMax: must be at least threshold (10): it is the range's upper bound")
    accepted(schemas.ClickStackCreateAlertRequest, alert(thresholdType="above", thresholdMax=1))  # ignored there


def test_an_alerts_offset_is_less_than_its_interval() -> None:
    assert accepted(schemas.ClickStackCreateAlertRequest, alert(scheduleOffsetMinutes=4))["scheduleOffsetMinutes"] == 4
    assert refused(schemas.ClickStackCreateAlertRequest, alert(scheduleOffsetMinutes=5)) == (
        "scheduleOffsetMinutes: must be less than the interval, 5 minutes")
    accepted(schemas.ClickStackCreateAlertRequest, alert(interval="1d", scheduleOffsetMinutes=1439))
    assert refused(schemas.ClickStackCreateAlertRequest, alert(scheduleOffsetMinutes=-1)).startswith(
        "scheduleOffsetMinutes: Input should be greater than or equal to 0")


def test_an_alert_anchored_at_a_start_has_no_offset() -> None:
    start = "2026-02-08T10:00:00+01:00"
    stored = accepted(schemas.ClickStackCreateAlertRequest, alert(scheduleStartAt=start, scheduleOffsetMinutes=0))
    assert stored["scheduleStartAt"] == "2026-02-08T09:00:00Z"  # kept as the responses show it
    assert refused(schemas.ClickStackCreateAlertRequest, alert(scheduleStartAt=start, scheduleOffsetMinutes=2)) == (
        "scheduleOffsetMinutes: must be 0 when scheduleStartAt is given: the windows start from it")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(scheduleStartAt="2026-02-08T10:00:00")).startswith(
        "scheduleStartAt: Input should have timezone info")


def test_a_saved_search_alert_names_its_search_and_no_tile() -> None:
    assert accepted(schemas.ClickStackCreateAlertRequest, alert(groupBy="ServiceName"))["source"] == "saved_search"
    assert refused(schemas.ClickStackCreateAlertRequest, alert(savedSearchId=None)) == (
        "savedSearchId: is required for a saved_search alert (the source unless one is given)")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(source="saved_search", dashboardId=OBJECT_ID,
                                                               tileId=OBJECT_ID)) == (
        "dashboardId: is for a tile alert; a saved_search alert has none (and 1 more problem)")


def test_a_tile_alert_names_its_dashboard_and_tile_and_no_search() -> None:
    tile = alert(source="tile", savedSearchId=None, dashboardId=OBJECT_ID, tileId=OBJECT_ID)
    assert accepted(schemas.ClickStackCreateAlertRequest, tile)["tileId"] == OBJECT_ID
    assert refused(schemas.ClickStackCreateAlertRequest, tile | {"tileId": None}) == (
        "tileId: is required for a tile alert")
    assert refused(schemas.ClickStackCreateAlertRequest, tile | {"dashboardId": ""}) == (
        "dashboardId: is required for a tile alert")
    assert refused(schemas.ClickStackCreateAlertRequest, tile | {"savedSearchId": OBJECT_ID}) == (
        "savedSearchId: is for a saved_search alert; a tile alert has none")


def test_a_webhook_channel_names_its_webhook() -> None:
    assert accepted(schemas.ClickStackCreateAlertRequest, alert())["channel"] == WEBHOOK
    assert refused(schemas.ClickStackCreateAlertRequest, alert(channel={"type": "webhook"})) == (
        "channel.webhook.webhookId: is required")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(channel={"type": "webhook", "webhookId": ""})
                   ).startswith("channel.webhook.webhookId: String should have at least 1 character")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(channel={"type": "sms"})) == (
        "channel: type must be one of webhook, email")
    # An email channel is the reference's (the service refuses it: clickplane has no mail transport).
    email = {"type": "email", "emailRecipients": ["ops@example.com"]}
    assert accepted(schemas.ClickStackCreateAlertRequest, alert(channel=email))["channel"] == email
    assert refused(schemas.ClickStackCreateAlertRequest, alert(channel=email | {"emailRecipients": []})).startswith(
        "channel.email.emailRecipients: List should have at least 1 item")


def test_an_alerts_name_and_message_are_bounded() -> None:
    accepted(schemas.ClickStackCreateAlertRequest, alert(name="n" * 512, message="m" * 4096, note="x" * 4096))
    assert refused(schemas.ClickStackCreateAlertRequest, alert(name="n" * 513)) == (
        "name: String should have at most 512 characters")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(message="m" * 4097)) == (
        "message: String should have at most 4096 characters")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(numConsecutiveWindows=0)) == (
        "numConsecutiveWindows: Input should be greater than or equal to 1")


def test_an_alert_needs_what_it_is_evaluated_by() -> None:
    assert refused(schemas.ClickStackCreateAlertRequest, {"savedSearchId": OBJECT_ID}) == (
        "threshold: is required (and 3 more problems)")
    assert refused(schemas.ClickStackCreateAlertRequest, alert(interval="2m")).startswith("interval: Input should be")


def test_whole_numbers_may_come_as_floats_and_thresholds_as_integers() -> None:
    stored = accepted(schemas.ClickStackCreateAlertRequest, alert(scheduleOffsetMinutes=2.0, numConsecutiveWindows=3.0))
    assert (stored["scheduleOffsetMinutes"], stored["numConsecutiveWindows"], stored["threshold"]) == (2, 3, 10.0)
    assert refused(schemas.ClickStackCreateAlertRequest, alert(numConsecutiveWindows=2.5)).startswith(
        "numConsecutiveWindows: Input should be a valid integer")


def test_the_interval_lengths_cover_every_interval() -> None:
    assert set(schemas.ALERT_INTERVAL_SECONDS) == set(get_args(schemas.AlertInterval))
    assert (schemas.ALERT_INTERVAL_SECONDS["15m"], schemas.ALERT_INTERVAL_SECONDS["1d"]) == (900, 86400)


# --- Dashboards ----------------------------------------------------------------------------------------------------

def line(*select: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"displayType": "line", "sourceId": OBJECT_ID, "select": list(select)} | fields


def dashboard(*configs: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "Overview", "tiles": [{"name": f"Tile {index}", "x": 0, "y": 2 * index, "w": 12, "h": 2,
                                           "config": config} for index, config in enumerate(configs)]} | fields


def dashboard_refuses(*configs: dict[str, Any]) -> str:
    return refused(schemas.ClickStackCreateDashboardRequest, dashboard(*configs))


SELECT = "tiles[0].config.line.builder.select[0]"


def test_a_count_has_no_value_expression_and_every_other_aggregate_one() -> None:
    accepted(schemas.ClickStackCreateDashboardRequest, dashboard(line({"aggFn": "count"}),
                                                                 line({"aggFn": "avg", "valueExpression": "Duration"})))
    assert dashboard_refuses(line({"aggFn": "count", "valueExpression": "Duration"})) == (
        f"{SELECT}.valueExpression: must be left out when aggFn is count, which counts rows")
    assert dashboard_refuses(line({"aggFn": "sum"})) == (
        f"{SELECT}.valueExpression: is required when aggFn is sum: it is what is aggregated")


def test_a_level_is_a_quantiles_and_one_of_four() -> None:
    for level in schemas.QUANTILE_LEVELS:
        accepted(schemas.ClickStackCreateDashboardRequest,
                 dashboard(line({"aggFn": "quantile", "valueExpression": "Duration", "level": level})))
    assert dashboard_refuses(line({"aggFn": "quantile", "valueExpression": "Duration", "level": 0.8})) == (
        f"{SELECT}.level: must be one of 0.5, 0.9, 0.95 or 0.99")
    assert dashboard_refuses(line({"aggFn": "max", "valueExpression": "Duration", "level": 0.9})) == (
        f"{SELECT}.level: is only for aggFn quantile, not max")


def test_as_ratio_takes_exactly_two_select_items() -> None:
    count = {"aggFn": "count"}
    accepted(schemas.ClickStackCreateDashboardRequest, dashboard(line(count, count, asRatio=True)))
    accepted(schemas.ClickStackCreateDashboardRequest, dashboard(line(count, count, count, asRatio=False)))
    assert dashboard_refuses(line(count, asRatio=True)) == (
        "tiles[0].config.line.builder.select: asRatio divides select[0] by select[1], so it needs exactly 2 items, "
        "not 1")
    table = {"displayType": "table", "sourceId": OBJECT_ID, "select": [count] * 3, "asRatio": True}
    assert dashboard_refuses(table).startswith("tiles[0].config.table.builder.select: asRatio divides")


def test_a_top_level_id_is_refused() -> None:
    body = dashboard(line({"aggFn": "count"}))
    accepted(schemas.ClickStackUpdateDashboardRequest, body)
    message = "id: a dashboard's id is not in its body: an update names it in the path; leave it out"
    assert refused(schemas.ClickStackCreateDashboardRequest, body | {"id": OBJECT_ID}) == message
    assert refused(schemas.ClickStackUpdateDashboardRequest, body | {"id": OBJECT_ID}) == message


def test_filters_have_no_id_on_a_create_and_one_on_an_update() -> None:
    new = {"type": "QUERY_EXPRESSION", "name": "Service", "expression": "ServiceName", "sourceId": OBJECT_ID}
    accepted(schemas.ClickStackCreateDashboardRequest, dashboard(filters=[new]))
    assert refused(schemas.ClickStackCreateDashboardRequest, dashboard(filters=[new | {"id": OBJECT_ID}])) == (
        "filters[0].id: a new dashboard's filters have no ids yet; leave it out (the server gives one)")
    accepted(schemas.ClickStackUpdateDashboardRequest, dashboard(filters=[new | {"id": OBJECT_ID}]))
    assert refused(schemas.ClickStackUpdateDashboardRequest, dashboard(filters=[new])) == "filters[0].id: is required"


def test_a_tile_has_a_config_or_the_deprecated_series() -> None:
    series = {"type": "number", "sourceId": OBJECT_ID, "aggFn": "count", "where": "", "whereLanguage": "lucene"}
    tile = {"name": "Old", "x": 0, "y": 0, "w": 6, "h": 2}
    accepted(schemas.ClickStackCreateDashboardRequest, {"name": "d", "tiles": [tile | {"series": [series]}]})
    assert refused(schemas.ClickStackCreateDashboardRequest, {"name": "d", "tiles": [tile]}) == (
        "tiles[0].config: a tile has a config or the deprecated series: one of them, not neither")
    assert refused(schemas.ClickStackCreateDashboardRequest, {"name": "d", "tiles": [
        tile | {"series": [series], "config": line({"aggFn": "count"})}]}).endswith("not both")
    assert refused(schemas.ClickStackCreateDashboardRequest, {"name": "d", "tiles": [
        tile | {"asRatio": True, "config": line({"aggFn": "count"})}]}) == (
        "tiles[0].asRatio: goes with series; with a config, set config.asRatio instead")
    assert refused(schemas.ClickStackCreateDashboardRequest, {"name": "d", "tiles": [
        tile | {"series": [series, {"type": "markdown", "content": "# hi"}]}]}) == (
        "tiles[0].series: must all be of one type")


def test_a_tile_config_is_chosen_by_display_type_then_config_type() -> None:
    raw = {"configType": "sql", "displayType": "line", "connectionId": OBJECT_ID, "sqlTemplate": "SELECT 1"}
    assert accepted(schemas.ClickStackCreateDashboardRequest, dashboard(raw))["tiles"][0]["config"] == raw
    assert dashboard_refuses(raw | {"select": []}) == (
        "tiles[0].config.line.sql.select: is not a field of this request; check its spelling against the API "
        "reference")
    assert dashboard_refuses({"displayType": "gauge"}) == (
        "tiles[0].config: displayType must be one of line, stacked_bar, table, number, pie, bar, heatmap, search, "
        "event_patterns, markdown")
    assert dashboard_refuses({"displayType": "pie", "sourceId": OBJECT_ID, "select": [{"aggFn": "count"}] * 2}
                             ).startswith("tiles[0].config.pie.builder.select: List should have at most 1 item")


def test_ids_given_twice_are_refused() -> None:
    body = dashboard(line({"aggFn": "count"}), line({"aggFn": "count"}))
    body["tiles"][0]["id"] = body["tiles"][1]["id"] = OBJECT_ID
    assert refused(schemas.ClickStackCreateDashboardRequest, body) == (
        f"tiles[1].id: tile id '{OBJECT_ID}' is given twice; omit it to have a new one made")
    container = {"id": "health", "title": "Health", "collapsed": False}
    assert refused(schemas.ClickStackCreateDashboardRequest, dashboard(containers=[container, container])) == (
        "containers[1].id: container id 'health' is given twice")
    tabs = [{"id": "errors", "title": "Errors"}] * 2
    assert refused(schemas.ClickStackCreateDashboardRequest, dashboard(containers=[container | {"tabs": tabs}])) == (
        "containers[0].tabs[1].id: tab id 'errors' is given twice; each tab of a container has its own")


def test_color_rules_are_chosen_by_operator() -> None:
    number = {"displayType": "number", "sourceId": OBJECT_ID, "select": [{"aggFn": "count"}]}
    rules = [{"operator": "gte", "value": 5, "color": "chart-red"}, {"operator": "between", "value": [1, 5],
                                                                     "color": "chart-orange"},
             {"operator": "eq", "value": "ok", "color": "chart-green"}]
    accepted(schemas.ClickStackCreateDashboardRequest, dashboard(number | {"colorRules": rules}))
    assert dashboard_refuses(number | {"colorRules": [{"operator": "between", "value": [5, 1], "color": "chart-red"}]}
                             ) == "tiles[0].config.number.builder.colorRules[0].between.value: is [min, max]: give " \
                                  "the lower bound first"


# --- Sources -------------------------------------------------------------------------------------------------------

LOG_SOURCE = {"kind": "log", "name": "Logs", "connection": OBJECT_ID,
              "from": {"databaseName": "otel", "tableName": "otel_logs"},
              "defaultTableSelectExpression": "Timestamp, Body", "timestampValueExpression": "Timestamp"}


@pytest.mark.parametrize("sent_id", [OBJECT_ID, 42, None, {"nested": True}])
def test_a_sources_id_is_dropped_not_refused(sent_id: Any) -> None:
    stored = accepted(schemas.ClickStackSourceInput, LOG_SOURCE | {"id": sent_id})
    assert "id" not in stored
    assert stored["from"] == LOG_SOURCE["from"]  # `from` keeps its name, in and out


def test_a_source_is_chosen_by_kind() -> None:
    assert refused(schemas.ClickStackSourceInput, LOG_SOURCE | {"kind": "events"}).startswith(
        "body: Input tag 'events' found using 'kind' does not match any of the expected tags: 'log', 'trace'")
    assert refused(schemas.ClickStackSourceInput, {k: v for k, v in LOG_SOURCE.items() if k != "connection"}) == (
        "log.connection: is required")
    metric = {"kind": "metric", "name": "Metrics", "connection": OBJECT_ID, "from": {"databaseName": "otel"},
              "metricTables": {"gauge": "otel_metrics_gauge", "exponential histogram": "otel_metrics_eh"},
              "timestampValueExpression": "TimeUnix", "resourceAttributesExpression": "ResourceAttributes"}
    assert accepted(schemas.ClickStackSourceInput, metric)["metricTables"]["exponential histogram"] == (
        "otel_metrics_eh")


def test_a_sources_granularities_are_short_and_its_filter_columns_few() -> None:
    view = {"databaseName": "otel", "tableName": "otel_logs_mv_5m", "dimensionColumns": "ServiceName",
            "minGranularity": "5m", "timestampColumn": "Timestamp",
            "aggregatedColumns": [{"aggFn": "count", "mvColumn": "count"}]}
    accepted(schemas.ClickStackSourceInput, LOG_SOURCE | {"materializedViews": [view]})
    assert refused(schemas.ClickStackSourceInput, LOG_SOURCE | {"materializedViews": [
        view | {"minGranularity": "5 minute"}]}) == (
        "log.materializedViews[0].minGranularity: must be a count and a unit of s, m, h or d, such as 15s, 5m, 1h "
        "or 1d")
    assert refused(schemas.ClickStackSourceInput, LOG_SOURCE | {"materializedViews": [
        view | {"aggregatedColumns": [{"aggFn": "sum", "mvColumn": "sum__Duration"}]}]}) == (
        "log.materializedViews[0].aggregatedColumns[0].sourceColumn: is required for aggFn sum: only a count "
        "aggregates no column")
    columns = [{"name": f"c{index}", "label": "C"} for index in range(11)]
    assert refused(schemas.ClickStackSourceInput, LOG_SOURCE | {"filterSettings": {
        "databaseName": "otel", "tableName": "otel_logs", "columns": columns}}).startswith(
        "log.filterSettings.columns: List should have at most 10 items")


# --- Webhooks ------------------------------------------------------------------------------------------------------

GENERIC = {"name": "Ops", "service": "generic", "url": "https://example.com/hooks/alerts"}


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "https:///hook", "javascript:x"])
def test_a_webhooks_url_is_http(url: str) -> None:
    accepted(schemas.ClickStackWebhookInput, GENERIC | {"url": "http://127.0.0.1:8080/hook"})
    assert refused(schemas.ClickStackWebhookInput, GENERIC | {"url": url}) == (
        "url: must be an absolute http(s) URL, such as https://example.com/hook")


def test_a_webhooks_url_carries_no_credentials() -> None:
    assert refused(schemas.ClickStackWebhookInput, GENERIC | {"url": "https://user:secret@example.com/hook"}) == (
        "url: must not hold a user name or password (user:secret@host); put a credential in headers, which are "
        "never shown")


@pytest.mark.parametrize("url", ["https://hooks.slack.com/services/T0/B0/X", "https://slack.com/hook"])
def test_a_slack_webhook_posts_to_slack(url: str) -> None:
    assert accepted(schemas.ClickStackWebhookInput, {"name": "Slack", "service": "slack", "url": url})["url"] == url


@pytest.mark.parametrize("url", ["https://evilslack.com/x", "https://slack.com.example.com/x", "https://example.com"])
def test_a_slack_webhook_elsewhere_is_refused(url: str) -> None:
    assert refused(schemas.ClickStackWebhookInput, {"name": "Slack", "service": "slack", "url": url}) == (
        "url: of a Slack webhook must have a host that ends in slack.com")


def test_a_body_template_is_not_for_slack() -> None:
    accepted(schemas.ClickStackWebhookInput, GENERIC | {"body": '{"text": "{{title}}"}'})
    assert refused(schemas.ClickStackWebhookInput, {"name": "Slack", "service": "slack", "body": "{}",
                                                    "url": "https://hooks.slack.com/services/T0/B0/X"}) == (
        "body: is not for a Slack webhook, whose notifications are Slack messages")


@pytest.mark.parametrize("field", ["headers", "queryParams"])
def test_header_and_query_values_are_bounded(field: str) -> None:
    accepted(schemas.ClickStackWebhookInput, GENERIC | {field: {"X-Token": "v" * 4096}})
    assert refused(schemas.ClickStackWebhookInput, GENERIC | {field: {"X-Token": "v" * 4097}}) == (
        f"{field}.X-Token: String should have at most 4096 characters")
    assert refused(schemas.ClickStackWebhookInput, GENERIC | {field: {"X-Token": "a\r\nInjected: yes"}}) == (
        f"{field}.X-Token: must not contain control characters (a newline, a tab)")
    assert refused(schemas.ClickStackWebhookInput, GENERIC | {"headers": {"1st": "x"}}).startswith(
        "headers.1st.[key]: must be an HTTP header name")


def test_headers_and_query_parameters_are_never_shown() -> None:
    stored = accepted(schemas.ClickStackWebhookInput, GENERIC | {"headers": {"Authorization": "Bearer s3cret"},
                                                                 "queryParams": {"token": "q5ecret"}})
    shown = TypeAdapter(schemas.ClickStackWebhook).validate_python(
        stored | {"id": OBJECT_ID, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"})
    text = to_json(shown, exclude_none=True).decode()
    assert '"service":"generic"' in text
    assert not [secret for secret in ("s3cret", "q5ecret") if secret in text]
    assert schemas.ClickStackWebhookInput.model_json_schema()["$defs"]["ClickStackWebhookInputHeaders"]["writeOnly"]


# --- Responses -----------------------------------------------------------------------------------------------------

def test_a_response_reads_back_what_a_request_would_refuse() -> None:
    """HyperDX's own exports break its write rules (a count with a valueExpression); a stored object always reads
    back, and keys the models do not know (the service's teamId on a dashboard) are left out."""
    stored = {"id": OBJECT_ID, "name": "Old", "teamId": "t", "tiles": [{
        "id": OBJECT_ID, "name": "t", "x": 0, "y": 0, "w": 6, "h": 2, "legacy": True,
        "config": line({"aggFn": "count", "valueExpression": "Duration", "level": 0.5}, asRatio=True)}]}
    shown = TypeAdapter(schemas.ClickStackDashboardResponse).validate_python(stored)
    assert json.loads(to_json(shown, exclude_none=True)) == {
        "id": OBJECT_ID, "name": "Old", "tiles": [{key: value for key, value in stored["tiles"][0].items()
                                                   if key != "legacy"}]}


def test_a_failed_validation_shows_normalized_as_null() -> None:
    invalid = schemas.ClickStackValidateDashboardResponse.model_validate(
        {"valid": False, "errors": [{"path": "tiles.0.config", "message": "Required"}], "normalized": None})
    assert json.loads(to_json(invalid, exclude_none=True)) == {
        "valid": False, "errors": [{"path": "tiles.0.config", "message": "Required"}], "normalized": None}
    valid = schemas.ClickStackValidateWebhookResponse.model_validate({"valid": True, "errors": [],
                                                                      "normalized": GENERIC})
    assert json.loads(to_json(valid, exclude_none=True))["normalized"] == GENERIC


# --- The reference's examples --------------------------------------------------------------------------------------

REFERENCE = SHARED_DIR / "reference" / "clickhouse-cloud-openapi.json"


@cache
def reference_schemas() -> dict[str, Any]:
    document = json.loads(shared_file("reference", "clickhouse-cloud-openapi.json").read_text())
    return {name: schema for name, schema in document["components"]["schemas"].items()
            if name.startswith("ClickStack")}


def _name(reference: str) -> str:
    return reference.rsplit("/", 1)[-1]


# Values for properties the reference gives no example of, by schema: the channel shapes' `type` is both of their
# enumerations' values, and the shape needs its own.
UNEXAMPLED = {"ClickStackAlertChannelEmail": {"type": "email"}, "ClickStackAlertChannelWebhook": {"type": "webhook"}}


def example_of(name: str) -> Any:
    """A body of the reference's schema `name` made of the examples it gives its properties; a union's first
    alternative; for what has no example, a plain value of its type."""
    schema = reference_schemas()[name]
    if "oneOf" in schema:
        return example_of(_name(schema["oneOf"][0]["$ref"]))
    if "properties" not in schema:
        return {}
    required = set(schema.get("required", ()))
    body = {}
    for key, value in schema["properties"].items():
        if key in UNEXAMPLED.get(name, {}):
            body[key] = UNEXAMPLED[name][key]
        elif (made := _value_of(value, key in required)) is not None:
            body[key] = made
    return body


def _value_of(schema: dict[str, Any], required: bool = True) -> Any:
    if "$ref" in schema:
        return example_of(_name(schema["$ref"]))
    if "oneOf" in schema:
        return _value_of(next(item for item in schema["oneOf"] if item.get("type") != "null"))
    if schema.get("type") == "array" and "$ref" in schema["items"]:
        return [example_of(_name(schema["items"]["$ref"]))]  # the reference's examples of these are JSON texts
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:  # the first value where one is needed; else none (a quantile's level is no text)
        return schema["enum"][0] if required else None
    kind = schema.get("type")
    kind = next(item for item in kind if item != "null") if isinstance(kind, list) else kind
    if kind == "array":
        return [_value_of(schema["items"])]
    return {"integer": 3, "number": 1.5, "boolean": False, "string": "x"}.get(kind)


def _without(*keys: str) -> Any:
    return lambda body: {key: value for key, value in body.items() if key not in keys}


# Where the reference's examples, put together, break a rule it states: they are examples of each field alone.
CONFLICTS = {
    # "count" with a valueExpression ("Duration"): a count takes none.
    "ClickStackSelectItem": _without("valueExpression"),
    # A tile with config and series, and asRatio beside a config.
    "ClickStackTileInput": _without("series", "asRatio"),
    # A tile alert with a savedSearchId and a groupBy; an offset beside scheduleStartAt.
    "ClickStackCreateAlertRequest": _without("savedSearchId", "groupBy", "scheduleOffsetMinutes"),
    "ClickStackUpdateAlertRequest": _without("savedSearchId", "groupBy", "scheduleOffsetMinutes"),
    # A slack webhook with a body template.
    "ClickStackWebhookInput": _without("body"),
}


def example(name: str) -> Any:
    """The reference's example of schema `name`, without the conflicts CONFLICTS names."""
    return CONFLICTS.get(name, lambda body: body)(_repair(example_of(name)))


def _repair(body: Any) -> Any:
    """Remove the conflicts of CONFLICTS from the example wherever the schema they concern is nested: a select item
    in a tile's config, a tile in a dashboard."""
    if isinstance(body, list):
        return [_repair(item) for item in body]
    if not isinstance(body, dict):
        return body
    repaired = {key: _repair(value) for key, value in body.items()}
    if repaired.get("aggFn") == "count" and "valueExpression" in repaired:
        repaired = CONFLICTS["ClickStackSelectItem"](repaired)
    if "config" in repaired and "series" in repaired:
        repaired = CONFLICTS["ClickStackTileInput"](repaired)
    return repaired


def models_of(name: str) -> list[tuple[type[BaseModel], bool]]:
    """The models of the reference's schema `name`, each with whether it is a request's (validated strictly from
    JSON, as a request is) or a response's."""
    model = getattr(schemas, name)
    twin_name = "ClickStackFilterWithIdInput" if name == "ClickStackFilter" else f"{name}Input"
    twin = getattr(schemas, twin_name, None) if twin_name not in reference_schemas() else None
    is_request = issubclass(model, RequestModel) or (
        issubclass(model, RootModel) and model.__name__.endswith("Input"))
    return [(model, is_request), *([(twin, True)] if twin is not None else [])]


def test_every_reference_schema_has_its_model() -> None:
    assert not [name for name in reference_schemas() if not hasattr(schemas, name)]


@pytest.mark.parametrize("name", sorted(reference_schemas()) if REFERENCE.exists() else [])
def test_the_models_take_the_references_examples(name: str) -> None:
    body = example(name)
    for model, is_request in models_of(name):
        if is_request:
            model.model_validate_json(json.dumps(body), strict=True)
        else:
            model.model_validate(body)
