"""Wire models of Postgres services' metrics and slow query patterns."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from clickplane.kit.schemas import ResponseModel

NOT_MEASURED = "clickplane does not measure it (pg_stat_statements keeps no such figure): always omitted."


class PostgresMetricDataPoint(ResponseModel):
    timestamp: int = Field(description="Bucket start time as a Unix timestamp in seconds.")
    value: float = Field(description="Metric value for the bucket.")


class PostgresMetricSeries(ResponseModel):
    label: str = Field(description="Distinguishing label for this series within the metric (a connection state, a "
                                   "database name, or \"Commits\").")
    dataPoints: list[PostgresMetricDataPoint] = Field(
        description="Time-ordered data points, one per bucket that holds samples (a bucket without any, such as "
                    "while the server was down, has none).")


class PostgresMetric(ResponseModel):
    key: str = Field(description="Stable metric identifier (connection_count, transactions, throughput, "
                                 "cache_hit_ratio, deadlocks, database_size).")
    name: str = Field(description="Human-readable metric name.")
    unit: str = Field(description="Unit of the metric values (count, transactions/s, rows/s, %, deadlocks/s, "
                                  "bytes).")
    description: str = Field(description="What the metric measures, and where it comes from.")
    series: list[PostgresMetricSeries] = Field(description="One series per label dimension of the metric.")


class PostgresMetrics(ResponseModel):
    metrics: list[PostgresMetric] = Field(description="Available metrics, each with its bucketed time series.")


class PostgresSlowQueryPattern(ResponseModel):
    queryId: str = Field(description="pg_stat_statements' queryid of the normalized statement, in decimal and "
                                     "unsigned (queryid + 2^64 when it is negative).")
    queryText: str = Field(description="Normalized query text: constants replaced by $1, $2, ..., and string "
                                       "literals left (a utility statement's) by '<redacted>'; its first 10000 "
                                       "characters.")
    dbName: str = Field(description="Database the query ran in.")
    dbUser: str = Field(description="Database user that executed the query.")
    dbOperation: str = Field(description="Top-level SQL operation: SELECT, INSERT, UPDATE, DELETE, or UTILITY for "
                                         "any other statement.")
    app: str | None = Field(default=None, description="Value of the Postgres `application_name`. " + NOT_MEASURED)
    callCount: int = Field(description="Number of times the pattern finished executing in the window.")
    errorCount: int | None = Field(default=None, description="Executions that raised an error. " + NOT_MEASURED)
    totalDurationUs: int = Field(description="Total execution time across the window's calls, in microseconds "
                                             "(planning not included).")
    avgDurationUs: int = Field(description="Average execution time per call in the window, in microseconds.")
    maxDurationUs: int = Field(
        description="The longest single execution pg_stat_statements had recorded for the pattern by the window's "
                    "end, since its statistics began (an upper bound of the window's longest), in microseconds.")
    p50DurationUs: int | None = Field(default=None, description="50th percentile execution time. " + NOT_MEASURED)
    p95DurationUs: int | None = Field(default=None, description="95th percentile execution time. " + NOT_MEASURED)
    p99DurationUs: int | None = Field(default=None, description="99th percentile execution time. " + NOT_MEASURED)
    totalRows: int = Field(description="Total number of rows returned or affected across the window's calls.")
    totalSharedBlksRead: int = Field(description="Shared buffer blocks read (cache misses) across the window's "
                                                 "calls.")
    totalSharedBlksHit: int = Field(description="Shared buffer blocks hit (cache hits) across the window's calls.")
    totalCpuTimeUs: int | None = Field(default=None, description="Total CPU time. " + NOT_MEASURED)
    totalWalBytes: int = Field(description="WAL bytes generated across the window's calls.")


class PostgresQueryExecution(ResponseModel):
    """One execution of a pattern, as the reference describes it; clickplane keeps none (see recentExecutions)."""

    timestamp: datetime = Field(description="Execution timestamp (RFC 3339).")
    queryId: str = Field(description="Stable identifier for the query pattern.")
    dbName: str = Field(description="Database the query ran in.")
    dbUser: str = Field(description="Database user that executed the query.")
    dbOperation: str = Field(description="Top-level SQL operation type.")
    app: str = Field(description="Value of the Postgres `application_name` for this execution.")
    queryText: str = Field(description="Normalized query text for this execution.")
    pid: str = Field(description="Postgres backend process ID that executed the query.")
    durationUs: int = Field(description="Execution duration in microseconds.")
    rows: int = Field(description="Rows returned or affected.")
    sharedBlksHit: int = Field(description="Shared buffer blocks hit.")
    sharedBlksRead: int = Field(description="Shared buffer blocks read from disk.")
    sharedBlksWritten: int = Field(description="Shared buffer blocks written.")
    sharedBlksDirtied: int = Field(description="Shared buffer blocks dirtied.")
    sharedBlkReadTimeUs: int = Field(description="Time spent reading shared blocks, in microseconds.")
    sharedBlkWriteTimeUs: int = Field(description="Time spent writing shared blocks, in microseconds.")
    localBlksHit: int = Field(description="Local buffer blocks hit (temp tables).")
    localBlksRead: int = Field(description="Local buffer blocks read (temp tables).")
    localBlksWritten: int = Field(description="Local buffer blocks written (temp tables).")
    localBlksDirtied: int = Field(description="Local buffer blocks dirtied (temp tables).")
    tempBlksRead: int = Field(description="Temp blocks read (spills to disk).")
    tempBlksWritten: int = Field(description="Temp blocks written (spills to disk).")
    tempBlkReadTimeUs: int = Field(description="Time spent reading temp blocks, in microseconds.")
    tempBlkWriteTimeUs: int = Field(description="Time spent writing temp blocks, in microseconds.")
    walRecords: int = Field(description="Number of WAL records produced.")
    walBytes: int = Field(description="Number of WAL bytes produced.")
    walFpi: int = Field(description="Number of WAL full-page images produced.")
    cpuUserTimeUs: int = Field(description="CPU time spent in user mode, in microseconds.")
    cpuSysTimeUs: int = Field(description="CPU time spent in kernel mode, in microseconds.")
    jitFunctions: int = Field(description="Number of JIT-compiled functions.")
    jitGenerationTimeUs: int = Field(description="JIT generation time, in microseconds.")
    jitInliningTimeUs: int = Field(description="JIT inlining time, in microseconds.")
    jitOptimizationTimeUs: int = Field(description="JIT optimization time, in microseconds.")
    jitEmissionTimeUs: int = Field(description="JIT emission time, in microseconds.")
    jitDeformTimeUs: int = Field(description="JIT deform time, in microseconds.")
    parallelWorkersPlanned: int = Field(description="Parallel workers planned for this execution.")
    parallelWorkersLaunched: int = Field(description="Parallel workers actually launched for this execution.")
    errMessage: str | None = Field(default=None, description="Error message if the execution raised an error.")
    errSqlstate: str | None = Field(default=None, description="Postgres SQLSTATE code if the execution raised an "
                                                               "error.")
    errElevel: int | None = Field(default=None, description="Postgres error severity level if the execution raised "
                                                             "an error.")
    serverRole: str = Field(description="Role of the server that executed the query (primary or standby).")
    traceId: str | None = Field(default=None, description="OpenTelemetry trace ID associated with the execution.")
    spanId: str | None = Field(default=None, description="OpenTelemetry span ID associated with the execution.")


class PostgresSlowQueryPatternDetail(ResponseModel):
    aggregate: PostgresSlowQueryPattern | None = Field(
        default=None, description="The pattern's figures over every sample kept (the retention), as in the list.")
    recentExecutions: list[PostgresQueryExecution] = Field(
        default_factory=list,
        description="Always empty: pg_stat_statements keeps aggregates per pattern, no individual executions.")
