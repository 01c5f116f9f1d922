"""Tables of the local cache (one SQLite file per machine).

These are storage rows, not domain objects: `storage.cache` converts them to the views of
`core.tickets`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


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
    last_error: str | None = None


class CachedTicket(SQLModel, table=True):
    __tablename__ = "ticket"
    __table_args__ = (Index("ix_ticket_activity", "last_activity"),)

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
    date: datetime | None = None
    in_reply_to: str = ""  # ids joined by " "
    references: str = ""
    text_body: str = ""
    html_only: bool = False
    auto: str = ""
    size: int = 0
    defects: str = ""  # joined by "\n"
    parse_error: str | None = None
    received_at: datetime


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


CACHE_TABLES = [
    SQLModel.metadata.tables[name]
    for name in ("mailbox", "ticket", "message", "raw_message", "message_location", "attachment")
]
