"""roles, members, invitations; keys found by a hash of their id, with role ids

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The system roles' fixed ids (clickplane.auth.permissions), by the legacy names keys held before.
LEGACY_ROLE_IDS = {
    "admin": "00000000-0000-4000-8000-000000000001",
    "developer": "00000000-0000-4000-8000-000000000002",
    "query_endpoints": "00000000-0000-4000-8000-000000000003",
}


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("key_id_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("secret_scheme", sa.String(16), nullable=False, server_default="plain"))
        batch.add_column(sa.Column("role_ids", sa.JSON(), nullable=True))
    keys = sa.table("api_keys", sa.column("id", sa.Uuid()), sa.column("key_id", sa.String()),
                    sa.column("roles", sa.JSON()), sa.column("key_id_hash", sa.String()),
                    sa.column("role_ids", sa.JSON()))
    connection = op.get_bind()
    for key_uuid, key_id, roles in connection.execute(sa.select(keys.c.id, keys.c.key_id, keys.c.roles)).all():
        legacy = roles if isinstance(roles, list) else json.loads(roles or "[]")
        connection.execute(keys.update().where(keys.c.id == key_uuid).values(
            key_id_hash=hashlib.sha256(key_id.encode()).hexdigest(),
            role_ids=[LEGACY_ROLE_IDS[name] for name in legacy if name in LEGACY_ROLE_IDS]))
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("key_id_hash", nullable=False)
        batch.alter_column("role_ids", nullable=False)
        batch.create_unique_constraint("uq_api_keys_key_id_hash", ["key_id_hash"])
        batch.drop_column("key_id")
        batch.drop_column("roles")

    op.create_table(
        "roles",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "name"),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("user_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role_ids", sa.JSON(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("organization_id", "email"),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organization_id", sa.Uuid(), sa.ForeignKey("organizations.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role_ids", sa.JSON(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("keys made from hashData have no plain id to go back to")
