"""Ticket summaries by number, in one query: what a page of search hits shows beside each hit."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from helpdesk.core.tickets import TicketSummary
from helpdesk.storage.cache import Cache, _summary, ticket_t

__all__ = ["summaries"]


def summaries(cache: Cache, numbers: Iterable[int]) -> dict[int, TicketSummary]:
    """The summaries of those tickets the cache has, by number (unknown numbers are absent)."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return {}
    with cache.engine.connect() as conn:
        rows = conn.execute(select(ticket_t).where(ticket_t.c.number.in_(wanted)))
        return {r.number: _summary(r) for r in rows}
