"""Auto-close: a ticket that has waited on the customer for ``[tickets] auto_close_after``
without an answer is closed, with an optional notice to the customer.

Run by a periodic service job on any number of machines at once. The candidates are read
outside the team write turn (every claim waits for that turn, and the read looks at every
waiting ticket); inside it, each ticket is closed by an UPDATE conditional on what was read
(the same status, no status change recorded since, not snoozed or merged meanwhile), so a
ticket is closed, and its notice queued, exactly once. The notice is an ``auto_mail`` row
written in that same transaction; the sync-lease holder sends it like any automatic reply
(``sync.auto_mail``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, exists, func, insert, or_, select, update

from helpdesk.core.loop_guard import may_auto_reply
from helpdesk.core.message import Address, ParsedMessage
from helpdesk.core.team import EventKind
from helpdesk.core.workflow import StatusKind, WorkflowSettings
from helpdesk.storage.automation import AUTO_REPLY_EVENT, auto_reply_history
from helpdesk.storage.db import as_utc
from helpdesk.storage.team_events import add_event
from helpdesk.storage.team_models import AutoMail, MessageIndex, TeamEvent, TeamTicket
from helpdesk.storage.team_store import TeamStore

__all__ = ["AUTO_CLOSE_ACTOR", "AUTO_CLOSE_REASON", "auto_close"]

AUTO_CLOSE_ACTOR = "auto-close"
AUTO_CLOSE_REASON = "auto_close"  # auto_mail.reason of the notice

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_index = MessageIndex.__table__
_auto = AutoMail.__table__


def auto_close(store: TeamStore, workflow: WorkflowSettings, now: datetime) -> list[int]:
    """Close what has waited too long; returns the tickets closed by this call.

    A ticket qualifies when its status is of kind waiting, that status was set (its last
    status event; its creation when it has none) at least ``auto_close_after`` before
    ``now``, it is not snoozed at ``now``, not merged away, and no customer mail was sent
    after the status was set. Mail sent before it (the message the agent answered, or an old
    one arriving late) is what the agent already had: it does not keep the ticket open.
    """
    after = workflow.tickets.auto_close_after
    waiting = [s.name for s in workflow.statuses if s.kind is StatusKind.WAITING]
    if after is None or not waiting:
        return []
    cutoff = now - after
    close_to = workflow.close_status.name
    with store.engine.connect() as conn:
        # Read first: a status event recorded after this mark is one the read may not have
        # seen, and its ticket is left for the next run.
        mark = conn.execute(select(func.coalesce(func.max(_event.c.seq), 0))).scalar_one()
        due = [row for row in _candidates(conn, waiting) if _due(row, cutoff, now)]
    if not due:
        return []
    closed: list[int] = []
    with store.write() as conn:
        for row in due:
            won = conn.execute(
                update(_ticket)
                .where(*_unchanged(row, mark, now))
                .values(status=close_to)
                .returning(_ticket.c.number)
            ).first()
            if won is None:
                continue
            _record(conn, row, close_to, now)
            template = workflow.tickets.auto_close_template
            if template:
                _queue_notice(conn, store, row, template, now)
            closed.append(row.number)
        if closed:
            store.sla.recompute(conn, closed)
    return closed


def _due(row: Any, cutoff: datetime, now: datetime) -> bool:
    """The times are compared here: SQLite keeps them as text, which is not safe to compare
    against an aware time in SQL."""
    set_at = as_utc(row.set_at) or as_utc(row.created_at)
    snoozed = as_utc(row.snoozed_until)
    wrote = as_utc(row.customer_wrote)
    if set_at is None or set_at > cutoff:
        return False
    if snoozed is not None and snoozed > now:
        return False
    return wrote is None or wrote <= set_at


def _candidates(conn: Connection, waiting: list[str]) -> list[Any]:
    """Waiting tickets with when their status was set and when the customer last wrote, by
    per-ticket subqueries (ix_team_event_ticket_field, the registry's ticket index): only
    the waiting tickets' rows are read, never the whole event log."""
    t, e, m = _ticket.c, _event.c, _index.c
    set_at = (
        select(func.max(e.at))
        .where(e.ticket == t.number, e.field == "status", e.kind == str(EventKind.FIELD))
        .scalar_subquery()
    )
    wrote = (
        select(func.max(m.sent_at))
        .where(m.ticket == t.number, ~m.outgoing, m.sent_at.is_not(None))
        .scalar_subquery()
    )
    stmt = (
        select(
            t.number,
            t.status,
            t.customer_email,
            t.subject,
            t.created_at,
            t.snoozed_until,
            set_at.label("set_at"),
            wrote.label("customer_wrote"),
        )
        .where(t.status.in_(waiting), t.merged_into.is_(None))
        .order_by(t.number)
    )
    return list(conn.execute(stmt))


def _unchanged(row: Any, mark: int, now: datetime) -> tuple[Any, ...]:
    """The ticket is still as read: same status, no status change recorded since (a reply
    reopening it, an agent's edit), not snoozed or merged since."""
    t, e = _ticket.c, _event.c
    return (
        t.number == row.number,
        t.status == row.status,
        t.merged_into.is_(None),
        or_(t.snoozed_until.is_(None), t.snoozed_until <= now),
        ~exists().where(e.ticket == row.number, e.field == "status", e.seq > mark),
    )


def _record(conn: Connection, row: Any, close_to: str, now: datetime) -> None:
    # The status event is what the SLA clock, the reopen window and "not spam" read; the
    # auto_closed event says why it happened.
    add_event(
        conn,
        ticket=row.number,
        actor=AUTO_CLOSE_ACTOR,
        kind=EventKind.FIELD,
        field="status",
        old=row.status,
        new=close_to,
        at=now,
    )
    add_event(
        conn,
        ticket=row.number,
        actor=AUTO_CLOSE_ACTOR,
        kind=EventKind.AUTO_CLOSED,
        old=row.status,
        new=close_to,
        at=now,
    )


def _queue_notice(
    conn: Connection, store: TeamStore, row: Any, template: str, now: datetime
) -> None:
    """The notice as an automatic reply to the customer's last message, under the same
    guard as acknowledgements: never to our own or a machine address, within the sender's
    daily limit, and at most ``per_ticket`` closing notices in one ticket (counted apart
    from acknowledgements, or the default limit of one would always stop it)."""
    recipient = (row.customer_email or "").strip().lower()
    answered = _last_customer_message(conn, row.number)
    if not recipient or answered is None:
        return
    limits = store.automation.settings.limits
    history = auto_reply_history(
        conn, recipient, row.number, since=now - limits.window, reason=AUTO_CLOSE_REASON
    )
    message = ParsedMessage(
        message_id=answered, subject=row.subject, from_addr=Address("", recipient)
    )
    verdict = may_auto_reply(message, store.automation.ours, history, now, limits, headers={})
    if not verdict.allowed:
        return
    conn.execute(
        insert(_auto),
        {
            "ticket": row.number,
            "recipient": recipient,
            "recipient_name": "",
            "template": template,
            "reason": AUTO_CLOSE_REASON,
            "rule": None,
            "reply_to_id": answered,
            "subject": (row.subject or "")[:500],
            "state": "pending",
            "created_at": now,
            "detail": "",
        },
    )
    # The same history line as an acknowledgement's: which template went, and why.
    conn.execute(
        insert(_event),
        {
            "ticket": row.number,
            "actor": AUTO_CLOSE_ACTOR,
            "kind": AUTO_REPLY_EVENT,
            "field": AUTO_CLOSE_REASON,
            "new": template,
            "at": now,
            "recorded_at": datetime.now(UTC),
        },
    )


def _last_customer_message(conn: Connection, number: int) -> str | None:
    """The Message-ID the notice answers: the customer's latest, else the ticket's first."""
    m, e = _index.c, _event.c
    found = conn.execute(
        select(m.message_id)
        .where(m.ticket == number, ~m.outgoing)
        .order_by(m.sent_at.desc().nulls_last(), m.registered_at.desc())
        .limit(1)
    ).scalar()
    if found is None:
        found = conn.execute(
            select(e.new).where(e.ticket == number, e.kind == str(EventKind.CREATED)).limit(1)
        ).scalar()
    return found
