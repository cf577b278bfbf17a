"""backups, backup configurations and buckets; services created from a backup

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _service_id(primary_key: bool = False) -> sa.Column[uuid.UUID]:
    return sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"),
                     primary_key=primary_key, nullable=False)


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        _service_id(),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size_in_bytes", sa.BigInteger(), nullable=True),
        sa.Column("backup_name", sa.String(255), nullable=False),
        sa.Column("location", sa.String(4096), nullable=False),
        sa.Column("bucket", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(2000), nullable=True),
    )
    op.create_index("ix_backups_service_started", "backups", ["service_id", "started_at"])
    op.create_table(
        "backup_configurations",
        _service_id(primary_key=True),
        sa.Column("period_hours", sa.Integer(), nullable=False),
        sa.Column("retention_hours", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.String(5), nullable=True),
    )
    op.create_table(
        "backup_buckets",
        _service_id(primary_key=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(8), nullable=False),
        sa.Column("bucket_path", sa.String(4096), nullable=True),
        sa.Column("container_name", sa.String(63), nullable=True),
        sa.Column("iam_role_arn", sa.String(2048), nullable=True),
        sa.Column("iam_role_session_name", sa.String(64), nullable=True),
        sa.Column("access_key_id", sa.String(256), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("services") as batch:
        batch.add_column(sa.Column("restore_from", sa.String(4096), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("services") as batch:
        batch.drop_column("restore_from")
    op.drop_table("backup_buckets")
    op.drop_table("backup_configurations")
    op.drop_index("ix_backups_service_started", "backups")
    op.drop_table("backups")
