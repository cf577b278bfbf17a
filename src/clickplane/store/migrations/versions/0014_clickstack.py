"""ClickStack: a service's sources, saved searches, dashboards, alerts, webhooks and roles; what the alert
evaluator keeps (each alert's status, its evaluated windows) and the deliveries to webhooks

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _alert_id() -> sa.Column[str]:
    return sa.Column("alert_id", sa.String(24), sa.ForeignKey("clickstack_objects.id", ondelete="CASCADE"),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "clickstack_objects",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("service_id", sa.Uuid(), sa.ForeignKey("services.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("sealed_secrets", sa.String(65536), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_clickstack_objects_service_kind", "clickstack_objects", ["service_id", "kind", "created_at"])
    op.create_table(
        "clickstack_alert_status",
        _alert_id(),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("evaluated_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_table(
        "clickstack_alert_windows",
        _alert_id(),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("notified", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("alert_id", "group_key", "window_start"),
    )
    op.create_table(
        "clickstack_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _alert_id(),
        sa.Column("webhook_id", sa.String(24), nullable=False),
        sa.Column("group_key", sa.String(512), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("alert_id", "idempotency_key", name="uq_clickstack_deliveries_key"),
    )
    op.create_index("ix_clickstack_deliveries_pending", "clickstack_deliveries", ["outcome", "alert_id"])


def downgrade() -> None:
    op.drop_table("clickstack_deliveries")
    op.drop_table("clickstack_alert_windows")
    op.drop_table("clickstack_alert_status")
    op.drop_table("clickstack_objects")
