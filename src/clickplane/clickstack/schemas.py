"""Wire models of ClickStack (HyperDX on ClickHouse Cloud): every `ClickStack…` schema of the reference document,
named as it names them, plus `ClickStackValidateWebhookResponse`, which clickhousectl reads and the reference lacks.

As in clickpipes/schemas.py, a schema the reference uses both in requests and in responses (a source, a tile's
config, a select item, ...) is the response model under its own name and a request model named with `Input` after
it. A request refuses unknown keys and takes 2.0 for an integer, and is held to HyperDX's rules (its external API v2
is what the Cloud API serves); a response ignores unknown keys and is held to no rule across fields, so that an
object always reads back (HyperDX's own exports break some of its write rules). The one name the reference takes for
itself: ClickStackFilterInput is a new dashboard's filter (it has no id), so the twin of ClickStackFilter, which an
update sends, is ClickStackFilterWithIdInput.

The reference declares no bounds and, for alerts, nothing required; the bounds and the required fields here are
HyperDX's. What a rule needs besides the body (that a named source, saved search, dashboard or webhook exists, that
a tile's container is declared) is checked by checks.py. Webhook headers and query parameters are write-only: no
response model has them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from copy import copy
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    RootModel,
    SerializerFunctionWrapHandler,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

from clickplane.kit.schemas import (
    DEPRECATED,
    PRINTABLE,
    WHOLE_FLOAT_AS_INTEGER,
    RequestModel,
    ResponseModel,
    Timestamp,
    rfc3339,
)

# --- Enumerations, with every value of the reference ---------------------------------------------------------------

WhereLanguage = Literal["sql", "lucene"]
AggFn = Literal["avg", "count", "count_distinct", "last_value", "max", "min", "quantile", "sum", "any", "none"]
MetricDataType = Literal["sum", "gauge", "histogram", "summary", "exponential histogram"]
PaletteColor = Literal[
    "chart-blue", "chart-orange", "chart-red", "chart-cyan", "chart-green", "chart-pink", "chart-purple",
    "chart-light-blue", "chart-brown", "chart-gray", "chart-success", "chart-warning", "chart-error",
]  # fmt: skip
NumberOutput = Literal["currency", "percent", "byte", "time", "number", "data_rate", "throughput", "duration"]
NumericUnit = Literal[
    "bytes_iec", "bytes_si", "bits_iec", "bits_si", "kibibytes", "kilobytes", "mebibytes", "megabytes", "gibibytes",
    "gigabytes", "tebibytes", "terabytes", "pebibytes", "petabytes", "packets_sec", "bytes_sec_iec", "bytes_sec_si",
    "bits_sec_iec", "bits_sec_si", "kibibytes_sec", "kibibits_sec", "kilobytes_sec", "kilobits_sec", "mebibytes_sec",
    "mebibits_sec", "megabytes_sec", "megabits_sec", "gibibytes_sec", "gibibits_sec", "gigabytes_sec",
    "gigabits_sec", "tebibytes_sec", "tebibits_sec", "terabytes_sec", "terabits_sec", "pebibytes_sec",
    "pebibits_sec", "petabytes_sec", "petabits_sec", "cps", "ops", "rps", "reads_sec", "wps", "iops", "cpm", "opm",
    "rpm_reads", "wpm",
]  # fmt: skip
UseTextIndex = Literal["auto", "enabled", "disabled"]
AlertInterval = Literal["1m", "5m", "15m", "30m", "1h", "6h", "12h", "1d"]
AlertSource = Literal["saved_search", "tile"]
ThresholdType = Literal[
    "above", "below", "above_exclusive", "below_or_equal", "equal", "not_equal", "between", "not_between",
]  # fmt: skip
AlertState = Literal["ALERT", "OK", "INSUFFICIENT_DATA", "DISABLED", "PENDING"]
AlertErrorType = Literal["QUERY_ERROR", "WEBHOOK_ERROR", "INVALID_ALERT", "UNKNOWN"]
AlertSeverity = Literal["critical", "error", "warning", "info"]
# The reference gives both values to each of the two channel shapes; the `type` sent chooses the shape.
ChannelType = Literal["webhook", "email"]
# What a webhook may be made as; responses may also show HyperDX's slack_api and pagerduty_api webhooks.
WebhookService = Literal["slack", "incidentio", "generic"]

# An alert's interval, in seconds (the evaluator's windows are this long).
ALERT_INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "6h": 6 * 3600, "12h": 12 * 3600, "1d": 24 * 3600,
}  # fmt: skip
RANGE_THRESHOLD_TYPES = ("between", "not_between")
QUANTILE_LEVELS = (0.5, 0.9, 0.95, 0.99)

# --- HyperDX's bounds (the reference has none) ---------------------------------------------------------------------

MAX_EXPRESSION = 10_000  # a tile's expressions and templates
MAX_SELECT_ITEMS = 20
MAX_TILES = 500
MAX_TAGS, MAX_TAG_LENGTH = 50, 32
MAX_CONTAINER_ID = MAX_CONTAINER_TITLE = 256
MAX_CONTAINER_TABS = 20
MAX_FILTER_COLUMNS = 10
MAX_WEBHOOK_URL = MAX_WEBHOOK_DESCRIPTION = 2048
MAX_WEBHOOK_BODY = 16 * 1024
MAX_WEBHOOK_ENTRIES = 100  # headers, and query parameters
MAX_WEBHOOK_VALUE = 4096  # a header's or a query parameter's value


# --- Helpers --------------------------------------------------------------------------------------------------------

def opt(description: str, **constraints: Any) -> Any:
    """An optional field: absent unless given."""
    return Field(default=None, description=description, **constraints)


def req(description: str, **constraints: Any) -> Any:
    """A required field."""
    return Field(description=description, **constraints)


def like(model: type[BaseModel], name: str) -> Any:
    """A request twin's field: `model`'s field `name` (its description, default and bounds) for a type of its own."""
    return copy(model.model_fields[name])


def refuse(problems: Iterable[tuple[tuple[str | int, ...], str]]) -> None:
    """Raise what a request breaks of a rule across its fields, each at the field it concerns (`tiles[2].id: ...`).
    A message reads after its field's name."""
    errors = [InitErrorDetails(type=PydanticCustomError("clickstack_rule", message.replace("{", "{{")
                                                        .replace("}", "}}")), loc=loc, input=None)
              for loc, message in problems]
    if errors:
        raise ValidationError.from_exception_data("ClickStack request", errors)


def tag_of(name: str) -> Callable[[Any], str | None]:
    """A union's discriminator: the value of `name` in a body (a dict) or in a model (unwrapped from its root)."""
    def tag(value: Any) -> str | None:
        while isinstance(value, RootModel):
            value = value.root
        found = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
        return found if isinstance(found, str) else None
    return tag


def config_kind(value: Any) -> str:
    """A chart config's kind: raw SQL when `configType` is sql, built from a source otherwise (HyperDX's routing)."""
    return "sql" if tag_of("configType")(value) == "sql" else "builder"


def one_of(field: str, tags: Iterable[str]) -> str:
    return f"{field} must be one of {', '.join(tags)}"


def _repeated(ids: Iterable[str | None]) -> list[tuple[int, str]]:
    """The positions of the ids given more than once, after their first."""
    seen: Counter[str] = Counter()
    repeated = []
    for index, given in enumerate(ids):
        if given is not None:
            seen[given] += 1
            if seen[given] > 1:
                repeated.append((index, given))
    return repeated


def matching(pattern: str, message: str) -> AfterValidator:
    """A check that a text matches `pattern`, refusing it with `message` (rather than by quoting the pattern)."""
    compiled = re.compile(pattern)

    def check(text: str) -> str:
        if not compiled.match(text):
            raise PydanticCustomError("pattern_mismatch", message)
        return text
    return AfterValidator(check)


def _quantile_level(level: float) -> float:
    if level not in QUANTILE_LEVELS:
        raise PydanticCustomError("quantile_level", "must be one of 0.5, 0.9, 0.95 or 0.99")
    return level


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("webhook_url", "must be an absolute http(s) URL, such as https://example.com/hook")
    if parts.username is not None or parts.password is not None:
        raise PydanticCustomError("webhook_url", "must not hold a user name or password (user:secret@host); put a "
                                                 "credential in headers, which are never shown")
    return url


def _no_control_characters(text: str) -> str:
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in text):
        raise PydanticCustomError("control_character", "must not contain control characters (a newline, a tab)")
    return text


def _dropped(_: Any) -> None:
    return None


# A source's id in its create or update: dropped, whatever it is, and never refused (the reference says so).
DroppedId = Annotated[Any, AfterValidator(_dropped), WithJsonSchema({"type": "string"})]
# In a request, a field that is not one: refused by a rule that says why, and not in the document.
Refused = SkipJsonSchema[Any]
# A request's date-time: with its offset, and stored as the responses show it.
AwareTimestamp = Annotated[AwareDatetime, PlainSerializer(rfc3339, return_type=str)]
GridX = Annotated[int, Field(ge=0, le=23), WHOLE_FLOAT_AS_INTEGER]
GridY = Annotated[int, Field(ge=0), WHOLE_FLOAT_AS_INTEGER]
GridWidth = Annotated[int, Field(ge=1, le=24), WHOLE_FLOAT_AS_INTEGER]
GridHeight = Annotated[int, Field(ge=1), WHOLE_FLOAT_AS_INTEGER]
WholeNumber = Annotated[int, WHOLE_FLOAT_AS_INTEGER]
NonNegative = Annotated[int, Field(ge=0), WHOLE_FLOAT_AS_INTEGER]
Finite = Annotated[float, Field(allow_inf_nan=False)]
QuantileLevel = Annotated[float, AfterValidator(_quantile_level),
                          WithJsonSchema({"type": "number", "enum": list(QUANTILE_LEVELS)})]
Expression = Annotated[str, Field(max_length=MAX_EXPRESSION)]
Tags = Annotated[list[Annotated[str, Field(max_length=MAX_TAG_LENGTH)]], Field(max_length=MAX_TAGS)]
Name = Annotated[str, Field(min_length=1, max_length=1024), PRINTABLE]
# A source's time granularity: a count and a unit, as the API shows it ("15s", "5m", "1h", "1d").
GRANULARITY = r"^[1-9][0-9]*[smhd]$"
Granularity = Annotated[str, Field(json_schema_extra={"pattern": GRANULARITY}),
                        matching(GRANULARITY, "must be a count and a unit of s, m, h or d, such as 15s, 5m, 1h or 1d")]
ContainerId = Annotated[str, Field(min_length=1, max_length=MAX_CONTAINER_ID)]
ContainerTitle = Annotated[str, Field(min_length=1, max_length=MAX_CONTAINER_TITLE)]
# An HTTP header's name: a token (RFC 9110) that does not start with a digit.
HEADER_NAME = r"^[!#$%&'*+.^_`|~A-Za-z-][!#$%&'*+.^_`|~0-9A-Za-z-]*$"
HeaderName = Annotated[str, Field(min_length=1, max_length=256), matching(
    HEADER_NAME, "must be an HTTP header name: letters, digits and !#$%&'*+-.^_`|~, not starting with a digit")]
