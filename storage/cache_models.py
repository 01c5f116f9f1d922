"""Tables of the local cache (one SQLite file per machine).

These are storage rows, not domain objects: `storage.cache` converts them to the views of
`core.tickets`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from helpdesk.storage import blob_models  # noqa: F401  (registers raw_blob for CACHE_TABLES)


class Mailbox(SQLModel, table=True):
    __tablename__ = "mailbox"
    __table_args__ = (UniqueConstraint("account", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    name: str
    uidvalidity: int | None = None
    uidnext: int | None = None  # every UID below it has been stored
    highestmodseq: int | None = None
    last_sync: datetime | None = None
    # Schema 3: when the folder's UID list and flags were last compared in full (a costly
    # check that must not run at every start of a one-shot sync).
    last_full_check: datetime | None = None
    last_error: str | None = None


class CachedTicket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (
        Index("ix_ticket_activity", "last_activity"),
        # Added in schema 2: the queue counts read these instead of the whole table.
        # Schema 5 added snoozed_until, so that the queues that leave snoozed tickets out
        # are still counted from the index alone.
        Index("ix_ticket_status_assignee", "status", "assignee", "snoozed_until"),
        Index("ix_ticket_assignee_status", "assignee", "status", "snoozed_until"),
    )

    number: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    subject: str = ""
    customer_name: str = ""
    customer_email: str = Field(default="", index=True)
    status: str = "new"
    assignee: str | None = Field(default=None, index=True)
    created_at: datetime
    last_activity: datetime
    message_count: int = 0
    waiting_on_us: bool = True
    # Added in schema 2: the team's state, mirrored from the team store.
    priority: int = 1
    category: str | None = None
    tags: str = ""
    department: str | None = None
    waiting_since: datetime | None = None
    sla_due: datetime | None = None
    lock_holder: str | None = None
    # Added in schema 5 (workflow).
    snoozed_until: datetime | None = None
    merged_into: int | None = None


class CachedMessage(SQLModel, table=True):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("message_id", "dedupe_key"),
        Index("ix_message_ticket_date", "ticket", "date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(index=True)
    dedupe_key: str
    ticket: int = Field(foreign_key="ticket.number")
    outgoing: bool = False
    subject: str = ""
    from_name: str = ""
    from_email: str = ""
    to_addrs: str = ""  # addresses joined by "\n", as displayed
    cc_addrs: str = ""
    date: datetime | None = None  # the Date header, as the sender wrote it
    in_reply_to: str = ""  # ids joined by " "
    references: str = ""
    text_body: str = ""
    html_only: bool = False
    auto: str = ""
    size: int = 0
    defects: str = ""  # joined by "\n"
    parse_error: str | None = None
    received_at: datetime
    sort_date: datetime | None = None  # schema 2: Date, but never after the server got it
    reply_to: str = ""  # schema 5: Reply-To, joined like to_addrs; answers go there


class CacheMeta(SQLModel, table=True):
    __tablename__ = "cache_meta"

    key: str = Field(primary_key=True)
    value: str


class CachedNote(SQLModel, table=True):
    __tablename__ = "note"

    id: str = Field(primary_key=True)
    ticket: int = Field(index=True)
    author: str
    body: str
    created_at: datetime
    pending: bool = False  # written here, not yet acknowledged by the team store


class CachedEvent(SQLModel, table=True):
    __tablename__ = "event"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ticket: int | None = Field(default=None, index=True)
    actor: str
    kind: str
    field: str | None = None
    old: str | None = None
    new: str | None = None
    at: datetime


class CachedPresence(SQLModel, table=True):
    __tablename__ = "presence"

    ticket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    agent: str = Field(primary_key=True)
    kind: str
    expires_at: datetime


class OutboxOp(SQLModel, table=True):
    """A local action waiting for the team store: kept until acknowledged, replayed in order."""

    __tablename__ = "outbox"

    pos: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True)  # UUID: the team store applies an operation once
    kind: str
    ticket: int | None = None
    payload: str = "{}"  # JSON
    created_at: datetime
    state: str = Field(default="pending", index=True)  # pending, done, conflict, failed
    attempts: int = 0
    result: str = ""  # what the team store said, shown to the agent


class RawMessage(SQLModel, table=True):
    """The message as received, zlib-compressed, so that nothing is ever lost to parsing."""

    __tablename__ = "raw_message"

    message: int = Field(primary_key=True, foreign_key="message.id")
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class MessageLocation(SQLModel, table=True):
    """Where a message lives on the server: one message can be in several folders."""

    __tablename__ = "message_location"
    __table_args__ = (UniqueConstraint("mailbox", "uid"),)

    id: int | None = Field(default=None, primary_key=True)
    message: int = Field(foreign_key="message.id", index=True)
    mailbox: int = Field(foreign_key="mailbox.id")
    uid: int
    flags: str = ""


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    message: int = Field(foreign_key="message.id", index=True)
    part: str
    filename: str
    content_type: str
    size: int
    inline: bool = False
    content_id: str = ""


class OutgoingMail(SQLModel, table=True):
    """Schema 4: a reply, forward or new mail the agent queued, with the complete message.

    The message (and its Message-ID) is built once, at queue time: a retry sends the very same
    bytes, so the server and the customer can recognise a second copy, and a crash between the
    SMTP acceptance and the state change can be checked against the Sent folder by that id.
    """

    __tablename__ = "outgoing"
    __table_args__ = (
        # The sender's question, asked every few seconds: what is due now.
        Index("ix_outgoing_state_send_after", "state", "send_after"),
        Index("ix_outgoing_ticket", "ticket"),
    )

    id: str = Field(primary_key=True)  # UUID
    ticket: int | None = None  # None: a new outgoing ticket not registered yet
    kind: str  # reply, reply_all, forward, new
    message_id: str = Field(unique=True)  # without angle brackets
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    rcpt: str = "[]"  # JSON list: the envelope recipients (Bcc included)
    author: str
    state: str = "queued"
    created_at: datetime
    send_after: datetime  # created_at + the send delay: until then the agent may undo
    attempts: int = 0
    next_attempt: datetime | None = None
    last_error: str = ""
    sent_at: datetime | None = None
    status_after: str | None = None
    base_seq: int = 0  # the newest team event the agent had seen when the draft began
    base_messages: str = "[]"  # JSON list of the ticket's Message-IDs then
    held_reason: str = ""
    held_ids: str = "[]"  # JSON list: the Message-IDs the hold showed the agent
    draft_id: str | None = None
    # Set once the sent message has joined its ticket, the team heard of it and Sent has it;
    # until then the sender finishes what a fault or a crash interrupted.
    finished_at: datetime | None = None


class CachedDraft(SQLModel, table=True):
    """Schema 4: a reply being written, saved every few seconds so that nothing typed is lost.

    A discarded draft stays as a tombstone (`deleted`) until the team store has been told.
    """

    __tablename__ = "draft"
    __table_args__ = (Index("ix_draft_ticket_updated", "ticket", "updated_at"),)

    id: str = Field(primary_key=True)  # UUID
    ticket: int | None = None
    kind: str
    author: str
    # Address fields as the agent typed them: a draft may hold half an address.
    to_addrs: str = ""
    cc_addrs: str = ""
    bcc_addrs: str = ""
    subject: str = ""
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    attachments: str = "[]"  # JSON list of {filename, path | message_id + message_pk + part}
    base_seq: int = 0
    base_messages: str = "[]"  # JSON list of Message-IDs
    template: str | None = None
    updated_at: datetime
    pushed_at: datetime | None = None  # the `updated_at` of the version the team store has
    deleted: bool = False


class SeenTicket(SQLModel, table=True):
    """When an agent last opened a ticket: customer mail newer than that is unread to them.

    Per agent, because one cache may serve every agent on a support server. Not a numbered
    schema step: `Cache.__init__` creates it (and `QUEUE_INDEXES`) when missing, in any cache.
    """

    __tablename__ = "seen"

    ticket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    agent: str = Field(primary_key=True)
    at: datetime


# The queue list's filters and sorts (storage.ticket_filter); created when missing, like `seen`.
QUEUE_INDEXES = (
    # Department queues, their counts and the list of departments present.
    "CREATE INDEX IF NOT EXISTS ix_ticket_department_status ON ticket (department, status)",
    # sort:sla and is:breached / is:due without reading every ticket.
    "CREATE INDEX IF NOT EXISTS ix_ticket_sla_due ON ticket (sla_due)",
    # The Snoozed queue and its count: the few snoozed tickets, not every open one.
    "CREATE INDEX IF NOT EXISTS ix_ticket_snoozed ON ticket (snoozed_until) "
    "WHERE snoozed_until IS NOT NULL",
)


CACHE_TABLES = [
    SQLModel.metadata.tables[name]
    for name in (
        "mailbox",
        "ticket",
        "message",
        "raw_message",
        "message_location",
        "attachment",
        "cache_meta",
        "note",
        "event",
        "presence",
        "outbox",
        "raw_blob",  # storage.blob_models; Cache.__init__ adds it to caches made before it
        "outgoing",
        "draft",
    )
]
SCHEMA_2_NEW_TABLES = ("cache_meta", "note", "event", "presence", "outbox")
SCHEMA_2_COLUMNS = (
    ("ticket", "priority INTEGER NOT NULL DEFAULT 1"),
    ("ticket", "category VARCHAR"),
    ("ticket", "tags VARCHAR NOT NULL DEFAULT ''"),
    ("ticket", "department VARCHAR"),
    ("ticket", "waiting_since DATETIME"),
    ("ticket", "sla_due DATETIME"),
    ("ticket", "lock_holder VARCHAR"),
    ("message", "sort_date DATETIME"),
)
SCHEMA_2_INDEXES = (
    "CREATE INDEX ix_ticket_status_assignee ON ticket (status, assignee)",
    "CREATE INDEX ix_ticket_assignee_status ON ticket (assignee, status)",
)

# Schema 3: the full-text index of messages (SQLite FTS5). Contentless (content=''): only the
# index is stored. A table with its own content would hold every body a second time (bodies
# are most of the cache), and an external-content table over `message` would re-read and
# re-tokenize message.* for highlights, which cannot see the letters folded in Python before
# indexing (`core.search_text.fold_for_index`: ł -> l, ß -> ss). Snippets are cut in Python
# from the message row instead, and bm25 needs only the index. The price: removing a row
# takes its indexed values again (`Cache.unindex_messages`).
MESSAGE_FTS = "message_fts"
MESSAGE_FTS_DDL = (
    f"CREATE VIRTUAL TABLE {MESSAGE_FTS} USING fts5("
    "subject, sender, body, content='', tokenize='unicode61 remove_diacritics 2')"
)

# Schema 4: replying (the outgoing mail queue and drafts).
SCHEMA_4_NEW_TABLES = ("outgoing", "draft")

# Schema 5: snooze and merge; the Reply-To of messages.
SCHEMA_5_COLUMNS = (
    ("ticket", "snoozed_until DATETIME"),
    ("ticket", "merged_into INTEGER"),
    ("message", "reply_to VARCHAR NOT NULL DEFAULT ''"),
)
SCHEMA_5_INDEXES = (
    "DROP INDEX IF EXISTS ix_ticket_status_assignee",
    "DROP INDEX IF EXISTS ix_ticket_assignee_status",
    "CREATE INDEX ix_ticket_status_assignee ON ticket (status, assignee, snoozed_until)",
    "CREATE INDEX ix_ticket_assignee_status ON ticket (assignee, status, snoozed_until)",
)
