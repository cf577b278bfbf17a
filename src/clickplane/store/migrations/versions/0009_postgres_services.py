"""Managed Postgres services

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postgres_services",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("postgres_version", sa.String(8), nullable=False),
        sa.Column("size", sa.String(32), nullable=False),
        sa.Column("ha_type", sa.String(8), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("state_reason", sa.String(2000), nullable=True),
        sa.Column("desired_state", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("observed_generation", sa.Integer(), nullable=False),
        sa.Column("superuser_verifier", sa.String(512), nullable=False),
        sa.Column("ip_access_list", sa.JSON(), nullable=False),
        sa.Column("pg_config", sa.JSON(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("server_version", sa.String(32), nullable=True),
        sa.Column("storage_gib", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_postgres_services_org_created", "postgres_services", ["organization_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_postgres_services_org_created", table_name="postgres_services")
    op.drop_table("postgres_services")
