"""Snooze in the team store: a ticket out of the queues until a time, and the wake-up.

`snooze` is one team action like the others (`LockTable._act`: one write transaction, its
event, idempotent by the outbox operation's id). `wake_expired` is what the service runs every
minute: it ends the snoozes whose time has come, one WOKE event each, exactly once however many
services run it at once. (A customer's mail wakes a ticket early: storage.customer_reply.)

Every time is stored in UTC; the event texts carry the team's zone, so that the history reads
in the team's wall-clock time wherever it is shown.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, exists, insert, select, update

from helpdesk.core.business_hours import BusinessCalendar
from helpdesk.core.snooze_time import WOKE_BY_TIME, opening_calendar
from helpdesk.core.team import Agent, Denied, EventKind, check_edit
from helpdesk.core.workflow import StatusKind, WorkflowSettings
from helpdesk.storage.db import as_utc, utc_now
from helpdesk.storage.lock_table import LockTable, Outcome
from helpdesk.storage.sla_clock import SlaClock
from helpdesk.storage.team_events import add_event
from helpdesk.storage.team_models import TeamEvent, TeamTicket
from helpdesk.storage.team_store import TeamStore

__all__ = ["SYSTEM", "snooze", "snooze_calendar", "team_zone", "wake_expired"]

SYSTEM = "system"  # the actor of wake-ups by time

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_CHUNK = 500  # tickets per IN (...): well under SQLite's bound-parameter limit


def team_zone(store: TeamStore) -> tzinfo:
    """The zone of the team's business hours (UTC unless configured)."""
    return store.sla.calendar(None).zone


def snooze_calendar(workflow: WorkflowSettings) -> tuple[tzinfo, BusinessCalendar | None]:
    """The team's zone, and the calendar whose openings are "morning" for
    `core.snooze_time.parse_until` (None when the team keeps no business hours)."""
    calendar = SlaClock(workflow).calendar(None)
    return calendar.zone, opening_calendar(calendar)


def _iso(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def snooze(
    table: LockTable,
    actor: str,
    number: int,
    until: datetime | None,
    *,
    op_id: str | None = None,
    at: datetime | None = None,
) -> Outcome:
    """Snooze ``number`` until ``until`` (aware); None takes the snooze off.

    Refused on a closed ticket, on one a colleague holds (unless the actor leads), and for a
    time already past (an offline snooze replayed too late: the agent is told, not ignored).
    """
    if until is not None and (until.tzinfo is None or until.utcoffset() is None):
        raise ValueError("snooze needs an aware datetime")
    when = at or utc_now()
    zone = team_zone(table.store)
    stored = None if until is None else until.astimezone(UTC)

    def body(conn: Connection, who: Agent, row: Any) -> Outcome:
        check_edit(who, row.assignee)
        now = utc_now()
        before = as_utc(row.snoozed_until)
        if stored is not None:
            if table.workflow.status(row.status).kind is StatusKind.CLOSED:
                raise Denied(f"#{number} is closed ({row.status}); reopen it to snooze it")
            if stored <= now:
                raise Denied(f"the snooze time {_iso(stored, zone)} has passed")
        elif before is None:
            return Outcome(True, number, "not snoozed")
        conn.execute(update(_ticket).where(_ticket.c.number == number).values(snoozed_until=stored))
        add_event(
            conn,
            ticket=number,
            actor=actor,
            kind=EventKind.SNOOZED,
            old=_iso(before, zone),
            new=_iso(stored, zone),
            op_id=op_id,
            at=when,
        )
        return Outcome(True, number, holder=row.assignee)

    return table._act(actor, number, op_id, body)


def _due(now: datetime) -> Any:
    until = _ticket.c.snoozed_until
    return and_(until.is_not(None), until <= now)


def wake_expired(store: TeamStore, now: datetime | None = None) -> list[int]:
    """End every snooze whose time has come; the tickets woken, each with one WOKE event
    (``old`` its time, ``new`` "time", actor "system").

    Cheap when nothing is due (one indexed read, no write turn taken); exactly once when two
    services run it together: inside the serialised write transaction, the clearing UPDATE
    is conditional on the snooze still being due and says which rows it cleared.
    """
    now = now or utc_now()
    with store.engine.connect() as conn:
        if not conn.execute(select(exists().where(_due(now)))).scalar():
            return []
    zone = team_zone(store)
    t = _ticket.c
    woken: list[int] = []
    with store.write() as conn:
        due = conn.execute(
            select(t.number, t.snoozed_until).where(_due(now)).order_by(t.number)
        ).all()
        nums = [number for number, _ in due]
        for i in range(0, len(nums), _CHUNK):
            woken += conn.execute(
                update(_ticket)
                .where(t.number.in_(nums[i : i + _CHUNK]), _due(now))
                .values(snoozed_until=None)
                .returning(t.number)
            ).scalars()
        woken.sort()
        if woken:
            old = {number: as_utc(until) for number, until in due}
            recorded = datetime.now(UTC)
            conn.execute(
                insert(_event),
                [
                    {
                        "ticket": n,
                        "actor": SYSTEM,
                        "kind": str(EventKind.WOKE),
                        "field": None,
                        "old": _iso(old[n], zone),
                        "new": WOKE_BY_TIME,
                        "op_id": None,
                        "at": old[n] or now,
                        "recorded_at": recorded,
                    }
                    for n in woken
                ],
            )
    return woken
