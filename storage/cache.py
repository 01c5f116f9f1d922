"""The local cache: one SQLite file per machine, read by the app, written by the sync.

Bulk writes use SQLAlchemy Core (one transaction per batch); reads return the plain views of
`core.tickets`, so no storage type leaks into the app.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel

from helpdesk.core.tickets import (
    CLOSED_STATUSES,
    AttachmentView,
    ConversationMessage,
    EventView,
    NoteView,
    PresenceView,
    Queue,
    TicketDetail,
    TicketSummary,
)
from helpdesk.storage.cache_models import (
    CACHE_TABLES,
    SCHEMA_2_COLUMNS,
    SCHEMA_2_INDEXES,
    SCHEMA_2_NEW_TABLES,
    Attachment,
    CachedEvent,
    CachedMessage,
    CachedNote,
    CachedPresence,
    CachedTicket,
    Mailbox,
    MessageLocation,
    RawMessage,
)
from helpdesk.storage.db import (
    Migration,
    as_utc,
    ensure_schema,
    insert_ignore_many,
    sqlite_engine,
    utc_now,
    write_engine,
)
from helpdesk.storage.team_store import TicketState

note_t = CachedNote.__table__
event_t = CachedEvent.__table__
presence_t = CachedPresence.__table__
mailbox_t = Mailbox.__table__
ticket_t = CachedTicket.__table__
message_t = CachedMessage.__table__
raw_t = RawMessage.__table__
location_t = MessageLocation.__table__
attachment_t = Attachment.__table__


def _schema_2(conn: Connection) -> None:
    """Team state beside the mail: ticket fields, notes, events, presence, the outbox."""
    for table, column in SCHEMA_2_COLUMNS:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column}"))
    conn.execute(
        text("UPDATE message SET sort_date = coalesce(min(date, received_at), received_at)")
    )
    for ddl in SCHEMA_2_INDEXES:
        conn.execute(text(ddl))
    SQLModel.metadata.create_all(
        conn, tables=[SQLModel.metadata.tables[n] for n in SCHEMA_2_NEW_TABLES]
    )


MIGRATIONS: list[Migration] = [_schema_2]


@dataclass(frozen=True, slots=True)
class FolderMark:
    """How far a folder has been read: every UID below `uidnext` is stored."""

    mailbox: int
    uidvalidity: int
    uidnext: int


_CHUNK = 500
_EMAIL_IN_DISPLAY = re.compile(r"<([^<>]+)>\s*$")


@dataclass(frozen=True, slots=True)
class MailboxState:
    id: int
    account: str
    name: str
    uidvalidity: int | None
    uidnext: int | None
    highestmodseq: int | None
    last_sync: datetime | None
    last_error: str | None


def email_of(display: str) -> str:
    m = _EMAIL_IN_DISPLAY.search(display)
    return (m.group(1) if m else display).strip().lower()


class Cache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine: Engine = sqlite_engine(path)
        self.writer: Engine = write_engine(self.engine)
        ensure_schema(self.engine, name="cache", tables=CACHE_TABLES, migrations=MIGRATIONS)

    def close(self) -> None:
        self.engine.dispose()

    # -- mailboxes ---------------------------------------------------------------------------

    def mailbox(self, account: str, name: str) -> MailboxState:
        with self.writer.begin() as conn:
            row = conn.execute(
                select(mailbox_t).where(mailbox_t.c.account == account, mailbox_t.c.name == name)
            ).first()
            if row is None:
                conn.execute(insert(mailbox_t), {"account": account, "name": name})
                row = conn.execute(
                    select(mailbox_t).where(
                        mailbox_t.c.account == account, mailbox_t.c.name == name
                    )
                ).one()
        return _mailbox_state(row)

    def mailboxes(self) -> list[MailboxState]:
        with self.engine.connect() as conn:
            return [
                _mailbox_state(r) for r in conn.execute(select(mailbox_t).order_by(mailbox_t.c.id))
            ]

    def save_mailbox(self, mailbox_id: int, **values: Any) -> None:
        with self.writer.begin() as conn:
            conn.execute(update(mailbox_t).where(mailbox_t.c.id == mailbox_id).values(**values))

    def reset_mailbox(self, mailbox_id: int, uidvalidity: int) -> None:
        """The server renumbered the folder: forget its UIDs (messages stay; they re-pair)."""
        with self.writer.begin() as conn:
            conn.execute(location_t.delete().where(location_t.c.mailbox == mailbox_id))
            conn.execute(
                update(mailbox_t)
                .where(mailbox_t.c.id == mailbox_id)
                .values(uidvalidity=uidvalidity, uidnext=None, highestmodseq=None)
            )

    def location_count(self, mailbox_id: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(location_t)
                    .where(location_t.c.mailbox == mailbox_id)
                ).scalar_one()
            )

    def mark(self, mark: FolderMark) -> None:
        with self.writer.begin() as conn:
            self.advance_mailbox(conn, mark)

    @staticmethod
    def advance_mailbox(conn: Connection, mark: FolderMark) -> None:
        # Never backwards: the app and the service may both sync this cache.
        conn.execute(
            update(mailbox_t)
            .where(mailbox_t.c.id == mark.mailbox)
            .values(
                uidvalidity=mark.uidvalidity,
                uidnext=func.max(func.coalesce(mailbox_t.c.uidnext, 0), mark.uidnext),
            )
        )

    # -- ingest helpers (used by sync.ingest inside one write transaction) --------------------

    def begin_write(self) -> Any:
        return self.writer.begin()

    @staticmethod
    def existing_messages(
        conn: Connection, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        keys = list(set(keys))
        out: dict[tuple[str, str], int] = {}
        ids = sorted({k[0] for k in keys})
        for i in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(message_t.c.message_id, message_t.c.dedupe_key, message_t.c.id).where(
                    message_t.c.message_id.in_(ids[i : i + _CHUNK])
                )
            )
            for mid, key, pk in rows:
                out[(mid, key)] = pk
        return out

    @staticmethod
    def participants(conn: Connection, ticket: int) -> set[str]:
        people: set[str] = set()
        rows = conn.execute(
            select(message_t.c.from_email, message_t.c.to_addrs, message_t.c.cc_addrs).where(
                message_t.c.ticket == ticket
            )
        )
        for from_email, to_addrs, cc_addrs in rows:
            people.add(from_email)
            for line in f"{to_addrs}\n{cc_addrs}".splitlines():
                if line.strip():
                    people.add(email_of(line))
        people.discard("")
        return people

    @staticmethod
    def add_locations(conn: Connection, rows: list[dict[str, Any]]) -> None:
        insert_ignore_many(conn, location_t, rows)

    @staticmethod
    def insert_messages(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        if not rows:
            return []
        result = conn.execute(
            insert(message_t).returning(message_t.c.id, sort_by_parameter_order=True), rows
        )
        return [r[0] for r in result]

    @staticmethod
    def insert_raw(conn: Connection, rows: list[tuple[int, bytes]]) -> None:
        if rows:
            conn.execute(
                insert(raw_t), [{"message": pk, "data": zlib.compress(raw, 6)} for pk, raw in rows]
            )

    @staticmethod
    def insert_attachments(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(attachment_t), rows)

    @staticmethod
    def ensure_tickets(conn: Connection, rows: list[dict[str, Any]]) -> None:
        insert_ignore_many(conn, ticket_t, rows)

    @staticmethod
    def refresh_tickets(conn: Connection, numbers: Iterable[int]) -> None:
        """Recompute the list columns of tickets from their messages."""
        nums = sorted(set(numbers))
        for i in range(0, len(nums), _CHUNK):
            chunk = nums[i : i + _CHUNK]
            m = message_t
            when = func.coalesce(m.c.sort_date, m.c.received_at)
            last_out = (
                select(m.c.outgoing)
                .where(m.c.ticket == ticket_t.c.number, m.c.auto == "")
                .order_by(when.desc(), m.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                update(ticket_t)
                .where(ticket_t.c.number.in_(chunk))
                .values(
                    message_count=select(func.count())
                    .where(m.c.ticket == ticket_t.c.number)
                    .scalar_subquery(),
                    last_activity=select(func.max(when))
                    .where(m.c.ticket == ticket_t.c.number)
                    .scalar_subquery(),
                    waiting_on_us=func.coalesce(last_out, 0) == 0,
                )
            )

    @staticmethod
    def set_ticket_states(conn: Connection, states: Iterable[TicketState]) -> None:
        """Mirror the team's state of tickets (one executemany, whatever the count)."""
        rows = [
            {
                "n": s.number,
                "status": s.status,
                "assignee": s.assignee,
                "priority": s.priority,
                "category": s.category,
                "tags": ",".join(s.tags),
                "department": s.department,
                "waiting_since": s.waiting_since,
                "sla_due": s.sla_due,
                "lock_holder": s.lock_holder,
            }
            for s in states
        ]
        if rows:
            values: dict[str, Any] = {k: bindparam(k) for k in rows[0] if k != "n"}
            conn.execute(
                update(ticket_t).where(ticket_t.c.number == bindparam("n")).values(values), rows
            )

    # -- reads for the app and the CLI --------------------------------------------------------

    def _queue_filter(self, queue: Queue, agent: str) -> ColumnElement[bool]:
        closed = ticket_t.c.status.in_([str(s) for s in CLOSED_STATUSES])
        match queue:
            case Queue.MINE:
                return and_(ticket_t.c.assignee == agent, ~closed)
            case Queue.UNASSIGNED:
                return and_(ticket_t.c.assignee.is_(None), ~closed)
            case Queue.OPEN:
                return ~closed
            case Queue.CLOSED:
                return closed
            case _:  # Queue.ALL
                return true()

    def list_tickets(
        self, queue: Queue, agent: str, *, limit: int | None = 500, offset: int = 0
    ) -> list[TicketSummary]:
        stmt = (
            select(ticket_t)
            .where(self._queue_filter(queue, agent))
            .order_by(ticket_t.c.last_activity.desc(), ticket_t.c.number.desc())
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_summary(r) for r in conn.execute(stmt)]

    def count_tickets(self, queue: Queue, agent: str) -> int:
        stmt = select(func.count()).select_from(ticket_t).where(self._queue_filter(queue, agent))
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def ticket(self, number: int) -> TicketDetail | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(ticket_t).where(ticket_t.c.number == number)).first()
            if row is None:
                return None
            msgs = list(
                conn.execute(
                    select(message_t)
                    .where(message_t.c.ticket == number)
                    .order_by(
                        func.coalesce(message_t.c.sort_date, message_t.c.received_at),
                        message_t.c.id,
                    )
                )
            )
            atts: dict[int, list[AttachmentView]] = {}
            ids = [m.id for m in msgs]
            for i in range(0, len(ids), _CHUNK):
                for a in conn.execute(
                    select(attachment_t)
                    .where(attachment_t.c.message.in_(ids[i : i + _CHUNK]))
                    .order_by(attachment_t.c.id)
                ):
                    atts.setdefault(a.message, []).append(
                        AttachmentView(a.filename, a.content_type, a.size)
                    )
            notes = [
                NoteView(n.id, n.author, n.body, as_utc(n.created_at) or utc_now(), bool(n.pending))
                for n in conn.execute(
                    select(note_t)
                    .where(note_t.c.ticket == number)
                    .order_by(note_t.c.created_at, note_t.c.id)
                )
            ]
            history = [
                EventView(e.seq, e.actor, e.kind, e.field, e.old, e.new, as_utc(e.at) or utc_now())
                for e in conn.execute(
                    select(event_t).where(event_t.c.ticket == number).order_by(event_t.c.seq)
                )
            ]
            presence = [
                PresenceView(p.ticket, p.agent, p.kind)
                for p in conn.execute(
                    select(presence_t).where(
                        presence_t.c.ticket == number, presence_t.c.expires_at > utc_now()
                    )
                )
            ]
        return TicketDetail(
            _summary(row),
            [_conversation(m, atts.get(m.id, [])) for m in msgs],
            notes=notes,
            history=history,
            presence=presence,
        )

    # -- team state mirrored from the team store -----------------------------------------------

    @staticmethod
    def store_notes(conn: Connection, notes: Iterable[tuple[str, int, str, str, datetime]]) -> None:
        """Notes the team store acknowledged: insert, or clear the pending mark of our own."""
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        rows = [
            {"id": i, "ticket": t, "author": a, "body": b, "created_at": c, "pending": False}
            for i, t, a, b, c in notes
        ]
        if rows:
            stmt = sqlite_insert(note_t)
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["id"], set_={"pending": False}), rows
            )

    @staticmethod
    def store_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
        insert_ignore_many(conn, event_t, rows)

    def replace_presence(self, rows: list[dict[str, Any]]) -> None:
        with self.writer.begin() as conn:
            conn.execute(presence_t.delete())
            if rows:
                conn.execute(insert(presence_t), rows)

    def presence(self) -> list[PresenceView]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(presence_t)
                .where(presence_t.c.expires_at > utc_now())
                .order_by(presence_t.c.ticket)
            )
            return [PresenceView(p.ticket, p.agent, p.kind) for p in rows]

    def raw(self, message_pk: int) -> bytes:
        with self.engine.connect() as conn:
            data = conn.execute(
                select(raw_t.c.data).where(raw_t.c.message == message_pk)
            ).scalar_one()
        return zlib.decompress(data)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:

            def n(t: Any, *where: ColumnElement[bool]) -> int:
                return int(
                    conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
                )

            return {
                "tickets": n(ticket_t),
                "messages": n(message_t),
                "raw": n(raw_t),
                "malformed": n(
                    message_t, or_(message_t.c.parse_error.is_not(None), message_t.c.defects != "")
                ),
                "locations": n(location_t),
                "unfetched": n(message_t, message_t.c.message_id.like("unfetched-%")),
            }

    def message_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(message_t.c.message_id).distinct()).scalars())


