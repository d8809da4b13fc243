"""Audit rows say how a command ended for machines too: the error's code, the changes as JSON.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # rows written before keep "" and NULL: their message is all they say
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("code", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("changes", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("changes")
        batch.drop_column("code")
