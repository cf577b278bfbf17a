"""Saved queries: query/stored.py's use cases, and their wire form."""

from __future__ import annotations

from clickplane.query.stored import StoredSqlService
from clickplane.saved_queries import schemas
from clickplane.saved_queries.repository import SavedQueries
from clickplane.store.models import SavedQuery


def to_wire(saved: SavedQuery) -> schemas.SavedQuery:
    return schemas.SavedQuery(id=saved.id, name=saved.name, sql=saved.sql, database=saved.database,
                              parameters=saved.parameters)


def to_list_item(saved: SavedQuery) -> schemas.SavedQueryListItem:
    return schemas.SavedQueryListItem(id=saved.id, name=saved.name, database=saved.database)


class SavedQueryService(StoredSqlService[SavedQuery, schemas.SavedQueryRequest]):
    noun = "saved query"
    items = SavedQueries
    activities = ("saved_query_create", "saved_query_update", "saved_query_delete")
