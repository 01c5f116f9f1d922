"""The daily summary for the leads: its figures from the team store, and "once a day for the
whole team" (a SUMMARY event whose op_id names the day; team writes are serialised and the
op_id is unique, so two services never both send it)."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import Connection, and_, func, or_, select

from helpdesk.core.notices import DailyFigures
from helpdesk.core.team import EventKind
from helpdesk.core.workflow import StatusKind, WorkflowSettings
from helpdesk.storage.db import insert_ignore
from helpdesk.storage.escalation import lead_addresses
from helpdesk.storage.lock_table import closed_names
from helpdesk.storage.team_models import TeamEvent, TeamTicket
from helpdesk.storage.team_store import TeamStore

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__

ACTOR = "summary"
WINDOW = timedelta(hours=24)


def team_zone(workflow: WorkflowSettings) -> tzinfo:
    try:
        return zoneinfo.ZoneInfo(workflow.business_hours.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def summary_day(summary_at: time, zone: tzinfo, now: datetime) -> date | None:
    """The local day whose summary is due at `now`: today once its time has come (a service
    started later that day still sends it), else None."""
    local = now.astimezone(zone)
    return local.date() if local.time() >= summary_at else None


def summary_op_id(day: date) -> str:
    return f"summary:{day.isoformat()}"


def daily_figures(
    conn: Connection, workflow: WorkflowSettings, *, day: date, now: datetime
) -> DailyFigures:
    """The team's figures at `now`, with new and closed counted over the 24 hours before it."""
    since = now - WINDOW
    closed = list(closed_names(workflow))
    waiting = [s.name for s in workflow.statuses if s.kind is StatusKind.WAITING]
    is_open = and_(_ticket.c.status.not_in(closed), _ticket.c.merged_into.is_(None))

    def count(*where: object) -> int:
        stmt = select(func.count()).select_from(_ticket).where(*where)  # type: ignore[arg-type]
        return int(conn.execute(stmt).scalar_one())

    new = count(_ticket.c.created_at >= since, _ticket.c.created_at < now)
    closing = or_(
        and_(
            _event.c.kind == str(EventKind.FIELD),
            _event.c.field == "status",
            _event.c.new.in_(closed),
        ),
        _event.c.kind == str(EventKind.AUTO_CLOSED),
    )
    closed_now = select(_event.c.ticket).where(closing, _event.c.at >= since, _event.c.at < now)
    # Closed in the window and still closed: one reopened since is open work again.
    closed_count = count(_ticket.c.number.in_(closed_now), _ticket.c.status.in_(closed))
    held = conn.execute(
        select(_ticket.c.assignee, func.count())
        .where(is_open, _ticket.c.assignee.is_not(None))
        .group_by(_ticket.c.assignee)
    ).all()
    per_agent = tuple(sorted(((str(a), int(n)) for a, n in held), key=lambda x: (-x[1], x[0])))
    return DailyFigures(
        day=day,
        new=new,
        closed=closed_count,
        open=count(is_open),
        breached=count(is_open, _ticket.c.sla_due.is_not(None), _ticket.c.sla_due <= now),
        waiting=count(is_open, _ticket.c.status.in_(waiting)) if waiting else 0,
        per_agent=per_agent,
        unassigned=count(is_open, _ticket.c.assignee.is_(None)),
    )


def send_daily_summary(
    store: TeamStore,
    now: datetime,
    *,
    summary_at: time,
    send: Callable[[DailyFigures, tuple[str, ...]], None],
    workflow: WorkflowSettings | None = None,
) -> DailyFigures | None:
    """Send today's summary to the leads through `send` if its time has come and nobody sent
    it yet; the figures sent, or None. `send` runs inside the transaction that records the
    SUMMARY event: when it fails, nothing is recorded and the next run tries again."""
    workflow = workflow or store.workflow
    day = summary_day(summary_at, team_zone(workflow), now)
    if day is None:
        return None
    op_id = summary_op_id(day)
    with store.engine.connect() as conn:
        if conn.execute(select(_event.c.seq).where(_event.c.op_id == op_id)).first() is not None:
            return None  # sent already: the common case, answered without the write turn
    with store.write() as conn:
        inserted = insert_ignore(
            conn,
            _event,
            [
                {
                    "ticket": None,
                    "actor": ACTOR,
                    "kind": str(EventKind.SUMMARY),
                    "field": None,
                    "old": None,
                    "new": day.isoformat(),
                    "op_id": op_id,
                    "at": now,
                    "recorded_at": now,
                }
            ],
        )
        if not inserted:
            return None
        figures = daily_figures(conn, workflow, day=day, now=now)
        leads = lead_addresses(conn)
        if leads:
            send(figures, leads)
        return figures
