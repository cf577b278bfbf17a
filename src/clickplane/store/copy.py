"""Moving a store to another database (an embedded SQLite store to PostgreSQL, typically).

Both ends are brought to the current schema first, so the rows fit as they are; then every table is
copied, parents before children, in one transaction on the target: a copy that fails leaves the target
as empty as it was. The target must be empty, so that nothing is merged by accident.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select

from clickplane.store.database import Database
from clickplane.store.models import Base

BATCH_ROWS = 1000


class TargetNotEmpty(Exception):
    pass


def copy_store(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of `source` into the empty `target`; returns the rows copied per table."""
    source.migrate()
    target.migrate()
    copied: dict[str, int] = {}
    # A write transaction on the source too: on SQLite it holds off writers, so the copy is one moment's.
    with source.engine.begin() as reader, target.engine.begin() as writer:
        for table in Base.metadata.sorted_tables:
            if writer.scalar(select(func.count()).select_from(table)):
                raise TargetNotEmpty(f"the target store already has rows in {table.name}; copy into an empty "
                                     "database")
        for table in Base.metadata.sorted_tables:  # parents first, so foreign keys hold at every insert
            copied[table.name] = 0
            for batch in reader.execute(select(table)).mappings().partitions(BATCH_ROWS):
                writer.execute(insert(table), [dict(row) for row in batch])
                copied[table.name] += len(batch)
    return copied
