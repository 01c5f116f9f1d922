"""Writing the team's history: every change of a ticket is an event (`team_event`), which
caches pull by `seq`, the SLA clock replays and the ticket view shows."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, insert, update

from helpdesk.core.team import EventKind
from helpdesk.storage.team_models import TeamEvent, TeamTicket

__all__ = ["add_event", "set_status"]

_event = TeamEvent.__table__
_ticket = TeamTicket.__table__
_INSERT_EVENT = insert(_event).returning(_event.c.seq)  # built once: every team write adds one


def add_event(
    conn: Connection,
    *,
    ticket: int | None,
    actor: str,
    kind: EventKind,
    at: datetime,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
    op_id: str | None = None,
) -> int:
    return int(
        conn.execute(
            _INSERT_EVENT,
            {
                "ticket": ticket,
                "actor": actor,
                "kind": str(kind),
                "field": field,
                "old": old,
                "new": new,
                "op_id": op_id,
                "at": at,
                "recorded_at": datetime.now(UTC),
            },
        ).scalar_one()
    )


def set_status(
    conn: Connection,
    *,
    ticket: int,
    actor: str,
    old: str | None,
    new: str,
    at: datetime,
    op_id: str | None = None,
) -> None:
    """A ticket's new status and the event that says so: the SLA clock, the reopen window
    and "not spam" read the event, so the two never go apart. The caller recomputes the SLA
    due time when it matters (`SlaClock.recompute`)."""
    conn.execute(update(_ticket).where(_ticket.c.number == ticket).values(status=new))
    add_event(
        conn,
        ticket=ticket,
        actor=actor,
        kind=EventKind.FIELD,
        field="status",
        old=old,
        new=new,
        op_id=op_id,
        at=at,
    )
