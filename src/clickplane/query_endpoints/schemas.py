"""Wire models of service query endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from clickplane.kit.schemas import RequestModel

QueryRole = Literal["sql_console_read_only", "sql_console_admin"]


class InstanceServiceQueryApiEndpointsPostRequest(RequestModel):
    roles: list[QueryRole] | None = Field(default=None, description="Roles queries run with; admin if absent.")
    openApiKeys: list[str] | None = Field(default=None, description="Ids of the API keys allowed to run queries.")
    allowedOrigins: str | None = Field(default=None, description="Comma-separated origins allowed (CORS).")
