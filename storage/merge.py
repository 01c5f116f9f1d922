"""Merging two tickets of one customer, and splitting a message off into a ticket of its own.

Both are one write transaction in the team store (in the frame of `LockTable._act`, so a
replayed outbox operation gets its first answer again). A merge moves the registry's rows
(Message-IDs, references), the notes and the automatic replies not sent yet to the survivor;
the events stay on their ticket, as its history. The merged ticket is closed and points to the
survivor, so that later mail naming it lands there (`TeamStore.register` follows the pointer).

Caches follow the MERGED and SPLIT events they pull: `apply_moves` moves their message and
note rows the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from helpdesk.core.team import Agent, Denied, EventKind, check_edit
from helpdesk.core.workflow_values import reopen_status
from helpdesk.storage.cache_models import CachedMessage, CachedNote, CachedTicket
from helpdesk.storage.db import insert_ignore_many, utc_now
from helpdesk.storage.lock_table import LockTable, Outcome, closed_names
from helpdesk.storage.team_events import add_event
from helpdesk.storage.team_models import (
    AutoMail,
    MessageIndex,
    ReferenceIndex,
    TeamNote,
    TeamTicket,
)
from helpdesk.storage.team_store import _update_waiting

__all__ = [
    "apply_moves",
    "merge",
    "message_facts",
    "normalize_message_id",
    "split",
    "survivor_of",
]

_ticket = TeamTicket.__table__
_index = MessageIndex.__table__
_refs = ReferenceIndex.__table__
_note = TeamNote.__table__
_auto = AutoMail.__table__

_MAX_HOPS = 32  # a merge chain longer than this is a loop written by hand, not by us


def normalize_message_id(text: str) -> str:
    """A Message-ID as the registry keeps it: without angle brackets or spaces."""
    return text.strip().strip("<>").strip()


def survivor_of(conn: Connection, number: int) -> int:
    """The ticket that `number` was merged into, through any chain; itself when not merged."""
    seen = {number}
    current = number
    for _ in range(_MAX_HOPS):
        nxt = conn.execute(
            select(_ticket.c.merged_into).where(_ticket.c.number == current)
        ).scalar()
        if nxt is None or nxt in seen:
            return current
        seen.add(nxt)
        current = int(nxt)
    return current


def _tags(text: str) -> set[str]:
    return {t for t in (text or "").split(",") if t}


def merge(
    table: LockTable,
    actor: str,
    number: int,
    into: int,
    *,
    op_id: str | None = None,
    at: datetime | None = None,
    force: bool = False,
) -> Outcome:
    """Merge ticket `number` into `into` (or into the ticket `into` was merged into).

    Refused: a ticket into itself, a ticket already merged, tickets an agent may not edit
    (someone else holds one), and, unless `force`, tickets of two different customers.
    """
    when = at or utc_now()

    def body(conn: Connection, who: Agent, row: Any) -> Outcome:
        if row.merged_into is not None:
            raise Denied(f"#{number} is already merged into #{row.merged_into}")
        target = survivor_of(conn, into)
        if target == number:
            raise Denied(f"#{number} cannot be merged into itself")
        other = conn.execute(select(_ticket).where(_ticket.c.number == target)).first()
        if other is None:
            raise Denied(f"no ticket #{into}")
        check_edit(who, row.assignee)
        check_edit(who, other.assignee)
        mine, theirs = row.customer_email.strip(), other.customer_email.strip()
        if not force and mine.casefold() != theirs.casefold():
            raise Denied(
                f"#{number} ({mine or 'no customer'}) and #{target} ({theirs or 'no customer'}) "
                "are different customers; force merges them anyway"
            )
        _move_rows(conn, number, target)
        closed_kinds = closed_names(table.workflow)
        # The customer's unanswered mail must stay in some queue: an open ticket merged
        # into a closed one opens the survivor again.
        reopen = row.status not in closed_kinds and other.status in closed_kinds
        survivor_status = reopen_status(table.workflow).name if reopen else other.status
        conn.execute(
            update(_ticket)
            .where(_ticket.c.number == target)
            .values(
                tags=",".join(sorted(_tags(row.tags) | _tags(other.tags))),
                priority=max(row.priority, other.priority),
                status=survivor_status,
            )
        )
        # From the registry, both tickets' mail together: a reply in one answers the other.
        _update_waiting(conn, {target})
        if reopen:
            add_event(
                conn,
                ticket=target,
                actor=actor,
                kind=EventKind.FIELD,
                field="status",
                old=other.status,
                new=survivor_status,
                at=when,
            )
        closed = table.workflow.close_status.name
        conn.execute(
            update(_ticket)
            .where(_ticket.c.number == number)
            .values(
                merged_into=target,
                status=closed,
                snoozed_until=None,
                waiting_since=None,
                lock_holder=None,
                lock_expires=None,
            )
        )
        # Tickets merged into this one before now point to the survivor too: pointers stay
        # one hop long, so whoever follows them needs one look-up.
        conn.execute(
            update(_ticket).where(_ticket.c.merged_into == number).values(merged_into=target)
        )
        if row.status != closed:
            # A status event like any other: the SLA clock and the reports see it closed.
            add_event(
                conn,
                ticket=number,
                actor=actor,
                kind=EventKind.FIELD,
                field="status",
                old=row.status,
                new=closed,
                at=when,
            )
        for ticket, op in ((number, None), (target, op_id)):
            add_event(
                conn,
                ticket=ticket,
                actor=actor,
                kind=EventKind.MERGED,
                old=str(number),
                new=str(target),
                op_id=op,
                at=when,
            )
        table.sla.recompute(conn, [number, target])
        return Outcome(True, target, f"#{number} merged into #{target}")

    return table._act(actor, number, op_id, body, merged_ok=True)


def _move_rows(conn: Connection, number: int, target: int) -> None:
    for tbl in (_index, _refs, _note):
        conn.execute(update(tbl).where(tbl.c.ticket == number).values(ticket=target))
    conn.execute(
        update(_auto)
        .where(_auto.c.ticket == number, _auto.c.state == "pending")
        .values(ticket=target)
    )


def split(
    table: LockTable,
    actor: str,
    number: int,
    message_id: str,
    *,
    op_id: str | None = None,
    at: datetime | None = None,
    subject: str | None = None,
    customer_email: str | None = None,
) -> Outcome:
    """Open a new ticket with one message of `number`; the Outcome's ticket is the new one.

    The team store keeps no mail, so the caller may say the message's subject and customer
    (the cache knows them); the old ticket's stand in otherwise. Refused for the only message
    of a ticket and for a message of another ticket.
    """
    when = at or utc_now()
    mid = normalize_message_id(message_id)

    def body(conn: Connection, who: Agent, row: Any) -> Outcome:
        check_edit(who, row.assignee)
        if row.merged_into is not None:
            raise Denied(f"#{number} is merged into #{row.merged_into}; split it there")
        found = conn.execute(select(_index).where(_index.c.message_id == mid)).first()
        if found is None or found.ticket != number:
            raise Denied(f"<{mid}> is not a message of #{number}")
        count = conn.execute(
            select(func.count()).select_from(_index).where(_index.c.ticket == number)
        ).scalar_one()
        if count <= 1:
            raise Denied(f"<{mid}> is the only message of #{number}")
        created = found.sent_at or when
        new = int(
            conn.execute(
                insert(_ticket).returning(_ticket.c.number),
                {
                    "subject": (subject if subject is not None else row.subject)[:500],
                    "customer_email": customer_email
                    if customer_email is not None
                    else row.customer_email,
                    "status": table.workflow.initial_status.name,
                    "created_at": created,
                    "department": row.department,
                },
            ).scalar_one()
        )
        conn.execute(update(_index).where(_index.c.message_id == mid).values(ticket=new))
        conn.execute(update(_refs).where(_refs.c.ref_id == mid).values(ticket=new))
        add_event(conn, ticket=new, actor=actor, kind=EventKind.CREATED, new=mid, at=created)
        for ticket, op in ((number, None), (new, op_id)):
            add_event(
                conn,
                ticket=ticket,
                actor=actor,
                kind=EventKind.SPLIT,
                field=mid,
                old=str(number),
                new=str(new),
                op_id=op,
                at=when,
            )
        _update_waiting(conn, {number, new})
        table.sla.recompute(conn, [number, new])
        return Outcome(True, new, f"split off from #{number} into #{new}")

    return table._act(actor, number, op_id, body, merged_ok=True)


# -- caches ---------------------------------------------------------------------------------

_cticket = CachedTicket.__table__
_cmessage = CachedMessage.__table__
_cnote = CachedNote.__table__


def apply_moves(cache_conn: Connection, events: Sequence[Any]) -> set[int]:
    """Move a cache's messages and notes as pulled MERGED and SPLIT events say, in order;
    returns the tickets whose list columns were refreshed.

    `events` are the team's events (`lock_table.Event` or alike: kind, ticket, field, old,
    new). Each move is stated on two tickets: it is done once. Moving what is already
    moved changes nothing, so a replayed pull is harmless.
    """
    from helpdesk.storage.cache import Cache  # the cache imports the team store: late

    done: set[tuple[str, str | None, str | None, str | None]] = set()
    touched: set[int] = set()
    emptied: set[int] = set()
    for e in events:
        if e.kind not in (EventKind.MERGED, EventKind.SPLIT):
            continue
        key = (e.kind, e.field, e.old, e.new)
        if key in done or not (e.old or "").isdigit() or not (e.new or "").isdigit():
            continue
        done.add(key)
        old, new = int(e.old), int(e.new)
        if e.kind == EventKind.MERGED:
            cache_conn.execute(
                update(_cmessage).where(_cmessage.c.ticket == old).values(ticket=new)
            )
            cache_conn.execute(update(_cnote).where(_cnote.c.ticket == old).values(ticket=new))
            emptied.add(old)
            emptied.discard(new)
            touched.add(new)
        elif e.field:
            _split_in_cache(cache_conn, old, new, e.field)
            touched.update((old, new))
    # A ticket left without messages keeps its subject and dates (the queues show it, and
    # the list columns cannot be computed from nothing).
    for number in sorted(emptied):
        count = cache_conn.execute(
            select(func.count()).select_from(_cmessage).where(_cmessage.c.ticket == number)
        ).scalar_one()
        if count:
            touched.add(number)
        else:
            cache_conn.execute(
                update(_cticket)
                .where(_cticket.c.number == number)
                .values(message_count=0, waiting_on_us=False)
            )
            touched.discard(number)
    if touched:
        Cache.refresh_tickets(cache_conn, _with_messages(cache_conn, touched))
    return touched


def _with_messages(conn: Connection, numbers: Iterable[int]) -> list[int]:
    nums = sorted(set(numbers))
    return list(
        conn.execute(
            select(_cmessage.c.ticket).where(_cmessage.c.ticket.in_(nums)).distinct()
        ).scalars()
    )


def _split_in_cache(conn: Connection, old: int, new: int, message_id: str) -> None:
    rows = conn.execute(
        select(_cmessage)
        .where(_cmessage.c.message_id == message_id, _cmessage.c.ticket == old)
        .order_by(_cmessage.c.id)
    ).all()
    if not rows:
        return
    first = rows[0]
    when = first.sort_date or first.received_at
    customer = (
        (first.from_name, first.from_email) if not first.outgoing else _customer_of(conn, old)
    )
    # The new ticket's row first: the team's state for it (pulled next) updates a row.
    insert_ignore_many(
        conn,
        _cticket,
        [
            {
                "number": new,
                "subject": first.subject,
                "customer_name": customer[0],
                "customer_email": customer[1],
                "created_at": when,
                "last_activity": when,
            }
        ],
    )
    conn.execute(
        update(_cmessage)
        .where(_cmessage.c.message_id == message_id, _cmessage.c.ticket == old)
        .values(ticket=new)
    )


def _customer_of(conn: Connection, number: int) -> tuple[str, str]:
    row = conn.execute(
        select(_cticket.c.customer_name, _cticket.c.customer_email).where(
            _cticket.c.number == number
        )
    ).first()
    return (row.customer_name, row.customer_email) if row else ("", "")


def message_facts(cache: Any, number: int, message_id: str) -> tuple[str | None, str | None]:
    """(subject, customer address) of a message of ticket `number` as a cache holds it, for
    the ticket a split opens; None for what the cache does not know (or, for the customer,
    when the message is our own)."""
    with cache.engine.connect() as conn:
        row = conn.execute(
            select(_cmessage.c.subject, _cmessage.c.from_email, _cmessage.c.outgoing)
            .where(_cmessage.c.message_id == message_id, _cmessage.c.ticket == number)
            .order_by(_cmessage.c.id)
            .limit(1)
        ).first()
    if row is None:
        return None, None
    return row.subject, None if row.outgoing or not row.from_email else row.from_email
