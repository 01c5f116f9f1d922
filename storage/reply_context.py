"""What a reply needs to know about its ticket, read from the cache in one go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from helpdesk.core.compose import display_address
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import CachedMessage, CachedTicket
from helpdesk.storage.db import as_utc

message_t = CachedMessage.__table__
ticket_t = CachedTicket.__table__


@dataclass(frozen=True, slots=True)
class ParentMessage:
    """The message a reply answers: the newest one from the customer side."""

    message_id: str
    references: tuple[str, ...]
    from_name: str
    from_email: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    date: datetime | None
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class ReplyContext:
    ticket: int
    subject: str
    customer_name: str
    customer_email: str
    parent: ParentMessage | None  # None for a ticket we opened and nobody answered yet
    message_ids: tuple[str, ...]  # every message of the ticket: what the agent has seen


def _split(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(part for part in (text.split(sep) if sep else text.split()) if part)


def reply_context(cache: Cache, number: int) -> ReplyContext | None:
    with cache.engine.connect() as conn:
        ticket = conn.execute(select(ticket_t).where(ticket_t.c.number == number)).first()
        if ticket is None:
            return None
        order = func.coalesce(message_t.c.sort_date, message_t.c.received_at)
        rows = list(
            conn.execute(
                select(message_t)
                .where(message_t.c.ticket == number)
                .order_by(order, message_t.c.id)
            )
        )
    # Answer the customer's newest mail; a ticket of ours alone is answered at its last mail.
    theirs = [r for r in rows if not r.outgoing]
    last = (theirs or rows)[-1] if rows else None
    parent = None
    if last is not None:
        parent = ParentMessage(
            message_id=last.message_id,
            references=_split(last.references) or _split(last.in_reply_to),
            from_name=last.from_name,
            from_email=last.from_email,
            to=_split(last.to_addrs, "\n"),
            cc=_split(last.cc_addrs, "\n"),
            reply_to=_split(last.reply_to, "\n"),
            date=as_utc(last.date),
            subject=last.subject,
            text=last.text_body,
        )
    return ReplyContext(
        ticket=number,
        subject=ticket.subject,
        customer_name=ticket.customer_name,
        customer_email=ticket.customer_email,
        parent=parent,
        message_ids=tuple(r.message_id for r in rows),
    )


def split_display(entry: str) -> tuple[str, str]:
    """A stored `Name <addr>` (unquoted, as the cache shows it) as (name, addr)."""
    entry = entry.strip()
    if entry.endswith(">") and "<" in entry:
        cut = entry.rindex("<")
        return entry[:cut].strip().strip('"'), entry[cut + 1 : -1].strip()
    return "", entry


def bare_address(display: str) -> str:
    """The lower-cased address of `Name <addr>` or of a bare address."""
    return split_display(display)[1].lower()


def answer_addresses(
    ctx: ReplyContext, ours: set[str], *, reply_all: bool
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """To and Cc of an answer to the ticket. To is the customer, or the addresses the
    customer's last mail asked answers to go to (Reply-To: a web form's mail comes From a
    no-reply robot). A reply to all copies everyone else on that mail but us; a From that
    Reply-To stood in for is left out, as mail clients do."""
    ours = {a.lower() for a in ours}
    parent = ctx.parent
    asked = [
        a
        for a in (parent.reply_to if parent is not None else ())
        if "@" in bare_address(a) and bare_address(a) not in ours
    ]
    if asked:
        to = tuple(display_address(*split_display(a)) for a in asked)
    elif ctx.customer_email:
        to = (display_address(ctx.customer_name, ctx.customer_email),)
    else:
        to = ()
    if not reply_all or parent is None:
        return to, ()
    taken = ours | {bare_address(a) for a in to} | {ctx.customer_email.lower()}
    others = (*parent.to, *parent.cc) if asked else (*parent.to, *parent.cc, parent.from_email)
    cc: list[str] = []
    for a in others:
        addr = bare_address(a)
        if "@" in addr and addr not in taken:
            taken.add(addr)
            cc.append(display_address(*split_display(a)))
    return to, tuple(cc)
