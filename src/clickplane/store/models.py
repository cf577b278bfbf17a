"""Tables of the metadata store. Column types are portable between SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clickplane.kit.enums import (
    ClickPipeDesiredState,
    ClickPipeState,
    DesiredState,
    PostgresDesiredState,
    PostgresState,
    ServiceState,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UtcDateTime}


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    enable_core_dumps: Mapped[bool] = mapped_column(Boolean, default=True)
    private_endpoints: Mapped[list[Any]] = mapped_column(default=list)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_api_keys_organization_id_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                       index=True)
    name: Mapped[str] = mapped_column(String(128))
    # SHA-256 (hex) of the Basic-auth user name: how a key is found. A key created from `hashData`
    # is only ever known by these hashes, so the plain key id is not needed to find any key.
    key_id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # HMAC-SHA256 (hex), under the installation's secret key, of the SHA-256 of the secret: the form
    # a client's `hashData.keySecretHash` gives, so every key is checked the same way.
    secret_hash: Mapped[str] = mapped_column(String(64))
    # "sha256" as above; "plain" for keys made before hashData support, whose HMAC is of the secret itself.
    secret_scheme: Mapped[str] = mapped_column(String(16), default="sha256")
    key_suffix: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default="enabled")
    # Ids (strings) of the system and custom roles assigned to the key.
    role_ids: Mapped[list[Any]] = mapped_column(default=list)
    ip_access_list: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expire_at: Mapped[datetime | None] = mapped_column(default=None)
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (Index("ix_services_org_created", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    provider: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(32))
    # Observed state, written by the reconciler (and by the API only when it records an intent).
    state: Mapped[ServiceState] = mapped_column(String(24), default="provisioning")
    state_reason: Mapped[str | None] = mapped_column(String(2000), default=None)
    # What was asked for: running, stopped or deleted. The reconciler drives `state` toward it.
    desired_state: Mapped[DesiredState] = mapped_column(String(16), default="running")
    # Bumped by every change the runtime must apply; the reconciler records what it applied.
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    password_sha256_hex: Mapped[str] = mapped_column(String(64))
    ip_access_list: Mapped[list[Any]] = mapped_column(default=list)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    autoscaling_mode: Mapped[str] = mapped_column(String(16), default="vertical")
    min_replica_memory_gb: Mapped[float] = mapped_column(Float)
    max_replica_memory_gb: Mapped[float] = mapped_column(Float)
    num_replicas: Mapped[int] = mapped_column(Integer, default=1)
    min_replicas: Mapped[int | None] = mapped_column(Integer, default=None)
    max_replicas: Mapped[int | None] = mapped_column(Integer, default=None)
    idle_scaling: Mapped[bool] = mapped_column(Boolean, default=True)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer, default=15)
    data_warehouse_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    is_readonly: Mapped[bool] = mapped_column(Boolean, default=False)
    # Descriptive settings the engine does not act on (release channel, profile, compliance, ...).
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # ClickHouse settings set through the API, name to value (strings), applied to the `default` user.
    clickhouse_settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    endpoints: Mapped[list[Any]] = mapped_column(default=list)
    clickhouse_version: Mapped[str | None] = mapped_column(String(64), default=None)
    # Directory of the backup the service was created from: put in place before its first start.
    restore_from: Mapped[str | None] = mapped_column(String(4096), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PostgresService(Base):
    """A Managed Postgres service: a PostgreSQL server of its own, driven by the reconciler (postgres/)."""

    __tablename__ = "postgres_services"
    __table_args__ = (Index("ix_postgres_services_org_created", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(50))
    provider: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(32))
    postgres_version: Mapped[str] = mapped_column(String(8))
    size: Mapped[str] = mapped_column(String(32))
    ha_type: Mapped[str] = mapped_column(String(8), default="none")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Observed state, written by the reconciler (and by the API only when it records an intent).
    state: Mapped[PostgresState] = mapped_column(String(24), default="creating")
    state_reason: Mapped[str | None] = mapped_column(String(2000), default=None)
    desired_state: Mapped[PostgresDesiredState] = mapped_column(String(16), default="running")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    # SCRAM-SHA-256 verifier of the `postgres` superuser's password: what PostgreSQL itself keeps.
    superuser_verifier: Mapped[str] = mapped_column(String(512))
    # [{id, source, portRange, description}]
    ip_access_list: Mapped[list[Any]] = mapped_column(default=list)
    # User-set server parameters, name to value as given (text or number).
    pg_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=True)
    # A read replica's primary, until it is promoted.
    replica_of: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    # A promote asked of a replica and not yet done.
    promote_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # A switchover asked of a primary and not yet done: its restart moves it onto a new server.
    switchover_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # What a restored service was made from: the source service and the moment it was recovered to.
    restored_from: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    restore_target: Mapped[datetime | None] = mapped_column(default=None)
    # The earliest moment it can be restored to, as of its last backup (None before its first one).
    earliest_restore_time: Mapped[datetime | None] = mapped_column(default=None)
    # Where it listens and what it runs, as last observed.
    hostname: Mapped[str | None] = mapped_column(String(255), default=None)
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    server_version: Mapped[str | None] = mapped_column(String(32), default=None)
    storage_gib: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Activity(Base):
    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_org_created", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    actor_ip_address: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(512), default=None)
    service_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    target_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    key_update_type: Mapped[str | None] = mapped_column(String(32), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(Base):
    """A custom role: named policies of one organization. System roles are fixed in code."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                       index=True)
    name: Mapped[str] = mapped_column(String(128))
    # [{"id", "allowDeny", "permissions": [...], "resources": [...], "tags": {...}}]
    policies: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("organization_id", "email"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                       index=True)
    # The user's id; the same user in two organizations keeps one id.
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str] = mapped_column(String(128))
    role_ids: Mapped[list[Any]] = mapped_column(default=list)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                       index=True)
    email: Mapped[str] = mapped_column(String(254))
    role_ids: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expire_at: Mapped[datetime] = mapped_column()


