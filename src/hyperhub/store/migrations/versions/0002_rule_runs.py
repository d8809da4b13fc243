"""Automation rule run traces: rule_runs.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen copy of the types at this revision; later schema changes get their own revision.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "rule_runs",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("started", sa.Double, nullable=False),
        sa.Column("finished", sa.Double, nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("steps", sa.Text, nullable=False),
        sa.CheckConstraint(
            "result IN ('ok', 'error', 'conditions_false', 'skipped', 'cancelled', 'loop', "
            "'running')",
            name="ck_rule_runs_result",
        ),
    )
    op.create_index("ix_rule_runs_rule_started", "rule_runs", ["rule_id", "started"])
    op.create_index("ix_rule_runs_started", "rule_runs", ["started"])


def downgrade() -> None:
    op.drop_table("rule_runs")  # its indexes go with it
