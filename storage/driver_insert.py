"""Bulk inserts handed straight to SQLite's driver, for the ingest's hot tables.

SQLAlchemy's per-row parameter handling costs about as much as SQLite's own work for a row
of mail (half a millisecond a message over the tables a message fills). These helpers send
tuples to the driver instead, converted by the very bind processors SQLAlchemy would apply,
so the stored values are the same. They answer None where they cannot promise that (another
database, or a column left out that has a Python-side default): the caller then takes the
ordinary SQLAlchemy path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

__all__ = ["driver_insert", "driver_insert_returning_ids"]

_Processor = Callable[[Any], Any] | None


def _plan(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], suffix: str
) -> tuple[str, list[str], list[_Processor]] | None:
    if conn.dialect.name != "sqlite" or not rows:
        return None
    given = rows[0]
    keys = list(given)
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    values: list[str] = ["?"] * len(keys)
    names = [quote(k) for k in keys]
    for col in table.columns:
        if col.name in given:
            continue
        default = col.default
        if default is None:
            continue  # NULL, or the database's own default, or a new integer key
        if not default.is_scalar:
            return None  # worked out in Python per row: leave that to SQLAlchemy
        # A constant default goes in as SQLAlchemy would send it: through the column's type.
        keys.append(col.name)
        names.append(quote(col.name))
        values.append("?")
    processors: list[_Processor] = []
    for key in keys:
        col = table.columns[key]
        processors.append(col.type.dialect_impl(dialect).bind_processor(dialect))
    name = dialect.identifier_preparer.format_table(table)
    sql = f"INSERT INTO {name} ({', '.join(names)}) VALUES ({', '.join(values)}){suffix}"
    return sql, keys, processors


def _tuples(
    table: Table, rows: Sequence[dict[str, Any]], keys: list[str], processors: list[_Processor]
) -> list[tuple[Any, ...]]:
    given = set(rows[0])
    missing = [k for k in keys if k not in given]
    if missing:
        fill = {k: table.columns[k].default.arg for k in missing}  # type: ignore[union-attr]
        rows = [{**r, **fill} for r in rows]
    pairs = list(zip(keys, processors, strict=True))
    if all(p is None for _, p in pairs):
        return [tuple([r[k] for k in keys]) for r in rows]
    return [tuple([r[k] if p is None else p(r[k]) for k, p in pairs]) for r in rows]


def driver_insert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, ignore: bool = False
) -> bool:
    """Insert ``rows`` (dicts with the same keys) in one executemany on SQLite; ``ignore``
    skips rows that conflict (ON CONFLICT DO NOTHING). False when it did nothing and the
    caller must insert the usual way; True for no rows at all."""
    if not rows:
        return True
    plan = _plan(conn, table, rows, " ON CONFLICT DO NOTHING" if ignore else "")
    if plan is None:
        return False
    sql, keys, processors = plan
    conn.exec_driver_sql(sql, _tuples(table, rows, keys, processors))
    return True


def driver_insert_returning_ids(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]]
) -> list[int] | None:
    """Insert ``rows`` in order on SQLite and return their new integer keys, in order; None
    when the caller must insert the usual way."""
    if not rows:
        return []
    plan = _plan(conn, table, rows, "")
    if plan is None:
        return None
    sql, keys, processors = plan
    # One statement a row on the driver's own cursor (its statement cache compiles the SQL
    # once): lastrowid names each row exactly, whatever ids the table already holds.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        ids: list[int] = []
        for values in _tuples(table, rows, keys, processors):
            cursor.execute(sql, values)
            ids.append(cursor.lastrowid)
        return ids
    finally:
        cursor.close()
