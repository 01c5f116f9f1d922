"""``team_ticket.sla_due`` from the team store's own history, inside the writing transaction.

A ticket's clock is replayed by ``core.sla.compute_sla`` from what the store knows of it:
its creation, its status changes (events of kind "field", field "status"), our replies
(events of kind "replied", and our own messages in ``message_index``: mail answered from the
mailbox counts too) and the customer's messages (``message_index`` rows not ours, at their
send time). Only the tickets a write touched are replayed, in the same transaction, so
handle-next always orders by due times that match the history.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update

from helpdesk.core.business_hours import BusinessCalendar
from helpdesk.core.sla import TicketEvent, sla_due
from helpdesk.core.team import EventKind
from helpdesk.core.workflow import DEFAULT_WORKFLOW, StatusKind, WorkflowSettings
from helpdesk.storage.db import as_utc, utc_now
from helpdesk.storage.team_models import MessageIndex, TeamEvent, TeamTicket

__all__ = ["SlaClock"]

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_index = MessageIndex.__table__
_CHUNK = 500  # tickets per IN (...): well under SQLite's bound-parameter limit

_SET_DUE = (
    update(_ticket)
    .where(_ticket.c.number == bindparam("n"))
    .values(sla_due=bindparam("due", type_=_ticket.c.sla_due.type))
)


def _zone(name: str) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # The config reader checked the name; a system that lost its zone data since must
        # not stop registration: UTC keeps the clock running, a little off.
        return UTC


class SlaClock:
    """Due times of tickets by the team's workflow. ``clock`` gives "now" (tests fix it)."""

    def __init__(
        self,
        workflow: WorkflowSettings = DEFAULT_WORKFLOW,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.workflow = workflow
        self.clock = clock
        # Calendars cache the days they have worked out: one per department, kept.
        self._calendars: dict[str | None, BusinessCalendar] = {}

    def calendar(self, department: str | None) -> BusinessCalendar:
        key = department if department in self.workflow.departments else None
        found = self._calendars.get(key)
        if found is None:
            hours = self.workflow.hours(key)
            found = hours.calendar(_zone(hours.timezone))
            self._calendars[key] = found
        return found

    def recompute(self, conn: Connection, numbers: Iterable[int]) -> dict[int, datetime | None]:
        """Replay the given tickets' clocks and store their ``sla_due``; returns them."""
        nums = sorted({n for n in numbers if n is not None and n > 0})
        now = self.clock()
        out: dict[int, datetime | None] = {}
        for i in range(0, len(nums), _CHUNK):
            out.update(self._chunk(conn, nums[i : i + _CHUNK], now))
        if out:
            conn.execute(_SET_DUE, [{"n": n, "due": due} for n, due in out.items()])
        return out

    def _chunk(
        self, conn: Connection, nums: list[int], now: datetime
    ) -> dict[int, datetime | None]:
        t, e, m = _ticket.c, _event.c, _index.c
        tickets = conn.execute(
            select(t.number, t.created_at, t.status, t.priority, t.department).where(
                t.number.in_(nums)
            )
        ).all()
        history: dict[int, list[TicketEvent]] = defaultdict(list)
        first_status: dict[int, str] = {}  # what the ticket was created with, if it changed
        rows = conn.execute(
            select(e.ticket, e.kind, e.old, e.new, e.at)
            .where(
                e.ticket.in_(nums),
                or_(
                    and_(e.kind == str(EventKind.FIELD), e.field == "status"),
                    e.kind == str(EventKind.REPLIED),
                ),
            )
            .order_by(e.seq)
        )
        for r in rows:
            at = as_utc(r.at)
            assert at is not None
            if r.kind == EventKind.REPLIED:
                history[r.ticket].append(TicketEvent.our_reply(at))
                continue
            first_status.setdefault(r.ticket, r.old or "")
            kind = self.workflow.status(r.new or "").kind
            history[r.ticket].append(TicketEvent.status_change(at, kind))
        messages = conn.execute(
            select(m.ticket, m.sent_at, m.outgoing).where(
                m.ticket.in_(nums), m.sent_at.is_not(None)
            )
        )
        for r in messages:
            sent = as_utc(r.sent_at)
            assert sent is not None
            if r.outgoing:
                # Our mail found in the mailbox (Sent, or answered from a plain mail client
                # before or beside the app) answers the customer as much as a "replied" event.
                history[r.ticket].append(TicketEvent.our_reply(sent))
            else:
                history[r.ticket].append(TicketEvent.customer_message(sent))
        out: dict[int, datetime | None] = {}
        for row in tickets:
            out[row.number] = self._due(row, history.get(row.number, []), first_status, now)
        return out

    def _due(
        self, row: Any, events: list[TicketEvent], first_status: dict[int, str], now: datetime
    ) -> datetime | None:
        created = as_utc(row.created_at)
        assert created is not None
        initial_name = first_status.get(row.number, row.status)
        initial: StatusKind = self.workflow.status(initial_name).kind
        # The due time is the same replayed to any moment after the last event (a running
        # cycle's due is that moment plus what is left), so the replay stops there: taking it
        # on to now would walk months of calendar for the old tickets of a first sync.
        last = max((e.at for e in events if e.at <= now), default=created)
        return sla_due(
            created,
            events,
            self.workflow.targets(row.priority),
            self.calendar(row.department),
            min(now, max(created, last)),
            initial=initial,
        )
