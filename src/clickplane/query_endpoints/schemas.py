"""Wire models of service query endpoints and of the Query API's requests."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clickplane.kit.schemas import RequestModel

QueryRole = Literal["sql_console_read_only", "sql_console_admin"]


class InstanceServiceQueryApiEndpointsPostRequest(RequestModel):
    roles: list[QueryRole] | None = Field(default=None, description="Roles queries run with; admin if absent.")
    openApiKeys: list[str] | None = Field(default=None, description="Ids of the API keys allowed to run queries.")
    allowedOrigins: str | None = Field(default=None, description="Comma-separated origins allowed (CORS).")


class QueryRun(RequestModel):
    """The body of POST /service/{serviceId}/run, JSON whatever the Content-Type says."""

    runId: str | None = Field(default=None, max_length=128, description="Client id of this run; the query's id.")
    sql: str = Field(min_length=1, description="The SQL to run.")
    database: str | None = Field(default=None, max_length=256, description="Database to run it in.")
