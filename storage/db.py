"""Engines and the schema-version mechanism shared by the cache and the team store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.schema import Table
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.expression import Executable
from sqlmodel import SQLModel

CONNECT_TIMEOUT = 10  # seconds
STATEMENT_TIMEOUT_MS = 30_000
SCHEMA_LOCK = 0x6864_7363  # advisory lock key of schema creation and migration ("hdsc")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt


class SchemaError(Exception):
    """The database was written by a newer helpdesk, or a migration failed."""


Migration = Callable[[Connection], None]


def sqlite_engine(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
    _tune_sqlite(engine)
    return engine


def engine_for_url(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        return sqlite_engine(Path(url.removeprefix("sqlite:///")).expanduser())
    # A team server that does not answer must fail the operation, not hang it: the outbox
    # keeps the work and the sync retries.
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        },
    )


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # The driver's own transaction handling is off so that `_on_begin` decides how a
        # transaction starts (SQLAlchemy's documented recipe for pysqlite).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL lets the TUI read while the sync writes; NORMAL is safe with WAL.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A transaction that reads and then writes must take the write lock up front: in WAL
        # mode a deferred one fails at once (SQLITE_BUSY_SNAPSHOT) if another writer committed
        # in between, instead of waiting for it.
        immediate = conn.get_execution_options().get("immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def write_engine(engine: Engine) -> Engine:
    """The same engine, whose transactions take the write lock when they begin (SQLite)."""
    return engine.execution_options(immediate=True)


def _insert_ignore_stmt(conn: Connection, table: Table) -> Executable:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def insert_ignore(conn: Connection, table: Table, rows: list[dict[str, object]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL; returns rows inserted."""
    # RETURNING tells what was inserted on both engines; rowcount does not (psycopg reports
    # -1 for an INSERT ... ON CONFLICT DO NOTHING sent through SQLAlchemy).
    stmt = _insert_ignore_stmt(conn, table).returning(*table.primary_key.columns)  # type: ignore[attr-defined]
    return sum(1 for row in rows if conn.execute(stmt, row).first() is not None)


def insert_ignore_many(conn: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    """The same as one executemany, for bulk writes that need no count."""
    if rows:
        conn.execute(_insert_ignore_stmt(conn, table), rows)


def add_columns(conn: Connection, table: str, columns: Sequence[str]) -> None:
    """ALTER TABLE ... ADD COLUMN for each "name TYPE ..." the table lacks: a migration step
    that finds a column already there (a file made by a newer model) goes on."""
    have = {c["name"] for c in inspect(conn).get_columns(table)}
    for column in columns:
        if column.split()[0] not in have:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))


def ensure_schema(
    engine: Engine,
    *,
    name: str,
    tables: Sequence[Table],
    migrations: Sequence[Migration],
    after_create: Migration | None = None,
) -> int:
    """Create a fresh database at the newest version, or migrate an older one step by step.

    ``migrations[i]`` takes the schema from version i+1 to i+2; version 1 is the first schema.
    A fresh database is created from the current models and stamped with the newest version.
    """
    latest = len(migrations) + 1
    version_table = f"{name}_schema_version"
    with write_engine(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several clients starting at once on a new database: one creates, the rest wait.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
        # Looked up before creating: on PostgreSQL even CREATE TABLE IF NOT EXISTS needs the
        # CREATE privilege on the schema, which agents' own database roles do not have.
        if not inspect(conn).has_table(version_table):
            conn.execute(text(f"CREATE TABLE {version_table} (version INTEGER NOT NULL)"))
        row = conn.execute(text(f"SELECT version FROM {version_table}")).first()
        if row is None:
            SQLModel.metadata.create_all(conn, tables=list(tables))
            if after_create is not None:
                after_create(conn)
            conn.execute(text(f"INSERT INTO {version_table} (version) VALUES (:v)"), {"v": latest})
            return latest
        current = int(row[0])
        if current > latest:
            raise SchemaError(
                f"the {name} database has schema version {current}, newer than this "
                f"helpdesk knows ({latest}): upgrade helpdesk"
            )
        for step in range(current, latest):
            migrations[step - 1](conn)
            conn.execute(text(f"UPDATE {version_table} SET version = :v"), {"v": step + 1})
        return latest


class DriverStatement:
    """A Core statement compiled once for a dialect and run straight on the driver's cursor.

    For the few statements on a hot path inside a write turn: SQLAlchemy's execution machinery
    costs more than SQLite's work there, and every other writer waits for it. Values still go
    through the column types' own bind processors, so they are stored exactly as Core stores
    them; lists bound at build time (``IN (...)`` of constants) are fixed here.
    """

    def __init__(self, statement: ClauseElement, dialect: Any) -> None:
        compiled: Any = statement.compile(dialect=dialect)  # a SQLCompiler: positional binds
        sql = compiled.string
        self._slots: list[tuple[str | None, Any]] = []  # (runtime name, or None: a constant)
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
            if bind.expanding:
                values = list(bind.value)
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(values)), 1)
                self._slots += [(None, process(v)) for v in values]
            elif not bind.required:  # a constant of the statement (None included)
                self._slots.append((None, process(bind.effective_value)))
            else:
                self._slots.append((name, process))
        self.sql = sql

    def first(self, conn: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """Run with these values; the first row it returns, if any."""
        args = [slot(values[name]) if name is not None else slot for name, slot in self._slots]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, args)
            rows = cursor.fetchall()  # to the end: a RETURNING statement must finish
        finally:
            cursor.close()
        return tuple(rows[0]) if rows else None
