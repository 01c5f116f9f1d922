"""Tables of the team store (SQLite file or PostgreSQL): team state only, never mail bodies."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class TeamMeta(SQLModel, table=True):
    __tablename__ = "team_meta"

    key: str = Field(primary_key=True)
    value: str


class TeamTicket(SQLModel, table=True):
    __tablename__ = "team_ticket"

    number: int | None = Field(default=None, primary_key=True)
    subject: str = ""
    customer_email: str = ""
    status: str = "new"
    assignee: str | None = Field(default=None, index=True)
    created_at: datetime


class MessageIndex(SQLModel, table=True):
    """Message-ID -> ticket. The first registration of an id wins; every cache converges."""

    __tablename__ = "message_index"

    message_id: str = Field(primary_key=True)
    ticket: int = Field(foreign_key="team_ticket.number", index=True)
    registered_at: datetime


TEAM_TABLES = [SQLModel.metadata.tables[name] for name in ("team_meta", "team_ticket", "message_index")]