class QueryEndpoint(Base):
    """A service's Query API endpoint: which keys may run SQL on it, with which role, from which origins."""

    __tablename__ = "query_endpoints"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4)
    # Ids (strings) of the API keys allowed to run queries.
    open_api_keys: Mapped[list[Any]] = mapped_column(default=list)
    roles: Mapped[list[Any]] = mapped_column(default=list)
    allowed_origins: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Backup(Base):
    """A backup of a service's tables: in_progress, then done (restorable) or error."""

    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_service_started", "service_id", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # A service's backups go with it.
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    type: Mapped[str] = mapped_column(String(16), default="full")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    size_in_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Its path under the bucket (or the data directory's backups/): <service id>/<backup id>.
    backup_name: Mapped[str] = mapped_column(String(255))
    # The absolute directory holding it.
    location: Mapped[str] = mapped_column(String(4096))
    # The bucket it was written to, as the API shows buckets (without id or secrets); None: the data directory.
    bucket: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)


class BackupConfiguration(Base):
    """A service's backup schedule once it was changed; a service without one has the default."""

    __tablename__ = "backup_configurations"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    period_hours: Mapped[int] = mapped_column(Integer)
    retention_hours: Mapped[int] = mapped_column(Integer)
    # "HH:MM" (UTC) backups are taken at each day, or None for every period_hours.
    start_time: Mapped[str | None] = mapped_column(String(5), default=None)
    # Whether scheduled backups are taken at all (snapshotConfiguration's `enabled`); the operator's still are.
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class BackupBucket(Base):
    """Where a service's backups are written instead of the data directory: a directory (see domain.backups)."""

    __tablename__ = "backup_buckets"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(8))  # AWS, GCP, AZURE
    bucket_path: Mapped[str | None] = mapped_column(String(4096), default=None)  # AWS, GCP
    container_name: Mapped[str | None] = mapped_column(String(63), default=None)  # AZURE
    iam_role_arn: Mapped[str | None] = mapped_column(String(2048), default=None)
    iam_role_session_name: Mapped[str | None] = mapped_column(String(64), default=None)
    access_key_id: Mapped[str | None] = mapped_column(String(256), default=None)
    # Keyed hash (HMAC under the installation key) of the GCP secretAccessKey or Azure connectionString that
    # was sent: the secret itself is never kept, as the local runtime needs none.
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageDay(Base):
    """What one service used in one UTC day (see usage/service.py), added to by the metering as it goes.

    Not tied to the services table: a deleted service's usage stays billed. Its warehouse and name are kept
    here for the same reason, the name as of the row's latest metering."""

    __tablename__ = "usage_daily"
    __table_args__ = (Index("ix_usage_daily_org_day", "organization_id", "day"),)

    service_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    data_warehouse_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    service_name: Mapped[str] = mapped_column(String(50))
    compute_gib_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    storage_gib_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    backup_gib_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # The service's storage as last sampled: what it keeps paying for while its server is down.
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class PostgresSample(Base):
    """One look at a Postgres service's statistics views (postgres/telemetry/sampler.py): every series at once, the
    counters cumulative as the server reported them, the gauges as they were."""

    __tablename__ = "postgres_samples"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("postgres_services.id", ondelete="CASCADE"),
                                                  primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    # {"counters": {name: n}, "connections": {state: n}, "database_sizes": {database: bytes}}
    readings: Mapped[dict[str, Any]] = mapped_column()
    # Whether this look read pg_stat_statements: the patterns of later looks are counted from it.
    with_statements: Mapped[bool] = mapped_column(Boolean, default=False)


