"""Saved queries and Query API endpoints of a service, its replica-aware routing switches, and whether its
scheduled backups are taken (snapshotConfiguration's `enabled`)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _owned_by_service() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sql", sa.String(100_000), nullable=False),
        sa.Column("database", sa.String(256), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
    ]


def _times() -> list[sa.Column[object]]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "saved_queries", *_owned_by_service(), *_times(),
        sa.UniqueConstraint("service_id", "name", name="uq_saved_queries_service_name"),
    )
    op.create_index("ix_saved_queries_service", "saved_queries", ["service_id", "created_at"])
    op.create_table(
        "query_api_endpoints", *_owned_by_service(),
        sa.Column("api_key_ids", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("allowed_origins", sa.JSON(), nullable=False),
        sa.Column("owner_type", sa.String(16), nullable=False),
        *_times(),
        sa.UniqueConstraint("service_id", "name", name="uq_query_api_endpoints_service_name"),
    )
    op.create_index("ix_query_api_endpoints_service", "query_api_endpoints", ["service_id", "created_at"])
    op.create_table(
        "replica_aware_routing",
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("http_enabled", sa.Boolean(), nullable=False),
        sa.Column("native_enabled", sa.Boolean(), nullable=False),
    )
    with op.batch_alter_table("backup_configurations") as table:
        table.add_column(sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("backup_configurations") as table:
        table.drop_column("enabled")
    op.drop_table("replica_aware_routing")
    op.drop_index("ix_query_api_endpoints_service", "query_api_endpoints")
    op.drop_table("query_api_endpoints")
    op.drop_index("ix_saved_queries_service", "saved_queries")
    op.drop_table("saved_queries")