HeaderValue = Annotated[str, Field(max_length=MAX_WEBHOOK_VALUE), AfterValidator(_no_control_characters)]
QueryParamName = Annotated[str, Field(min_length=1, max_length=1024), AfterValidator(_no_control_characters)]

WHERE = "The row filter, in whereLanguage."
WHERE_LANGUAGE = "The language of `where`: sql, or lucene (HyperDX's search syntax)."
SOURCE_ID = "The id of the source queried."
NUMBER_FORMAT = "How the values are shown."
METRIC_TYPE = "The kind of metric queried (a metric source only)."
METRIC_NAME = "The name of the metric queried (a metric source only)."
ALIGN = "Widen the time range to whole buckets of the query's granularity."
FILL_NULLS = "Show a bucket without data as zero rather than as a gap."
FIT_Y_AXIS = "Start the y axis at the lowest value shown rather than at zero."
COMPARE = "Draw the preceding period of the same length over the chart."
AS_RATIO = "Plot select[0] divided by select[1]; it takes exactly two select items."
CREATED_AT = "When it was created."
UPDATED_AT = "When it was last changed."


# ====================================================================================================================
# Sources
# ====================================================================================================================

class ClickStackQuerySetting(ResponseModel):
    setting: str = req("A ClickHouse setting's name, such as max_threads.")
    value: str = req("Its value, as text.")


class ClickStackQuerySettingInput(ClickStackQuerySetting):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackFilterSettingsColumn(ResponseModel):
    name: str = req("A column whose values are offered as filters on every query of the source.")
    label: str = req("How the filter is labelled.")


class ClickStackFilterSettingsColumnInput(ClickStackFilterSettingsColumn):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackSourceFilterSettings(ResponseModel):
    databaseName: str = req("The database of the table the filter values are read from.")
    tableName: str = req("The table the filter values are read from.")
    columns: Sequence[ClickStackFilterSettingsColumn] = req("The columns offered as filters, at most 10.",
                                                        max_length=MAX_FILTER_COLUMNS)


class ClickStackSourceFilterSettingsInput(ClickStackSourceFilterSettings):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    columns: list[ClickStackFilterSettingsColumnInput] = like(ClickStackSourceFilterSettings, "columns")


class ClickStackSourceFrom(ResponseModel):
    databaseName: str = req("The ClickHouse database of the source's table.")
    tableName: str = req("The source's ClickHouse table.")


class ClickStackSourceFromInput(ClickStackSourceFrom):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackMetricSourceFrom(ResponseModel):
    databaseName: str = req("The ClickHouse database of the metric tables.")
    tableName: str | None = opt("A ClickHouse table; metric sources name theirs in metricTables.")


class ClickStackMetricSourceFromInput(ClickStackMetricSourceFrom):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackMetricTables(ResponseModel):
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)  # "exponential histogram" is no Python name

    gauge: str | None = opt("The table of gauge metrics.")
    histogram: str | None = opt("The table of histogram metrics.")
    sum: str | None = opt("The table of sum metrics.")
    summary: str | None = opt("The table of summary metrics (HyperDX reads them only in part).")
    exponential_histogram: str | None = Field(
        default=None, alias="exponential histogram",
        description="The table of exponential histogram metrics (HyperDX reads them only in part).")


class ClickStackMetricTablesInput(ClickStackMetricTables):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackHighlightedAttributeExpression(ResponseModel):
    sqlExpression: str = req("The SQL expression of the attribute.")
    luceneExpression: str | None = opt("The same attribute in Lucene, used when searching for its value.")
    alias: str | None = opt("The name shown for the attribute.")


class ClickStackHighlightedAttributeExpressionInput(ClickStackHighlightedAttributeExpression):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackAggregatedColumn(ResponseModel):
    sourceColumn: str | None = opt("The column of the source table that is aggregated (none for a count).")
    aggFn: str = req("The aggregate function the view applies, such as count, sum or avg.")
    mvColumn: str = req("The materialized view's column that holds the aggregate.", min_length=1)


class ClickStackAggregatedColumnInput(ClickStackAggregatedColumn):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused

    @model_validator(mode="after")
    def _source_column_unless_count(self) -> ClickStackAggregatedColumnInput:
        if self.aggFn != "count" and not self.sourceColumn:
            refuse([(("sourceColumn",), f"is required for aggFn {self.aggFn}: only a count aggregates no column")])
        return self


class ClickStackMaterializedView(ResponseModel):
    databaseName: str = req("The database of the materialized view's table.", min_length=1)
    tableName: str = req("The table the materialized view writes.", min_length=1)
    dimensionColumns: str = req("The columns kept as they are (not aggregated), to filter and group by; "
                                "comma-separated.")
    minGranularity: Granularity = req("The finest time bucket of the view: a count and a unit of s, m, h or d "
                                      "(15s, 5m, 1h, 1d).")
    minDate: Timestamp | None = opt("The earliest time the view has data for; without it, the view is taken to "
                                    "cover all of the source table.")
    timestampColumn: str = req("The view's timestamp column.", min_length=1)
    aggregatedColumns: Sequence[ClickStackAggregatedColumn] = req("The aggregates the view keeps.", min_length=1)


class ClickStackMaterializedViewInput(ClickStackMaterializedView):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    minDate: AwareTimestamp | None = like(ClickStackMaterializedView, "minDate")
    aggregatedColumns: list[ClickStackAggregatedColumnInput] = like(ClickStackMaterializedView, "aggregatedColumns")


class ClickStackLogSourceMetadataMaterializedViews(ResponseModel):
    keyRollupTable: str | None = opt("The table of the attribute keys seen, for field discovery.")
    kvRollupTable: str | None = opt("The table of the attribute values seen, for value completion.")
    granularity: Granularity | None = opt("The time bucket of both tables (15m, 1h, ...).")


class ClickStackLogSourceMetadataMaterializedViewsInput(ClickStackLogSourceMetadataMaterializedViews):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackTraceSourceMetadataMaterializedViews(ClickStackLogSourceMetadataMaterializedViews):
    pass


class ClickStackTraceSourceMetadataMaterializedViewsInput(ClickStackTraceSourceMetadataMaterializedViews):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class _Source(ResponseModel):
    """What a source of every kind has."""

    model_config = ConfigDict(extra="ignore", serialize_by_alias=True)  # `from` is no Python name: from_

    id: str | None = opt("The source's id, given by the server; a create or an update that sends one is taken "
                         "without it.")
    name: Name = req("The source's name.")
    section: str | None = opt("A group to show the source under in source pickers.")
    disabled: bool | None = opt("Hide the source from source pickers (false when absent).")
    querySettings: Sequence[ClickStackQuerySetting] | None = opt("ClickHouse settings for the source's queries.")


class ClickStackLogSource(_Source):
    kind: Literal["log"] = req("The kind of source: log.")
    connection: str = req("The id of the connection the source reads through: here its service's ClickHouse.")
    from_: ClickStackSourceFrom = Field(alias="from", description="The table of the logs.")
    filterSettings: ClickStackSourceFilterSettings | None = opt("Columns whose values are offered as filters.")
    defaultTableSelectExpression: str = req("The columns a search shows unless it says otherwise.")
    timestampValueExpression: str = req("The DateTime column (or expression) of the table's primary key.")
    serviceNameExpression: str | None = opt("The service name of a row.")
    severityTextExpression: str | None = opt("The severity (log level) of a row.")
    bodyExpression: str | None = opt("The message of a row.")
    eventAttributesExpression: str | None = opt("The attributes of the event.")
    resourceAttributesExpression: str | None = opt("The attributes of the resource that logged it.")
    displayedTimestampValueExpression: str | None = opt("The DateTime column results are shown and ordered by.")
    metricSourceId: str | None = opt("The source of the metrics that go with these logs.")
    traceSourceId: str | None = opt("The source of the traces that go with these logs.")
    traceIdExpression: str | None = opt("A row's trace id, to link logs to traces.")
    spanIdExpression: str | None = opt("A row's span id, to link logs to traces.")
    implicitColumnExpression: str | None = opt("The column a Lucene term without a field searches (usually the "
                                               "message).")
    knownColumnsListExpression: str | None = opt("For a Distributed table whose tables differ in columns: the "
                                                 "columns all of them have, read instead of *.")
    useTextIndexForImplicitColumn: UseTextIndex | None = opt(
        "Whether Lucene terms use a text index of the implicit column (hasAllTokens): auto finds out when "
        "querying, enabled always, disabled never (LIKE / hasToken instead).")
    highlightedTraceAttributeExpressions: Sequence[ClickStackHighlightedAttributeExpression] | None = opt(
        "Attributes of a trace shown in the trace view.")
    highlightedRowAttributeExpressions: Sequence[ClickStackHighlightedAttributeExpression] | None = opt(
        "Attributes of a row shown beside it.")
    materializedViews: Sequence[ClickStackMaterializedView] | None = opt("Materialized views that aggregations read "
                                                                     "instead of the table.")
    metadataMaterializedViews: ClickStackLogSourceMetadataMaterializedViews | None = opt(
        "Roll-up tables of the attribute keys and values seen.")


class ClickStackTraceSource(_Source):
    kind: Literal["trace"] = req("The kind of source: trace.")
    connection: str = req("The id of the connection the source reads through: here its service's ClickHouse.")
    from_: ClickStackSourceFrom = Field(alias="from", description="The table of the spans.")
    filterSettings: ClickStackSourceFilterSettings | None = opt("Columns whose values are offered as filters.")
    defaultTableSelectExpression: str = req("The columns a search shows unless it says otherwise.")
    timestampValueExpression: str = req("The DateTime column (or expression) of a span's start.")
    durationExpression: str = req("A span's duration.")
    durationPrecision: Annotated[int, Field(ge=0, le=9), WHOLE_FLOAT_AS_INTEGER] = req(
        "The decimal digits of the duration's unit of seconds: 3 for milliseconds, 6 for microseconds, 9 for "
        "nanoseconds.")
    traceIdExpression: str = req("A span's trace id.")
    spanIdExpression: str = req("A span's id.")
    parentSpanIdExpression: str = req("The id of a span's parent.")
    spanNameExpression: str = req("A span's name.")
    spanKindExpression: str = req("A span's kind (client, server, internal, ...).")
    logSourceId: str | None = opt("The source of the logs that go with these traces.")
    sessionSourceId: str | None = opt("The source of the sessions that go with these traces.")
    metricSourceId: str | None = opt("The source of the metrics that go with these traces.")
    statusCodeExpression: str | None = opt("A span's status code.")
    statusMessageExpression: str | None = opt("A span's status message.")
    serviceNameExpression: str | None = opt("The service name of a span.")
    resourceAttributesExpression: str | None = opt("The attributes of the resource that made the span.")
    eventAttributesExpression: str | None = opt("The attributes of the span.")
    spanEventsValueExpression: str | None = opt("A span's events: a Nested column of Timestamp, Name and "
                                                "Attributes.")
    implicitColumnExpression: str | None = opt("The column a Lucene term without a field searches.")
    knownColumnsListExpression: str | None = opt("For a Distributed table whose tables differ in columns: the "
                                                 "columns all of them have, read instead of *.")
    useTextIndexForImplicitColumn: UseTextIndex | None = opt(
        "Whether Lucene terms use a text index of the implicit column (hasAllTokens): auto finds out when "
        "querying, enabled always, disabled never (LIKE / hasToken instead).")
    highlightedTraceAttributeExpressions: Sequence[ClickStackHighlightedAttributeExpression] | None = opt(
        "Attributes of a trace shown in the trace view.")
    highlightedRowAttributeExpressions: Sequence[ClickStackHighlightedAttributeExpression] | None = opt(
        "Attributes of a span shown beside it.")
    materializedViews: Sequence[ClickStackMaterializedView] | None = opt("Materialized views that aggregations read "
                                                                     "instead of the table.")
    metadataMaterializedViews: ClickStackTraceSourceMetadataMaterializedViews | None = opt(
        "Roll-up tables of the attribute keys and values seen.")


