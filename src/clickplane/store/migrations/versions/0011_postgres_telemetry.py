"""Postgres services' samples: their statistics views, and their pg_stat_statements patterns with what each did
between two samples

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _service_id() -> sa.Column[Any]:
    return sa.Column("service_id", sa.Uuid(), sa.ForeignKey("postgres_services.id", ondelete="CASCADE"),
                     nullable=False)


def _counters() -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.BigInteger(), nullable=False)
            for name in ("rows", "shared_blks_hit", "shared_blks_read", "wal_bytes")]


def upgrade() -> None:
    op.create_table(
        "postgres_samples",
        _service_id(),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readings", sa.JSON(), nullable=False),
        sa.Column("with_statements", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("service_id", "taken_at"),
    )
    op.create_table(
        "postgres_statements",
        sa.Column("id", sa.Uuid(), primary_key=True),
        _service_id(),
        sa.Column("query_id", sa.String(24), nullable=False),
        sa.Column("db_name", sa.String(255), nullable=False),
        sa.Column("db_user", sa.String(255), nullable=False),
        sa.Column("db_operation", sa.String(16), nullable=False),
        sa.Column("query_text", sa.String(10_000), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_exec_time_ms", sa.Float(), nullable=False),
        *_counters(),
        sa.UniqueConstraint("service_id", "query_id", "db_name", "db_user", name="uq_postgres_statements_pattern"),
    )
    op.create_table(
        "postgres_statement_samples",
        sa.Column("statement_id", sa.Uuid(), sa.ForeignKey("postgres_statements.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("total_exec_time_ms", sa.Float(), nullable=False),
        sa.Column("max_exec_time_ms", sa.Float(), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint("statement_id", "taken_at"),
    )


def downgrade() -> None:
    op.drop_table("postgres_statement_samples")
    op.drop_table("postgres_statements")
    op.drop_table("postgres_samples")
