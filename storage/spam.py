"""Spam with remembered senders: marking a ticket as spam remembers its customer's address,
so that the next mail from them opens a spam ticket straight away (``TeamStore.register``);
"not spam" puts the status back and forgets the address.

Both are one-ticket actions in the frame of the lock table (one write transaction,
idempotent by the outbox operation's id). The status change is an ordinary "field" event,
so the SLA clock, the reopen window and every cache read it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select

from helpdesk.core.team import Agent, EventKind, check_edit, edit_wins
from helpdesk.core.workflow import SPAM, WorkflowSettings
from helpdesk.core.workflow_values import reopen_status
from helpdesk.storage.db import as_utc, insert_ignore, utc_now
from helpdesk.storage.lock_table import LockTable, Outcome
from helpdesk.storage.team_events import add_event, set_status
from helpdesk.storage.team_models import SpamSender, TeamAgent, TeamEvent, TeamTicket
from helpdesk.storage.team_store import SPAM_FILTER_ACTOR, TeamStore

__all__ = [
    "SPAM_FILTER_ACTOR",
    "RememberedSender",
    "is_spam",
    "mark_spam",
    "not_spam",
    "spam_senders",
    "spam_status",
]

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_spam = SpamSender.__table__
_agent = TeamAgent.__table__


@dataclass(frozen=True, slots=True)
class RememberedSender:
    address: str
    marked_by: str
    ticket: int | None
    marked_at: datetime


def spam_status(workflow: WorkflowSettings) -> str:
    """The spam status as the team stores it (configured in any case, or the default)."""
    return workflow.status(SPAM).name


def is_spam(status: str | None) -> bool:
    return (status or "").strip().casefold() == SPAM


def mark_spam(
    table: LockTable,
    actor: str,
    number: int,
    *,
    op_id: str | None = None,
    at: datetime | None = None,
) -> Outcome:
    """Status spam (a "field" event) and the customer's address remembered (a
    "spam_sender" event). Our own addresses and the team's agents are never remembered."""
    spam = spam_status(table.workflow)
    # As for any field edit: the agent's time, never later than now.
    when = min(at or utc_now(), utc_now())

    def body(conn: Connection, who: Agent, row: Any) -> Outcome:
        check_edit(who, row.assignee)
        event_op = op_id
        if not is_spam(row.status):
            if not _status_edit_wins(conn, number, when):
                add_event(
                    conn,
                    ticket=number,
                    actor=actor,
                    kind=EventKind.FIELD_OVERRIDDEN,
                    field="status",
                    old=row.status,
                    new=spam,
                    op_id=op_id,
                    at=when,
                )
                return Outcome(
                    False, number, f"status was changed later by someone else; kept {row.status!r}"
                )
            set_status(
                conn,
                ticket=number,
                actor=actor,
                old=row.status,
                new=spam,
                at=when,
                op_id=event_op,
            )
            event_op = None
            table.sla.recompute(conn, [number])
        sender = _sender(row.customer_email)
        if sender and not _is_ours(conn, table.store, sender):
            remembered = {
                "address": sender,
                "marked_by": actor,
                "ticket": number,
                "marked_at": when,
            }
            if insert_ignore(conn, _spam, [remembered]):
                add_event(
                    conn,
                    ticket=number,
                    actor=actor,
                    kind=EventKind.SPAM_SENDER,
                    new=sender,
                    op_id=event_op,
                    at=when,
                )
        return Outcome(True, number, holder=row.assignee)

    return table._act(actor, number, op_id, body)


def not_spam(
    table: LockTable,
    actor: str,
    number: int,
    *,
    op_id: str | None = None,
    at: datetime | None = None,
) -> Outcome:
    """Undo :func:`mark_spam`: the status the ticket had before it was marked (from its
    history; the reopen status when that is unknown), and its customer forgotten."""
    when = min(at or utc_now(), utc_now())

    def body(conn: Connection, who: Agent, row: Any) -> Outcome:
        check_edit(who, row.assignee)
        event_op = op_id
        if is_spam(row.status):
            restored = _status_before_spam(conn, table.workflow, number)
            set_status(
                conn,
                ticket=number,
                actor=actor,
                old=row.status,
                new=restored,
                at=when,
                op_id=event_op,
            )
            event_op = None
            table.sla.recompute(conn, [number])
        sender = _sender(row.customer_email)
        if sender:
            gone = conn.execute(delete(_spam).where(_spam.c.address == sender)).rowcount
            if gone:
                add_event(
                    conn,
                    ticket=number,
                    actor=actor,
                    kind=EventKind.SPAM_SENDER,
                    old=sender,
                    op_id=event_op,
                    at=when,
                )
        return Outcome(True, number, holder=row.assignee)

    return table._act(actor, number, op_id, body)


def spam_senders(store: TeamStore) -> list[RememberedSender]:
    """Every remembered sender, A to Z."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(_spam).order_by(_spam.c.address))
        return [
            RememberedSender(r.address, r.marked_by, r.ticket, as_utc(r.marked_at) or r.marked_at)
            for r in rows
        ]


def _sender(address: str | None) -> str:
    return (address or "").strip().lower()


def _is_ours(conn: Connection, store: TeamStore, sender: str) -> bool:
    """Our shared addresses and the team's agents: marking a ticket we wrote ourselves must
    not send the team's own mail to spam."""
    if sender in store.automation.ours:
        return True
    agent = conn.execute(select(_agent.c.email).where(func.lower(_agent.c.email) == sender)).first()
    return agent is not None


def _status_edit_wins(conn: Connection, number: int, when: datetime) -> bool:
    last = conn.execute(
        select(func.max(_event.c.at)).where(
            _event.c.ticket == number,
            _event.c.field == "status",
            _event.c.kind == str(EventKind.FIELD),
        )
    ).scalar()
    return edit_wins(when, as_utc(last))


def _status_before_spam(conn: Connection, workflow: WorkflowSettings, number: int) -> str:
    e = _event.c
    olds = conn.execute(
        select(e.old, e.new)
        .where(e.ticket == number, e.kind == str(EventKind.FIELD), e.field == "status")
        .order_by(e.seq.desc())
    )
    for old, new in olds:
        if is_spam(new) and old and not is_spam(old):
            return workflow.status(old).name
        if is_spam(new):
            break  # marked spam from spam (a rule on a spam ticket): the history says no more
    return reopen_status(workflow).name
