"""What a customer's new message does to the ticket it joined, inside the registering
transaction (``TeamStore.register``): a waiting ticket, or one closed within the reopen
window, goes back to an open status with an event; a ticket closed longer ago keeps its peace
and the message opens a new ticket, linked to the old one by an event on each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from helpdesk.core.message import AutoKind
from helpdesk.core.snooze_time import WOKE_BY_CUSTOMER
from helpdesk.core.team import EventKind
from helpdesk.core.workflow import ReplyOutcome, WorkflowSettings, after_customer_reply
from helpdesk.core.workflow_values import reopen_status
from helpdesk.storage.db import as_utc
from helpdesk.storage.sla_clock import SlaClock
from helpdesk.storage.team_events import add_event, set_status
from helpdesk.storage.team_models import MessageIndex, TeamEvent, TeamTicket

__all__ = ["FOLLOW_UP", "FOLLOW_UP_OF", "CustomerMail", "apply_customer_mail"]

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_index = MessageIndex.__table__

# The link between a closed ticket and the one a late reply opened: "field" events, so that
# every cache keeps them in the ticket's history like any other change.
FOLLOW_UP = "follow_up"  # on the old ticket: the new one's number
FOLLOW_UP_OF = "follow_up_of"  # on the new ticket: the old one's number

# Mail clocks drift: a reply sent a little before the ticket was set waiting or closed still
# answers what the agent wrote. One sent well before is an old message arriving late.
_CLOCK_SLACK = timedelta(minutes=10)
_CHUNK = 500  # tickets per IN (...): well under SQLite's bound-parameter limit
# Machine mail that answers nothing: an out-of-office or a newsletter must not bring a ticket
# back. A bounce does: the agent must learn that their answer did not arrive.
_PASSIVE = frozenset({AutoKind.AUTO_REPLY, AutoKind.LIST, AutoKind.BULK})


@dataclass(frozen=True, slots=True)
class CustomerMail:
    message_id: str
    ticket: int  # the existing ticket it joined
    sent_at: datetime | None
    subject: str
    customer_email: str
    auto: AutoKind = AutoKind.NONE  # why a machine sent it, if one did (Registration.auto)


def apply_customer_mail(
    conn: Connection,
    workflow: WorkflowSettings,
    mails: Sequence[CustomerMail],
    *,
    actor: str,
    now: datetime,
) -> dict[str, int]:
    """Reopen or split off what these mails answer. Returns message id -> the new ticket
    for each message moved to a new, linked ticket; tickets touched are the caller's to
    recompute (waiting-since, SLA). Automatic replies and list or bulk mail change nothing
    (they stay in the ticket they joined)."""
    mails = [m for m in mails if m.auto not in _PASSIVE]
    by_ticket: dict[int, list[CustomerMail]] = defaultdict(list)
    for mail in mails:
        by_ticket[mail.ticket].append(mail)
    if not by_ticket:
        return {}
    t, e = _ticket.c, _event.c
    nums = sorted(by_ticket)
    rows = {
        r.number: r
        for r in conn.execute(select(t.number, t.status, t.department).where(t.number.in_(nums)))
    }
    changed: dict[int, datetime] = dict(
        conn.execute(
            select(e.ticket, func.max(e.at))
            .where(e.ticket.in_(nums), e.kind == str(EventKind.FIELD), e.field == "status")
            .group_by(e.ticket)
        ).all()
    )
    moved: dict[str, int] = {}
    reopen_to = reopen_status(workflow)
    for number, group in by_ticket.items():
        row = rows.get(number)
        if row is None:
            continue
        status = workflow.status(row.status)
        since = as_utc(changed.get(number))
        later = [m for m in group if since is None or (m.sent_at or now) >= since - _CLOCK_SLACK]
        if not later:
            continue
        first = min(later, key=lambda m: m.sent_at or now)
        wrote = min(first.sent_at or now, now)  # a sender's clock ahead of ours is not believed
        outcome = after_customer_reply(status, since, wrote, workflow.tickets.reopen_window)
        if outcome is ReplyOutcome.REOPEN:
            set_status(
                conn,
                ticket=number,
                actor=actor,
                old=row.status,
                new=reopen_to.name,
                at=max(wrote, since or wrote),
            )
        elif outcome is ReplyOutcome.NEW_TICKET:
            new = _open_follow_up(conn, workflow, first, row.department, actor, wrote, now)
            ids = [m.message_id for m in later]
            conn.execute(update(_index).where(_index.c.message_id.in_(ids)).values(ticket=new))
            for ticket, field, value in ((number, FOLLOW_UP, new), (new, FOLLOW_UP_OF, number)):
                add_event(
                    conn,
                    ticket=ticket,
                    actor=actor,
                    kind=EventKind.FIELD,
                    field=field,
                    new=str(value),
                    at=wrote,
                )
            moved.update(dict.fromkeys(ids, new))
    _wake_snoozed(conn, workflow, [m for m in mails if m.message_id not in moved], actor, now)
    return moved


def _wake_snoozed(
    conn: Connection,
    workflow: WorkflowSettings,
    mails: Sequence[CustomerMail],
    actor: str,
    now: datetime,
) -> None:
    """The customer wrote: a ticket snoozed now comes back at once (WOKE, `new` "customer").
    A message sent well before the snooze was set (an old one registered late) wakes nothing.
    A snooze whose time has already come is left to the wake-up job, which records it."""
    t, e = _ticket.c, _event.c
    nums = sorted({m.ticket for m in mails})
    if not nums:
        return
    snoozed: dict[int, datetime] = {}
    for i in range(0, len(nums), _CHUNK):
        snoozed.update(
            conn.execute(
                select(t.number, t.snoozed_until).where(
                    t.number.in_(nums[i : i + _CHUNK]),
                    t.snoozed_until.is_not(None),
                    t.snoozed_until > now,
                )
            ).all()
        )
    if not snoozed:
        return
    asleep = sorted(snoozed)
    set_at: dict[int, datetime] = {}
    for i in range(0, len(asleep), _CHUNK):
        set_at.update(
            conn.execute(
                select(e.ticket, func.max(e.at))
                .where(e.ticket.in_(asleep[i : i + _CHUNK]), e.kind == str(EventKind.SNOOZED))
                .group_by(e.ticket)
            ).all()
        )
    # As SNOOZED events and the wake-up job write it: the history reads in the team's zone.
    zone = SlaClock(workflow).calendar(None).zone
    for number in sorted(snoozed):
        since = as_utc(set_at.get(number))
        if since is not None and not any(
            (m.sent_at or now) >= since - _CLOCK_SLACK for m in mails if m.ticket == number
        ):
            continue
        conn.execute(update(_ticket).where(t.number == number).values(snoozed_until=None))
        until = as_utc(snoozed[number])
        old = None if until is None else until.astimezone(zone).isoformat(timespec="seconds")
        add_event(
            conn,
            ticket=number,
            actor=actor,
            kind=EventKind.WOKE,
            old=old,
            new=WOKE_BY_CUSTOMER,
            at=now,
        )


def _open_follow_up(
    conn: Connection,
    workflow: WorkflowSettings,
    mail: CustomerMail,
    department: str | None,
    actor: str,
    wrote: datetime,
    now: datetime,
) -> int:
    number = int(
        conn.execute(
            insert(_ticket).returning(_ticket.c.number),
            {
                "subject": mail.subject[:500],
                "customer_email": mail.customer_email,
                "status": workflow.initial_status.name,
                "created_at": wrote,
                "department": department,
            },
        ).scalar_one()
    )
    add_event(
        conn, ticket=number, actor=actor, kind=EventKind.CREATED, new=mail.message_id, at=wrote
    )
    return number
