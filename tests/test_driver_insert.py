"""Inserts handed straight to SQLite's driver store exactly what SQLAlchemy's inserts store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, insert, text

from helpdesk.storage.cache import (
    Cache,
    attachment_t,
    location_t,
    mailbox_t,
    message_t,
    raw_t,
    ticket_t,
)
from helpdesk.storage.db import insert_ignore_many
from helpdesk.storage.driver_insert import driver_insert, driver_insert_returning_ids

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def tickets() -> list[dict[str, Any]]:
    # Left out: status, priority, tags, message_count... (their defaults must be stored).
    return [
        {
            "number": n,
            "subject": f"Order {n}",
            "customer_email": f"c{n}@example.com",
            "created_at": T0,
            "last_activity": T0 + timedelta(days=n),
        }
        for n in (7, 3, 9)
    ]


def messages() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(6):
        rows.append(
            {
                "message_id": f"m{i}@example.com",
                "dedupe_key": f"k{i}",
                "ticket": (7, 3, 9)[i % 3],
                "outgoing": i % 2 == 0,
                "subject": "Zásilka \u2603",
                "from_name": "Jana Example",
                "from_email": "jana@example.org",
                "to_addrs": "support@example.net",
                "cc_addrs": "",
                "references": "<a@example.com> <b@example.com>",  # a keyword as column name
                "date": None if i == 2 else T0 + timedelta(minutes=i),
                "sort_date": T0 + timedelta(hours=i),
                "text_body": "body " * i,
                "html_only": i == 3,
                "parse_error": None if i else "broken",
                "received_at": T0,
            }
        )
    return rows


def dump(conn: Connection, table: Table) -> list[tuple[Any, ...]]:
    cols = ", ".join(f'"{c.name}", typeof("{c.name}")' for c in table.columns)
    return [
        tuple(r) for r in conn.execute(text(f'SELECT {cols} FROM "{table.name}" ORDER BY rowid'))
    ]


def fill(conn: Connection, *, fast: bool) -> list[int]:
    conn.execute(insert(mailbox_t), [{"account": "a", "name": "INBOX"}])
    if fast:
        assert driver_insert(conn, ticket_t, tickets(), ignore=True)
        assert driver_insert(conn, ticket_t, tickets()[:1], ignore=True)  # conflict: skipped
        pks = driver_insert_returning_ids(conn, message_t, messages())
        assert pks is not None
    else:
        insert_ignore_many(conn, ticket_t, tickets())
        insert_ignore_many(conn, ticket_t, tickets()[:1])
        result = conn.execute(
            insert(message_t).returning(message_t.c.id, sort_by_parameter_order=True), messages()
        )
        pks = [r[0] for r in result]
    raw = [{"message": pk, "data": bytes([pk]) * 3} for pk in pks]
    attachments = [
        {
            "message": pks[0],
            "part": "2",
            "filename": "a.pdf",
            "content_type": "application/pdf",
            "size": 1234,
        }
    ]
    locations = [{"message": pk, "mailbox": 1, "uid": 10 + pk, "flags": "\\Seen"} for pk in pks]
    if fast:
        assert driver_insert(conn, raw_t, raw)
        assert driver_insert(conn, attachment_t, attachments)
        assert driver_insert(conn, location_t, locations, ignore=True)
        assert driver_insert(conn, location_t, locations[:2], ignore=True)
    else:
        conn.execute(insert(raw_t), raw)
        conn.execute(insert(attachment_t), attachments)
        insert_ignore_many(conn, location_t, locations)
        insert_ignore_many(conn, location_t, locations[:2])
    return pks


def test_driver_inserts_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    fast, slow = Cache(tmp_path / "fast" / "c.sqlite"), Cache(tmp_path / "slow" / "c.sqlite")
    try:
        with fast.begin_write() as a, slow.begin_write() as b:
            # Ids already taken and a gap: the new rows' keys must still agree.
            for conn in (a, b):
                conn.execute(
                    insert(ticket_t), [{"number": 1, "created_at": T0, "last_activity": T0}]
                )
                conn.execute(
                    insert(message_t),
                    [{**messages()[0], "id": 40, "ticket": 1, "message_id": "old@example.com"}],
                )
            got = fill(a, fast=True)
            want = fill(b, fast=False)
            assert got == want == [41, 42, 43, 44, 45, 46]
            for table in (ticket_t, message_t, raw_t, attachment_t, location_t):
                rows = dump(a, table)
                assert rows == dump(b, table), table.name
                assert rows, table.name
            # Spot checks that the comparison compares something real.
            status = a.execute(text("SELECT status, priority FROM ticket WHERE number = 9")).one()
            assert tuple(status) == ("new", 1)
            dates = a.execute(text("SELECT date, typeof(date) FROM message WHERE id = 41")).one()
            assert dates[1] == "text" and dates[0].startswith("2026-03-02 09:30:15")
    finally:
        fast.close()
        slow.close()


def test_driver_insert_declines_what_it_cannot_promise(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "c.sqlite")
    try:
        with cache.begin_write() as conn:
            assert driver_insert(conn, ticket_t, [])
            assert driver_insert_returning_ids(conn, message_t, []) == []
    finally:
        cache.close()