def _mailbox_state(r: Any) -> MailboxState:
    return MailboxState(
        r.id,
        r.account,
        r.name,
        r.uidvalidity,
        r.uidnext,
        r.highestmodseq,
        as_utc(r.last_sync),
        r.last_error,
    )


def _summary(r: Any) -> TicketSummary:
    return TicketSummary(
        number=r.number,
        subject=r.subject,
        customer_name=r.customer_name,
        customer_email=r.customer_email,
        status=r.status,
        assignee=r.assignee,
        created_at=as_utc(r.created_at) or datetime.now(UTC),
        last_activity=as_utc(r.last_activity) or datetime.now(UTC),
        message_count=r.message_count,
        waiting_on_us=bool(r.waiting_on_us),
    )


def _conversation(m: Any, attachments: Sequence[AttachmentView]) -> ConversationMessage:
    problem = m.parse_error or (m.defects.replace("\n", "; ") if m.defects else None)
    return ConversationMessage(
        id=m.id,
        message_id=m.message_id,
        outgoing=bool(m.outgoing),
        from_name=m.from_name,
        from_email=m.from_email,
        to=[a for a in m.to_addrs.split("\n") if a],
        cc=[a for a in m.cc_addrs.split("\n") if a],
        date=as_utc(m.date) or as_utc(m.received_at),
        subject=m.subject,
        text=m.text_body,
        auto=m.auto,
        attachments=list(attachments),
        problem=problem,
    )
