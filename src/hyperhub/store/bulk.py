"""Many-row inserts and upserts, sent to the driver's executemany as plain tuples.

SQLAlchemy's per-row parameter handling costs about as much as SQLite's own work on a
20,000-row batch, so the statement is compiled once per call and the rows go straight through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

Row = tuple[Any, ...]
UPSERT_INSERTS: dict[str, Callable[[sa.Table], sqlite.Insert | postgresql.Insert]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def insert_many(
    conn: sa.Connection, stmt: sa.Insert, columns: Sequence[str], rows: list[Row]
) -> None:
    """Run `stmt` (an INSERT of `columns`) once per row, in the current transaction."""
    if not rows:
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional:
        order = [columns.index(name) for name in compiled.positiontup or ()]
        if order != list(range(len(columns))):
            rows = [tuple(row[i] for i in order) for row in rows]
        conn.exec_driver_sql(compiled.string, rows)
    else:
        conn.exec_driver_sql(
            compiled.string, [dict(zip(columns, row, strict=True)) for row in rows]
        )


def upsert_many(
    conn: sa.Connection, table: sa.Table, columns: Sequence[str], rows: list[Row]
) -> None:
    """Insert rows; a row whose primary key exists replaces the other columns of that row."""
    if not rows:
        return
    keys = list(table.primary_key.columns)
    insert = UPSERT_INSERTS.get(conn.dialect.name)
    if insert is None:  # a portable fallback for other databases: delete, then insert
        where = sa.and_(*(key == sa.bindparam(key.name) for key in keys))
        positions = [columns.index(key.name) for key in keys]
        conn.execute(
            sa.delete(table).where(where),
            [{key.name: row[i] for key, i in zip(keys, positions, strict=True)} for row in rows],
        )
        insert_many(conn, table.insert(), columns, rows)
        return
    stmt = insert(table)
    key_names = {key.name for key in keys}
    replace = {name: stmt.excluded[name] for name in columns if name not in key_names}
    insert_many(conn, stmt.on_conflict_do_update(index_elements=keys, set_=replace), columns, rows)
