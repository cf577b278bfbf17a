"""UDFs: an organization's executable functions, their versions (definition and archive), their attachments to
services, and the upload URLs handed out for archives

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _organization_id() -> sa.Column[object]:
    return sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                     nullable=False)


def _udf_id() -> sa.Column[object]:
    return sa.Column("udf_id", sa.Uuid(), sa.ForeignKey("udfs.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "udfs",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _organization_id(),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "name", name="uq_udfs_organization_name"),
    )
    op.create_table(
        "udf_versions",
        _udf_id(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("udf_id", "version"),
    )
    op.create_table(
        "udf_attachments",
        _udf_id(),
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("udf_id", "service_id"),
    )
    op.create_table(
        "udf_uploads",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _organization_id(),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("udf_uploads", "udf_attachments", "udf_versions", "udfs"):
        op.drop_table(table)
