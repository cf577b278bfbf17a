"""Postgres read replicas, promotion, point-in-time restores and the earliest restore time

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("postgres_services") as batch:
        batch.add_column(sa.Column("replica_of", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("promote_requested", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("restored_from", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("restore_target", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("earliest_restore_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("postgres_services") as batch:
        for column in ("earliest_restore_time", "restore_target", "restored_from", "promote_requested", "replica_of"):
            batch.drop_column(column)
