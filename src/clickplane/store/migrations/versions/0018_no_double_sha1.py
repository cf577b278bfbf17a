"""Services keep no double SHA-1 of their password: it was for MySQL clients, and clickplane serves no MySQL
protocol (nothing read it)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ALTER TABLE ... DROP COLUMN on both stores (SQLite since 3.35): no copy of the table, whose rows other
    # tables' foreign keys reference.
    op.drop_column("services", "password_double_sha1_hex")


def downgrade() -> None:
    op.add_column("services", sa.Column("password_double_sha1_hex", sa.String(length=40), nullable=True))