class PostgresStatement(Base):
    """A query pattern pg_stat_statements keeps on a Postgres service (one per query id, database and user), with
    its counters as last read: what the next look's are counted from."""

    __tablename__ = "postgres_statements"
    __table_args__ = (UniqueConstraint("service_id", "query_id", "db_name", "db_user",
                                       name="uq_postgres_statements_pattern"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("postgres_services.id", ondelete="CASCADE"))
    query_id: Mapped[str] = mapped_column(String(24))  # pg_stat_statements' queryid, in decimal, unsigned
    db_name: Mapped[str] = mapped_column(String(255))
    db_user: Mapped[str] = mapped_column(String(255))
    db_operation: Mapped[str] = mapped_column(String(16))
    query_text: Mapped[str] = mapped_column(String(10_000))
    # False once the server no longer has the pattern (evicted, reset): its counters are then 0.
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    calls: Mapped[int] = mapped_column(BigInteger, default=0)
    total_exec_time_ms: Mapped[float] = mapped_column(Float, default=0.0)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    shared_blks_hit: Mapped[int] = mapped_column(BigInteger, default=0)
    shared_blks_read: Mapped[int] = mapped_column(BigInteger, default=0)
    wal_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class PostgresStatementSample(Base):
    """What one query pattern did between two looks (only when it ran): the differences of its counters, and the
    longest execution pg_stat_statements had recorded for it by then."""

    __tablename__ = "postgres_statement_samples"

    statement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("postgres_statements.id", ondelete="CASCADE"),
                                                    primary_key=True)
    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    calls: Mapped[int] = mapped_column(BigInteger)
    total_exec_time_ms: Mapped[float] = mapped_column(Float)
    max_exec_time_ms: Mapped[float] = mapped_column(Float)
    rows: Mapped[int] = mapped_column(BigInteger)
    shared_blks_hit: Mapped[int] = mapped_column(BigInteger)
    shared_blks_read: Mapped[int] = mapped_column(BigInteger)
    wal_bytes: Mapped[int] = mapped_column(BigInteger)