class ClickStackMetricSource(_Source):
    kind: Literal["metric"] = req("The kind of source: metric.")
    connection: str = req("The id of the connection the source reads through: here its service's ClickHouse.")
    from_: ClickStackMetricSourceFrom = Field(alias="from", description="The database of the metric tables.")
    metricTables: ClickStackMetricTables = req("The table of each type of metric.")
    timestampValueExpression: str = req("The DateTime column (or expression) of the tables' primary key.")
    resourceAttributesExpression: str = req("The column of the resource attributes of a metric.")
    logSourceId: str | None = opt("The source of the logs that go with these metrics.")


class ClickStackSessionSource(_Source):
    kind: Literal["session"] = req("The kind of source: session.")
    connection: str = req("The id of the connection the source reads through: here its service's ClickHouse.")
    from_: ClickStackSourceFrom = Field(alias="from", description="The table of the sessions.")
    timestampValueExpression: str | None = opt("The DateTime column (or expression) of the table's primary key.")
    traceSourceId: str = req("The source of the traces that go with these sessions.")


class ClickStackPromqlSource(_Source):
    kind: Literal["promql"] = req("The kind of source: promql.")
    connection: str = req("The id of a connection to a Prometheus-compatible endpoint.")
    from_: ClickStackSourceFrom = Field(alias="from", description="A table; unused by PromQL queries.")
    timestampValueExpression: str = req("Required of every kind of source; PromQL queries do not use it.")


class ClickStackSource(RootModel[Annotated[
    ClickStackLogSource
    | ClickStackTraceSource
    | ClickStackMetricSource
    | ClickStackSessionSource
    | ClickStackPromqlSource,
    Field(discriminator="kind")]]):
    """How HyperDX reads one kind of telemetry (logs, traces, metrics, sessions) from a ClickHouse table."""


class ClickStackLogSourceInput(ClickStackLogSource):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: DroppedId = like(_Source, "id")
    querySettings: list[ClickStackQuerySettingInput] | None = like(ClickStackLogSource, "querySettings")
    from_: ClickStackSourceFromInput = like(ClickStackLogSource, "from_")
    filterSettings: ClickStackSourceFilterSettingsInput | None = like(ClickStackLogSource, "filterSettings")
    highlightedTraceAttributeExpressions: list[ClickStackHighlightedAttributeExpressionInput] | None = like(
        ClickStackLogSource, "highlightedTraceAttributeExpressions")
    highlightedRowAttributeExpressions: list[ClickStackHighlightedAttributeExpressionInput] | None = like(
        ClickStackLogSource, "highlightedRowAttributeExpressions")
    materializedViews: list[ClickStackMaterializedViewInput] | None = like(ClickStackLogSource, "materializedViews")
    metadataMaterializedViews: ClickStackLogSourceMetadataMaterializedViewsInput | None = like(
        ClickStackLogSource, "metadataMaterializedViews")


class ClickStackTraceSourceInput(ClickStackTraceSource):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: DroppedId = like(_Source, "id")
    querySettings: list[ClickStackQuerySettingInput] | None = like(ClickStackTraceSource, "querySettings")
    from_: ClickStackSourceFromInput = like(ClickStackTraceSource, "from_")
    filterSettings: ClickStackSourceFilterSettingsInput | None = like(ClickStackTraceSource, "filterSettings")
    highlightedTraceAttributeExpressions: list[ClickStackHighlightedAttributeExpressionInput] | None = like(
        ClickStackTraceSource, "highlightedTraceAttributeExpressions")
    highlightedRowAttributeExpressions: list[ClickStackHighlightedAttributeExpressionInput] | None = like(
        ClickStackTraceSource, "highlightedRowAttributeExpressions")
    materializedViews: list[ClickStackMaterializedViewInput] | None = like(ClickStackTraceSource,
                                                                           "materializedViews")
    metadataMaterializedViews: ClickStackTraceSourceMetadataMaterializedViewsInput | None = like(
        ClickStackTraceSource, "metadataMaterializedViews")


class ClickStackMetricSourceInput(ClickStackMetricSource):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: DroppedId = like(_Source, "id")
    querySettings: list[ClickStackQuerySettingInput] | None = like(ClickStackMetricSource, "querySettings")
    from_: ClickStackMetricSourceFromInput = like(ClickStackMetricSource, "from_")
    metricTables: ClickStackMetricTablesInput = like(ClickStackMetricSource, "metricTables")


class ClickStackSessionSourceInput(ClickStackSessionSource):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: DroppedId = like(_Source, "id")
    querySettings: list[ClickStackQuerySettingInput] | None = like(ClickStackSessionSource, "querySettings")
    from_: ClickStackSourceFromInput = like(ClickStackSessionSource, "from_")


class ClickStackPromqlSourceInput(ClickStackPromqlSource):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: DroppedId = like(_Source, "id")
    querySettings: list[ClickStackQuerySettingInput] | None = like(ClickStackPromqlSource, "querySettings")
    from_: ClickStackSourceFromInput = like(ClickStackPromqlSource, "from_")


class ClickStackSourceInput(ClickStackSource):
    """A source to create, or to replace one with."""

    root: Annotated[
        ClickStackLogSourceInput
        | ClickStackTraceSourceInput
        | ClickStackMetricSourceInput
        | ClickStackSessionSourceInput
        | ClickStackPromqlSourceInput,
        Field(discriminator="kind")]


# ====================================================================================================================
# Saved searches
# ====================================================================================================================

SQL_FILTER_TYPE = "The filter's kind: sql, the only one (a pinned filter of the sidebar)."


class ClickStackSavedSearchFilter(ResponseModel):
    type: Literal["sql"] | None = opt(SQL_FILTER_TYPE)
    condition: str = req("An SQL condition of the form `<column> IN (...)`.", max_length=8192)


class ClickStackSavedSearchFilterInput(ClickStackSavedSearchFilter):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    type: Literal["sql"] = Field(default="sql", description=SQL_FILTER_TYPE)


class ClickStackSavedSearch(ResponseModel):
    id: str = req("The saved search's id, given by the server.")
    name: str = req("The saved search's name.")
    sourceId: str = req("The id of the source it searches.")
    select: str | None = opt("The columns shown, comma-separated; empty for the source's default.")
    where: str | None = opt("The rows it finds, in whereLanguage.")
    whereLanguage: Literal["lucene", "sql"] | None = opt("The language of `where`.")
    orderBy: str | None = opt("The ORDER BY of its results; empty for the source's default.")
    tags: list[str] | None = opt("Tags to sort saved searches by.")
    filters: list[ClickStackSavedSearchFilter] | None = opt("Its pinned filters.")
    teamId: str | None = opt("The team it belongs to: here its service's.")
    createdAt: Timestamp | None = opt(CREATED_AT)
    updatedAt: Timestamp | None = opt(UPDATED_AT)


class ClickStackSavedSearchInput(RequestModel):
    """A saved search to create, or to replace one with: every field left out takes its default."""

    name: Name = req("The saved search's name.")
    sourceId: str = req("The id of the source it searches: one of its service's.")
    select: str = Field(default="", max_length=4096, description="The columns shown, comma-separated; empty "
                                                                 "for the source's default.")
    where: str = Field(default="", max_length=8192, description="The rows it finds, in whereLanguage; empty for "
                                                                "all.")
    whereLanguage: Literal["lucene", "sql"] = Field(default="lucene", description="The language of `where`.")
    orderBy: str = Field(default="", max_length=1024, description="The ORDER BY of its results; empty for the "
                                                                  "source's default.")
    tags: Tags = Field(default_factory=list, description="Tags to sort saved searches by, at most 50 of at most "
                                                         "32 characters.")
    filters: list[ClickStackSavedSearchFilterInput] = Field(default_factory=list, max_length=100,
                                                            description="Its pinned filters.")


# ====================================================================================================================
# Dashboards: how numbers are shown
# ====================================================================================================================

class ClickStackNumberFormat(ResponseModel):
    output: NumberOutput | None = opt("What the number is: a plain number, a currency, a percentage, bytes, a "
                                      "time, a duration, a data rate or a throughput.")
    mantissa: WholeNumber | None = opt("The decimal places shown.")
    thousandSeparated: bool | None = opt("Group the thousands.")
    average: bool | None = opt("Show the average.")
    decimalBytes: bool | None = opt("Count bytes in thousands (1000) rather than in 1024s.")
    factor: float | None = opt("A factor the value is multiplied by.")
    currencySymbol: str | None = opt("The symbol of a currency output.")
    numericUnit: NumericUnit | None = opt("The unit of a data, data rate or throughput output.")
    unit: str | None = opt("A unit of your own, shown after the number.")


class ClickStackNumberFormatInput(ClickStackNumberFormat):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackBackgroundChart(ResponseModel):
    type: Literal["line", "area"] = req("The shape of the sparkline behind the number.")
    color: PaletteColor | None = opt("Its color; the tile's color when absent.")


class ClickStackBackgroundChartInput(ClickStackBackgroundChart):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


COLOR_LABEL = "A name for the rule."
RULE_COLOR = "The color of the number when the rule matches."


class ClickStackNumericColorCondition(ResponseModel):
    operator: Literal["gt", "gte", "lt", "lte"] = req("How the number is compared with `value`.")
    value: Finite = req("The bound the number is compared with.")
    color: PaletteColor = req(RULE_COLOR)
    label: str | None = opt(COLOR_LABEL, max_length=40)


class ClickStackBetweenColorCondition(ResponseModel):
    operator: Literal["between"] = req("The number is within [min, max], both included.")
    value: list[Finite] = req("The range, [min, max].", min_length=2, max_length=2)
    color: PaletteColor = req(RULE_COLOR)
    label: str | None = opt(COLOR_LABEL, max_length=40)


