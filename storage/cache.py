"""The local cache: one SQLite file per machine, read by the app, written by the sync.

Bulk writes use SQLAlchemy Core (one transaction per batch); reads return the plain views of
`core.tickets`, so no storage type leaks into the app.
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.sql import ColumnElement
from sqlmodel import SQLModel

from helpdesk.core.search_text import (
    SearchHit,
    fold_for_index,
    fts_query,
    mark,
    parse_query,
    snippet,
)
from helpdesk.core.ticket_query import TicketQuery
from helpdesk.core.tickets import (
    AttachmentView,
    ConversationMessage,
    EventView,
    NoteView,
    PresenceView,
    Queue,
    TicketDetail,
    TicketSummary,
)
from helpdesk.core.workflow import DEFAULT_STATUSES, StatusDefinition
from helpdesk.storage.blob_models import RawBlob
from helpdesk.storage.blobs import BlobStore, blob_dir_for
from helpdesk.storage.cache_models import (
    CACHE_TABLES,
    MESSAGE_FTS,
    MESSAGE_FTS_DDL,
    QUEUE_INDEXES,
    SCHEMA_2_COLUMNS,
    SCHEMA_2_INDEXES,
    SCHEMA_2_NEW_TABLES,
    SCHEMA_4_NEW_TABLES,
    SCHEMA_5_COLUMNS,
    SCHEMA_5_INDEXES,
    Attachment,
    CachedEvent,
    CachedMessage,
    CachedNote,
    CachedPresence,
    CachedTicket,
    Mailbox,
    MessageLocation,
    RawMessage,
    SeenTicket,
)
from helpdesk.storage.db import (
    Migration,
    add_columns,
    as_utc,
    ensure_schema,
    insert_ignore_many,
    sqlite_engine,
    utc_now,
    write_engine,
)
from helpdesk.storage.driver_insert import driver_insert, driver_insert_returning_ids
from helpdesk.storage.team_store import TicketState
from helpdesk.storage.ticket_filter import (
    FilterContext,
    order_by,
    query_condition,
    queue_condition,
    unread_condition,
)

note_t = CachedNote.__table__
event_t = CachedEvent.__table__
presence_t = CachedPresence.__table__
mailbox_t = Mailbox.__table__
ticket_t = CachedTicket.__table__
message_t = CachedMessage.__table__
raw_t = RawMessage.__table__
location_t = MessageLocation.__table__
attachment_t = Attachment.__table__
raw_blob_t = RawBlob.__table__
seen_t = SeenTicket.__table__
DEFAULT_RAW_BLOB_LIMIT = 256 * 1024


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


def _create_search_index(conn: Connection) -> None:
    conn.execute(text(MESSAGE_FTS_DDL))


def _schema_3(conn: Connection) -> None:
    """The full-text index, filled from the messages already stored; big raw messages kept
    in the blob store."""
    raw_blob_t.create(conn)
    conn.execute(text("ALTER TABLE mailbox ADD COLUMN last_full_check DATETIME"))
    _create_search_index(conn)
    last = 0
    while True:
        rows = list(
            conn.execute(
                select(*_FTS_SOURCE)
                .where(message_t.c.id > last)
                .order_by(message_t.c.id)
                .limit(_CHUNK)
            ).mappings()
        )
        if not rows:
            return
        _index_rows(conn, [(r["id"], r) for r in rows])
        last = rows[-1]["id"]


def _schema_4(conn: Connection) -> None:
    """Replying: the queue of outgoing mail and the drafts (new tables only)."""
    SQLModel.metadata.create_all(
        conn, tables=[SQLModel.metadata.tables[n] for n in SCHEMA_4_NEW_TABLES]
    )


def _schema_5(conn: Connection) -> None:
    """Workflow: snoozed and merged tickets (the queue indexes cover the snooze)."""
    for table in {t for t, _ in SCHEMA_5_COLUMNS}:
        add_columns(conn, table, [c for t, c in SCHEMA_5_COLUMNS if t == table])
    for ddl in SCHEMA_5_INDEXES:
        conn.execute(text(ddl))


MIGRATIONS: list[Migration] = [_schema_2, _schema_3, _schema_4, _schema_5]

_FTS_SOURCE = (
    message_t.c.id,
    message_t.c.subject,
    message_t.c.from_name,
    message_t.c.from_email,
    message_t.c.text_body,
)
# Sent to the driver as it is: SQLAlchemy's parameter handling costs a fifth of the indexing.
_FTS_INSERT = f"INSERT INTO {MESSAGE_FTS} (rowid, subject, sender, body) VALUES (?, ?, ?, ?)"
# A contentless FTS5 table forgets a row only when told the values it indexed.
_FTS_DELETE = text(
    f"INSERT INTO {MESSAGE_FTS} ({MESSAGE_FTS}, rowid, subject, sender, body) "
    "VALUES ('delete', :id, :subject, :sender, :body)"
)
# bm25 weights of subject, sender, body: a word in the subject says more than one in a
# long body.
_BM25 = f"bm25({MESSAGE_FTS}, 4.0, 2.0, 1.0)"

# Results come as the agent types, so the cost of a query must not grow with the cache.
# Ranking every match of a word found in most of 100,000 messages takes a third of a second,
# so only the newest _CANDIDATES matches (by message key: as stored) are ranked. And bm25
# first counts, over the whole index, the messages holding each phrase: a few ms for a word,
# but 25-40 ms of CPU for a phrase of common words (positions checked in every message) or a
# short prefix (every word it begins merged). A query matching more than _CANDIDATES messages
# says little about relevance anyway, so when it holds a phrase or a prefix its tickets come
# newest first, without bm25.
_CANDIDATES = 2000
_NEWEST_MATCHES = text(
    f"SELECT rowid FROM {MESSAGE_FTS} WHERE {MESSAGE_FTS} MATCH :q ORDER BY rowid DESC LIMIT :cap"
)

# The newest candidates, then the best message of each ticket (ties: the newer message).
_SEARCH = text(
    f"""
    WITH hit AS (
        SELECT rowid AS id, {_BM25} AS score
        FROM {MESSAGE_FTS} WHERE {MESSAGE_FTS} MATCH :q
        ORDER BY rowid DESC LIMIT :candidates
    ), ranked AS (
        SELECT message.ticket AS ticket, hit.id AS id, hit.score AS score,
               coalesce(message.sort_date, message.received_at) AS at,
               row_number() OVER (
                   PARTITION BY message.ticket
                   ORDER BY hit.score,
                            coalesce(message.sort_date, message.received_at) DESC,
                            hit.id DESC
               ) AS n
        FROM hit JOIN message ON message.id = hit.id
    )
    SELECT id, score FROM ranked WHERE n = 1
    ORDER BY score, at DESC, id DESC
    LIMIT :limit OFFSET :offset
    """
)


def _fts_values(pk: int, r: Any) -> tuple[int, str, str, str]:
    def get(key: str) -> str:
        return r.get(key) or ""

    return (
        pk,
        fold_for_index(get("subject")),
        fold_for_index(f"{get('from_name')} {get('from_email')}"),
        fold_for_index(get("text_body")),
    )


def _fts_row(r: Any) -> dict[str, Any]:
    pk, subject, sender, body = _fts_values(r["id"], r)
    return {"id": pk, "subject": subject, "sender": sender, "body": body}


def _index_rows(conn: Connection, rows: Sequence[tuple[int, Any]]) -> None:
    """Index (message pk, row with the message's columns) pairs."""
    if rows:
        conn.exec_driver_sql(_FTS_INSERT, [_fts_values(pk, r) for pk, r in rows])


def pack_small(raw: bytes) -> bytes:
    """How a raw message is kept inside the cache. Level 1: mail text shrinks to about a
    third either way, and higher levels cost several times the time for a few percent."""
    return zlib.compress(raw, 1)


@dataclass(frozen=True, slots=True)
class PackedRaw:
    """A raw message ready to keep: compressed bytes, or a blob already in the store."""

    data: bytes | None = None
    digest: str = ""
    size: int = 0


def pack_raw(raw: bytes, blobs: BlobStore, limit: int) -> PackedRaw:
    """`Cache.pack_raw`, callable where there is no Cache (a parse worker process)."""
    if len(raw) > limit:
        ref = blobs.put(raw)
        return PackedRaw(digest=ref.digest, size=ref.size)
    return PackedRaw(data=pack_small(raw))


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
    last_full_check: datetime | None = None


def email_of(display: str) -> str:
    m = _EMAIL_IN_DISPLAY.search(display)
    return (m.group(1) if m else display).strip().lower()


class Cache:
    def __init__(self, path: Path, *, raw_blob_limit: int = DEFAULT_RAW_BLOB_LIMIT) -> None:
        self.path = path
        self.engine: Engine = sqlite_engine(path)
        self.writer: Engine = write_engine(self.engine)
        ensure_schema(
            self.engine,
            name="cache",
            tables=CACHE_TABLES,
            migrations=MIGRATIONS,
            after_create=_create_search_index,
        )
        with self.writer.begin() as conn:
            _ensure_queue_tables(conn)
        # Raw messages bigger than this go to the blob store instead of the database.
        self.raw_blob_limit = raw_blob_limit
        self.blobs = BlobStore(blob_dir_for(path))

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
                .values(
                    uidvalidity=uidvalidity, uidnext=None, highestmodseq=None, last_full_check=None
                )
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
        # A merged ticket's mail lives in the one it was merged into.
        survivor = conn.execute(
            select(ticket_t.c.merged_into).where(ticket_t.c.number == ticket)
        ).scalar()
        rows = conn.execute(
            select(message_t.c.from_email, message_t.c.to_addrs, message_t.c.cc_addrs).where(
                message_t.c.ticket.in_([ticket, survivor or ticket])
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
        if not driver_insert(conn, location_t, rows, ignore=True):
            insert_ignore_many(conn, location_t, rows)

    def move_locations(
        self,
        source: int,
        target: int,
        target_uidvalidity: int,
        moved: Sequence[tuple[int, int]],
        gone: Iterable[int] = (),
    ) -> None:
        """Messages moved on the server from folder ``source`` to ``target``: (old UID, new
        UID) pairs, as the server's COPYUID told; ``gone`` are UIDs of ``source`` that the
        server no longer had. One transaction, so that the next sync of either folder sees
        the messages where they are: neither vanished nor new."""
        with self.writer.begin() as conn:
            known = conn.execute(
                select(mailbox_t.c.uidvalidity).where(mailbox_t.c.id == target)
            ).scalar_one()
            if known is not None and known != target_uidvalidity:
                # The folder was renumbered: what was stored of it names other messages now.
                conn.execute(location_t.delete().where(location_t.c.mailbox == target))
                conn.execute(
                    update(mailbox_t)
                    .where(mailbox_t.c.id == target)
                    .values(uidnext=None, highestmodseq=None, last_full_check=None)
                )
            if known != target_uidvalidity:
                conn.execute(
                    update(mailbox_t)
                    .where(mailbox_t.c.id == target)
                    .values(uidvalidity=target_uidvalidity)
                )
            old = [u for u, _ in moved]
            rows: list[dict[str, Any]] = []
            for i in range(0, len(old), _CHUNK):
                found = conn.execute(
                    select(location_t.c.uid, location_t.c.message, location_t.c.flags).where(
                        location_t.c.mailbox == source, location_t.c.uid.in_(old[i : i + _CHUNK])
                    )
                )
                at = {uid: (message, flags) for uid, message, flags in found}
                rows += [
                    {"message": at[u][0], "mailbox": target, "uid": n, "flags": at[u][1]}
                    for u, n in moved[i : i + _CHUNK]
                    if u in at
                ]
            dropped = sorted({*old, *gone})
            for i in range(0, len(dropped), _CHUNK):
                conn.execute(
                    location_t.delete().where(
                        location_t.c.mailbox == source,
                        location_t.c.uid.in_(dropped[i : i + _CHUNK]),
                    )
                )
            insert_ignore_many(conn, location_t, rows)

    @staticmethod
    def insert_messages(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Store messages and index them for search, in the caller's transaction."""
        if not rows:
            return []
        pks = driver_insert_returning_ids(conn, message_t, rows)
        if pks is None:
            result = conn.execute(
                insert(message_t).returning(message_t.c.id, sort_by_parameter_order=True), rows
            )
            pks = [r[0] for r in result]
        # Indexed here rather than by a trigger: the text is folded in Python first (see
        # core.search_text.fold_for_index), and the rows are at hand, not read back.
        _index_rows(conn, list(zip(pks, rows, strict=True)))
        return pks

    @staticmethod
    def unindex_messages(conn: Connection, pks: Iterable[int]) -> None:
        """Take messages out of the search index; call it before their rows change or go."""
        ids = sorted(set(pks))
        for i in range(0, len(ids), _CHUNK):
            rows = conn.execute(
                select(*_FTS_SOURCE).where(message_t.c.id.in_(ids[i : i + _CHUNK]))
            ).mappings()
            batch = [_fts_row(r) for r in rows]
            if batch:
                conn.execute(_FTS_DELETE, batch)

    def pack_raw(self, raw: bytes) -> PackedRaw:
        """Compress a raw message for keeping, or write it to the blob store if it is big.

        Done before the ingest's transaction (compressing a 30 MB message takes seconds, and
        nobody else may write the cache meanwhile); a blob written for a transaction that
        then fails is an orphan, which `remove_orphans` sweeps, never a dangling reference.
        """
        return pack_raw(raw, self.blobs, self.raw_blob_limit)

    @staticmethod
    def insert_raw(conn: Connection, rows: list[tuple[int, PackedRaw]]) -> None:
        """Keep the packed raw copies of messages, in the caller's transaction."""
        small = [{"message": pk, "data": p.data} for pk, p in rows if p.data is not None]
        big = [
            {"message": pk, "digest": p.digest, "size": p.size} for pk, p in rows if p.data is None
        ]
        if small and not driver_insert(conn, raw_t, small):
            conn.execute(insert(raw_t), small)
        if big and not driver_insert(conn, raw_blob_t, big):
            conn.execute(insert(raw_blob_t), big)

    @staticmethod
    def insert_attachments(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows and not driver_insert(conn, attachment_t, rows):
            conn.execute(insert(attachment_t), rows)

    @staticmethod
    def ensure_tickets(conn: Connection, rows: list[dict[str, Any]]) -> None:
        if not driver_insert(conn, ticket_t, rows, ignore=True):
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
            # Mail may arrive newest first (a first sync): the ticket keeps the subject of
            # its first message, whatever order the messages were stored in.
            first_subject = (
                select(m.c.subject)
                .where(m.c.ticket == ticket_t.c.number)
                .order_by(when, m.c.id)
                .limit(1)
                .scalar_subquery()
            )
            conn.execute(
                update(ticket_t)
                .where(ticket_t.c.number.in_(chunk))
                .values(
                    subject=first_subject,
                    created_at=select(func.min(when))
                    .where(m.c.ticket == ticket_t.c.number)
                    .scalar_subquery(),
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
                "snoozed_until": s.snoozed_until,
                "merged_into": s.merged_into,
            }
            for s in states
        ]
        if rows:
            values: dict[str, Any] = {k: bindparam(k) for k in rows[0] if k != "n"}
            conn.execute(
                update(ticket_t).where(ticket_t.c.number == bindparam("n")).values(values), rows
            )

    # -- reads for the app and the CLI --------------------------------------------------------

    def list_tickets(
        self,
        queue: Queue,
        agent: str,
        *,
        limit: int | None = 500,
        offset: int = 0,
        query: TicketQuery | None = None,
        context: FilterContext | None = None,
    ) -> list[TicketSummary]:
        """A page of a queue, narrowed by ``query`` and in its sort (newest activity first
        without one). ``context``: statuses and the time for the filter; default: now, the
        default statuses."""
        ctx = context or FilterContext(agent, utc_now())
        query = query or TicketQuery()
        stmt = (
            select(ticket_t, unread_condition(ctx.agent).label("unread"))
            .where(queue_condition(queue, ctx), query_condition(query, ctx))
            .order_by(*order_by(query.sort))
            .limit(limit)
            .offset(offset)
        )
        with self.engine.connect() as conn:
            return [_summary(r, unread=bool(r.unread)) for r in conn.execute(stmt)]

    def count_tickets(
        self,
        queue: Queue,
        agent: str,
        *,
        query: TicketQuery | None = None,
        context: FilterContext | None = None,
    ) -> int:
        ctx = context or FilterContext(agent, utc_now())
        where = [queue_condition(queue, ctx)]
        if query is not None and query.terms:
            where.append(query_condition(query, ctx))
        stmt = select(func.count()).select_from(ticket_t).where(*where)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def filter_context(
        self,
        agent: str,
        now: datetime,
        statuses: tuple[StatusDefinition, ...] = DEFAULT_STATUSES,
        due_soon: timedelta = timedelta(hours=1),
    ) -> FilterContext:
        """The context for a round of queue reads, with the statuses present (see
        `FilterContext.present`): build one per screen refresh, not per query."""
        return FilterContext(agent, now, statuses, due_soon, present=self.statuses_present())

    def statuses_present(self) -> tuple[str, ...]:
        """Every status some ticket has: one index seek per status, whatever the count."""
        with self.engine.connect() as conn:
            return tuple(conn.execute(_STATUSES_PRESENT).scalars())

    def departments(self) -> list[str]:
        """Departments of the tickets in the cache, A to Z."""
        stmt = (
            select(ticket_t.c.department)
            .where(ticket_t.c.department.is_not(None))
            .distinct()
            .order_by(ticket_t.c.department)
        )
        with self.engine.connect() as conn:
            return [d for d in conn.execute(stmt).scalars() if d]

    def mark_seen(self, number: int, agent: str, at: datetime) -> None:
        """The agent has the ticket open: its mail up to ``at`` is read (never moved back)."""
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(seen_t).values(ticket=number, agent=agent, at=at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["ticket", "agent"], set_={"at": func.max(seen_t.c.at, stmt.excluded.at)}
        )
        with self.writer.begin() as conn:
            conn.execute(stmt)

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
            # The history of tickets merged into this one is part of its own; the merge
            # itself, told on both tickets, is shown once.
            merges: set[tuple[str | None, str | None]] = set()
            history = []
            for e in conn.execute(
                select(event_t)
                .where(event_t.c.ticket.in_([number, *_merged_into(conn, number)]))
                .order_by(event_t.c.seq)
            ):
                if e.kind == "merged":
                    if (e.old, e.new) in merges:
                        continue
                    merges.add((e.old, e.new))
                history.append(
                    EventView(
                        e.seq,
                        e.actor,
                        e.kind,
                        e.field,
                        e.old,
                        e.new,
                        as_utc(e.at) or utc_now(),
                        ticket=e.ticket,
                    )
                )
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

    def search(self, text: str, *, limit: int = 50, offset: int = 0) -> list[SearchHit]:
        """Tickets whose messages match `text`, best first (bm25, then the newer message);
        each ticket once, with its best message. Any input is safe: see core.search_text.

        When more than `_CANDIDATES` messages match, only the newest of them are ranked, and
        by recency alone if the text holds a phrase or a prefix (see `_CANDIDATES`); such hits
        have the score 0.0.
        """
        terms = parse_query(text)
        query = fts_query(terms)
        if query is None or limit <= 0:
            return []
        offset = max(0, offset)
        cap = max(_CANDIDATES, 4 * (offset + limit))
        m = message_t
        with self.engine.connect() as conn:
            newest = list(conn.execute(_NEWEST_MATCHES, {"q": query, "cap": cap}).scalars())
            if not newest:
                return []
            best: list[tuple[int, float]]
            if len(newest) == cap and any(t.prefix or len(t.words) > 1 for t in terms):
                best = _newest_per_ticket(conn, newest, offset + limit)[offset:]
            else:
                params = {"q": query, "limit": limit, "offset": offset, "candidates": cap}
                best = [(r.id, r.score) for r in conn.execute(_SEARCH, params)]
            if not best:
                return []
            rows = {
                r.id: r
                for r in conn.execute(
                    select(
                        m.c.id,
                        m.c.ticket,
                        m.c.subject,
                        m.c.from_name,
                        m.c.from_email,
                        m.c.date,
                        m.c.received_at,
                        m.c.text_body,
                    ).where(m.c.id.in_([pk for pk, _ in best]))
                )
            }
        hits = []
        for pk, score in best:
            r = rows[pk]
            if r.from_name and r.from_email:
                sender = f"{r.from_name} <{r.from_email}>"
            else:
                sender = r.from_name or r.from_email
            hits.append(
                SearchHit(
                    ticket=r.ticket,
                    message=r.id,
                    subject=mark(r.subject, terms),
                    sender=mark(sender, terms),
                    date=as_utc(r.date) or as_utc(r.received_at),
                    snippet=snippet(r.text_body, terms),
                    score=float(score),
                )
            )
        return hits

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
        """The message as received, wherever it is kept. ``NoResultFound`` if not stored."""
        data, digest = self._raw_place(message_pk)
        return zlib.decompress(data) if data is not None else self.blobs.read(digest)

    def open_raw(self, message_pk: int) -> io.BufferedIOBase:
        """The message as received, as a stream: a big one is never read whole."""
        data, digest = self._raw_place(message_pk)
        return io.BytesIO(zlib.decompress(data)) if data is not None else self.blobs.open(digest)

    def _raw_place(self, message_pk: int) -> tuple[bytes | None, str]:
        with self.engine.connect() as conn:
            data = conn.execute(
                select(raw_t.c.data).where(raw_t.c.message == message_pk)
            ).scalar_one_or_none()
            if data is not None:
                return data, ""
            digest = conn.execute(
                select(raw_blob_t.c.digest).where(raw_blob_t.c.message == message_pk)
            ).scalar_one()
        return None, str(digest)

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:

            def n(t: Any, *where: ColumnElement[bool]) -> int:
                return int(
                    conn.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
                )

            return {
                "tickets": n(ticket_t),
                "messages": n(message_t),
                "raw": n(raw_t) + n(raw_blob_t),
                "malformed": n(
                    message_t, or_(message_t.c.parse_error.is_not(None), message_t.c.defects != "")
                ),
                "locations": n(location_t),
                "unfetched": n(message_t, message_t.c.message_id.like("unfetched-%")),
            }

    def last_message(self) -> int:
        """The newest message's key: it changes whenever another process stores mail."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.coalesce(func.max(message_t.c.id), 0))).scalar_one()
            )

    def message_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(message_t.c.message_id).distinct()).scalars())


def _merged_into(conn: Connection, number: int) -> list[int]:
    """Tickets merged into `number`, directly or through others, by the MERGED events (the
    cache may never have held the merged tickets themselves)."""
    found: list[int] = []
    frontier = [number]
    while frontier and len(found) < 1000:
        olds = conn.execute(
            select(event_t.c.old).where(
                event_t.c.kind == "merged",
                event_t.c.ticket.in_(frontier),
                event_t.c.new.in_([str(n) for n in frontier]),
            )
        ).scalars()
        frontier = [
            int(o) for o in set(olds) if o and o.isdigit() and int(o) not in (number, *found)
        ]
        found.extend(frontier)
    return found


def _newest_per_ticket(conn: Connection, ids: list[int], wanted: int) -> list[tuple[int, float]]:
    """The newest of `ids` (newest first) of each ticket, until `wanted` tickets are found."""
    seen: set[int] = set()
    out: list[tuple[int, float]] = []
    step = 250
    for i in range(0, len(ids), step):
        chunk = ids[i : i + step]
        stmt = select(message_t.c.id, message_t.c.ticket).where(message_t.c.id.in_(chunk))
        ticket_of = {pk: ticket for pk, ticket in conn.execute(stmt)}
        for pk in chunk:
            ticket = ticket_of.get(pk)
            if ticket is not None and ticket not in seen:
                seen.add(ticket)
                out.append((pk, 0.0))
                if len(out) == wanted:
                    return out
    return out


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
        as_utc(r.last_full_check),
    )


def _summary(r: Any, *, unread: bool = False) -> TicketSummary:
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
        priority=r.priority,
        tags=tuple(t for t in r.tags.split(",") if t),
        department=r.department,
        sla_due=as_utc(r.sla_due),
        lock_holder=r.lock_holder,
        snoozed_until=as_utc(r.snoozed_until),
        merged_into=r.merged_into,
        unread=unread,
    )


def _ensure_queue_tables(conn: Connection) -> None:
    """The `seen` table and the queue indexes, in a cache of any schema version; and the
    planner's statistics of the ticket table when they are missing or far off."""
    seen_t.create(conn, checkfirst=True)
    for ddl in QUEUE_INDEXES:
        conn.execute(text(ddl))
    _analyze_tickets(conn)


# Without statistics SQLite takes any index on `status` to be selective, so the first page of
# Closed (most of a mature cache) is sorted whole: 175 ms on 100,000 tickets. With them it
# walks the activity index and stops at the page's end: 1.4 ms. Below this many tickets any
# plan is quick, and statistics of a nearly empty table would mislead once it fills.
_ANALYZE_FROM = 1000
_STATUSES_PRESENT = text(
    """
    WITH RECURSIVE present(status) AS (
        SELECT min(status) FROM ticket
        UNION ALL
        SELECT (SELECT min(status) FROM ticket WHERE status > present.status)
        FROM present WHERE present.status IS NOT NULL
    )
    SELECT status FROM present WHERE status IS NOT NULL
    """
)


def _analyze_tickets(conn: Connection) -> None:
    """Refresh the ticket table's statistics when it has grown or shrunk twofold since."""
    count = int(conn.execute(select(func.count()).select_from(ticket_t)).scalar_one())
    if count < _ANALYZE_FROM:
        return
    known = None
    if _has_stat_table(conn):
        known = conn.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'ticket' LIMIT 1")
        ).scalar_one_or_none()
    rows = int(str(known).split()[0]) if known else 0
    if rows and rows / 2 <= count <= rows * 2:
        return
    # The whole table (about 50 ms on 100,000 tickets): a sampled ANALYZE (analysis_limit)
    # guesses the number of distinct statuses so badly that the planner stays wrong.
    conn.execute(text("ANALYZE ticket"))


def _has_stat_table(conn: Connection) -> bool:
    found = conn.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'")
    ).first()
    return found is not None


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
