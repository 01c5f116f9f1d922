"""A customer's other tickets, for the side panel of the ticket view: one indexed read of the
cache (``ticket.customer_email`` has an index), newest activity first, a page at most."""

from __future__ import annotations

from sqlalchemy import select

from helpdesk.core.tickets import TicketSummary
from helpdesk.storage.cache import Cache, _summary, ticket_t

__all__ = ["OTHER_TICKETS_LIMIT", "other_tickets"]

OTHER_TICKETS_LIMIT = 50  # a panel's worth; a customer with more is found by search


def other_tickets(
    cache: Cache, customer_email: str, *, exclude: int, limit: int = OTHER_TICKETS_LIMIT
) -> list[TicketSummary]:
    """Tickets of ``customer_email`` but ``exclude``, most recently active first. A ticket
    without a customer address has no "same customer": the answer is empty then."""
    email = customer_email.strip()
    if not email:
        return []
    stmt = (
        select(ticket_t)
        .where(ticket_t.c.customer_email == email, ticket_t.c.number != exclude)
        .order_by(ticket_t.c.last_activity.desc(), ticket_t.c.number.desc())
        .limit(limit)
    )
    with cache.engine.connect() as conn:
        return [_summary(r) for r in conn.execute(stmt)]