class ClickStackEqualityColorCondition(ResponseModel):
    operator: Literal["eq", "neq"] = req("Whether the number is, or is not, `value`.")
    value: Finite | Annotated[str, Field(max_length=200)] = req("A number, or a text of at most 200 characters.")
    color: PaletteColor = req(RULE_COLOR)
    label: str | None = opt(COLOR_LABEL, max_length=40)


class ClickStackNumericColorConditionInput(ClickStackNumericColorCondition):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackBetweenColorConditionInput(ClickStackBetweenColorCondition):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused

    @model_validator(mode="after")
    def _ordered(self) -> ClickStackBetweenColorConditionInput:
        if self.value[0] > self.value[1]:
            refuse([(("value",), "is [min, max]: give the lower bound first")])
        return self


class ClickStackEqualityColorConditionInput(ClickStackEqualityColorCondition):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackNumberTileColorCondition(RootModel[Annotated[
    ClickStackNumericColorCondition | ClickStackBetweenColorCondition | ClickStackEqualityColorCondition,
    Field(discriminator="operator")]]):
    """A rule that colors a number tile's value."""


class ClickStackNumberTileColorConditionInput(ClickStackNumberTileColorCondition):
    """A rule that colors a number tile's value."""

    root: Annotated[
        ClickStackNumericColorConditionInput
        | ClickStackBetweenColorConditionInput
        | ClickStackEqualityColorConditionInput,
        Field(discriminator="operator")]


# ====================================================================================================================
# Dashboards: the deprecated `series` of a tile (requests only)
# ====================================================================================================================

SERIES_AGG_FN = "The aggregate of `field` (or of the rows, for count)."
SERIES_LEVEL = "The percentile of a quantile, between 0 and 1 (0.95 for p95)."
SERIES_FIELD = "The column or expression aggregated (all but count need one)."
SERIES_GROUP_BY = "The fields grouped by, at most 10."


class ClickStackTimeChartSeries(RequestModel):
    type: Literal["time"] = req("The kind of series: time, a time chart.")
    sourceId: str = req(SOURCE_ID)
    aggFn: AggFn = req(SERIES_AGG_FN)
    level: float | None = opt(SERIES_LEVEL, ge=0, le=1)
    field: str | None = opt(SERIES_FIELD)
    alias: str | None = opt("The name of the series in the chart.")
    where: str = req(WHERE)
    whereLanguage: WhereLanguage = req(WHERE_LANGUAGE)
    groupBy: list[str] = req(SERIES_GROUP_BY, max_length=10)
    numberFormat: ClickStackNumberFormatInput | None = opt(NUMBER_FORMAT)
    metricDataType: MetricDataType | None = opt(METRIC_TYPE)
    metricName: str | None = opt(METRIC_NAME)
    displayType: Literal["stacked_bar", "line"] | None = opt("Lines or stacked bars.")


class ClickStackTableChartSeries(RequestModel):
    type: Literal["table"] = req("The kind of series: table.")
    sourceId: str = req(SOURCE_ID)
    aggFn: AggFn = req(SERIES_AGG_FN)
    level: float | None = opt(SERIES_LEVEL, ge=0, le=1)
    field: str | None = opt(SERIES_FIELD)
    alias: str | None = opt("The name of the column.")
    where: str = req(WHERE)
    whereLanguage: WhereLanguage = req(WHERE_LANGUAGE)
    groupBy: list[str] = req(SERIES_GROUP_BY + " One row per group.", max_length=10)
    sortOrder: Literal["desc", "asc"] | None = opt("The order of the rows.")
    numberFormat: ClickStackNumberFormatInput | None = opt(NUMBER_FORMAT)
    metricDataType: MetricDataType | None = opt(METRIC_TYPE)
    metricName: str | None = opt(METRIC_NAME)


class ClickStackNumberChartSeries(RequestModel):
    type: Literal["number"] = req("The kind of series: number, a single value.")
    sourceId: str = req(SOURCE_ID)
    aggFn: AggFn = req(SERIES_AGG_FN)
    level: float | None = opt(SERIES_LEVEL, ge=0, le=1)
    field: str | None = opt(SERIES_FIELD)
    alias: str | None = opt("The name of the value.")
    where: str = req(WHERE)
    whereLanguage: WhereLanguage = req(WHERE_LANGUAGE)
    numberFormat: ClickStackNumberFormatInput | None = opt(NUMBER_FORMAT)
    metricDataType: MetricDataType | None = opt(METRIC_TYPE)
    metricName: str | None = opt(METRIC_NAME)


class ClickStackSearchChartSeries(RequestModel):
    type: Literal["search"] = req("The kind of series: search, a list of rows.")
    sourceId: str = req(SOURCE_ID)
    fields: list[str] = req("The fields shown of each row.")
    where: str = req(WHERE)
    whereLanguage: WhereLanguage = req(WHERE_LANGUAGE)


class ClickStackMarkdownChartSeries(RequestModel):
    type: Literal["markdown"] = req("The kind of series: markdown, text.")
    content: str = req("The Markdown shown.", max_length=100_000)


class ClickStackDashboardChartSeries(RootModel[Annotated[
    ClickStackTimeChartSeries
    | ClickStackTableChartSeries
    | ClickStackNumberChartSeries
    | ClickStackSearchChartSeries
    | ClickStackMarkdownChartSeries,
    Field(discriminator="type")]]):
    """A series of the deprecated tile form; `config` replaces it."""


# ====================================================================================================================
# Dashboards: what a chart selects
# ====================================================================================================================

class ClickStackSelectItem(ResponseModel):
    aggFn: AggFn = req("The aggregate: count counts rows; every other one aggregates valueExpression, and "
                       "quantile takes a level.")
    valueExpression: Expression | None = opt("The column or expression aggregated: left out for count, required "
                                             "for every other aggFn.")
    alias: Expression | None = opt("The name of the value in legends.")
    level: QuantileLevel | None = opt("The percentile of a quantile: 0.5, 0.9, 0.95 or 0.99.")
    where: Expression | None = opt("The rows aggregated, in whereLanguage (SQL or Lucene).")
    whereLanguage: WhereLanguage | None = opt("The language of `where`.")
    metricName: str | None = opt(METRIC_NAME)
    metricType: MetricDataType | None = opt(METRIC_TYPE)
    periodAggFn: Literal["delta"] | None = opt("For a gauge: aggregate the change over each period (delta).")
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)


class ClickStackSelectItemInput(ClickStackSelectItem):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackSelectItem, "numberFormat")

    @model_validator(mode="after")
    def _aggregate_rules(self) -> ClickStackSelectItemInput:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.aggFn == "count" and self.valueExpression:
            problems.append((("valueExpression",), "must be left out when aggFn is count, which counts rows"))
        elif self.aggFn != "count" and not self.valueExpression:
            problems.append((("valueExpression",), f"is required when aggFn is {self.aggFn}: it is what is "
                                                   "aggregated"))
        if self.level is not None and self.aggFn != "quantile":
            problems.append((("level",), f"is only for aggFn quantile, not {self.aggFn}"))
        refuse(problems)
        return self


class ClickStackHeatmapSelectItem(ResponseModel):
    valueExpression: Expression = req("The value bucketed along the y axis.", min_length=1)
    countExpression: Expression | None = opt("What each bucket counts; count() when absent.")
    heatmapScaleType: Literal["log", "linear"] | None = opt("The scale of the y axis's buckets.")


class ClickStackHeatmapSelectItemInput(ClickStackHeatmapSelectItem):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


# ====================================================================================================================
# Dashboards: where a click on a table row leads
# ====================================================================================================================

class ClickStackOnClickTargetIdVariant(ResponseModel):
    mode: Literal["id"] = req("The target is named by its id.")
    id: str = req("The id of the source (for a search) or of the dashboard.", min_length=1)


class ClickStackOnClickTargetTemplateVariant(ResponseModel):
    mode: Literal["template"] = req("The target is the one whose name the template makes of the row.")
    template: Expression = req("A name with `{{column}}` variables, filled from the row clicked.", min_length=1)


class ClickStackOnClickTargetIdVariantInput(ClickStackOnClickTargetIdVariant):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackOnClickTargetTemplateVariantInput(ClickStackOnClickTargetTemplateVariant):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackOnClickTarget(RootModel[Annotated[
    ClickStackOnClickTargetIdVariant | ClickStackOnClickTargetTemplateVariant,
    Field(discriminator="mode")]]):
    """The search or dashboard a click leads to."""


class ClickStackOnClickTargetInput(ClickStackOnClickTarget):
    """The search or dashboard a click leads to."""

    root: Annotated[
        ClickStackOnClickTargetIdVariantInput | ClickStackOnClickTargetTemplateVariantInput,
        Field(discriminator="mode")]


class ClickStackOnClickFilterTemplate(ResponseModel):
    kind: Literal["expressionTemplate"] = req("The kind of filter: expressionTemplate, the only one.")
    expression: Expression = req("The column or expression the target is filtered on (ServiceName).",
                                 min_length=1)
    template: Expression = req("Its value, with `{{column}}` variables filled from the row clicked.", min_length=1)


class ClickStackOnClickFilterTemplateInput(ClickStackOnClickFilterTemplate):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


WHERE_TEMPLATE = "A WHERE for the target, with `{{column}}` variables filled from the row clicked."
CLICK_FILTERS = "Filters for the target, filled from the row clicked; at most 50."


class ClickStackOnClickSearch(ResponseModel):
    type: Literal["search"] = req("A click opens a search.")
    target: ClickStackOnClickTarget = req("The source searched.")
    whereTemplate: Expression | None = opt(WHERE_TEMPLATE)
    whereLanguage: WhereLanguage | None = opt("The language of whereTemplate.")
    filters: Sequence[ClickStackOnClickFilterTemplate] | None = opt(CLICK_FILTERS, max_length=50)


class ClickStackOnClickDashboard(ResponseModel):
    type: Literal["dashboard"] = req("A click opens a dashboard.")
    target: ClickStackOnClickTarget = req("The dashboard opened.")
    whereTemplate: Expression | None = opt(WHERE_TEMPLATE)
    whereLanguage: WhereLanguage | None = opt("The language of whereTemplate.")
    filters: Sequence[ClickStackOnClickFilterTemplate] | None = opt(CLICK_FILTERS, max_length=50)


class ClickStackOnClickExternal(ResponseModel):
    type: Literal["external"] = req("A click opens a page elsewhere.")
    urlTemplate: Expression = req("The page's absolute http(s) URL, a Handlebars template with `{{column}}` "
                                  "variables filled from the row clicked.", min_length=1)


class ClickStackOnClickSearchInput(ClickStackOnClickSearch):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    target: ClickStackOnClickTargetInput = like(ClickStackOnClickSearch, "target")
    filters: list[ClickStackOnClickFilterTemplateInput] | None = like(ClickStackOnClickSearch, "filters")


