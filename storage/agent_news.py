"""News for the agent at the keyboard, from the team events a pull brought into the cache:
a ticket someone (or a routing rule) gave them, and escalations of tickets they hold.

Never about the agent's own actions, and never about events from before the app started
(a cache that was closed for a week must not greet its agent with a week of news).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from helpdesk.core.notices import due_phrase, one_line
from helpdesk.core.team import EventKind
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import CachedEvent, CachedTicket
from helpdesk.storage.db import as_utc

_event = CachedEvent.__table__
_ticket = CachedTicket.__table__

_GIVEN = (str(EventKind.ASSIGNED), str(EventKind.CLAIMED), str(EventKind.STOLEN))
_RULE_ACTORS = {"rules": "a routing rule"}


@dataclass(frozen=True, slots=True)
class News:
    seq: int
    ticket: int
    text: str  # plain text: shown without markup


def last_event_seq(cache: Cache) -> int:
    with cache.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(_event.c.seq), 0))).scalar_one())


def news_for(
    cache: Cache,
    agent: str,
    *,
    after_seq: int,
    since: datetime,
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> tuple[list[News], int]:
    """The news in events after `after_seq` that happened at or after `since`, and the last
    sequence number looked at (the next call's `after_seq`)."""
    names = names or {}
    me = agent.lower()
    with cache.engine.connect() as conn:
        rows = conn.execute(
            select(_event, _ticket.c.assignee)
            .outerjoin(_ticket, _ticket.c.number == _event.c.ticket)
            .where(
                _event.c.seq > after_seq,
                _event.c.kind.in_([*_GIVEN, str(EventKind.ESCALATED)]),
            )
            .order_by(_event.c.seq)
        ).all()
        last = max([after_seq, *(r.seq for r in rows)])
        last = max(
            last, int(conn.execute(select(func.coalesce(func.max(_event.c.seq), 0))).scalar_one())
        )
    news: list[News] = []
    for r in rows:
        at = as_utc(r.at)
        if r.ticket is None or at is None or at < since or r.actor.lower() == me:
            continue
        if r.kind in _GIVEN and (r.new or "").lower() == me:
            who = _RULE_ACTORS.get(r.actor) or names.get(r.actor) or r.actor
            news.append(
                News(r.seq, r.ticket, f"#{r.ticket} assigned to you by {one_line(who, 60)}")
            )
        elif r.kind == EventKind.ESCALATED and (r.assignee or "").lower() == me and r.new:
            try:
                due = datetime.fromisoformat(r.new)
            except ValueError:
                continue
            news.append(News(r.seq, r.ticket, f"#{r.ticket} {due_phrase(r.field or '', due, now)}"))
    return news, last
