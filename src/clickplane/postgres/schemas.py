"""Wire models of Postgres services, as the reference document has them, plus the access list that
clickhousectl 0.5.0 sends and reads (`ipAccessList`, absent from the document: the CLI wins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field, WithJsonSchema

from clickplane.kit.enums import PostgresState
from clickplane.kit.schemas import PRINTABLE, RequestModel, ResourceTag, ResponseModel, Timestamp
from clickplane.postgres.config import PARAMETERS

PgState = PostgresState
PgVersion = Literal["18", "17"]
PgProvider = Literal["aws"]
PgHaType = Literal["none", "async", "sync"]
PgCommand = Literal["restart", "promote", "switchover"]
PgSize = Literal[
    "c6gd.large", "c6gd.xlarge", "c6gd.2xlarge", "c6gd.4xlarge", "c6gd.8xlarge", "c6gd.16xlarge",
    "i7i.large", "i7i.xlarge", "i7i.2xlarge", "i7i.4xlarge", "i7i.8xlarge", "i7i.12xlarge", "i7i.16xlarge",
    "i7i.24xlarge", "i7ie.large", "i7ie.xlarge", "i7ie.2xlarge", "i7ie.3xlarge", "i7ie.6xlarge", "i7ie.12xlarge",
    "i7ie.18xlarge", "i7ie.24xlarge", "i8g.large", "i8g.xlarge", "i8g.2xlarge", "i8g.4xlarge", "i8g.8xlarge",
    "i8g.16xlarge", "i8g.24xlarge", "i8ge.large", "i8ge.xlarge", "i8ge.2xlarge", "i8ge.3xlarge", "i8ge.6xlarge",
    "i8ge.12xlarge", "i8ge.18xlarge", "i8ge.24xlarge", "m6gd.large", "m6gd.xlarge", "m6gd.2xlarge", "m6gd.4xlarge",
    "m6gd.8xlarge", "m6gd.16xlarge", "m6id.large", "m6id.xlarge", "m6id.2xlarge", "m6id.4xlarge", "m6id.8xlarge",
    "m6id.16xlarge", "m8gd.large", "m8gd.xlarge", "m8gd.2xlarge", "m8gd.4xlarge", "m8gd.8xlarge", "m8gd.16xlarge",
    "r6gd.medium", "r6gd.large", "r6gd.xlarge", "r6gd.2xlarge", "r6gd.4xlarge", "r6gd.8xlarge", "r6gd.12xlarge",
    "r6gd.16xlarge", "r6id.large", "r6id.xlarge", "r6id.2xlarge", "r6id.4xlarge", "r6id.8xlarge", "r6id.12xlarge",
    "r6id.16xlarge", "r6id.24xlarge", "r6id.32xlarge", "r8gd.medium", "r8gd.large", "r8gd.xlarge", "r8gd.2xlarge",
    "r8gd.4xlarge", "r8gd.8xlarge", "r8gd.12xlarge", "r8gd.16xlarge", "r8gd.24xlarge", "r8gd.48xlarge",
]  # fmt: skip

PgName = Annotated[str, Field(min_length=1, max_length=50, description="Name of the Postgres service, up to 50 "
                                                                      "characters."), PRINTABLE]
PgTags = Annotated[list[ResourceTag], Field(max_length=50, description="Tags of the service; keys starting with "
                                                                       "`chc_` are reserved.")]
# Server parameters by name. Taken as any JSON object, for config.check_parameters to say precisely what is wrong
# with a name or a value; documented with each parameter the service allows.
PgConfig = Annotated[dict[str, Any], WithJsonSchema({
    "type": "object", "title": "Postgres Configuration", "additionalProperties": False,
    "description": "Server parameters (postgresql.org/docs/current/runtime-config.html): those listed, each checked "
                   "against the reference's bounds and by the engine's own parser of the service's version.",
    "properties": {name: rule.json_schema() for name, rule in PARAMETERS.items()},
})]
PgBouncerConfig = Annotated[dict[str, str], Field(
    description="PgBouncer parameters. clickplane runs no PgBouncer: only an empty object is accepted.")]
PgPassword = Annotated[str, Field(min_length=12, max_length=1024, description=(
    "At least 12 characters, with a lowercase letter, an uppercase letter and a digit."))]


class PgIpAccessRule(ResponseModel):
    id: str = Field(description="Identifier of the rule, for removing it.")
    source: str = Field(description="IPv4 or IPv6 address or CIDR range allowed to connect.")
    portRange: str = Field(description="The ports the rule was given for (`5432` or `5432..6432`); a local "
                                       "service has one port of its own, which the rule covers.")
    description: str = Field(default="", description="A note on who the rule is for.")


class PgIpAccessRuleRequest(RequestModel):
    source: str = Field(max_length=64, description="IPv4 or IPv6 address or CIDR range.")
    portRange: str = Field(default="5432", max_length=16, pattern=r"^\d{1,5}(\.\.\d{1,5})?$",
                           description="`5432` or `5432..6432`.")
    description: str | None = Field(default=None, max_length=255, description="A note on who the rule is for.")


class PgIpAccessRuleId(RequestModel):
    id: str = Field(max_length=64, description="Identifier of a rule to remove.")


class PgIpAccessListPatch(RequestModel):
    add: list[PgIpAccessRuleRequest] = Field(default_factory=list, description="Rules to add.")
    remove: list[PgIpAccessRuleId] = Field(default_factory=list, description="Rules to remove, by id.")


class PostgresServiceListItem(ResponseModel):
    id: UUID = Field(description="Unique Postgres service ID.")
    name: str = Field(description="Name of the Postgres service.")
    provider: PgProvider = Field(description="The cloud provider.")
    region: str = Field(description="The region.")
    postgresVersion: str = Field(description="Postgres major version.")
    size: str = Field(description="The VM size.")
    haType: PgHaType = Field(description="High availability type.")
    tags: list[ResourceTag] = Field(description="Tags of the service.")
    state: PgState = Field(description="Current state of the service.")
    createdAt: Timestamp = Field(description="When the service was created.")
    isPrimary: bool = Field(description="True for a primary, false for a read replica.")


class PostgresService(PostgresServiceListItem):
    storageSize: int = Field(description="Storage available to the service, in GiB: the free and used space of "
                                         "the file system holding its data.")
    username: str = Field(description="The superuser to log in as.")
    hostname: str = Field(description="Host name to connect to (the certificate names it).")
    port: int | None = Field(default=None, description=(
        "The port the server listens on (a clickplane field: a local service has a port of its own, not 5432)."))
    connectionString: str | None = Field(default=None, description=(
        "A libpq URI with the password, host, port and TLS settings: in the create response only."))
    password: str | None = Field(default=None, description="The superuser's password: only in the create response "
                                                           "and in a reset that generated it.")
    ipAccessList: list[PgIpAccessRule] = Field(description=(
        "Networks allowed to connect (over TLS, with the password). Empty: this machine only."))
    earliestRestoreTime: Timestamp | None = Field(default=None, description=(
        "The earliest moment `restoredService` can restore to (clickhousectl reads it); absent before the first "
        "backup."))


class PostgresServicePostRequest(RequestModel):
    name: PgName
    provider: PgProvider = Field(description="The cloud provider: aws.")
    region: str = Field(max_length=32, description="The region (recorded; the service runs on this machine).")
    postgresVersion: PgVersion = Field(default="17", description="Postgres major version; 17 when omitted.")
    size: PgSize = Field(description="The VM size (recorded).")
    haType: PgHaType = Field(default="none", description="High availability type; clickplane runs `none` only.")
    tags: PgTags = Field(default_factory=list)
    pgConfig: PgConfig | None = None
    pgBouncerConfig: PgBouncerConfig | None = None
    ipAccessList: list[PgIpAccessRuleRequest] | None = Field(default=None, description=(
        "Networks allowed to connect (clickhousectl sends it; absent from the reference). Omitted or empty: "
        "this machine only."))


class PostgresServiceReadReplicaRequest(RequestModel):
    name: PgName
    pgConfig: PgConfig | None = None
    pgBouncerConfig: PgBouncerConfig | None = None
    tags: PgTags = Field(default_factory=list)


class PostgresServiceRestoreRequest(RequestModel):
    name: PgName
    restoreTarget: AwareDatetime = Field(description=(
        "The moment to recover to, RFC 3339: the new service holds every transaction committed at or before it."))
    pgConfig: PgConfig | None = None
    pgBouncerConfig: PgBouncerConfig | None = None
    tags: PgTags = Field(default_factory=list)


class PostgresBackup(ResponseModel):
    key: str = Field(description="The backup's name, unique for the service.")
    lastModified: Timestamp = Field(description="When the backup was finished (or started, while it runs).")
    status: Literal["completed", "in_progress"] = Field(description="Whether the backup is finished.")


class PostgresLogEntry(ResponseModel):
    timestamp: Timestamp = Field(description="When the server logged it.")
    severity: str = Field(description="PostgreSQL's severity: LOG, WARNING, ERROR, FATAL, ...")
    body: str = Field(description="The message.")


class PostgresServicePatchRequest(RequestModel):
    name: PgName | None = None
    size: PgSize | None = None
    haType: PgHaType | None = None
    tags: PgTags | None = None
    ipAccessList: PgIpAccessListPatch | None = Field(default=None, description="Rules to add and to remove.")


class PostgresServiceSetPassword(RequestModel):
    password: PgPassword | None = Field(default=None, description=(
        "The new password; without it one is generated and returned."))


class PostgresServicePasswordResource(ResponseModel):
    password: str | None = Field(default=None, description="The generated password, when none was given.")


class PostgresServiceSetState(RequestModel):
    command: PgCommand = Field(description="restart the server; promote a read replica; switch over to a standby.")


class PostgresInstanceConfig(RequestModel):
    pgConfig: PgConfig
    pgBouncerConfig: PgBouncerConfig


class PostgresInstanceConfigResponse(ResponseModel):
    pgConfig: PgConfig = Field(description="The parameters set on the service (not the server's defaults).")
    pgBouncerConfig: dict[str, str] = Field(description="PgBouncer parameters: none, clickplane runs no PgBouncer.")


class PostgresInstanceUpdateConfigResponse(PostgresInstanceConfigResponse):
    message: str | None = Field(default=None, description="Which parameters wait for a restart, when some do.")
