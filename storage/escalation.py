"""SLA escalation: a ticket about to breach, or breached, is recorded once in the team store
(an ESCALATED event) and its people are told once.

"Once" holds for the whole team, with any number of services running: each escalation's
event carries a deterministic op_id (`escalation_op_id`), team writes are serialised, and
`team_event.op_id` is unique. The notice is handed to `notify` inside the transaction that
records the event: when it fails, nothing is recorded and the next run tries again, so an
escalation is never marked done without its notice queued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import TIMESTAMP, Connection, case, cast, exists, func, or_, select

from helpdesk.core.notices import BREACHED, DUE_SOON
from helpdesk.core.team import EventKind, Priority, Role
from helpdesk.core.workflow import WorkflowSettings
from helpdesk.storage.db import as_utc, insert_ignore
from helpdesk.storage.lock_table import closed_names
from helpdesk.storage.team_models import TeamAgent, TeamEvent, TeamTicket
from helpdesk.storage.team_store import TeamStore

_ticket = TeamTicket.__table__
_agent = TeamAgent.__table__
_event = TeamEvent.__table__

ACTOR = "sla"  # who escalations are recorded by in the history
_BATCH = 200  # tickets looked at per run: a backlog is worked off over a few minutes
# A ticket that breached longer ago than this is not mailed about: the first sync of an old
# mailbox (or a service back after days away) would otherwise mail the team once for every
# open ticket. Lists show such tickets as breached all the same.
STALE_BREACH = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Escalation:
    ticket: int
    stage: str  # core.notices DUE_SOON | BREACHED
    due: datetime
    subject: str
    customer: str
    status: str
    priority: str
    assignee: str | None
    department: str | None
    recipients: tuple[str, ...]  # agents' addresses: the assignee (or department) and leads
    op_id: str


@dataclass(slots=True)
class EscalationReport:
    escalated: list[Escalation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def escalation_op_id(ticket: int, stage: str, due: datetime) -> str:
    """The same for every service that sees this ticket at this stage with this due time."""
    return f"escalate:{ticket}:{stage}:{due.isoformat()}"


def stage_of(due: datetime, now: datetime, before: timedelta) -> str | None:
    if due <= now:
        return BREACHED
    if due - now <= before:
        return DUE_SOON
    return None


def escalate(
    store: TeamStore,
    now: datetime,
    *,
    before: timedelta,
    notify: Callable[[Escalation], None] | None = None,
    workflow: WorkflowSettings | None = None,
) -> EscalationReport:
    """Escalate every open ticket due within `before` of `now` (or past due, by less than
    `STALE_BREACH`) that was not escalated at this stage for this due time yet. Closed, merged and snoozed tickets are
    left alone. A failing `notify` is reported and retried at the next run."""
    workflow = workflow or store.workflow
    closed = closed_names(workflow)
    report = EscalationReport()
    candidates = _candidates(store, now, before, closed)
    if not candidates:
        return report
    done = _recorded(store, [op for op, _ in candidates])
    for op_id, number in candidates:
        if op_id in done:
            continue
        try:
            esc = _escalate_one(store, number, op_id, now, before, closed, notify)
        except Exception as exc:  # one ticket's fault must not hold back the others
            report.errors.append(f"#{number}: {type(exc).__name__}: {exc}")
            continue
        if esc is not None:
            report.escalated.append(esc)
    return report


def _open_and_awake(now: datetime, closed: Sequence[str]) -> Any:
    return (
        _ticket.c.status.not_in(list(closed)),
        _ticket.c.merged_into.is_(None),
        or_(_ticket.c.snoozed_until.is_(None), _ticket.c.snoozed_until <= now),
    )


def _same_instant(text: Any, moment: Any, dialect: str) -> Any:
    """SQL: the ISO text an ESCALATED event keeps (`new`) names the instant `moment`."""
    if dialect == "postgresql":
        return cast(text, TIMESTAMP(timezone=True)) == moment
    # SQLite keeps times as text in another layout; julianday reads both (to the ms).
    return func.julianday(text) == func.julianday(moment)


def _not_escalated(now: datetime, dialect: str) -> Any:
    """SQL: no ESCALATED event yet for this ticket at the stage it is in now and for its
    current due time. Filtering this in SQL (by ix_team_event_ticket_field) keeps a backlog
    of old breached tickets, escalated long ago, from filling every batch."""
    t, e = _ticket.c, _event.c
    stage = case((t.sla_due <= now, BREACHED), else_=DUE_SOON)
    return ~exists().where(
        e.ticket == t.number,
        e.field == stage,
        e.kind == str(EventKind.ESCALATED),
        _same_instant(e.new, t.sla_due, dialect),
    )


def _candidates(
    store: TeamStore, now: datetime, before: timedelta, closed: Sequence[str]
) -> list[tuple[str, int]]:
    stmt = (
        select(_ticket.c.number, _ticket.c.sla_due)
        .where(
            _ticket.c.sla_due.is_not(None),
            _ticket.c.sla_due <= now + before,
            _ticket.c.sla_due >= now - STALE_BREACH,
            *_open_and_awake(now, closed),
            _not_escalated(now, store.engine.dialect.name),
        )
        .order_by(_ticket.c.sla_due, _ticket.c.number)
        .limit(_BATCH)
    )
    out: list[tuple[str, int]] = []
    with store.engine.connect() as conn:
        for number, due in conn.execute(stmt):
            due = as_utc(due)
            stage = stage_of(due, now, before)
            if stage is not None:
                out.append((escalation_op_id(number, stage, due), number))
    return out


def _recorded(store: TeamStore, op_ids: list[str]) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(_event.c.op_id).where(_event.c.op_id.in_(op_ids))).scalars())


def _escalate_one(
    store: TeamStore,
    number: int,
    op_id: str,
    now: datetime,
    before: timedelta,
    closed: Sequence[str],
    notify: Callable[[Escalation], None] | None,
) -> Escalation | None:
    with store.write() as conn:
        # Read again inside the write turn: a colleague may have closed or answered it since.
        row = conn.execute(
            select(_ticket).where(_ticket.c.number == number, *_open_and_awake(now, closed))
        ).first()
        due = as_utc(row.sla_due) if row is not None else None
        if row is None or due is None:
            return None
        stage = stage_of(due, now, before)
        if stage is None or escalation_op_id(number, stage, due) != op_id:
            return None
        inserted = insert_ignore(
            conn,
            _event,
            [
                {
                    "ticket": number,
                    "actor": ACTOR,
                    "kind": str(EventKind.ESCALATED),
                    "field": stage,
                    "old": None,
                    "new": due.isoformat(),
                    "op_id": op_id,
                    "at": now,
                    "recorded_at": now,
                }
            ],
        )
        if not inserted:
            return None  # another service recorded it first
        esc = Escalation(
            ticket=number,
            stage=stage,
            due=due,
            subject=row.subject,
            customer=row.customer_email,
            status=row.status,
            priority=_priority_name(row.priority),
            assignee=row.assignee,
            department=row.department,
            recipients=recipients(conn, row.assignee, row.department),
            op_id=op_id,
        )
        if notify is not None and esc.recipients:
            notify(esc)  # raises: the event is rolled back with it
        return esc


def _priority_name(value: int) -> str:
    try:
        return Priority(value).name.lower()
    except ValueError:
        return str(value)


def recipients(conn: Connection, assignee: str | None, department: str | None) -> tuple[str, ...]:
    """Who hears of an escalation: its assignee, or (unassigned) the agents of its department
    who are not away, or everyone not away; and the team's leads."""
    rows = list(
        conn.execute(select(_agent.c.email, _agent.c.role, _agent.c.departments, _agent.c.away))
    )
    present = [r for r in rows if not r.away]
    people: list[str] = []
    if assignee:
        people.append(assignee)
    else:
        mine = [r.email for r in present if department and department in r.departments.split(",")]
        people.extend(mine or [r.email for r in present])
    people.extend(r.email for r in present if r.role == Role.LEAD)
    return tuple(dict.fromkeys(p.strip().lower() for p in people if p.strip()))


def lead_addresses(conn: Connection) -> tuple[str, ...]:
    rows = conn.execute(
        select(_agent.c.email).where(_agent.c.role == str(Role.LEAD), _agent.c.away.is_(False))
    )
    return tuple(sorted({e.strip().lower() for e in rows.scalars() if e.strip()}))
