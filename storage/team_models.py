"""Tables of the team store (SQLite file or PostgreSQL): team state only, never mail bodies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, Text, false, text
from sqlmodel import Field, SQLModel


class TeamMeta(SQLModel, table=True):
    __tablename__ = "team_meta"

    key: str = Field(primary_key=True)
    value: str


class TeamTicket(SQLModel, table=True):
    __tablename__ = "team_ticket"
    __table_args__ = (
        Index("ix_team_ticket_queue", "assignee", "status"),
        # Handle-next's default order over the unassigned tickets only: the first open one
        # is found by walking this index, not by sorting the whole table on every press.
        Index(
            "ix_team_ticket_next",
            "assignee",
            text("(sla_due IS NULL)"),
            "sla_due",
            text("priority DESC"),
            text("(waiting_since IS NULL)"),
            "waiting_since",
            "number",
        ),
        # Schema 6: the service's wake-up job every minute finds due snoozes by this.
        Index("ix_team_ticket_snoozed", "snoozed_until"),
    )

    number: int | None = Field(default=None, primary_key=True)
    subject: str = ""
    customer_email: str = ""
    status: str = "new"
    assignee: str | None = Field(default=None, index=True)
    created_at: datetime
    # Added in schema 2.
    priority: int = 1
    category: str | None = None
    tags: str = ""  # comma-separated, sorted
    department: str | None = None
    waiting_since: datetime | None = None  # oldest customer message not answered yet
    sla_due: datetime | None = None  # set by the SLA clock; handle-next serves it first
    lock_holder: str | None = None  # the reply lock: who may send now
    lock_expires: datetime | None = None
    # Schema 6: out of the queues until then (or until the customer writes).
    snoozed_until: datetime | None = None
    # Schema 6: merged into that ticket; its mail, notes and later mail live there now.
    merged_into: int | None = None


class MessageIndex(SQLModel, table=True):
    """Message-ID -> ticket. The first registration of an id wins; every cache converges."""

    __tablename__ = "message_index"

    message_id: str = Field(primary_key=True)
    ticket: int = Field(foreign_key="team_ticket.number", index=True)
    registered_at: datetime
    # Schema 3: when the message was sent and whether it was ours, so that a ticket's
    # waiting-since comes out right whatever order its messages are registered in.
    sent_at: datetime | None = None
    outgoing: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class ReferenceIndex(SQLModel, table=True):
    """Ids that registered messages refer to but that are not registered themselves: when
    such a parent arrives after its reply, it joins the reply's ticket."""

    __tablename__ = "reference_index"

    ref_id: str = Field(primary_key=True)
    ticket: int = Field(index=True)


class TeamAgent(SQLModel, table=True):
    __tablename__ = "team_agent"

    email: str = Field(primary_key=True)
    name: str = ""
    role: str = "agent"
    departments: str = ""  # comma-separated
    away: bool = False
    created_at: datetime


class TeamNote(SQLModel, table=True):
    """Internal notes: append-only, never shown to customers; the id is the outbox op's UUID."""

    __tablename__ = "team_note"

    id: str = Field(primary_key=True)
    ticket: int = Field(foreign_key="team_ticket.number", index=True)
    author: str
    body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime


class TeamEvent(SQLModel, table=True):
    """The audit trail: every change, by whom, when. Caches pull it by `seq`."""

    __tablename__ = "team_event"
    __table_args__ = (Index("ix_team_event_ticket_field", "ticket", "field", "seq"),)

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    ticket: int | None = Field(default=None, index=True)
    actor: str
    kind: str
    field: str | None = None
    old: str | None = None
    new: str | None = None
    op_id: str | None = Field(default=None, unique=True)  # outbox operation: replays are no-ops
    at: datetime  # when the agent acted (offline edits keep their own time)
    recorded_at: datetime


class TeamPresence(SQLModel, table=True):
    __tablename__ = "team_presence"

    ticket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    agent: str = Field(primary_key=True)
    kind: str = "viewing"
    expires_at: datetime = Field(index=True)


class TeamSkip(SQLModel, table=True):
    __tablename__ = "team_skip"

    agent: str = Field(primary_key=True)
    ticket: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    until: datetime
    reason: str = ""


class TeamDraft(SQLModel, table=True):
    """Schema 4: the drafts agents are writing, so that a colleague who takes a ticket over
    sees them. The newest save of a draft wins; a discarded one stays as a tombstone, so that
    an older copy pushed late cannot bring it back."""

    __tablename__ = "team_draft"
    __table_args__ = (Index("ix_team_draft_ticket", "ticket", "updated_at"),)

    id: str = Field(primary_key=True)  # UUID, made by the agent's cache
    ticket: int | None = None
    kind: str
    author: str = Field(index=True)
    to_addrs: str = Field(default="", sa_column=Column(Text, nullable=False))
    cc_addrs: str = Field(default="", sa_column=Column(Text, nullable=False))
    bcc_addrs: str = Field(default="", sa_column=Column(Text, nullable=False))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    attachments: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON
    base_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    base_messages: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON
    template: str | None = None
    updated_at: datetime  # the agent's clock at the save: the newest wins
    deleted: bool = False


class AutoMail(SQLModel, table=True):
    """Schema 5: automatic replies decided in the transaction that registered the mail, sent
    once by whichever sync-lease holder claims the row first. The rows also count the
    replies a sender and a ticket already had (the loop limits)."""

    __tablename__ = "auto_mail"
    __table_args__ = (
        Index("ix_auto_mail_recipient", "recipient", "created_at"),
        Index("ix_auto_mail_state", "state", "id"),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    ticket: int = Field(index=True)
    recipient: str  # lower-cased address
    recipient_name: str = ""
    template: str
    reason: str  # acknowledge | out_of_hours | rule
    rule: str | None = None  # the rule whose auto_reply it is
    reply_to_id: str  # the Message-ID answered
    subject: str = ""  # of the message answered
    state: str = "pending"  # pending | claimed | queued | failed
    created_at: datetime
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    message_id: str | None = None  # ours, once built
    detail: str = ""


class SpamSender(SQLModel, table=True):
    """Schema 6: senders an agent marked as spam; their next mail goes straight to spam."""

    __tablename__ = "spam_sender"

    address: str = Field(primary_key=True)  # lower-cased
    marked_by: str
    ticket: int | None = None  # the ticket it was marked on
    marked_at: datetime


TEAM_TABLES = [
    SQLModel.metadata.tables[name]
    for name in (
        "team_meta",
        "team_ticket",
        "message_index",
        "reference_index",
        "team_agent",
        "team_note",
        "team_event",
        "team_presence",
        "team_skip",
        "team_draft",
        "auto_mail",
        "spam_sender",
    )
]
SCHEMA_2_NEW_TABLES = (
    "reference_index",
    "team_agent",
    "team_note",
    "team_event",
    "team_presence",
    "team_skip",
)
SCHEMA_2_TICKET_COLUMNS = (
    "priority INTEGER NOT NULL DEFAULT 1",
    "category VARCHAR",
    "tags VARCHAR NOT NULL DEFAULT ''",
    "department VARCHAR",
    "waiting_since TIMESTAMP",
    "sla_due TIMESTAMP",
    "lock_holder VARCHAR",
    "lock_expires TIMESTAMP",
)
SCHEMA_6_TICKET_COLUMNS = ("snoozed_until TIMESTAMP", "merged_into INTEGER")
