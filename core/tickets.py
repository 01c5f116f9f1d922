"""Tickets as the app and the CLI show them: plain data, no storage types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Queue(StrEnum):
    MINE = "mine"
    UNASSIGNED = "unassigned"
    OPEN = "open"  # every ticket that is not closed
    CLOSED = "closed"  # closed and spam
    ALL = "all"
    WAITING = "waiting"  # waiting on the customer (statuses of kind waiting)
    SPAM = "spam"
    SNOOZED = "snoozed"  # out of the other queues until a time, or until the customer writes


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    CLOSED = "closed"
    SPAM = "spam"


CLOSED_STATUSES = frozenset({Status.CLOSED, Status.SPAM})


@dataclass(frozen=True, slots=True)
class TicketSummary:
    number: int
    subject: str
    customer_name: str
    customer_email: str
    status: str
    assignee: str | None
    created_at: datetime
    last_activity: datetime
    message_count: int
    waiting_on_us: bool  # the last message came from the customer
    priority: int = 1  # core.team.Priority
    tags: tuple[str, ...] = ()
    department: str | None = None
    sla_due: datetime | None = None
    lock_holder: str | None = None
    unread: bool = False  # customer mail newer than the agent last opened the ticket
    snoozed_until: datetime | None = None
    merged_into: int | None = None

    @property
    def customer(self) -> str:
        return self.customer_name or self.customer_email


@dataclass(frozen=True, slots=True)
class AttachmentView:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    id: int
    message_id: str
    outgoing: bool
    from_name: str
    from_email: str
    to: list[str]
    cc: list[str]
    date: datetime | None
    subject: str
    text: str
    auto: str
    attachments: list[AttachmentView] = field(default_factory=list)
    problem: str | None = None  # why the message is marked malformed, shown with it

    @property
    def sender(self) -> str:
        if self.from_name and self.from_email:
            return f"{self.from_name} <{self.from_email}>"
        return self.from_name or self.from_email or "(unknown sender)"


@dataclass(frozen=True, slots=True)
class NoteView:
    """An internal note: for the team only, never sent to a customer."""

    id: str
    author: str
    body: str
    created_at: datetime
    pending: bool  # not yet acknowledged by the team store


@dataclass(frozen=True, slots=True)
class EventView:
    seq: int
    actor: str
    kind: str
    field: str | None
    old: str | None
    new: str | None
    at: datetime
    ticket: int | None = None  # the ticket it happened on (a merged ticket's, in the survivor)

    def describe(self) -> str:
        match self.kind:
            case "created":
                return "opened the ticket"
            case "claimed":
                return "claimed it"
            case "released":
                return f"released it ({self.new})" if self.new else "released it"
            case "assigned":
                return f"assigned it to {self.new}"
            case "stolen":
                return f"took it over from {self.old}"
            case "field":
                return f"set {self.field} to {self.new!r}"
            case "field_overridden":
                return f"set {self.field} to {self.new!r} offline; a later change was kept"
            case "note":
                return "added a note"
            case "refused":
                return f"was refused: {self.new}"
        return self.kind


@dataclass(frozen=True, slots=True)
class PresenceView:
    ticket: int
    agent: str
    kind: str  # viewing, replying


@dataclass(frozen=True, slots=True)
class TicketDetail:
    summary: TicketSummary
    messages: list[ConversationMessage]
    notes: list[NoteView] = field(default_factory=list)
    history: list[EventView] = field(default_factory=list)
    presence: list[PresenceView] = field(default_factory=list)


def age(then: datetime, now: datetime) -> str:
    """Short relative age, as agents read it in a list: 'now', '5m', '3h', '2d', '6w'."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "now"
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"
