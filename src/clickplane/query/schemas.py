"""Wire models of the Query API."""

from __future__ import annotations

from pydantic import Field

from clickplane.kit.schemas import RequestModel


class QueryRun(RequestModel):
    """The body of POST /service/{serviceId}/run, JSON whatever the Content-Type says."""

    runId: str | None = Field(default=None, max_length=128, description="Client id of this run; the query's id.")
    sql: str = Field(min_length=1, description="The SQL to run.")
    database: str | None = Field(default=None, max_length=256, description="Database to run it in.")
