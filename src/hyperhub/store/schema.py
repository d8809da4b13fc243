"""The store's tables, as SQLAlchemy Core metadata (the Alembic revisions create the same).

History is the big table, so it is narrow: a (device, property) pair is stored once in
`series` and history rows carry its integer id. Numbers go in `num` (a double, so SQL can
aggregate them); anything else (bool, str, dict, None) goes in `value` as JSON text.
Timestamps are UNIX seconds as doubles.
"""

from __future__ import annotations

import sqlalchemy as sa

# An integer primary key that is SQLite's rowid (no extra index) and a BIGINT elsewhere.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

current_state = sa.Table(
    "current_state",
    metadata,
    sa.Column("device_id", sa.String(200), primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # JSON object of all properties
    sa.Column("updated", sa.Double, nullable=False),  # UNIX seconds
)

series = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("device_id", sa.String(200), nullable=False),
    sa.Column("property", sa.String(200), nullable=False),
    sa.UniqueConstraint("device_id", "property", name="uq_series_device_property"),
)

# Keyed (series, ts): a series' rows are stored together (on SQLite the table *is* that
# B-tree, no rowid), so a window is one range scan. One value per series per instant: a
# second write at the same ts replaces the first, which also makes replays idempotent.
history = sa.Table(
    "history",
    metadata,
    sa.Column("series_id", sa.Integer, sa.ForeignKey("series.id"), primary_key=True),
    sa.Column("ts", sa.Double, primary_key=True),
    sa.Column("num", sa.Double, nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sqlite_with_rowid=False,
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.Double, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("device_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("what", sa.Text, nullable=False),  # JSON
    sa.Column("result", sa.String(8), nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("code", sa.String(40), nullable=False, server_default=""),  # the error's code
    sa.Column("changes", sa.Text, nullable=True),  # JSON: what an ok command changed
    sa.CheckConstraint("kind IN ('set', 'call')", name="ck_audit_kind"),
    sa.CheckConstraint("result IN ('ok', 'error', 'timeout')", name="ck_audit_result"),
    sa.Index("ix_audit_ts", "ts"),
    sa.Index("ix_audit_device_ts", "device_id", "ts"),
)

# One row per automation rule run: when, how it ended, what set it off, what each step did.
rule_runs = sa.Table(
    "rule_runs",
    metadata,
    sa.Column("id", RowId, primary_key=True, autoincrement=True),
    sa.Column("rule_id", sa.String(100), nullable=False),
    sa.Column("started", sa.Double, nullable=False),  # UNIX seconds
    sa.Column("finished", sa.Double, nullable=True),  # None while running (or if it never did)
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("trigger", sa.Text, nullable=False),  # JSON object
    sa.Column("steps", sa.Text, nullable=False),  # JSON array
    sa.CheckConstraint(
        "result IN ('ok', 'error', 'conditions_false', 'skipped', 'cancelled', 'loop', 'running')",
        name="ck_rule_runs_result",
    ),
    sa.Index("ix_rule_runs_rule_started", "rule_id", "started"),
    sa.Index("ix_rule_runs_started", "started"),
)
