"""Wire models of saved queries (clickhousectl's `saved-query`; absent from the reference document)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from clickplane.kit.schemas import RequestModel, ResponseModel
from clickplane.query.schemas import Parameters, StoredDatabase, StoredName, StoredSql


class SavedQueryRequest(RequestModel):
    """A create, or a full replacement: nothing is kept from the stored query."""

    name: StoredName = Field(description="Unique among the service's saved queries.")
    sql: StoredSql = Field(description="The SQL; `{name:Type}` placeholders take their values from `parameters`.")
    database: StoredDatabase = Field(description="The database it runs in; it must exist on the service.")
    parameters: Parameters | None = Field(default=None, description="The value of each placeholder, by name.")


class SavedQueryListItem(ResponseModel):
    id: UUID = Field(description="Saved query id.")
    name: str = Field(description="Its name, unique in the service.")
    database: str = Field(description="The database it runs in.")


class SavedQuery(SavedQueryListItem):
    sql: str = Field(description="The SQL, as given.")
    parameters: dict[str, str] = Field(description="The value of each `{name:Type}` placeholder of the SQL.")