class ClickPipe(Base):
    """A ClickPipe: data moved continuously from a source into a ClickHouse service, by a worker the reconciler runs
    (clickpipes/). `source` is what the API shows (never a credential); the credentials the worker presents to the
    source are sealed apart (auth/secrets.SecretBox)."""

    __tablename__ = "clickpipes"
    __table_args__ = (Index("ix_clickpipes_service_created", "service_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # the key under `source`: postgres, objectStorage
    state: Mapped[ClickPipeState] = mapped_column(String(16), default="Provisioning")
    state_reason: Mapped[str | None] = mapped_column(String(2000), default=None)
    desired_state: Mapped[ClickPipeDesiredState] = mapped_column(String(16), default="running")
    generation: Mapped[int] = mapped_column(Integer, default=1)
    observed_generation: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[dict[str, Any]] = mapped_column()
    sealed_credentials: Mapped[str | None] = mapped_column(String(8192), default=None)
    destination: Mapped[dict[str, Any]] = mapped_column()
    field_mappings: Mapped[list[Any]] = mapped_column(default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scaling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # A resync asked and not yet begun: the worker rebuilds the destination tables from a new snapshot.
    resync_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The worker's own progress, what a restart resumes from (its shape is the worker's: clickpipes/workers).
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows_moved: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_moved: Mapped[int] = mapped_column(BigInteger, default=0)
    last_moved_at: Mapped[datetime | None] = mapped_column(default=None)
    # How far behind the source the destination was when last looked at (CDC: WAL not yet confirmed, in bytes).
    lag_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ClickPipeFile(Base):
    """A file an object-storage pipe has dealt with: loaded (each file once) or failed (and why)."""

    __tablename__ = "clickpipe_files"

    pipe_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clickpipes.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    loaded: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    done_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClickPipeUsageDay(Base):
    """What one ClickPipe moved in one UTC day (usage/): kept when the pipe is deleted, as it stays billed."""

    __tablename__ = "clickpipe_usage_daily"
    __table_args__ = (Index("ix_clickpipe_usage_daily_org_day", "organization_id", "day"),)

    pipe_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    data_warehouse_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    pipe_name: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(BigInteger, default=0)
    # Bytes read from the source: by an initial load (a snapshot) apart from the rest (changes, files).
    initial_load_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class ClickPipesCdcScaling(Base):
    """The compute of a service's database pipes once it was changed; a service without a row has the default."""

    __tablename__ = "clickpipes_cdc_scaling"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    replica_cpu_millicores: Mapped[int] = mapped_column(Integer)
    replica_memory_gb: Mapped[float] = mapped_column(Float)


class ReversePrivateEndpoint(Base):
    """A ClickPipes reverse private endpoint: recorded and reported; nothing routes through it locally."""

    __tablename__ = "clickpipes_reverse_private_endpoints"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), index=True)
    # The request's fields (type, description and those of the type), as given.
    spec: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClickStackObject(Base):
    """A ClickStack object of a service (clickstack/): a source, saved search, dashboard, alert, webhook or role,
    with a 24-hex id as HyperDX's. `document` is what the API shows beside the id, team and times; a webhook's
    headers and query parameters (write-only: they may hold tokens) are sealed apart (auth/secrets.SecretBox)."""

    __tablename__ = "clickstack_objects"
    __table_args__ = (Index("ix_clickstack_objects_service_kind", "service_id", "kind", "created_at"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # the collection: sources, saved-searches, dashboards, ...
    name: Mapped[str] = mapped_column(String(1024))
    document: Mapped[dict[str, Any]] = mapped_column()
    sealed_secrets: Mapped[str | None] = mapped_column(String(65536), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ClickStackAlertStatus(Base):
    """What the evaluator knows of an alert: its state, why it is not evaluated (if so), the windows evaluated so
    far (the end of the last one), its recent execution errors, and when a failed evaluation is tried again."""

    __tablename__ = "clickstack_alert_status"

    alert_id: Mapped[str] = mapped_column(ForeignKey("clickstack_objects.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(24), default="OK")
    reason: Mapped[str | None] = mapped_column(String(2000), default=None)
    evaluated_until: Mapped[datetime | None] = mapped_column(default=None)
    retry_at: Mapped[datetime | None] = mapped_column(default=None)
    execution_errors: Mapped[list[Any]] = mapped_column(default=list)


class ClickStackAlertWindow(Base):
    """One evaluated window of an alert, for one group ('' when the alert is not grouped): the value, the state it
    led to, and the notification it caused (ALERT, OK for resolved, or none)."""

    __tablename__ = "clickstack_alert_windows"

    alert_id: Mapped[str] = mapped_column(ForeignKey("clickstack_objects.id", ondelete="CASCADE"), primary_key=True)
    group_key: Mapped[str] = mapped_column(String(512), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    window_end: Mapped[datetime] = mapped_column()
    value: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    notified: Mapped[str | None] = mapped_column(String(16), default=None)


class ClickStackDelivery(Base):
    """A notification to a webhook: written with its window (an outbox, so that a restart sends what was decided
    and decides nothing twice), then sent; `outcome` is pending, delivered or failed, with the last answer."""

    __tablename__ = "clickstack_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "idempotency_key", name="uq_clickstack_deliveries_key"),
                      Index("ix_clickstack_deliveries_pending", "outcome", "alert_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("clickstack_objects.id", ondelete="CASCADE"))
    webhook_id: Mapped[str] = mapped_column(String(24))
    group_key: Mapped[str] = mapped_column(String(512))
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))  # ALERT, or OK for a resolved alert
    idempotency_key: Mapped[str] = mapped_column(String(64))
    message: Mapped[dict[str, Any]] = mapped_column()  # title, body, link, eventId: what every attempt sends
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class StoredSql:
    """The columns of SQL a service keeps by name to run later (query/stored.py): its id, owner, name (unique in
    the service), SQL, database and the values of its `{name:Type}` placeholders."""

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    sql: Mapped[str] = mapped_column(String(100_000))
    database: Mapped[str] = mapped_column(String(256))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SavedQuery(StoredSql, Base):
    """A query saved on a service (saved_queries/): its SQL, the database it runs in, and the values of its
    `{name:Type}` placeholders. Names are unique per service, as clickhousectl finds a query by its name."""

    __tablename__ = "saved_queries"
    __table_args__ = (UniqueConstraint("service_id", "name", name="uq_saved_queries_service_name"),
                      Index("ix_saved_queries_service", "service_id", "created_at"))


class QueryApiEndpoint(StoredSql, Base):
    """A Query API endpoint of a service (query_api_endpoints/): SQL with placeholders that the listed API keys run
    through its URL. `owner_type` is apiKey for one made through the API, user for one a person owns (which the API
    may read but not change)."""

    __tablename__ = "query_api_endpoints"
    __table_args__ = (UniqueConstraint("service_id", "name", name="uq_query_api_endpoints_service_name"),
                      Index("ix_query_api_endpoints_service", "service_id", "created_at"))

    api_key_ids: Mapped[list[Any]] = mapped_column(default=list)  # ids (strings) of keys of the organization
    roles: Mapped[list[Any]] = mapped_column(default=list)
    allowed_origins: Mapped[list[Any]] = mapped_column(default=list)
    owner_type: Mapped[str] = mapped_column(String(16), default="apiKey")


class ReplicaAwareRouting(Base):
    """A service's replica-aware routing switches once changed (replica_routing/); a service without a row has
    both off."""

    __tablename__ = "replica_aware_routing"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    http_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    native_enabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Udf(Base):
    """An executable user-defined function of an organization, by its name; its versions carry the definitions.
    Version numbers are never reused: `next_version` is the one the next version takes."""

    __tablename__ = "udfs"
    __table_args__ = (UniqueConstraint("organization_id", "name", name="uq_udfs_organization_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    next_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UdfVersion(Base):
    """One version of a function: its definition (the request's fields, uploadId left out) and the archive it was
    built from (the build, a check, is done before it is stored: every stored version is ready)."""

    __tablename__ = "udf_versions"

    udf_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("udfs.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column()
    archive: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)  # loaded when read: lists do not
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UdfAttachment(Base):
    """A function installed on a service's ClickHouse, at one version (stored once installed: deployed)."""

    __tablename__ = "udf_attachments"

    udf_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("udfs.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UdfUpload(Base):
    """An upload URL handed out for a function's archive: its token (only its SHA-256 is kept), when it expires,
    and once PUT, the archive, until one create or version create takes it."""

    __tablename__ = "udf_uploads"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    archive: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)  # loaded when read
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScalingSchedule(Base):
    """A service's scaling schedule (scaling_schedules/): its entries as the API shows them (each with its id), the
    entry the reconciler applied last (None: the base configuration is in force) and that base configuration, the
    service's own scaling kept from when an entry took over, put back when no entry applies."""

    __tablename__ = "scaling_schedules"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    entries: Mapped[list[Any]] = mapped_column()
    active_entry_id: Mapped[str | None] = mapped_column(String(36), default=None)
    base_config: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # The service's scaling right after the entry was applied: a difference since is a manual scaling, which
    # changes the base (as the reference's replicaScaling does while an entry is in force).
    applied_config: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UpgradeWindow(Base):
    """When a service may be upgraded (upgrade_windows/): `duration_hours` from `start_hour_utc` on `weekday`
    (0 = Sunday)."""

    __tablename__ = "upgrade_windows"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    weekday: Mapped[int] = mapped_column(Integer)
    start_hour_utc: Mapped[int] = mapped_column(Integer)
    duration_hours: Mapped[int] = mapped_column(Integer)


class ByocInfrastructure(Base):
    """A bring-your-own-cloud infrastructure of an organization (byoc/): recorded and reported; nothing is
    provisioned in the cloud account it names."""

    __tablename__ = "byoc_infrastructures"
    __table_args__ = (Index("ix_byoc_infrastructures_org_created", "organization_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    region: Mapped[str] = mapped_column(String(32))
    provider: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(128))
    availability_zone_suffixes: Mapped[list[Any]] = mapped_column(default=list)
    vpc_cidr_range: Mapped[str | None] = mapped_column(String(64), default=None)
    display_name: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceRelease(Base):
    """The ClickHouse binary a service runs, once an upgrade (upgrade_windows/) moved it off the runtime's default:
    its release channel's, switched to inside the service's upgrade window."""

    __tablename__ = "service_releases"

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    binary: Mapped[str] = mapped_column(String(4096))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
