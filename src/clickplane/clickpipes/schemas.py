"""Wire models of ClickPipes: the reference document's schemas, named as it names them, plus what clickhousectl
0.5.0 sends or reads beyond them (each marked "clickhousectl sends it; the reference lacks it"), and the service's
ClickPipes context, which the reference does not have.

A schema the reference uses both in requests and in responses (scaling, settings, a table mapping, ...) is the
response model under its own name and a request model named with `Input` after it: a request refuses unknown keys
and takes 2.0 for an integer, a response does neither. Responses carry no credentials."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, RootModel

from clickplane.kit.enums import ClickPipeState
from clickplane.kit.schemas import (
    DEPRECATED,
    PRINTABLE,
    WHOLE_FLOAT_AS_INTEGER,
    RequestModel,
    ResponseModel,
    Timestamp,
    exact_multiple_of,
)

# --- Enumerations, with every value of the reference ---------------------------------------------------------------

KafkaType = Literal["kafka", "redpanda", "msk", "gcmk", "confluent", "warpstream", "azureeventhub", "dokafka"]
KafkaFormat = Literal["JSONEachRow", "Avro", "AvroConfluent", "Protobuf"]
KafkaAuthentication = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "IAM_ROLE", "IAM_USER", "MUTUAL_TLS"]
KafkaOffsetStrategy = Literal["from_beginning", "from_latest", "from_timestamp"]
KinesisFormat = Literal["JSONEachRow", "Avro", "AvroConfluent"]
KinesisIteratorType = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
KinesisAuthentication = Literal["IAM_ROLE", "IAM_USER"]
ObjectStorageType = Literal["s3", "gcs", "dospaces", "azureblobstorage", "cloudflarer2", "ovhobjectstorage"]
ObjectStorageFormat = Literal[
    "JSONEachRow", "JSONAsObject", "CSV", "CSVWithNames", "TabSeparated", "TabSeparatedWithNames", "Parquet", "Avro",
]  # fmt: skip
ObjectStorageCompression = Literal["none", "gzip", "gz", "brotli", "br", "xz", "LZMA", "zstd", "auto"]
# SERVICE_ACCOUNT_WORKLOAD_IDENTITY: clickhousectl sends it; the reference lacks it.
ObjectStorageAuthentication = Literal[
    "IAM_ROLE", "IAM_USER", "CONNECTION_STRING", "SERVICE_ACCOUNT", "SERVICE_ACCOUNT_WORKLOAD_IDENTITY",
]  # fmt: skip
PubSubFormat = Literal["JSONEachRow", "Avro", "Protobuf"]
PubSubAuthentication = Literal["SERVICE_ACCOUNT"]
PubSubSeekType = Literal["latest", "earliest", "timestamp"]
PostgresType = Literal[
    "postgres", "supabase", "neon", "alloydb", "planetscale", "rdspostgres", "aurorapostgres", "cloudsqlpostgres",
    "azurepostgres", "crunchybridge", "tigerdata",
]  # fmt: skip
MySQLType = Literal["mysql", "rdsmysql", "auroramysql", "mariadb", "rdsmariadb"]
DatabaseAuthentication = Literal["basic", "IAM_ROLE"]
ReplicationMode = Literal["cdc", "snapshot", "cdc_only"]
MySQLReplicationMechanism = Literal["GTID", "FILE_POS"]
MongoDBReadPreference = Literal["primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"]
# SERVICE_ACCOUNT_WORKLOAD_IDENTITY: clickhousectl sends it; the reference lacks it (and the field).
BigQueryAuthentication = Literal["SERVICE_ACCOUNT", "SERVICE_ACCOUNT_WORKLOAD_IDENTITY"]
CdcTableEngine = Literal["MergeTree", "ReplacingMergeTree", "Null"]
DestinationTableEngine = Literal["MergeTree", "ReplacingMergeTree", "SummingMergeTree", "Null"]
ClickPipeCommand = Literal["start", "stop", "resync"]
# --- Numbers with the reference's bounds: in a response as they are, in a request also 2.0 for 2 ---------------------

Port = Annotated[int, Field(ge=1, le=65535)]
PortIn = Annotated[int, Field(ge=1, le=65535), WHOLE_FLOAT_AS_INTEGER]
AtLeastOneIn = Annotated[int, Field(ge=1), WHOLE_FLOAT_AS_INTEGER]
RowsPerPartitionIn = Annotated[int, Field(ge=1000), WHOLE_FLOAT_AS_INTEGER]
MySQLServerId = Annotated[int, Field(ge=1, le=4294967295)]
MySQLServerIdIn = Annotated[int, Field(ge=1, le=4294967295), WHOLE_FLOAT_AS_INTEGER]
AckDeadline = Annotated[int, Field(ge=10, le=600)]
AckDeadlineIn = Annotated[int, Field(ge=10, le=600), WHOLE_FLOAT_AS_INTEGER]
PubSubFilter = Annotated[str, Field(max_length=256)]
ReplicasIn = Annotated[int, Field(ge=1, le=40), WHOLE_FLOAT_AS_INTEGER]
ReplicaCpuMillicoresIn = Annotated[int, Field(ge=125, le=2000), WHOLE_FLOAT_AS_INTEGER]
ReplicaMemoryGb = Annotated[float, Field(ge=0.5, le=8)]
CdcCpuMillicores = Annotated[int, Field(ge=1000, le=32000, multiple_of=1000)]
CdcCpuMillicoresIn = Annotated[int, Field(ge=1000, le=32000, multiple_of=1000), WHOLE_FLOAT_AS_INTEGER]
CdcMemoryGb = Annotated[float, Field(ge=4, le=128, multiple_of=4)]
CdcMemoryGbIn = Annotated[float, Field(ge=4, le=128, multiple_of=4), exact_multiple_of(4)]
WholeNumberIn = Annotated[int, WHOLE_FLOAT_AS_INTEGER]
# The reference bounds a pipe's name in the ClickPipe it returns (1 to 255); a request is held to the same.
PipeName = Annotated[str, Field(min_length=1, max_length=255), PRINTABLE]
Hostname = Annotated[str, Field(json_schema_extra={"format": "hostname"})]
# A secret in a request, marked as the reference marks it.
Password = Annotated[str, Field(json_schema_extra={"format": "password"})]


def _withheld(_: str | None) -> None:
    return None


# A field the reference's response has that would hold a credential: documented, but never given a value.
Withheld = Annotated[str | None, AfterValidator(_withheld)]


# --- Credentials (requests only) ------------------------------------------------------------------------------------

class PLAIN(RequestModel):
    username: str | None = None
    password: Password | None = None


class MskIamUser(RequestModel):
    accessKeyId: str | None = None
    secretKey: str | None = None


class AzureEventHub(RequestModel):
    connectionString: str | None = None


class MutualTLS(RequestModel):
    certificate: str | None = Field(default=None, description="PEM client certificate.")
    privateKey: Password | None = Field(default=None, description="PEM private key of the certificate.")


class ServiceAccount(RequestModel):
    serviceAccountFile: str | None = Field(default=None, description="The key file, base64-encoded.")


KafkaCredentials = PLAIN | MskIamUser | AzureEventHub | MutualTLS


# --- Settings -------------------------------------------------------------------------------------------------------

class ClickPipeSettings(ResponseModel):
    streaming_max_insert_wait_ms: Annotated[int, Field(ge=500, le=60000)] | None = None
    object_storage_concurrency: Annotated[int, Field(ge=1, le=35)] | None = None
    object_storage_polling_interval_ms: Annotated[int, Field(ge=100, le=3600000)] | None = None
    object_storage_max_insert_bytes: Annotated[int, Field(ge=10485760, le=53687091200)] | None = None
    object_storage_max_file_count: Annotated[int, Field(ge=1, le=10000)] | None = None
    clickhouse_max_threads: Annotated[int, Field(ge=0, le=64)] | None = None
    clickhouse_max_insert_threads: Annotated[int, Field(ge=0, le=16)] | None = None
    clickhouse_min_insert_block_size_bytes: Annotated[int, Field(ge=0, le=10737418240)] | None = None
    clickhouse_max_download_threads: Annotated[int, Field(ge=0, le=32)] | None = None
    clickhouse_parallel_distributed_insert_select: Annotated[int, Field(ge=0, le=2)] | None = None
    object_storage_use_cluster_function: bool | None = None
    clickhouse_parallel_view_processing: bool | None = None
    # clickhousectl sends it; the reference lacks it. The CLI's settings update of a Kafka pipe needs it in the GET.
    kafka_read_committed: bool | None = Field(default=None, description="Kafka: read committed messages only.")


class ClickPipeSettingsPutRequest(RequestModel):
    streaming_max_insert_wait_ms: Annotated[int, Field(ge=500, le=60000), WHOLE_FLOAT_AS_INTEGER] | None = None
    object_storage_concurrency: Annotated[int, Field(ge=1, le=35), WHOLE_FLOAT_AS_INTEGER] | None = None
    object_storage_polling_interval_ms: Annotated[int, Field(ge=100, le=3600000), WHOLE_FLOAT_AS_INTEGER] | None = None
    object_storage_max_insert_bytes: Annotated[
        int, Field(ge=10485760, le=53687091200), WHOLE_FLOAT_AS_INTEGER] | None = None
    object_storage_max_file_count: Annotated[int, Field(ge=1, le=10000), WHOLE_FLOAT_AS_INTEGER] | None = None
    clickhouse_max_threads: Annotated[int, Field(ge=0, le=64), WHOLE_FLOAT_AS_INTEGER] | None = None
    clickhouse_max_insert_threads: Annotated[int, Field(ge=0, le=16), WHOLE_FLOAT_AS_INTEGER] | None = None
    clickhouse_min_insert_block_size_bytes: Annotated[
        int, Field(ge=0, le=10737418240), WHOLE_FLOAT_AS_INTEGER] | None = None
    clickhouse_max_download_threads: Annotated[int, Field(ge=0, le=32), WHOLE_FLOAT_AS_INTEGER] | None = None
    clickhouse_parallel_distributed_insert_select: Annotated[
        int, Field(ge=0, le=2), WHOLE_FLOAT_AS_INTEGER] | None = None
    object_storage_use_cluster_function: bool | None = None
    clickhouse_parallel_view_processing: bool | None = None
    # clickhousectl sends it; the reference lacks it.
    kafka_read_committed: bool | None = Field(default=None, description="Kafka: read committed messages only.")


# --- Scaling --------------------------------------------------------------------------------------------------------

class ClickPipeScaling(ResponseModel):
    replicas: ReplicasIn | None = None
    concurrency: WholeNumberIn | None = Field(default=None, json_schema_extra=DEPRECATED)
    replicaCpuMillicores: ReplicaCpuMillicoresIn | None = None
    replicaMemoryGb: ReplicaMemoryGb | None = None


class ClickPipeScalingInput(ClickPipeScaling):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeScalingPatchRequest(RequestModel):
    replicas: ReplicasIn | None = None
    concurrency: Annotated[int, Field(ge=0, le=34), WHOLE_FLOAT_AS_INTEGER] | None = Field(
        default=None, json_schema_extra=DEPRECATED)
    replicaCpuMillicores: ReplicaCpuMillicoresIn | None = None
    replicaMemoryGb: ReplicaMemoryGb | None = None


class ClickPipesCdcScaling(ResponseModel):
    replicaCpuMillicores: CdcCpuMillicores | None = None
    replicaMemoryGb: CdcMemoryGb | None = None


class ClickPipesCdcScalingPatchRequest(RequestModel):
    replicaCpuMillicores: CdcCpuMillicoresIn | None = None
    replicaMemoryGb: CdcMemoryGbIn | None = None


class ClickPipeStatePatchRequest(RequestModel):
    command: ClickPipeCommand | None = None


# --- Kafka ----------------------------------------------------------------------------------------------------------

class ClickPipeKafkaOffset(ResponseModel):
    strategy: KafkaOffsetStrategy | None = None
    timestamp: str | None = None


class ClickPipeKafkaOffsetInput(ClickPipeKafkaOffset):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeKafkaSchemaRegistry(ResponseModel):
    url: str | None = None
    authentication: Literal["PLAIN"] | None = None
    caCertificate: str | None = None
    # AWS Glue: clickhousectl sends it; the reference lacks it.
    type: Literal["glue"] | None = None
    glueRegion: str | None = None
    glueRegistryName: str | None = None


class ClickPipeKafkaSchemaRegistryCredentials(RequestModel):
    username: str | None = None
    password: str | None = None


class ClickPipeMutateKafkaSchemaRegistry(RequestModel):
    url: str | None = None
    authentication: Literal["PLAIN"] | None = None
    caCertificate: str | None = None
    credentials: ClickPipeKafkaSchemaRegistryCredentials | None = None
    # An AWS Glue registry, `{type: "glue", glueRegion, glueRegistryName}`: clickhousectl sends it; the reference
    # lacks it.
    type: Literal["glue"] | None = None
    glueRegion: str | None = None
    glueRegistryName: str | None = None


class ClickPipeKafkaSource(ResponseModel):
    type: KafkaType | None = None
    format: KafkaFormat | None = None
    brokers: str | None = None
    topics: str | None = None
    consumerGroup: str | None = None
    authentication: KafkaAuthentication | None = None
    iamRole: str | None = None
    offset: ClickPipeKafkaOffset | None = None
    schemaRegistry: ClickPipeKafkaSchemaRegistry | None = None
    caCertificate: str | None = None
    reversePrivateEndpointIds: list[str] | None = None
    exactlyOnce: bool | None = None


class ClickPipePostKafkaSource(RequestModel):
    type: KafkaType | None = None
    format: KafkaFormat | None = None
    brokers: str | None = None
    topics: str | None = None
    consumerGroup: str | None = None
    authentication: KafkaAuthentication | None = None
    iamRole: str | None = None
    offset: ClickPipeKafkaOffsetInput | None = None
    schemaRegistry: ClickPipeMutateKafkaSchemaRegistry | None = None
    caCertificate: str | None = None
    reversePrivateEndpointIds: list[str] | None = None
    exactlyOnce: bool | None = None
    credentials: KafkaCredentials | None = None
    # clickhousectl sends it (the .proto file, base64-encoded); the reference lacks it.
    protobufSchema: str | None = Field(default=None, description="The Protobuf schema file, base64-encoded.")


class ClickPipePatchKafkaSource(RequestModel):
    authentication: KafkaAuthentication | None = None
    iamRole: str | None = None
    caCertificate: str | None = None
    reversePrivateEndpointIds: list[str] | None = None
    credentials: KafkaCredentials | None = None


# --- Kinesis --------------------------------------------------------------------------------------------------------

class ClickPipeKinesisSource(ResponseModel):
    format: KinesisFormat | None = None
    streamName: str | None = None
    region: str | None = None
    useEnhancedFanOut: bool | None = None
    iteratorType: KinesisIteratorType | None = None
    timestamp: int | None = None
    authentication: KinesisAuthentication | None = None
    iamRole: str | None = None


class ClickPipePostKinesisSource(RequestModel):
    format: KinesisFormat | None = None
    streamName: str | None = None
    region: str | None = None
    useEnhancedFanOut: bool | None = None
    iteratorType: KinesisIteratorType | None = None
    timestamp: WholeNumberIn | None = None
    authentication: KinesisAuthentication | None = None
    iamRole: str | None = None
    accessKey: MskIamUser | None = None


class ClickPipePatchKinesisSource(RequestModel):
    authentication: KinesisAuthentication | None = None
    iamRole: str | None = None
    accessKey: MskIamUser | None = None


# --- Object storage -------------------------------------------------------------------------------------------------

class ClickPipeObjectStorageSource(ResponseModel):
    type: ObjectStorageType | None = None
    format: ObjectStorageFormat | None = None
    url: str | None = None
    delimiter: str | None = None
    compression: ObjectStorageCompression | None = None
    isContinuous: bool | None = None
    queueUrl: str | None = None
    skipInitialLoad: bool | None = None
    startAfter: str | None = None
    authentication: ObjectStorageAuthentication | None = None
    iamRole: str | None = None
    # The reference's response has the Azure connection string, a credential: documented here, always left out.
    connectionString: Withheld = None
    path: str | None = None
    azureContainerName: str | None = None


class ClickPipePostObjectStorageSource(RequestModel):
    type: ObjectStorageType | None = None
    format: ObjectStorageFormat | None = None
    url: str | None = None
    delimiter: str | None = None
    compression: ObjectStorageCompression | None = None
    isContinuous: bool | None = None
    queueUrl: str | None = None
    skipInitialLoad: bool | None = None
    startAfter: str | None = None
    authentication: ObjectStorageAuthentication | None = None
    iamRole: str | None = None
    connectionString: str | None = None
    path: str | None = None
    azureContainerName: str | None = None
    accessKey: MskIamUser | None = None
    serviceAccountKey: str | None = Field(default=None, description="The GCP key file, base64-encoded.")


class ClickPipePatchObjectStorageSource(RequestModel):
    skipInitialLoad: bool | None = None
    startAfter: str | None = None
    authentication: ObjectStorageAuthentication | None = None
    iamRole: str | None = None
    connectionString: str | None = None
    path: str | None = None
    azureContainerName: str | None = None
    accessKey: MskIamUser | None = None
    serviceAccountKey: str | None = Field(default=None, description="The GCP key file, base64-encoded.")


# --- Pub/Sub --------------------------------------------------------------------------------------------------------

class ClickPipePubSubSource(ResponseModel):
    format: PubSubFormat
    projectId: str
    topic: str
    authentication: PubSubAuthentication
    seekType: PubSubSeekType
    seekTimestamp: Timestamp | None = None
    filter: PubSubFilter | None = None
    enableOrdering: bool | None = None
    ackDeadline: AckDeadline | None = None


class ClickPipePostPubSubSource(RequestModel):
    format: PubSubFormat
    projectId: str
    topic: str
    authentication: PubSubAuthentication
    seekType: PubSubSeekType
    seekTimestamp: AwareDatetime | None = None
    filter: PubSubFilter | None = None
    enableOrdering: bool | None = None
    ackDeadline: AckDeadlineIn | None = None
    serviceAccountKey: ServiceAccount


class ClickPipePatchPubSubSource(RequestModel):
    # Both required by the reference, and both may be null.
    authentication: PubSubAuthentication | None
    ackDeadline: AckDeadlineIn | None = None
    serviceAccountKey: ServiceAccount | None


# --- Postgres -------------------------------------------------------------------------------------------------------

class ClickPipePostgresPipeSettings(ResponseModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None
    publicationName: str | None = None
    replicationMode: ReplicationMode | None = None
    replicationSlotName: str | None = None
    allowNullableColumns: bool | None = None
    initialLoadParallelism: AtLeastOneIn | None = None
    snapshotNumRowsPerPartition: RowsPerPartitionIn | None = None
    snapshotNumberOfParallelTables: AtLeastOneIn | None = None
    enableFailoverSlots: bool | None = None
    deleteOnMerge: bool | None = None


class ClickPipePostgresPipeSettingsInput(ClickPipePostgresPipeSettings):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchPostgresPipeSettings(RequestModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None


class ClickPipePostgresPipeTableMapping(ResponseModel):
    sourceSchemaName: str | None = None
    sourceTable: str | None = None
    targetTable: str | None = None
    excludedColumns: list[str] | None = None
    useCustomSortingKey: bool | None = None
    sortingKeys: list[str] | None = None
    tableEngine: CdcTableEngine | None = None
    partitionKey: str | None = None
    partitionByExpr: str | None = None


class ClickPipePostgresPipeTableMappingInput(ClickPipePostgresPipeTableMapping):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchPostgresPipeRemoveTableMapping(RequestModel):
    sourceSchemaName: str | None = None
    sourceTable: str | None = None
    targetTable: str | None = None
    tableEngine: CdcTableEngine | None = None
    partitionKey: str | None = None
    partitionByExpr: str | None = None


class ClickPipePostgresSource(ResponseModel):
    type: PostgresType | None = None
    host: Hostname | None = None
    port: Port | None = None
    database: str | None = None
    authentication: DatabaseAuthentication | None = None
    iamRole: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    settings: ClickPipePostgresPipeSettings | None = None
    tableMappings: list[ClickPipePostgresPipeTableMapping] | None = None


class ClickPipeMutatePostgresSource(RequestModel):
    type: PostgresType | None = None
    credentials: PLAIN | None = None
    host: Hostname | None = None
    port: PortIn | None = None
    database: str | None = None
    settings: ClickPipePostgresPipeSettingsInput | None = None
    authentication: DatabaseAuthentication | None = None
    iamRole: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    tableMappings: list[ClickPipePostgresPipeTableMappingInput] | None = None


class ClickPipePatchPostgresSource(RequestModel):
    credentials: PLAIN | None = None
    host: Hostname | None = None
    port: PortIn | None = None
    database: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    settings: ClickPipePatchPostgresPipeSettings | None = None
    tableMappingsToAdd: list[ClickPipePostgresPipeTableMappingInput] | None = None
    tableMappingsToRemove: list[ClickPipePatchPostgresPipeRemoveTableMapping] | None = None


# --- MySQL ----------------------------------------------------------------------------------------------------------

class ClickPipeMySQLPipeSettings(ResponseModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None
    replicationMode: ReplicationMode
    replicationMechanism: MySQLReplicationMechanism | None = None
    useCompression: bool | None = None
    allowNullableColumns: bool | None = None
    initialLoadParallelism: AtLeastOneIn | None = None
    snapshotNumRowsPerPartition: RowsPerPartitionIn | None = None
    snapshotNumberOfParallelTables: AtLeastOneIn | None = None
    deleteOnMerge: bool | None = None


class ClickPipeMySQLPipeSettingsInput(ClickPipeMySQLPipeSettings):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchMySQLPipeSettings(RequestModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None
    useCompression: bool | None = None


class ClickPipeMySQLPipeTableMapping(ResponseModel):
    sourceSchemaName: str
    sourceTable: str
    targetTable: str
    excludedColumns: list[str] | None = None
    useCustomSortingKey: bool | None = None
    sortingKeys: list[str] | None = None
    tableEngine: CdcTableEngine | None = None
    partitionKey: str | None = None


class ClickPipeMySQLPipeTableMappingInput(ClickPipeMySQLPipeTableMapping):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchMySQLPipeRemoveTableMapping(RequestModel):
    # The three names are required by the reference, and may be null.
    sourceSchemaName: str | None
    sourceTable: str | None
    targetTable: str | None
    tableEngine: CdcTableEngine | None = None
    partitionKey: str | None = None


class ClickPipeMySQLSource(ResponseModel):
    type: MySQLType | None = None
    host: Hostname
    port: Port
    authentication: DatabaseAuthentication | None = None
    iamRole: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    serverId: MySQLServerId | None = None
    settings: ClickPipeMySQLPipeSettings
    tableMappings: list[ClickPipeMySQLPipeTableMapping]


class ClickPipeMutateMySQLSource(RequestModel):
    type: MySQLType | None = None
    credentials: PLAIN | None = None
    host: Hostname
    port: PortIn
    settings: ClickPipeMySQLPipeSettingsInput
    authentication: DatabaseAuthentication | None = None
    iamRole: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    serverId: MySQLServerIdIn | None = None
    tableMappings: list[ClickPipeMySQLPipeTableMappingInput]


class ClickPipePatchMySQLSource(RequestModel):
    credentials: PLAIN | None = None
    # Required by the reference, and may be null.
    host: Hostname | None
    port: PortIn | None
    authentication: DatabaseAuthentication | None = None
    iamRole: str | None = None
    tlsHost: str | None = None
    caCertificate: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    serverId: MySQLServerIdIn | None = None
    settings: ClickPipePatchMySQLPipeSettings | None = None
    tableMappingsToAdd: list[ClickPipeMySQLPipeTableMappingInput] | None = None
    tableMappingsToRemove: list[ClickPipePatchMySQLPipeRemoveTableMapping] | None = None


# --- BigQuery -------------------------------------------------------------------------------------------------------

class ClickPipeBigQueryPipeSettings(ResponseModel):
    replicationMode: Literal["snapshot"] | None = None
    allowNullableColumns: bool | None = None
    initialLoadParallelism: float | None = None
    snapshotNumRowsPerPartition: float | None = None
    snapshotNumberOfParallelTables: float | None = None
    # The five below: clickhousectl sends them; the reference lacks them.
    replicationMethod: str | None = None
    syncCron: str | None = None
    syncDelaySeconds: WholeNumberIn | None = None
    pullWindowSizeSeconds: WholeNumberIn | None = None
    queryCdcPullSyncParallelism: WholeNumberIn | None = None


class ClickPipeBigQueryPipeSettingsInput(ClickPipeBigQueryPipeSettings):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeBigQueryPipeTableMapping(ResponseModel):
    sourceDatasetName: str | None = None
    sourceTable: str | None = None
    targetTable: str | None = None
    excludedColumns: list[str] | None = None
    useCustomSortingKey: bool | None = None
    sortingKeys: list[str] | None = None
    tableEngine: CdcTableEngine | None = None
    # clickhousectl sends it; the reference lacks it.
    queryCdcWatermarkColumn: str | None = None


class ClickPipeBigQueryPipeTableMappingInput(ClickPipeBigQueryPipeTableMapping):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeBigQuerySource(ResponseModel):
    snapshotStagingPath: str | None = None
    settings: ClickPipeBigQueryPipeSettings | None = None
    tableMappings: list[ClickPipeBigQueryPipeTableMapping] | None = None
    # The two below: clickhousectl sends them (workload identity); the reference lacks them.
    authentication: BigQueryAuthentication | None = None
    projectId: str | None = None


class ClickPipeMutateBigQuerySource(RequestModel):
    snapshotStagingPath: str | None = None
    settings: ClickPipeBigQueryPipeSettingsInput | None = None
    tableMappings: list[ClickPipeBigQueryPipeTableMappingInput] | None = None
    credentials: ServiceAccount | None = None
    # The two below: clickhousectl sends them (workload identity instead of `credentials`); the reference lacks them.
    authentication: BigQueryAuthentication | None = None
    projectId: str | None = None


# --- MongoDB --------------------------------------------------------------------------------------------------------

class ClickPipeMongoDBPipeSettings(ResponseModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None
    replicationMode: ReplicationMode
    snapshotNumRowsPerPartition: RowsPerPartitionIn | None = None
    snapshotNumberOfParallelTables: AtLeastOneIn | None = None
    deleteOnMerge: bool | None = None
    useJsonNativeFormat: bool | None = None
    # clickhousectl sends it; the reference lacks it.
    initialLoadParallelism: AtLeastOneIn | None = None


class ClickPipeMongoDBPipeSettingsInput(ClickPipeMongoDBPipeSettings):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchMongoDBPipeSettings(RequestModel):
    syncIntervalSeconds: AtLeastOneIn | None = None
    pullBatchSize: AtLeastOneIn | None = None


class ClickPipeMongoDBPipeTableMapping(ResponseModel):
    sourceDatabaseName: str
    sourceCollection: str
    targetTable: str
    tableEngine: CdcTableEngine | None = None


class ClickPipeMongoDBPipeTableMappingInput(ClickPipeMongoDBPipeTableMapping):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipePatchMongoDBPipeRemoveTableMapping(RequestModel):
    # The three names are required by the reference, and may be null.
    sourceDatabaseName: str | None
    sourceCollection: str | None
    targetTable: str | None
    tableEngine: CdcTableEngine | None = None


class ClickPipeMongoDBSource(ResponseModel):
    uri: str
    readPreference: MongoDBReadPreference
    tlsHost: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    caCertificate: str | None = None
    settings: ClickPipeMongoDBPipeSettings | None = None
    tableMappings: list[ClickPipeMongoDBPipeTableMapping] | None = None


class ClickPipeMutateMongoDBSource(RequestModel):
    credentials: PLAIN | None = None
    uri: str
    readPreference: MongoDBReadPreference
    tlsHost: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    caCertificate: str | None = None
    settings: ClickPipeMongoDBPipeSettingsInput
    tableMappings: list[ClickPipeMongoDBPipeTableMappingInput]


class ClickPipePatchMongoDBSource(RequestModel):
    credentials: PLAIN | None = None
    # Required by the reference, and may be null.
    uri: str | None
    readPreference: MongoDBReadPreference | None
    tlsHost: str | None = None
    disableTls: bool | None = None
    skipCertVerification: bool | None = None
    caCertificate: str | None = None
    settings: ClickPipePatchMongoDBPipeSettings | None = None
    tableMappingsToAdd: list[ClickPipeMongoDBPipeTableMappingInput] | None = None
    tableMappingsToRemove: list[ClickPipePatchMongoDBPipeRemoveTableMapping] | None = None


# --- Sources: one key, the kind of the pipe -------------------------------------------------------------------------

class ClickPipeSource(ResponseModel):
    kafka: ClickPipeKafkaSource | None = None
    objectStorage: ClickPipeObjectStorageSource | None = None
    kinesis: ClickPipeKinesisSource | None = None
    pubsub: ClickPipePubSubSource | None = None
    postgres: ClickPipePostgresSource | None = None
    mysql: ClickPipeMySQLSource | None = None
    bigquery: ClickPipeBigQuerySource | None = None
    mongodb: ClickPipeMongoDBSource | None = None


class ClickPipePostSource(RequestModel):
    kafka: ClickPipePostKafkaSource | None = None
    objectStorage: ClickPipePostObjectStorageSource | None = None
    kinesis: ClickPipePostKinesisSource | None = None
    pubsub: ClickPipePostPubSubSource | None = None
    postgres: ClickPipeMutatePostgresSource | None = None
    mysql: ClickPipeMutateMySQLSource | None = None
    bigquery: ClickPipeMutateBigQuerySource | None = None
    mongodb: ClickPipeMutateMongoDBSource | None = None
    validateSamples: bool | None = None


class ClickPipePatchSource(RequestModel):
    kafka: ClickPipePatchKafkaSource | None = None
    objectStorage: ClickPipePatchObjectStorageSource | None = None
    kinesis: ClickPipePatchKinesisSource | None = None
    pubsub: ClickPipePatchPubSubSource | None = None
    postgres: ClickPipePatchPostgresSource | None = None
    mysql: ClickPipePatchMySQLSource | None = None
    mongodb: ClickPipePatchMongoDBSource | None = None
    validateSamples: bool | None = None


# --- Destination and field mappings ---------------------------------------------------------------------------------

class ClickPipeDestinationTableEngine(ResponseModel):
    type: DestinationTableEngine | None = None
    versionColumnId: str | None = None
    columnIds: list[str] | None = None


class ClickPipeDestinationTableEngineInput(ClickPipeDestinationTableEngine):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeDestinationTableDefinition(ResponseModel):
    engine: ClickPipeDestinationTableEngine | None = None
    sortingKey: list[str] | None = None
    partitionBy: str | None = None
    primaryKey: str | None = None


class ClickPipeDestinationTableDefinitionInput(ClickPipeDestinationTableDefinition):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused
    engine: ClickPipeDestinationTableEngineInput | None = None


class ClickPipeDestinationColumn(ResponseModel):
    name: str | None = None
    type: str | None = None


class ClickPipeDestinationColumnInput(ClickPipeDestinationColumn):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


class ClickPipeDestination(ResponseModel):
    database: str | None = None
    table: str | None = None
    managedTable: bool | None = None
    tableDefinition: ClickPipeDestinationTableDefinition | None = None
    columns: list[ClickPipeDestinationColumn] | None = None


class ClickPipeMutateDestination(RequestModel):
    database: str | None = None
    table: str | None = None
    managedTable: bool | None = None
    tableDefinition: ClickPipeDestinationTableDefinitionInput | None = None
    columns: list[ClickPipeDestinationColumnInput] | None = None
    roles: list[str] | None = None


class ClickPipePatchDestination(RequestModel):
    columns: list[ClickPipeDestinationColumnInput] | None = None


class ClickPipeFieldMapping(ResponseModel):
    sourceField: str | None = None
    destinationField: str | None = None


class ClickPipeFieldMappingInput(ClickPipeFieldMapping):
    model_config = RequestModel.model_config  # the same fields, unknown ones refused


# --- The pipe -------------------------------------------------------------------------------------------------------

class ClickPipeProgress(ResponseModel):
    """clickplane's own: what the pipe's workers have counted."""

    rowsMoved: int = Field(description="Rows written to the destination since the pipe was made.")
    bytesMoved: int = Field(description="Bytes read from the source since the pipe was made.")
    lastMovedAt: Timestamp | None = Field(default=None, description="When rows were last written.")
    lagBytes: int | None = Field(default=None, description="A Postgres pipe's: WAL its slot holds that the "
                                                           "destination does not have yet, as last seen.")


class ClickPipe(ResponseModel):
    id: UUID | None = None
    serviceId: UUID | None = None
    name: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    state: ClickPipeState | None = None
    scaling: ClickPipeScaling | None = None
    source: ClickPipeSource | None = None
    destination: ClickPipeDestination | None = None
    fieldMappings: list[ClickPipeFieldMapping] | None = None
    settings: ClickPipeSettings | None = None
    createdAt: Timestamp | None = None
    updatedAt: Timestamp | None = None
    # clickplane's own (the reference has no way to see why a pipe failed or how far it got; clients ignore them).
    stateReason: str | None = Field(default=None, description="Why the pipe is Failed, or what it is waiting on "
                                                              "(its service's server, its source).")
    progress: ClickPipeProgress | None = Field(default=None, description="What the pipe has moved so far.")


class ClickPipePostRequest(RequestModel):
    name: PipeName | None = None
    source: ClickPipePostSource | None = None
    destination: ClickPipeMutateDestination | None = None
    fieldMappings: list[ClickPipeFieldMappingInput] | None = None
    scaling: ClickPipeScalingInput | None = None
    settings: ClickPipeSettingsPutRequest | None = None
    # clickhousectl sends it; the reference lacks it.
    startPaused: bool | None = Field(default=None, description="Create the pipe stopped, to start it later.")


class ClickPipePatchRequest(RequestModel):
    name: PipeName | None = None
    source: ClickPipePatchSource | None = None
    destination: ClickPipePatchDestination | None = None
    fieldMappings: list[ClickPipeFieldMappingInput] | None = None
    settings: ClickPipeSettingsPutRequest | None = None


# --- Schema discovery -----------------------------------------------------------------------------------------------

class ClickPipeSchemaDiscoverySource(RequestModel):
    kafka: ClickPipePostKafkaSource | None = None
    kinesis: ClickPipePostKinesisSource | None = None
    # The two below: clickhousectl sends them; the reference lacks them.
    objectStorage: ClickPipePostObjectStorageSource | None = None
    pubsub: ClickPipePostPubSubSource | None = None


class ClickPipeSchemaDiscoveryRequest(RequestModel):
    source: ClickPipeSchemaDiscoverySource | None = None


class ClickPipeSchemaDiscoveryField(ResponseModel):
    name: str | None = None
    type: str | None = None
    optional: bool | None = None


class ClickPipeSchemaDiscoveryMeta(RootModel[dict[str, str]]):
    """What the source told about the sample, by name."""


class ClickPipeSchemaDiscoveryResponse(ResponseModel):
    fields: list[ClickPipeSchemaDiscoveryField] | None = None
    meta: ClickPipeSchemaDiscoveryMeta | None = None


# --- The service's ClickPipes context (not in the reference; clickhousectl reads it) --------------------------------

class ClickPipesGcpWorkloadIdentity(ResponseModel):
    supported: bool | None = Field(default=None, description="Whether pipes may authenticate to GCP as the service.")
    ready: bool | None = Field(default=None, description="Whether the service's GCP identity is set up.")
    principal: str | None = Field(default=None, description="The principal to grant access to.")


class ClickPipesServiceContext(ResponseModel):
    gcpWorkloadIdentity: ClickPipesGcpWorkloadIdentity | None = None