class ClickStackOnClickDashboardInput(ClickStackOnClickDashboard):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    target: ClickStackOnClickTargetInput = like(ClickStackOnClickDashboard, "target")
    filters: list[ClickStackOnClickFilterTemplateInput] | None = like(ClickStackOnClickDashboard, "filters")


class ClickStackOnClickExternalInput(ClickStackOnClickExternal):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackOnClick(RootModel[Annotated[
    ClickStackOnClickSearch | ClickStackOnClickDashboard | ClickStackOnClickExternal,
    Field(discriminator="type")]]):
    """What a click on a row of a table tile opens."""


class ClickStackOnClickInput(ClickStackOnClick):
    """What a click on a row of a table tile opens."""

    root: Annotated[
        ClickStackOnClickSearchInput | ClickStackOnClickDashboardInput | ClickStackOnClickExternalInput,
        Field(discriminator="type")]


# ====================================================================================================================
# Dashboards: a tile's chart, built from a source
# ====================================================================================================================

SELECT = "The values charted, 1 to 20; with asRatio exactly two."
SELECT_ONE = "The one value charted."
GROUP_BY = "The expression grouped by: one series per value."
ORDER_BY = "An SQL ORDER BY of the groups, instead of the largest values first; with limit, it decides which stay."
LIMIT = "The most groups shown (SQL LIMIT), the largest values unless orderBy says otherwise; all when absent."
TILE_COLOR = "The number's color."
CONFIG_TYPE = "sql: the chart is an SQL query of your own."
CONNECTION_ID = "The id of the connection the query runs on: here the service's ClickHouse."
SQL_TEMPLATE = "The query, with HyperDX's template variables (the time range, the dashboard's filters)."
RAW_SOURCE_ID = "A source the query reads, so that the dashboard's filters on that source apply to it."


def _as_ratio_takes_two(config: Any) -> None:
    if config.asRatio and len(config.select) != 2:
        refuse([(("select",), f"asRatio divides select[0] by select[1], so it needs exactly 2 items, not "
                              f"{len(config.select)}")])


class ClickStackLineBuilderChartConfig(ResponseModel):
    displayType: Literal["line"] = req("A line chart over time.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req(SELECT, min_length=1, max_length=MAX_SELECT_ITEMS)
    groupBy: Expression | None = opt(GROUP_BY)
    asRatio: bool | None = opt(AS_RATIO)
    alignDateRangeToGranularity: bool | None = opt(ALIGN)
    fillNulls: bool | None = opt(FILL_NULLS)
    fitYAxisToData: bool | None = opt(FIT_Y_AXIS)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)
    compareToPreviousPeriod: bool | None = opt(COMPARE)


class ClickStackBarBuilderChartConfig(ResponseModel):
    displayType: Literal["stacked_bar"] = req("Stacked bars over time.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req(SELECT, min_length=1, max_length=MAX_SELECT_ITEMS)
    groupBy: Expression | None = opt(GROUP_BY)
    asRatio: bool | None = opt(AS_RATIO)
    alignDateRangeToGranularity: bool | None = opt(ALIGN)
    fillNulls: bool | None = opt(FILL_NULLS)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)


class ClickStackTableBuilderChartConfig(ResponseModel):
    displayType: Literal["table"] = req("A table: one row per group, one column per value.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req(SELECT, min_length=1, max_length=MAX_SELECT_ITEMS)
    groupBy: Expression | None = opt("The expression grouped by: one row per value.")
    having: Expression | None = opt("An SQL HAVING on the aggregated rows.")
    orderBy: Expression | None = opt("An SQL ORDER BY of the rows.")
    asRatio: bool | None = opt(AS_RATIO)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)
    groupByColumnsOnLeft: bool | None = opt("Put the group columns left of the values (right when false or "
                                            "absent).")
    onClick: ClickStackOnClick | None = opt("What a click on a row opens.")


class ClickStackNumberBuilderChartConfig(ResponseModel):
    displayType: Literal["number"] = req("One big number.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req(SELECT_ONE, min_length=1, max_length=1)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)
    color: PaletteColor | None = opt(TILE_COLOR)
    colorRules: Sequence[ClickStackNumberTileColorCondition] | None = opt(
        "Rules that color the number by its value, in order (the last that matches wins); `color` when none "
        "does. At most 10.", max_length=10)
    backgroundChart: ClickStackBackgroundChart | None = opt("A sparkline of the value over time behind it.")


class ClickStackPieBuilderChartConfig(ResponseModel):
    displayType: Literal["pie"] = req("A pie: one slice per group.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req("The one value that sizes the slices.", min_length=1, max_length=1)
    groupBy: Expression | None = opt("The expression grouped by: one slice per value.")
    orderBy: Expression | None = opt(ORDER_BY)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)
    limit: NonNegative | None = opt(LIMIT)


class ClickStackCategoricalBarBuilderChartConfig(ResponseModel):
    displayType: Literal["bar"] = req("Bars by category: one bar per group.")
    sourceId: str = req(SOURCE_ID)
    select: Sequence[ClickStackSelectItem] = req("The one value that sizes the bars.", min_length=1, max_length=1)
    groupBy: Expression | None = opt("The expression grouped by: one bar per value.")
    orderBy: Expression | None = opt(ORDER_BY)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)
    limit: NonNegative | None = opt(LIMIT)


class ClickStackHeatmapChartConfig(ResponseModel):
    displayType: Literal["heatmap"] = req("A heatmap of a value's distribution over time (trace sources).")
    sourceId: str = req(SOURCE_ID + " It must be a trace source.")
    select: Sequence[ClickStackHeatmapSelectItem] = req("The one value bucketed.", min_length=1, max_length=1)
    where: Expression | None = opt(WHERE)
    whereLanguage: WhereLanguage | None = opt(WHERE_LANGUAGE)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)


class ClickStackSearchChartConfig(ResponseModel):
    displayType: Literal["search"] = req("The rows of a search.")
    sourceId: str = req(SOURCE_ID)
    select: Expression = req("The expressions shown of each row, comma-separated.")
    where: Expression | None = opt(WHERE)
    whereLanguage: WhereLanguage = req(WHERE_LANGUAGE)


class ClickStackEventPatternsChartConfig(ResponseModel):
    displayType: Literal["event_patterns"] = req("The patterns mined from the rows' messages.")
    sourceId: str = req(SOURCE_ID)
    select: Expression | None = opt("The column or expression mined; empty for the source's (Body for logs, "
                                    "SpanName for traces).")
    where: Expression | None = opt(WHERE)
    whereLanguage: WhereLanguage | None = opt(WHERE_LANGUAGE)


class ClickStackMarkdownChartConfig(ResponseModel):
    displayType: Literal["markdown"] = req("Text, in Markdown.")
    markdown: str | None = opt("The Markdown shown.", max_length=50_000)


class ClickStackLineBuilderChartConfigInput(ClickStackLineBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackLineBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackLineBuilderChartConfig, "numberFormat")

    @model_validator(mode="after")
    def _ratio(self) -> ClickStackLineBuilderChartConfigInput:
        _as_ratio_takes_two(self)
        return self


class ClickStackBarBuilderChartConfigInput(ClickStackBarBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackBarBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackBarBuilderChartConfig, "numberFormat")

    @model_validator(mode="after")
    def _ratio(self) -> ClickStackBarBuilderChartConfigInput:
        _as_ratio_takes_two(self)
        return self


class ClickStackTableBuilderChartConfigInput(ClickStackTableBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackTableBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackTableBuilderChartConfig, "numberFormat")
    onClick: ClickStackOnClickInput | None = like(ClickStackTableBuilderChartConfig, "onClick")

    @model_validator(mode="after")
    def _ratio(self) -> ClickStackTableBuilderChartConfigInput:
        _as_ratio_takes_two(self)
        return self


class ClickStackNumberBuilderChartConfigInput(ClickStackNumberBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackNumberBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackNumberBuilderChartConfig, "numberFormat")
    colorRules: list[ClickStackNumberTileColorConditionInput] | None = like(ClickStackNumberBuilderChartConfig,
                                                                            "colorRules")
    backgroundChart: ClickStackBackgroundChartInput | None = like(ClickStackNumberBuilderChartConfig,
                                                                  "backgroundChart")


class ClickStackPieBuilderChartConfigInput(ClickStackPieBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackPieBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackPieBuilderChartConfig, "numberFormat")


class ClickStackCategoricalBarBuilderChartConfigInput(ClickStackCategoricalBarBuilderChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackSelectItemInput] = like(ClickStackCategoricalBarBuilderChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackCategoricalBarBuilderChartConfig,
                                                            "numberFormat")


