"""Address completion for the To/Cc/Bcc fields, from customers the cache knows.

Only the entry being typed (after the last comma) is completed; the most recently active
customer whose address or name starts with it is offered.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from textual.suggester import Suggester

from helpdesk.core.sanitize import safe_text
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import CachedTicket

__all__ = ["CustomerSuggester", "customer_matches"]

ticket_t = CachedTicket.__table__


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def customer_matches(cache: Cache, prefix: str, limit: int = 5) -> list[str]:
    """Customers as display addresses ("Name <addr>"), newest activity first."""
    prefix = prefix.strip()
    if len(prefix) < 2:
        return []
    t = ticket_t.c
    like = _like_prefix(prefix)
    stmt = (
        select(t.customer_name, t.customer_email)
        .where(
            t.customer_email != "",
            or_(
                t.customer_email.ilike(like, escape="\\"),
                t.customer_name.ilike(like, escape="\\"),
            ),
        )
        .order_by(t.last_activity.desc())
        .limit(limit * 4)
    )
    found: list[str] = []
    seen: set[str] = set()
    with cache.engine.connect() as conn:
        for name, addr in conn.execute(stmt):
            key = addr.lower()
            if key in seen:
                continue
            seen.add(key)
            name = safe_text(name).replace('"', "").replace("\n", " ").strip()
            found.append(f"{name} <{addr}>" if name else addr)
            if len(found) >= limit:
                break
    return found


class CustomerSuggester(Suggester):
    def __init__(self, cache: Cache) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.customers = cache  # not `cache`: the Suggester base class uses that name

    async def get_suggestion(self, value: str) -> str | None:
        typed = value.rpartition(",")[2].lstrip()
        matches = customer_matches(self.customers, typed, limit=1)
        if not matches or not matches[0].lower().startswith(typed.lower()):
            # A suggestion must extend what was typed, or the input cannot show it.
            matches = [m for m in matches if m.lower().startswith(typed.lower())] or _by_address(
                matches, typed
            )
        if not matches:
            return None
        lead = value[: len(value) - len(typed)]
        return lead + typed + matches[0][len(typed) :]


def _by_address(matches: list[str], typed: str) -> list[str]:
    """A name that did not match but whose address did: offer the bare address."""
    out = []
    for m in matches:
        addr = m[m.rfind("<") + 1 : -1] if m.endswith(">") else m
        if addr.lower().startswith(typed.lower()):
            out.append(addr)
    return out
