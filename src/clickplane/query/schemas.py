"""Wire models of the Query API."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from clickplane.kit.schemas import PRINTABLE, RequestModel
from clickplane.query.statements import PARAMETER_NAME


class QueryRun(RequestModel):
    """The body of POST /service/{serviceId}/run, JSON whatever the Content-Type says."""

    runId: str | None = Field(default=None, max_length=128, description="Client id of this run; the query's id.")
    sql: str = Field(min_length=1, description="The SQL to run.")
    database: str | None = Field(default=None, max_length=256, description="Database to run it in.")


# The fields of SQL kept to run later (saved queries, Query API endpoints).
StoredName = Annotated[str, Field(min_length=1, max_length=255, pattern=r"\S"), PRINTABLE]
StoredSql = Annotated[str, Field(min_length=1, max_length=100_000, pattern=r"\S")]
StoredDatabase = Annotated[str, Field(min_length=1, max_length=256, pattern=r"\S"), PRINTABLE]
# The values of the SQL's `{name:Type}` placeholders (query/statements.py), by name.
Parameters = Annotated[
    dict[Annotated[str, Field(max_length=128, pattern=PARAMETER_NAME)], Annotated[str, Field(max_length=10_000)]],
    Field(max_length=100),
]
