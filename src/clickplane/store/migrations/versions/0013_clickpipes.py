"""ClickPipes: pipes, the files object-storage pipes dealt with, their daily usage, CDC scaling, reverse private
endpoints

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clickpipes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_reason", sa.String(2000), nullable=True),
        sa.Column("desired_state", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("sealed_credentials", sa.String(8192), nullable=True),
        sa.Column("destination", sa.JSON(), nullable=False),
        sa.Column("field_mappings", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("scaling", sa.JSON(), nullable=False),
        sa.Column("resync_requested", sa.Boolean(), nullable=False),
        sa.Column("checkpoint", sa.JSON(), nullable=False),
        sa.Column("rows_moved", sa.BigInteger(), nullable=False),
        sa.Column("bytes_moved", sa.BigInteger(), nullable=False),
        sa.Column("last_moved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lag_bytes", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_clickpipes_service_created", "clickpipes", ["service_id", "created_at"])
    op.create_table(
        "clickpipe_files",
        sa.Column("pipe_id", sa.Uuid(), sa.ForeignKey("clickpipes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("loaded", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(2000), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "clickpipe_usage_daily",
        sa.Column("pipe_id", sa.Uuid(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("data_warehouse_id", sa.Uuid(), nullable=False),
        sa.Column("pipe_name", sa.String(255), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("initial_load_bytes", sa.BigInteger(), nullable=False),
        sa.Column("transfer_bytes", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_clickpipe_usage_daily_org_day", "clickpipe_usage_daily", ["organization_id", "day"])
    op.create_table(
        "clickpipes_cdc_scaling",
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("replica_cpu_millicores", sa.Integer(), nullable=False),
        sa.Column("replica_memory_gb", sa.Float(), nullable=False),
    )
    op.create_table(
        "clickpipes_reverse_private_endpoints",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_clickpipes_reverse_private_endpoints_service_id", "clickpipes_reverse_private_endpoints",
                    ["service_id"])


def downgrade() -> None:
    op.drop_table("clickpipes_reverse_private_endpoints")
    op.drop_table("clickpipes_cdc_scaling")
    op.drop_table("clickpipe_usage_daily")
    op.drop_table("clickpipe_files")
    op.drop_table("clickpipes")
