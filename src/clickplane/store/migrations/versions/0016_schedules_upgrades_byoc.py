"""Scaling schedules, upgrade windows and ClickHouse binaries of services, and organizations' BYOC infrastructures

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _service_id() -> sa.Column[object]:
    return sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)


def _organization_id() -> sa.Column[object]:
    return sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "scaling_schedules",
        _service_id(),
        _organization_id(),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("active_entry_id", sa.String(36), nullable=True),
        sa.Column("base_config", sa.JSON(), nullable=True),
        sa.Column("applied_config", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "upgrade_windows",
        _service_id(),
        _organization_id(),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_hour_utc", sa.Integer(), nullable=False),
        sa.Column("duration_hours", sa.Integer(), nullable=False),
    )
    op.create_table(
        "service_releases",
        _service_id(),
        sa.Column("binary", sa.String(4096), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "byoc_infrastructures",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _organization_id(),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("availability_zone_suffixes", sa.JSON(), nullable=False),
        sa.Column("vpc_cidr_range", sa.String(64), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_byoc_infrastructures_org_created", "byoc_infrastructures", ["organization_id", "created_at"])


def downgrade() -> None:
    op.drop_table("byoc_infrastructures")
    op.drop_table("service_releases")
    op.drop_table("upgrade_windows")
    op.drop_table("scaling_schedules")
