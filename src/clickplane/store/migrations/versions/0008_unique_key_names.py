"""API key names are unique within an organization in the store too, not only in the code that checks
before it writes: two requests creating a key of one name at once can no longer both succeed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "uq_api_keys_organization_id_name"


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.create_unique_constraint(NAME, ["organization_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(NAME, type_="unique")