class ClickStackHeatmapChartConfigInput(ClickStackHeatmapChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    select: list[ClickStackHeatmapSelectItemInput] = like(ClickStackHeatmapChartConfig, "select")
    numberFormat: ClickStackNumberFormatInput | None = like(ClickStackHeatmapChartConfig, "numberFormat")


class ClickStackSearchChartConfigInput(ClickStackSearchChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackEventPatternsChartConfigInput(ClickStackEventPatternsChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickStackMarkdownChartConfigInput(ClickStackMarkdownChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


# ====================================================================================================================
# Dashboards: a tile's chart as an SQL query of your own
# ====================================================================================================================

class _RawSqlChartConfig(ResponseModel):
    configType: Literal["sql"] = req(CONFIG_TYPE)
    connectionId: str = req(CONNECTION_ID)
    sqlTemplate: str = req(SQL_TEMPLATE, max_length=100_000)
    sourceId: str | None = opt(RAW_SOURCE_ID)
    numberFormat: ClickStackNumberFormat | None = opt(NUMBER_FORMAT)


class ClickStackLineRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["line"] = req("A line chart over time.")
    compareToPreviousPeriod: bool | None = opt(COMPARE)
    fillNulls: bool | None = opt(FILL_NULLS)
    alignDateRangeToGranularity: bool | None = opt(ALIGN)
    fitYAxisToData: bool | None = opt(FIT_Y_AXIS)


class ClickStackBarRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["stacked_bar"] = req("Stacked bars over time.")
    fillNulls: bool | None = opt(FILL_NULLS)
    alignDateRangeToGranularity: bool | None = opt(ALIGN)


class ClickStackTableRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["table"] = req("A table of the query's rows.")
    onClick: ClickStackOnClick | None = opt("What a click on a row opens.")


class ClickStackNumberRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["number"] = req("One big number.")
    color: PaletteColor | None = opt(TILE_COLOR + " (An SQL number tile has no color rules.)")


class ClickStackPieRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["pie"] = req("A pie.")


class ClickStackCategoricalBarRawSqlChartConfig(_RawSqlChartConfig):
    displayType: Literal["bar"] = req("Bars by category.")


class ClickStackLineRawSqlChartConfigInput(ClickStackLineRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")


class ClickStackBarRawSqlChartConfigInput(ClickStackBarRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")


class ClickStackTableRawSqlChartConfigInput(ClickStackTableRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")
    onClick: ClickStackOnClickInput | None = like(ClickStackTableRawSqlChartConfig, "onClick")


class ClickStackNumberRawSqlChartConfigInput(ClickStackNumberRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")


class ClickStackPieRawSqlChartConfigInput(ClickStackPieRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")


class ClickStackCategoricalBarRawSqlChartConfigInput(ClickStackCategoricalBarRawSqlChartConfig):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    numberFormat: ClickStackNumberFormatInput | None = like(_RawSqlChartConfig, "numberFormat")


# ====================================================================================================================
# Dashboards: a tile's config, one of the charts by displayType (and configType: sql, or built from a source)
# ====================================================================================================================

BUILDER_OR_SQL = Discriminator(config_kind)


class ClickStackLineChartConfig(RootModel[Annotated[
    Annotated[ClickStackLineBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackLineRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """A line chart, built from a source or an SQL query."""


class ClickStackBarChartConfig(RootModel[Annotated[
    Annotated[ClickStackBarBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackBarRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """Stacked bars, built from a source or an SQL query."""


class ClickStackTableChartConfig(RootModel[Annotated[
    Annotated[ClickStackTableBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackTableRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """A table, built from a source or an SQL query."""


class ClickStackNumberChartConfig(RootModel[Annotated[
    Annotated[ClickStackNumberBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackNumberRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """A number, built from a source or an SQL query."""


class ClickStackPieChartConfig(RootModel[Annotated[
    Annotated[ClickStackPieBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackPieRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """A pie, built from a source or an SQL query."""


class ClickStackCategoricalBarChartConfig(RootModel[Annotated[
    Annotated[ClickStackCategoricalBarBuilderChartConfig, Tag("builder")]
    | Annotated[ClickStackCategoricalBarRawSqlChartConfig, Tag("sql")], BUILDER_OR_SQL]]):
    """Bars by category, built from a source or an SQL query."""


class ClickStackLineChartConfigInput(ClickStackLineChartConfig):
    """A line chart, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackLineBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackLineRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


class ClickStackBarChartConfigInput(ClickStackBarChartConfig):
    """Stacked bars, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackBarBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackBarRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


class ClickStackTableChartConfigInput(ClickStackTableChartConfig):
    """A table, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackTableBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackTableRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


class ClickStackNumberChartConfigInput(ClickStackNumberChartConfig):
    """A number, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackNumberBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackNumberRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


class ClickStackPieChartConfigInput(ClickStackPieChartConfig):
    """A pie, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackPieBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackPieRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


class ClickStackCategoricalBarChartConfigInput(ClickStackCategoricalBarChartConfig):
    """Bars by category, built from a source or an SQL query."""

    root: Annotated[
        Annotated[ClickStackCategoricalBarBuilderChartConfigInput, Tag("builder")]
        | Annotated[ClickStackCategoricalBarRawSqlChartConfigInput, Tag("sql")], BUILDER_OR_SQL]


DISPLAY_TYPES = ("line", "stacked_bar", "table", "number", "pie", "bar", "heatmap", "search", "event_patterns",
                 "markdown")
BY_DISPLAY_TYPE = Discriminator(tag_of("displayType"), custom_error_type="display_type",
                                custom_error_message=one_of("displayType", DISPLAY_TYPES))


class ClickStackTileConfig(RootModel[Annotated[
    Annotated[ClickStackLineChartConfig, Tag("line")]
    | Annotated[ClickStackBarChartConfig, Tag("stacked_bar")]
    | Annotated[ClickStackTableChartConfig, Tag("table")]
    | Annotated[ClickStackNumberChartConfig, Tag("number")]
    | Annotated[ClickStackPieChartConfig, Tag("pie")]
    | Annotated[ClickStackCategoricalBarChartConfig, Tag("bar")]
    | Annotated[ClickStackHeatmapChartConfig, Tag("heatmap")]
    | Annotated[ClickStackSearchChartConfig, Tag("search")]
    | Annotated[ClickStackEventPatternsChartConfig, Tag("event_patterns")]
    | Annotated[ClickStackMarkdownChartConfig, Tag("markdown")], BY_DISPLAY_TYPE]]):
    """What a tile shows, by its displayType."""


class ClickStackTileConfigInput(ClickStackTileConfig):
    """What a tile shows, by its displayType."""

    root: Annotated[
        Annotated[ClickStackLineChartConfigInput, Tag("line")]
        | Annotated[ClickStackBarChartConfigInput, Tag("stacked_bar")]
        | Annotated[ClickStackTableChartConfigInput, Tag("table")]
        | Annotated[ClickStackNumberChartConfigInput, Tag("number")]
        | Annotated[ClickStackPieChartConfigInput, Tag("pie")]
        | Annotated[ClickStackCategoricalBarChartConfigInput, Tag("bar")]
        | Annotated[ClickStackHeatmapChartConfigInput, Tag("heatmap")]
        | Annotated[ClickStackSearchChartConfigInput, Tag("search")]
        | Annotated[ClickStackEventPatternsChartConfigInput, Tag("event_patterns")]
        | Annotated[ClickStackMarkdownChartConfigInput, Tag("markdown")], BY_DISPLAY_TYPE]


# ====================================================================================================================
# Dashboards: tiles, containers, filters
# ====================================================================================================================

TILE_NAME = "The tile's title."
TILE_X = "Its column in the grid of 24, from 0."
TILE_Y = "Its row in the grid, from 0."
TILE_W = "Its width, in columns (1 to 24)."
TILE_H = "Its height, in rows."
TILE_CONTAINER = "The container it is in (its id); in the ungrouped area when absent."
TILE_TAB = "The tab of its container it is on (its id); it needs containerId."


class ClickStackTileOutput(ResponseModel):
    name: str = req(TILE_NAME)
    x: GridX = req(TILE_X)
    y: GridY = req(TILE_Y)
    w: GridWidth = req(TILE_W)
    h: GridHeight = req(TILE_H)
    config: ClickStackTileConfig | None = opt("What the tile shows.")
    containerId: str | None = opt(TILE_CONTAINER)
    tabId: str | None = opt(TILE_TAB)
    id: str = req("The tile's id, given by the server unless the tile was created with one.")


class ClickStackTileInput(RequestModel):
    name: str = req(TILE_NAME)
    x: GridX = req(TILE_X)
    y: GridY = req(TILE_Y)
    w: GridWidth = req(TILE_W)
    h: GridHeight = req(TILE_H)
    config: ClickStackTileConfigInput | None = opt("What the tile shows; a tile has this or the deprecated "
                                                   "series.")
    containerId: ContainerId | None = opt(TILE_CONTAINER)
    tabId: ContainerId | None = opt(TILE_TAB)
    id: str | None = opt("The tile's id: left out, a new one is made; an update keeps the tiles whose ids it "
                         "sends.", max_length=36)
    asRatio: bool | None = Field(default=None, description="With series: plot series[0] divided by series[1] "
                                 "(deprecated: config.asRatio).", json_schema_extra=DEPRECATED)
    series: list[ClickStackDashboardChartSeries] | None = Field(
        default=None, min_length=1, json_schema_extra=DEPRECATED,
        description="The tile's series, all of one type (deprecated: config).")

    @model_validator(mode="after")
    def _config_or_series(self) -> ClickStackTileInput:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if (self.config is None) == (self.series is None):
            problems.append((("config",), "a tile has a config or the deprecated series: one of them, not "
                                          + ("both" if self.config is not None else "neither")))
        if self.asRatio is not None and self.config is not None:
            problems.append((("asRatio",), "goes with series; with a config, set config.asRatio instead"))
        if self.series and len({item.root.type for item in self.series}) > 1:
            problems.append((("series",), "must all be of one type"))
        refuse(problems)
        return self


class ClickStackDashboardContainerTab(ResponseModel):
    id: str = req("The tab's id, unique in its container.")
    title: str = req("The tab's title.")


class ClickStackDashboardContainerTabInput(ClickStackDashboardContainerTab):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: ContainerId = like(ClickStackDashboardContainerTab, "id")
    title: ContainerTitle = like(ClickStackDashboardContainerTab, "title")


CONTAINER_TABS = "Its tabs: two or more show a tab bar; tiles join one by tabId."


class ClickStackDashboardContainer(ResponseModel):
    id: str = req("The container's id, unique in the dashboard.")
    title: str = req("The container's title.")
    collapsed: bool = req("Whether it is shown collapsed (each viewer's own state is in the URL).")
    collapsible: bool | None = opt("Whether it can be collapsed.")
    bordered: bool | None = opt("Whether it has a border.")
    tabs: Sequence[ClickStackDashboardContainerTab] | None = opt(CONTAINER_TABS)


class ClickStackDashboardContainerInput(ClickStackDashboardContainer):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    id: ContainerId = like(ClickStackDashboardContainer, "id")
    title: ContainerTitle = like(ClickStackDashboardContainer, "title")
    tabs: list[ClickStackDashboardContainerTabInput] | None = opt(CONTAINER_TABS + " At most 20.",
                                                                  max_length=MAX_CONTAINER_TABS)

    @model_validator(mode="after")
    def _distinct_tabs(self) -> ClickStackDashboardContainerInput:
        refuse((("tabs", index, "id"), f"tab id {tab_id!r} is given twice; each tab of a container has its own")
               for index, tab_id in _repeated([tab.id for tab in self.tabs or ()]))
        return self


FILTER_TYPE = "The kind of filter: QUERY_EXPRESSION, the only one."
FILTER_NAME = "The filter's name."
FILTER_EXPRESSION = "The expression the filter's value is compared with."
FILTER_SOURCE = "The source the filter's values are read from."
FILTER_METRIC_TYPE = "The metric type, when the source is a metric source."
FILTER_WHERE = "Which rows the filter's values are read from."
FILTER_WHERE_LANGUAGE = "The language of `where`."
FILTER_APPLIES_TO = ("The sources of the tiles the filter applies to; every tile's when absent or empty (tiles of "
                     "other sources are left alone).")


class ClickStackFilterInput(RequestModel):
    """A new dashboard's filter: the server gives it its id."""

    type: Literal["QUERY_EXPRESSION"] = req(FILTER_TYPE)
    name: str = req(FILTER_NAME, min_length=1)
    expression: str = req(FILTER_EXPRESSION, min_length=1)
    sourceId: str = req(FILTER_SOURCE, min_length=1)
    sourceMetricType: MetricDataType | None = opt(FILTER_METRIC_TYPE)
    where: str | None = opt(FILTER_WHERE)
    whereLanguage: WhereLanguage | None = opt(FILTER_WHERE_LANGUAGE)
    appliesToSourceIds: list[Annotated[str, Field(min_length=1)]] | None = opt(FILTER_APPLIES_TO)
    id: Refused = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _no_id(self) -> ClickStackFilterInput:
        if "id" in self.model_fields_set:
            refuse([(("id",), "a new dashboard's filters have no ids yet; leave it out (the server gives one)")])
        return self


class ClickStackFilter(ResponseModel):
    type: Literal["QUERY_EXPRESSION"] = req(FILTER_TYPE)
    name: str = req(FILTER_NAME)
    expression: str = req(FILTER_EXPRESSION)
    sourceId: str = req(FILTER_SOURCE)
    sourceMetricType: MetricDataType | None = opt(FILTER_METRIC_TYPE)
    where: str | None = opt(FILTER_WHERE)
    whereLanguage: WhereLanguage | None = opt(FILTER_WHERE_LANGUAGE)
    appliesToSourceIds: list[str] | None = opt(FILTER_APPLIES_TO)
    id: str = req("The filter's id.")


class ClickStackFilterWithIdInput(ClickStackFilter):
    """A filter of a dashboard's update: it names the filter by the id the dashboard shows."""

    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    name: str = like(ClickStackFilterInput, "name")
    expression: str = like(ClickStackFilterInput, "expression")
    sourceId: str = like(ClickStackFilterInput, "sourceId")
    appliesToSourceIds: list[Annotated[str, Field(min_length=1)]] | None = like(ClickStackFilterInput,
                                                                                "appliesToSourceIds")


SAVED_FILTER_VALUE_TYPE = "The kind of value: sql, the only one."


class ClickStackSavedFilterValue(ResponseModel):
    type: Literal["sql"] | None = opt(SAVED_FILTER_VALUE_TYPE)
    condition: str = req("An SQL condition such as `ServiceName IN ('api')`.", max_length=MAX_EXPRESSION)


class ClickStackSavedFilterValueInput(ClickStackSavedFilterValue):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    type: Literal["sql"] = Field(default="sql", description=SAVED_FILTER_VALUE_TYPE)


DASHBOARD_NAME = "The dashboard's name."
SAVED_QUERY = "The dashboard's query, applied to its tiles when it is opened."
SAVED_QUERY_LANGUAGE = "The language of savedQuery."
SAVED_FILTER_VALUES = "The values of its filters when it is opened."
CONTAINERS = "Groups of tiles: a tile joins one by containerId, and a tab of it by tabId."
DASHBOARD_TAGS = "Tags to sort dashboards by, at most 50 of at most 32 characters."


class _DashboardRequest(RequestModel):
    """What a dashboard's create and update share, and HyperDX's rules of it."""

    name: Annotated[str, Field(max_length=1024), PRINTABLE] = req(DASHBOARD_NAME)
    tiles: list[ClickStackTileInput] = req("Its tiles, at most 500.", max_length=MAX_TILES)
    tags: Tags | None = opt(DASHBOARD_TAGS)
    savedQuery: str | None = opt(SAVED_QUERY)
    savedQueryLanguage: WhereLanguage | None = opt(SAVED_QUERY_LANGUAGE)
    savedFilterValues: list[ClickStackSavedFilterValueInput] | None = opt(SAVED_FILTER_VALUES)
    containers: list[ClickStackDashboardContainerInput] | None = opt(CONTAINERS, max_length=50)
    id: Refused = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _ids(self) -> _DashboardRequest:
        if "id" in self.model_fields_set:
            refuse([(("id",), "a dashboard's id is not in its body: an update names it in the path; leave it out")])
        problems: list[tuple[tuple[str | int, ...], str]] = [
            (("tiles", index, "id"), f"tile id {tile_id!r} is given twice; omit it to have a new one made")
            for index, tile_id in _repeated(tile.id for tile in self.tiles)]
        problems += [(("containers", index, "id"), f"container id {container_id!r} is given twice")
                     for index, container_id in _repeated(item.id for item in self.containers or ())]
        refuse(problems)
        return self


class ClickStackCreateDashboardRequest(_DashboardRequest):
    filters: list[ClickStackFilterInput] | None = opt("Its filters, which apply across its tiles.")


class ClickStackUpdateDashboardRequest(_DashboardRequest):
    """A dashboard's replacement: tiles are matched by id (a tile with an id the dashboard lacks gets a new one),
    filters are named by the ids the dashboard shows."""

    tiles: list[ClickStackTileInput] = req("All of its tiles, at most 500: those with an id the dashboard has are "
                                           "kept as that tile, the others are new.", max_length=MAX_TILES)
    filters: list[ClickStackFilterWithIdInput] | None = opt("All of its filters, each with its id.")


class ClickStackDashboardResponse(ResponseModel):
    id: str | None = opt("The dashboard's id.")
    name: str | None = opt(DASHBOARD_NAME)
    tiles: list[ClickStackTileOutput] | None = opt("Its tiles.")
    tags: list[str] | None = opt("Its tags.")
    filters: list[ClickStackFilter] | None = opt("Its filters, which apply across its tiles.")
    savedQuery: str | None = opt(SAVED_QUERY)
    savedQueryLanguage: WhereLanguage | None = opt(SAVED_QUERY_LANGUAGE)
    savedFilterValues: list[ClickStackSavedFilterValue] | None = opt(SAVED_FILTER_VALUES)
    containers: list[ClickStackDashboardContainer] | None = opt(CONTAINERS)


class ClickStackValidateDashboardError(ResponseModel):
    path: str = req("The field, dot-separated (tiles.0.config); empty for the dashboard as a whole.")
    message: str = req("What is wrong with it.")


class ClickStackValidateDashboardResponseNormalized(RootModel[dict[str, Any]]):
    """The dashboard as it would be created: its defaults filled in, no ids added."""


class _KeepsNormalized(ResponseModel):
    @model_serializer(mode="wrap")
    def _null_when_invalid(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`normalized` is null, not absent, when the body is invalid (answers leave out other nulls)."""
        shown: dict[str, Any] = handler(self)
        shown.setdefault("normalized", None)
        return shown


class ClickStackValidateDashboardResponse(_KeepsNormalized):
    valid: bool = req("Whether the body passes every check a create makes.")
    errors: list[ClickStackValidateDashboardError] = req("What fails; empty when valid.")
    normalized: ClickStackValidateDashboardResponseNormalized | None = req("The dashboard as it would be created "
                                                                           "(null when invalid).")


# ====================================================================================================================
# Alerts
# ====================================================================================================================

class ClickStackAlertExecutionError(ResponseModel):
    timestamp: Timestamp = req("When it happened.")
    type: AlertErrorType = req("What failed: the query, the webhook, the alert itself, or something else.")
    message: str = req("What went wrong.")


class ClickStackAlertSilenced(ResponseModel):
    by: str | None = opt("The user who silenced the alert.")
    at: Timestamp | None = opt("When the silence began.")
    until: Timestamp | None = opt("When it ends.")


def _channel_type(kind: str) -> str:
    return f"The kind of channel, webhook or email: {kind} for this one."


class ClickStackAlertChannelEmail(ResponseModel):
    type: ChannelType = req(_channel_type("email"))
    emailRecipients: list[str] = req("Who is mailed.")


class ClickStackAlertChannelWebhook(ResponseModel):
    type: ChannelType = req(_channel_type("webhook"))
    webhookId: str = req("The id of the webhook notified.")
    webhookService: str | None = opt("The webhook's service (slack_api, ...).")
    slackChannelId: str | None = opt("The Slack channel posted to, for a Slack API webhook.")
    severity: AlertSeverity | None = opt("The severity a PagerDuty API webhook is given.")


class ClickStackAlertChannelEmailInput(ClickStackAlertChannelEmail):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    emailRecipients: list[Annotated[str, Field(min_length=1)]] = req("Who is mailed, at least one.", min_length=1)


class ClickStackAlertChannelWebhookInput(ClickStackAlertChannelWebhook):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    webhookId: str = req("The id of the webhook notified: one of the service's.", min_length=1)


CHANNEL_ERROR = {"custom_error_type": "channel_type", "custom_error_message": one_of("type", ("webhook", "email"))}


class ClickStackAlertChannel(RootModel[Annotated[
    Annotated[ClickStackAlertChannelEmail, Tag("email")] | Annotated[ClickStackAlertChannelWebhook, Tag("webhook")],
    Discriminator(tag_of("type"), **CHANNEL_ERROR)]]):
    """Where an alert's notifications go, by its type."""


class ClickStackAlertChannelInput(ClickStackAlertChannel):
    """Where an alert's notifications go, by its type."""

    root: Annotated[
        Annotated[ClickStackAlertChannelEmailInput, Tag("email")]
        | Annotated[ClickStackAlertChannelWebhookInput, Tag("webhook")],
        Discriminator(tag_of("type"), **CHANNEL_ERROR)]


DASHBOARD_ID = "The dashboard of the tile a tile alert follows."
TILE_ID = "The tile a tile alert follows: a line, stacked_bar or number tile."
SAVED_SEARCH_ID = "The saved search a saved_search alert counts the rows of."
ALERT_GROUP_BY = "A saved_search alert's grouping: each group has its own state."
THRESHOLD = "The value compared with; the lower bound for between and not_between."
THRESHOLD_MAX = "The upper bound for between and not_between (required for them, and at least threshold)."
INTERVAL = "How often the alert is evaluated: the length of its windows."
OFFSET = ("Minutes its windows start after the interval's boundaries (UTC): 2 with 5m evaluates at :02, :07, ...; "
          "less than the interval.")
START_AT = "A moment its windows start from, every interval after it (UTC); the offset is then 0."
SOURCE = "What it follows: a saved search's row count, or a tile's value."
THRESHOLD_TYPE = "How the value is compared with the threshold."
CHANNEL = "Where its notifications go."
ALERT_NAME = "Its name, a Handlebars template of the notification's title."
ALERT_MESSAGE = "A Handlebars template of the notification's body."
NOTE = "A note about the alert, in Markdown."
WINDOWS = ("How many windows in a row must break the threshold before it fires; until then it is PENDING. "
           "At least 1.")


class ClickStackAlertResponse(ResponseModel):
    dashboardId: str | None = opt(DASHBOARD_ID)
    tileId: str | None = opt(TILE_ID)
    savedSearchId: str | None = opt(SAVED_SEARCH_ID)
    groupBy: str | None = opt(ALERT_GROUP_BY)
    threshold: float | None = opt(THRESHOLD)
    thresholdMax: float | None = opt(THRESHOLD_MAX)
    interval: AlertInterval | None = opt(INTERVAL)
    scheduleOffsetMinutes: int | None = opt(OFFSET)
    scheduleStartAt: Timestamp | None = opt(START_AT)
    source: AlertSource | None = opt(SOURCE)
    thresholdType: ThresholdType | None = opt(THRESHOLD_TYPE)
    channel: ClickStackAlertChannel | None = opt(CHANNEL)
    name: str | None = opt(ALERT_NAME)
    message: str | None = opt(ALERT_MESSAGE)
    note: str | None = opt(NOTE)
    numConsecutiveWindows: int | None = opt(WINDOWS)
    id: str | None = opt("The alert's id.")
    state: AlertState | None = opt("Its state: OK, PENDING (breaking, not yet for enough windows), ALERT, "
                                   "INSUFFICIENT_DATA or DISABLED. A new alert is OK.")
    teamId: str | None = opt("The team it belongs to: here its service's.")
    silenced: ClickStackAlertSilenced | None = opt("Whether, and until when, it is silenced.")
    executionErrors: list[ClickStackAlertExecutionError] | None = opt("What failed when it was last evaluated.")
    createdAt: Timestamp | None = opt(CREATED_AT)
    updatedAt: Timestamp | None = opt(UPDATED_AT)
    # clickplane's own (the reference has no way to see why an alert cannot be evaluated; clients ignore it).
    stateReason: str | None = opt("Why the alert is not evaluated now, or what its last evaluation met (its "
                                  "service stopped, a query that failed).")


class _AlertRequest(RequestModel):
    """What an alert's create and update share, and HyperDX's rules of it. The reference requires no field; an
    alert needs these to be evaluated, and HyperDX requires them."""

    dashboardId: str | None = opt(DASHBOARD_ID + " Required for a tile alert.")
    tileId: str | None = opt(TILE_ID + " Required for a tile alert.")
    savedSearchId: str | None = opt(SAVED_SEARCH_ID + " Required for a saved_search alert.")
    groupBy: str | None = opt(ALERT_GROUP_BY)
    threshold: float = req(THRESHOLD, allow_inf_nan=False)
    thresholdMax: float | None = opt(THRESHOLD_MAX, allow_inf_nan=False)
    interval: AlertInterval = req(INTERVAL)
    scheduleOffsetMinutes: NonNegative | None = opt(OFFSET)
    scheduleStartAt: AwareTimestamp | None = opt(START_AT)
    source: AlertSource = Field(default="saved_search", description=SOURCE)
    thresholdType: ThresholdType = req(THRESHOLD_TYPE)
    channel: ClickStackAlertChannelInput = req(CHANNEL)
    name: str | None = opt(ALERT_NAME + " At most 512 characters.", min_length=1, max_length=512)
    message: str | None = opt(ALERT_MESSAGE + " At most 4096 characters.", min_length=1, max_length=4096)
    note: str | None = opt(NOTE + " At most 4096 characters.", min_length=1, max_length=4096)
    numConsecutiveWindows: Annotated[int, Field(ge=1), WHOLE_FLOAT_AS_INTEGER] | None = opt(WINDOWS)

    @model_validator(mode="after")
    def _rules(self) -> _AlertRequest:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.source == "saved_search":
            if not self.savedSearchId:
                problems.append((("savedSearchId",), "is required for a saved_search alert (the source unless "
                                                     "one is given)"))
            problems += [((key,), "is for a tile alert; a saved_search alert has none")
                         for key in ("dashboardId", "tileId") if getattr(self, key) is not None]
        else:
            problems += [((key,), "is required for a tile alert") for key in ("dashboardId", "tileId")
                         if not getattr(self, key)]
            problems += [((key,), "is for a saved_search alert; a tile alert has none")
                         for key in ("savedSearchId", "groupBy") if getattr(self, key) is not None]
        if self.thresholdType in RANGE_THRESHOLD_TYPES:
            if self.thresholdMax is None:
                problems.append((("thresholdMax",), f"is required for thresholdType {self.thresholdType}: it is "
                                                    "the range's upper bound"))
            elif self.thresholdMax < self.threshold:
                problems.append((("thresholdMax",), f"must be at least threshold ({self.threshold:g}): it is the "
                                                    "range's upper bound"))
        offset = self.scheduleOffsetMinutes or 0
        if self.scheduleStartAt is not None and offset:
            problems.append((("scheduleOffsetMinutes",), "must be 0 when scheduleStartAt is given: the windows "
                                                         "start from it"))
        elif offset * 60 >= ALERT_INTERVAL_SECONDS[self.interval]:
            problems.append((("scheduleOffsetMinutes",), f"must be less than the interval, "
                                                         f"{ALERT_INTERVAL_SECONDS[self.interval] // 60} minutes"))
        refuse(problems)
        return self


class ClickStackCreateAlertRequest(_AlertRequest):
    """An alert to create."""


class ClickStackUpdateAlertRequest(_AlertRequest):
    """An alert's replacement."""


# ====================================================================================================================
# Webhooks
# ====================================================================================================================

WEBHOOK_ID = "The webhook's id."
WEBHOOK_NAME = "The webhook's name."
WEBHOOK_DESCRIPTION = "What it is for, shown in the UI."


class _Webhook(ResponseModel):
    id: str = req(WEBHOOK_ID)
    name: str = req(WEBHOOK_NAME)
    url: str | None = opt("Where notifications are posted.")
    description: str | None = opt(WEBHOOK_DESCRIPTION)
    updatedAt: Timestamp = req(UPDATED_AT)
    createdAt: Timestamp = req(CREATED_AT)


class ClickStackSlackWebhook(_Webhook):
    service: Literal["slack"] = req("A Slack incoming webhook: notifications are Slack messages.")


class ClickStackIncidentIOWebhook(_Webhook):
    service: Literal["incidentio"] = req("An incident.io HTTP alert source.")


class ClickStackGenericWebhook(_Webhook):
    service: Literal["generic"] = req("Any HTTP endpoint: notifications are its body template, rendered.")
    body: str | None = opt("The template of the request body (Handlebars); HyperDX's default when absent.")


class ClickStackSlackAPIWebhook(_Webhook):
    service: Literal["slack_api"] = req("Slack's API (not made through this API).")


class ClickStackPagerDutyAPIWebhook(_Webhook):
    service: Literal["pagerduty_api"] = req("PagerDuty's Events API (not made through this API).")


class ClickStackWebhook(RootModel[Annotated[
    ClickStackSlackWebhook
    | ClickStackIncidentIOWebhook
    | ClickStackGenericWebhook
    | ClickStackSlackAPIWebhook
    | ClickStackPagerDutyAPIWebhook,
    Field(discriminator="service")]]):
    """Where alerts deliver their notifications, by its service. Its headers and query parameters are never shown."""


class ClickStackWebhookInputHeaders(RootModel[Annotated[
        dict[HeaderName, HeaderValue],
        Field(max_length=MAX_WEBHOOK_ENTRIES, json_schema_extra={
            "writeOnly": True, "propertyNames": {"minLength": 1, "maxLength": 256, "pattern": HEADER_NAME}})]]):
    """Headers sent with each notification, at most 100 (values of at most 4096 characters); never shown."""


class ClickStackWebhookInputQueryParams(RootModel[Annotated[
        dict[QueryParamName, HeaderValue],
        Field(max_length=MAX_WEBHOOK_ENTRIES, json_schema_extra={"writeOnly": True})]]):
    """Query parameters added to the URL of each notification, at most 100 (values of at most 4096 characters);
    never shown."""


class ClickStackWebhookInput(RequestModel):
    """A webhook to create or to replace one with. On a replace, headers and queryParams left out are kept, unless
    the url or the service changes (then they are cleared); `{}` clears them."""

    name: Name = req(WEBHOOK_NAME + " Unique among the service's webhooks of its service type.")
    service: WebhookService = req("What it posts to: slack (an incoming webhook), incidentio, or generic (any "
                                  "HTTP endpoint).")
    url: Annotated[str, Field(max_length=MAX_WEBHOOK_URL), AfterValidator(_http_url)] = req(
        "Where notifications are posted: an http(s) URL without user or password; a Slack webhook's host ends in "
        "slack.com.")
    description: str | None = opt(WEBHOOK_DESCRIPTION, max_length=MAX_WEBHOOK_DESCRIPTION)
    body: str | None = opt("The template of the request body (Handlebars over title, body, link, state, startTime, "
                           "endTime, eventId); generic and incidentio only.", max_length=MAX_WEBHOOK_BODY)
    headers: ClickStackWebhookInputHeaders | None = opt("Headers sent with each notification; never shown.")
    queryParams: ClickStackWebhookInputQueryParams | None = opt("Query parameters added to the URL; never shown.")

    @model_validator(mode="after")
    def _service_rules(self) -> ClickStackWebhookInput:
        if self.service != "slack":
            return self
        host = (urlsplit(self.url).hostname or "").rstrip(".")
        refuse([*([(("url",), "of a Slack webhook must have a host that ends in slack.com")]
                  if host != "slack.com" and not host.endswith(".slack.com") else []),
                *([(("body",), "is not for a Slack webhook, whose notifications are Slack messages")]
                  if self.body is not None else [])])
        return self


class ClickStackValidateWebhookResponse(_KeepsNormalized):
    """The answer of POST .../clickstack/webhooks/validate, which clickhousectl's `webhook validate` calls: the
    reference has neither the operation nor this schema."""

    valid: bool = req("Whether the body passes every check a create makes.")
    errors: list[ClickStackValidateDashboardError] = req("What fails; empty when valid.")
    normalized: Any = req("The webhook as it would be created, without its headers and query parameters (null "
                          "when invalid).")


# ====================================================================================================================
# Roles
# ====================================================================================================================

class ClickStackCASLPermissionConditions(RootModel[dict[str, Any]]):
    """What the subject must match for the permission to apply, such as {"kind": "log"}."""


ACTION = "The action: create, read, update, delete or manage."
SUBJECT = ("What it acts on: Alert, Connection, Dashboard, SavedSearch, Source, Team, User, Webhook, Role, Notebook, "
           "or all.")


class ClickStackCASLPermission(ResponseModel):
    action: str = req(ACTION)
    subject: str = req(SUBJECT)
    inverted: bool | None = opt("Deny the action instead of granting it.")
    integration: str | None = opt("The integration the permission is limited to (clickhouse: data access).")
    conditions: ClickStackCASLPermissionConditions | None = opt("What the subject must match.")


class ClickStackCASLPermissionInput(ClickStackCASLPermission):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    action: str = req(ACTION, min_length=1)
    subject: str = req(SUBJECT, min_length=1)


ROLE_DESCRIPTION = "What the role is for."


class ClickStackRole(ResponseModel):
    id: str = req("The role's id.")
    name: str = req("The role's name.")
    description: str | None = opt(ROLE_DESCRIPTION)
    permissions: list[ClickStackCASLPermission] = req("What the role allows (and denies).")
    isPredefined: bool = req("Whether it is one of HyperDX's roles (Admin, Member, ReadOnly), which cannot be "
                             "changed or deleted.")
    createdAt: Timestamp | None = opt(CREATED_AT)
    updatedAt: Timestamp | None = opt(UPDATED_AT)


class ClickStackCreateRoleRequest(RequestModel):
    name: Name = req("The role's name: unique in the service, and none of Admin, Member, ReadOnly.")
    description: str | None = opt(ROLE_DESCRIPTION, max_length=1024)
    permissions: list[ClickStackCASLPermissionInput] = req("What the role allows (and denies); the server adds "
                                                           "reading connections.")


class ClickStackUpdateRoleRequest(RequestModel):
    name: Name | None = opt("The role's new name; it keeps its name when absent.")
    description: str | None = opt("The role's new description.", max_length=1024)
    permissions: list[ClickStackCASLPermissionInput] = req("All of what the role allows (and denies), replacing "
                                                           "what it had; the server adds reading connections.")
