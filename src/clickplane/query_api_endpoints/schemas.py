"""Wire models of Query API endpoints (clickhousectl's `query-api-endpoint`; absent from the reference document).
Not the older `serviceQueryEndpoint`, whose allowedOrigins is one string."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import PRINTABLE, RequestModel, ResponseModel
from clickplane.query.schemas import Parameters, StoredDatabase, StoredName, StoredSql
from clickplane.query.statements import PARAMETER_NAME

OwnerType = Literal["apiKey", "user"]
Role = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S"), PRINTABLE]
# What a browser sends as Origin (scheme, host and port), or * for any.
Origin = Annotated[str, Field(max_length=512, pattern=r"^(\*|https?://[^/\s?#]+)$")]


class QueryApiEndpointRequest(RequestModel):
    """A create, or a full replacement: nothing is kept from the stored endpoint."""

    name: StoredName = Field(description="Unique among the service's Query API endpoints.")
    sql: StoredSql = Field(description="The SQL its URL runs; `{name:Type}` placeholders take their values from "
                                       "the run's queryVariables, else from `parameters`.")
    database: StoredDatabase = Field(description="The database it runs in; it must exist on the service.")
    parameters: Parameters | None = Field(default=None, description="The default value of each placeholder.")
    apiKeyIds: list[UUID] = Field(min_length=1, max_length=100,
                                  description="Ids of the organization's API keys that may run it.")
    roles: list[Role] = Field(min_length=1, max_length=20, description="Roles its SQL runs with: with "
                              "sql_console_admin it may write, else it runs read-only.")
    allowedOrigins: list[Origin] | None = Field(default=None, max_length=100,
                                                description="Origins browsers may call its URL from (* for any).")


class QueryApiEndpointListItem(ResponseModel):
    id: UUID = Field(description="Query API endpoint id.")
    name: str = Field(description="Its name, unique in the service.")
    database: str = Field(description="The database its SQL runs in.")
    apiKeyIds: list[UUID] = Field(description="Ids of the API keys that may run it.")
    roles: list[str] = Field(description="Roles its SQL runs with.")
    allowedOrigins: list[str] = Field(description="Origins browsers may call its URL from.")
    url: str = Field(description="POST here, with one of the keys, to run it: body "
                                 "`{\"queryVariables\": {...}, \"format\": \"JSONEachRow\"}`.")
    ownerType: OwnerType = Field(description="apiKey: made through the API, which may change it; user: a "
                                             "person's, which the API may read only.")


class QueryApiEndpoint(QueryApiEndpointListItem):
    sql: str = Field(description="The SQL, as given.")
    parameters: dict[str, str] = Field(description="The default value of each `{name:Type}` placeholder.")


# A run's value of a placeholder: a string, or a JSON number or boolean, which is passed as its JSON text.
RunValue = Annotated[str, Field(max_length=10_000)] | int | float | bool


class QueryApiEndpointRun(RequestModel):
    """The body of a POST to an endpoint's URL (optional)."""

    queryVariables: dict[Annotated[str, Field(max_length=128, pattern=PARAMETER_NAME)], RunValue] | None = Field(
        default=None, max_length=100,
        description="Values of the SQL's placeholders; those left out take the endpoint's parameters.")
    format: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9]+$",
                               description="ClickHouse output format (JSONEachRow when absent, or ?format=).")
