"""Wire models of UDFs: the reference's Udf, UdfAttachment and UdfUploadSession, and the bodies of a create, a
version create and an attach (with clickhousectl's `deterministic` and `memoryLimitMib`, which the reference
lacks)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel, Timestamp

# A function's name, as the reference's path parameter and ClickHouse's identifiers have it.
FUNCTION_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
MAX_NAME_LENGTH = 128
Name = Annotated[str, Field(pattern=FUNCTION_NAME, max_length=MAX_NAME_LENGTH)]
Runtime = Literal["python3.11", "native"]
UdfType = Literal["executable", "executable_pool"]
BuildStatus = Literal["building", "ready", "error"]
AttachmentStatus = Literal["deployed", "deprovisioning", "error", "provisioning", "standby"]
Positive = Annotated[int, Field(gt=0, le=2**31 - 1)]
# A ClickHouse type: a name with arguments in parentheses (Nullable(String), Decimal(10, 2)), nothing else.
TYPE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*(\([A-Za-z0-9_, ()'.]*\))?$"
ClickHouseType = Annotated[str, Field(pattern=TYPE_PATTERN, max_length=256)]
# ClickHouse's input and output formats are names.
FORMAT_PATTERN = r"^[A-Za-z][A-Za-z0-9]*$"


class UdfArgument(RequestModel):
    name: Name = Field(description="Name of the argument. Required for Native and JSONEachRow formats.")
    type: ClickHouseType = Field(description="ClickHouse data type of the argument.")


class UdfDefinition(RequestModel):
    """What a version of a function is: its archive (by upload id) and how ClickHouse runs it."""

    uploadId: UUID = Field(description="Identifier of the uploaded source archive (udfUploads/url).")
    runtime: Runtime = Field(description="python3.11: the archive's main.py, run by python3; native: its "
                                         "amd64/main or arm64/main, the one for the machine.")
    type: UdfType = Field(description="executable: a process per block; executable_pool: a pool of processes.")
    arguments: list[UdfArgument] = Field(max_length=64, description="Arguments passed to the UDF command.")
    returnType: ClickHouseType = Field(description="ClickHouse data type of the returned value.")
    returnName: Name | None = Field(default=None, description="Name of the returned value, or null when unnamed.")
    commandReadTimeout: Positive = Field(default=10000, description="Command stdout read timeout in milliseconds.")
    commandWriteTimeout: Positive = Field(default=10000, description="Command stdin write timeout in milliseconds.")
    sendChunkHeader: bool = Field(default=False, description="Whether ClickHouse sends a row-count chunk header.")
    format: str = Field(default="TabSeparated", pattern=FORMAT_PATTERN, max_length=64,
                        description="Input and output format used by the UDF command.")
    sandboxType: Literal["basic", "netenable"] = Field(
        default="basic", description="Sandbox isolation level; kept and shown, clickplane runs no sandbox.")
    sandboxVersion: Literal["v1", "v2", "v3"] = Field(
        default="v2", description="Sandbox runtime version; kept and shown, clickplane runs no sandbox.")
    poolSize: Positive | None = Field(default=None, description="Command pool size, executable_pool only (3 when "
                                                                "absent).")
    maxCommandExecutionTime: Positive | None = Field(
        default=None, description="Maximum command execution time in seconds, executable_pool only (10 when absent).")
    deterministic: bool | None = Field(default=None, description="Whether the same arguments always give the same "
                                                                 "result.")
    memoryLimitMib: Positive | None = Field(default=None, description="Memory limit of the command in MiB; kept "
                                                                      "and shown, clickplane does not enforce it.")


class UdfCreateRequest(UdfDefinition):
    functionName: Name = Field(description="Name of the UDF, unique in the organization.")


class UdfVersionCreateRequest(UdfDefinition):
    pass


class UdfAttachRequest(RequestModel):
    version: Positive | None = Field(default=None, description="Version to attach. When omitted, the latest ready "
                                                               "version is attached.")


class UdfArgumentOutput(ResponseModel):
    name: str
    type: str


class Udf(ResponseModel):
    functionName: str = Field(description="Name of the UDF. Unique within the organization.")
    version: int = Field(description="Version number of the UDF.")
    status: BuildStatus = Field(description="Build state of this UDF version: ready for every version clickplane "
                                            "keeps, as its build (the archive's check) is done within the create.")
    runtime: Runtime
    type: UdfType
    arguments: list[UdfArgumentOutput]
    returnType: str
    returnName: str | None = None
    poolSize: int | None = None
    commandReadTimeout: int
    commandWriteTimeout: int
    maxCommandExecutionTime: int | None = None
    sendChunkHeader: bool
    format: str
    sandboxType: Literal["basic", "netenable"]
    sandboxVersion: Literal["v1", "v2", "v3"]
    deterministic: bool | None = None
    memoryLimitMib: int | None = None
    error: str | None = Field(default=None, description="Build error, or absent when the build did not fail.")
    createdAt: Timestamp
    updatedAt: Timestamp


class UdfAttachment(ResponseModel):
    functionName: str
    serviceId: UUID
    status: AttachmentStatus = Field(description="deployed (installed on the service's ClickHouse) for every "
                                                 "attachment clickplane keeps: an install that fails is a 424.")
    version: int


class UdfUploadSession(ResponseModel):
    uploadId: UUID
    uploadUrl: str = Field(json_schema_extra={"format": "uri"},
                           description="Where to PUT the archive (application/zip, no credentials): once, before "
                                       "expiresAt.")
    expiresAt: Timestamp


class Pagination(ResponseModel):
    totalRecords: int = Field(description="Total number of records available.")
    currentCursor: str | None = Field(description="Cursor for the current page. Null for the first page.")
    nextCursor: str | None = Field(description="Cursor for the next page. Null if there are no more results.")
    limit: int = Field(description="Maximum number of records returned per page.")


class UdfListResponse(ResponseModel):
    """The reference's page of functions, answered with `shape=reference`."""

    items: list[Udf] = Field(description="Latest version of each UDF in the organization.")
    pagination: Pagination


class UdfVersionListResponse(ResponseModel):
    """The reference's page of versions, answered with `shape=reference`."""

    items: list[Udf]
    pagination: Pagination


class UdfAttachmentListResponse(ResponseModel):
    """The reference's page of attachments, answered with `shape=reference`."""

    items: list[UdfAttachment]
    pagination: Pagination
