"""Team state rules without I/O: roles and what each may do, the handle-next order, and how
offline edits meet the team's state (DESIGN.md "Assignment and the lock table", "Offline").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class Role(StrEnum):
    AGENT = "agent"
    LEAD = "lead"
    ADMIN = "admin"


class Priority(IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2
    URGENT = 3


class PresenceKind(StrEnum):
    VIEWING = "viewing"
    REPLYING = "replying"


# Seconds; the app renews a lease well inside its time to live, so a killed client's lease
# disappears on its own within the TTL.
PRESENCE_HEARTBEAT = 20
PRESENCE_TTL = 60
REPLY_LOCK_TTL = 5 * 60  # renewed while the agent writes; a crashed client's lock runs out
SKIP_SECONDS = 15 * 60  # a skipped ticket is not offered to the same agent again for this long


class EventKind(StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    RELEASED = "released"
    ASSIGNED = "assigned"
    STOLEN = "stolen"
    FIELD = "field"  # a field of the ticket changed: field, old, new
    FIELD_OVERRIDDEN = "field_overridden"  # an older offline edit lost to a newer one
    NOTE = "note"
    SKIPPED = "skipped"
    REFUSED = "refused"  # an agent's request the team store turned down (with why)
    REPLIED = "replied"  # an agent's reply left by SMTP: `new` is its Message-ID
    AGENT = "agent"  # an agent's role, departments or away flag changed
    # Workflow (schema 6).
    SNOOZED = "snoozed"  # `new`: until when (ISO time); `new` None: the snooze was taken off
    WOKE = "woke"  # the snooze ended: its time came (`old`: until) or the customer wrote
    MERGED = "merged"  # on both tickets: `old` the merged ticket, `new` the survivor
    SPLIT = "split"  # on both tickets: `field` the Message-ID, `old` from, `new` the new ticket
    SPAM_SENDER = "spam_sender"  # `new`: an address remembered as spam; `old`: forgotten
    AUTO_CLOSED = "auto_closed"  # closed after waiting too long on the customer
    ESCALATED = "escalated"  # SLA about to breach or breached: `new` the due time
    SUMMARY = "summary"  # the daily summary mail went out (no ticket): `new` the day


# Fields of a ticket that agents edit; last writer wins per field.
EDITABLE_FIELDS = frozenset({"status", "priority", "category", "tags", "department"})


@dataclass(frozen=True, slots=True)
class Agent:
    email: str
    name: str
    role: Role = Role.AGENT
    departments: tuple[str, ...] = ()
    away: bool = False

    @property
    def is_lead(self) -> bool:
        return self.role in (Role.LEAD, Role.ADMIN)


class Denied(Exception):
    """The acting agent may not do this; the message says why, for the agent to read."""


def check_claim(actor: Agent, assignee: str | None) -> None:
    if assignee not in (None, actor.email):
        raise Denied(f"held by {assignee}")


def check_release(actor: Agent, assignee: str | None) -> None:
    if assignee is not None and assignee != actor.email and not actor.is_lead:
        raise Denied(f"only {assignee} or a lead can release it")


def check_assign(actor: Agent, assignee: str | None, target: Agent) -> None:
    """Agents hand over what is theirs or nobody's; leads move anything."""
    if target.away:
        raise Denied(f"{target.email} is away")
    if actor.is_lead:
        return
    if assignee not in (None, actor.email):
        raise Denied(f"held by {assignee}; only a lead can reassign it")


def check_steal(actor: Agent) -> None:
    if not actor.is_lead:
        raise Denied("only a lead can take a ticket another agent holds")


def check_set_agent(actor: Agent, target_email: str, *, departments: bool = False) -> None:
    if departments and not actor.is_lead:
        raise Denied("only a lead can change departments")
    if not actor.is_lead and actor.email != target_email:
        raise Denied("only a lead can change another agent")


def check_edit(actor: Agent, assignee: str | None) -> None:
    """A ticket someone holds is theirs to edit (and the leads')."""
    if assignee not in (None, actor.email) and not actor.is_lead:
        raise Denied(f"held by {assignee}; only they or a lead can change it")


def check_field_value(field: str, value: str | None, statuses: frozenset[str]) -> str | None:
    """The value as stored, or Denied with what is expected."""
    if field == "status":
        if value not in statuses:
            raise Denied(f"status must be one of {', '.join(sorted(statuses))}")
        return value
    if field == "priority":
        try:
            return str(Priority(int(value or "")).value)
        except ValueError:
            raise Denied("priority must be 0 (low) to 3 (urgent)") from None
    if field == "tags":
        return ",".join(sorted({t.strip() for t in (value or "").split(",") if t.strip()}))
    return value or None


def edit_wins(edit_at: datetime, last_change_at: datetime | None) -> bool:
    """Last writer wins per field, by the time the agent made the edit (not when it arrived)."""
    return last_change_at is None or edit_at >= last_change_at
