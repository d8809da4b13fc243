"""Initial store: meta, current state, series + history, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the types at this revision; later schema changes get their own revision.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "current_state",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated", sa.Double, nullable=False),
    )
    op.create_table(
        "series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("property", sa.String(200), nullable=False),
        sa.UniqueConstraint("device_id", "property", name="uq_series_device_property"),
    )
    op.create_table(
        "history",
        sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
        sa.Column("ts", sa.Double, primary_key=True),
        sa.Column("num", sa.Double, nullable=True),
        sa.Column("value", sa.Text, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "audit",
        sa.Column("id", RowId, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Double, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("what", sa.Text, nullable=False),
        sa.Column("result", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("kind IN ('set', 'call')", name="ck_audit_kind"),
        sa.CheckConstraint("result IN ('ok', 'error', 'timeout')", name="ck_audit_result"),
    )
    op.create_index("ix_audit_ts", "audit", ["ts"])
    op.create_index("ix_audit_device_ts", "audit", ["device_id", "ts"])


def downgrade() -> None:
    op.drop_table("audit")
    op.drop_table("history")
    op.drop_table("series")
    op.drop_table("current_state")
    op.drop_table("meta")
