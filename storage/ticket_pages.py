"""Windows of a queue for a list that shows only what is on screen.

A page far down a big queue is costly with OFFSET (SQLite walks every row before it), so a page
in the far half is read from the other end: the same ORDER BY with every key turned round,
a small OFFSET, and the rows put back in order. Turning each key round (rather than asking for
the ``-`` form of the sort) gives the exact mirror of the list even for sorts whose reverse is
not their mirror (tickets without a due time stay last in both SLA orders).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.sql import ColumnElement, operators
from sqlalchemy.sql.elements import UnaryExpression

from helpdesk.core.ticket_query import TicketQuery
from helpdesk.core.tickets import Queue, TicketSummary
from helpdesk.storage.cache import Cache, _summary, ticket_t
from helpdesk.storage.ticket_filter import (
    FilterContext,
    order_by,
    query_condition,
    queue_condition,
    unread_condition,
)

__all__ = ["QueuePages", "mirrored"]

_MARKS_PER_QUERY = 500  # numbers per IN (...): well under SQLite's bound-parameter limit


def mirrored(
    keys: Sequence[UnaryExpression[object] | ColumnElement[object]],
) -> list[ColumnElement[object]]:
    """The ORDER BY that lists the same rows last to first."""
    out: list[ColumnElement[object]] = []
    for key in keys:
        if isinstance(key, UnaryExpression) and key.modifier is operators.desc_op:
            out.append(key.element.asc())
        elif isinstance(key, UnaryExpression) and key.modifier is operators.asc_op:
            out.append(key.element.desc())
        else:  # no direction given: ascending
            out.append(key.desc())
    return out


@dataclass(frozen=True, slots=True)
class QueuePages:
    """One queue, narrowed by a query, as the list reads it: its size (counted by the caller,
    who usually has the count already), any window of it, and which marked tickets are
    still in it."""

    cache: Cache
    queue: Queue
    context: FilterContext
    total: int
    query: TicketQuery = field(default_factory=TicketQuery)

    def _where(self) -> list[ColumnElement[bool]]:
        where = [queue_condition(self.queue, self.context)]
        if self.query.terms:
            where.append(query_condition(self.query, self.context))
        return where

    def rows(self, offset: int, limit: int) -> list[TicketSummary]:
        """Rows ``offset`` to ``offset + limit`` of the list, in its order."""
        offset, limit = max(0, offset), max(0, min(limit, self.total - offset))
        if limit == 0:
            return []
        keys = order_by(self.query.sort)
        from_end = self.total - offset - limit
        backwards = from_end < offset
        stmt = (
            select(ticket_t, unread_condition(self.context.agent).label("unread"))
            .where(*self._where())
            .order_by(*(mirrored(keys) if backwards else keys))
            .limit(limit)
            .offset(from_end if backwards else offset)
        )
        with self.cache.engine.connect() as conn:
            found = [_summary(r, unread=bool(r.unread)) for r in conn.execute(stmt)]
        return found[::-1] if backwards else found

    def listed(self, numbers: Collection[int]) -> set[int]:
        """Those of ``numbers`` that the queue holds."""
        wanted = sorted(set(numbers))
        found: set[int] = set()
        with self.cache.engine.connect() as conn:
            for i in range(0, len(wanted), _MARKS_PER_QUERY):
                chunk = wanted[i : i + _MARKS_PER_QUERY]
                stmt = select(ticket_t.c.number).where(ticket_t.c.number.in_(chunk), *self._where())
                found.update(conn.execute(stmt).scalars())
        return found
