"""services' usage by UTC day, for usage costs

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_daily",
        sa.Column("service_id", sa.Uuid(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("data_warehouse_id", sa.Uuid(), nullable=False),
        sa.Column("service_name", sa.String(50), nullable=False),
        sa.Column("compute_gib_seconds", sa.Float(), nullable=False),
        sa.Column("storage_gib_seconds", sa.Float(), nullable=False),
        sa.Column("backup_gib_seconds", sa.Float(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_usage_daily_org_day", "usage_daily", ["organization_id", "day"])


def downgrade() -> None:
    op.drop_index("ix_usage_daily_org_day", "usage_daily")
    op.drop_table("usage_daily")
