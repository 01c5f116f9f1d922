"""The queue of outgoing mail in the local cache: replies, forwards and new mail, until sent.

A message is built completely when the agent queues it (its Message-ID included), kept here,
and handed to SMTP by the sender in a worker thread. Every change of state is one short
conditional UPDATE, so the app (undo, discard, send anyway) and the sender can never both win:
a row the agent cancelled cannot be claimed, and a row being sent cannot be cancelled.

States (`OutState`):

    queued --claim--> sending --mark_sent--> sent
      ^  |               |  \\--mark_failed--> failed (a permanent refusal, 5xx)
      |  |               \\--mark_retry--> queued (later: next_attempt)
      |  +--hold--> held <--hold-- sending (collision guard; uncertain after a crash)
      +--release_hold-- held, failed ("send anyway", "try again")
    queued --mark_retry--> queued (postponed: the team store is away)
    queued, held, failed --cancel--> cancelled

A row left in `sending` after a crash may or may not have reached the server: it is never sent
again on its own (`interrupted` lists it for the sender to check against the Sent folder).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.sql import ColumnElement

from helpdesk.storage.cache_models import OutgoingMail
from helpdesk.storage.db import as_utc, utc_now

if TYPE_CHECKING:
    from helpdesk.storage.cache import Cache

out_t = OutgoingMail.__table__
_c = out_t.c


class OutState:
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    HELD = "held"
    FAILED = "failed"
    CANCELLED = "cancelled"

    ALL = (QUEUED, SENDING, SENT, HELD, FAILED, CANCELLED)


class OutKind:
    REPLY = "reply"
    REPLY_ALL = "reply_all"
    FORWARD = "forward"
    NEW = "new"

    ALL = (REPLY, REPLY_ALL, FORWARD, NEW)


# Seconds before the next try after the n-th failed one; the last step repeats.
RETRY_STEPS = (30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
RETRY_CAP = 1800.0
# Many replies fail together when the server goes away: spread their retries so that they do
# not all arrive at once when it is back.
RETRY_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One queued message. `raw` is None in the list views (`for_ticket`, `unsent`), which
    must stay fast whatever the size of the attachments."""

    id: str
    ticket: int | None
    kind: str
    message_id: str
    raw: bytes | None
    rcpt: tuple[str, ...]
    author: str
    state: str
    created_at: datetime
    send_after: datetime
    attempts: int
    next_attempt: datetime | None
    last_error: str
    sent_at: datetime | None
    status_after: str | None
    base_seq: int
    base_messages: tuple[str, ...]
    held_reason: str
    draft_id: str | None
    held_ids: tuple[str, ...] = ()
    finished_at: datetime | None = None


def _utc(dt: datetime) -> datetime:
    out = as_utc(dt)
    assert out is not None
    return out


def _from_row(r: Any, *, with_raw: bool) -> Outgoing:
    return Outgoing(
        id=r.id,
        ticket=r.ticket,
        kind=r.kind,
        message_id=r.message_id,
        raw=bytes(r.raw) if with_raw else None,
        rcpt=tuple(json.loads(r.rcpt)),
        author=r.author,
        state=r.state,
        created_at=_utc(r.created_at),
        send_after=_utc(r.send_after),
        attempts=r.attempts,
        next_attempt=as_utc(r.next_attempt),
        last_error=r.last_error,
        sent_at=as_utc(r.sent_at),
        status_after=r.status_after,
        base_seq=r.base_seq,
        base_messages=tuple(json.loads(r.base_messages)),
        held_reason=r.held_reason,
        draft_id=r.draft_id,
        held_ids=tuple(json.loads(r.held_ids)),
        finished_at=as_utc(r.finished_at),
    )


_LIGHT = tuple(col for col in out_t.columns if col.name != "raw")


def bare_message_id(message_id: str) -> str:
    """The id as stored: no angle brackets, no surrounding space."""
    return message_id.strip().removeprefix("<").removesuffix(">").strip()


def queue(
    cache: Cache,
    *,
    ticket: int | None,
    kind: str,
    message_id: str,
    raw: bytes,
    rcpt: Sequence[str],
    author: str,
    send_delay: float,
    status_after: str | None,
    base_seq: int,
    base_messages: Sequence[str],
    draft_id: str | None = None,
    now: datetime | None = None,
    out_id: str | None = None,
) -> Outgoing:
    """Keep a complete message for sending once `send_delay` seconds have passed (the time
    the agent has to undo). A Message-ID queued before raises `sqlalchemy.exc.IntegrityError`:
    one id is one message, whatever happens."""
    if kind not in OutKind.ALL:
        raise ValueError(f"unknown kind of outgoing mail: {kind!r}")
    if not rcpt:
        raise ValueError("an outgoing message needs at least one recipient")
    mid = bare_message_id(message_id)
    if not mid:
        raise ValueError("an outgoing message needs its Message-ID")
    created = now or utc_now()
    row: dict[str, Any] = {
        "id": out_id or str(uuid.uuid4()),
        "ticket": ticket,
        "kind": kind,
        "message_id": mid,
        "raw": raw,
        "rcpt": json.dumps(list(rcpt)),
        "author": author,
        "state": OutState.QUEUED,
        "created_at": created,
        "send_after": created + timedelta(seconds=max(0.0, send_delay)),
        "attempts": 0,
        "next_attempt": None,
        "last_error": "",
        "sent_at": None,
        "status_after": status_after,
        "base_seq": base_seq,
        "base_messages": json.dumps(list(base_messages)),
        "held_reason": "",
        "held_ids": "[]",
        "draft_id": draft_id,
        "finished_at": None,
    }
    with cache.writer.begin() as conn:
        conn.execute(insert(out_t), row)
    # Converted like a row read back, without reading the message bytes back.
    return _from_row(SimpleNamespace(**row), with_raw=True)


def get(cache: Cache, out_id: str) -> Outgoing | None:
    with cache.engine.connect() as conn:
        row = conn.execute(select(out_t).where(_c.id == out_id)).first()
    return _from_row(row, with_raw=True) if row is not None else None


def by_message_id(cache: Cache, message_id: str) -> Outgoing | None:
    with cache.engine.connect() as conn:
        row = conn.execute(
            select(out_t).where(_c.message_id == bare_message_id(message_id))
        ).first()
    return _from_row(row, with_raw=True) if row is not None else None


def _is_due(now: datetime) -> ColumnElement[bool]:
    return and_(
        _c.state == OutState.QUEUED,
        _c.send_after <= now,
        or_(_c.next_attempt.is_(None), _c.next_attempt <= now),
    )


def due(cache: Cache, now: datetime, *, limit: int | None = None) -> list[Outgoing]:
    """Queued messages whose undo time and retry wait are over, oldest first."""
    stmt = (
        select(out_t).where(_is_due(now)).order_by(_c.send_after, _c.created_at, _c.id).limit(limit)
    )
    with cache.engine.connect() as conn:
        return [_from_row(r, with_raw=True) for r in conn.execute(stmt)]


def next_due_at(cache: Cache) -> datetime | None:
    """When the earliest queued message becomes due (the sender sleeps until then)."""
    when = func.max(_c.send_after, func.coalesce(_c.next_attempt, _c.send_after))
    with cache.engine.connect() as conn:
        value = conn.execute(
            select(func.min(when)).where(_c.state == OutState.QUEUED)
        ).scalar_one_or_none()
    if value is None:
        return None
    # An aggregate's result has lost the column's type: SQLite hands back the stored text.
    return _utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _move(conn: Connection, out_id: str, sources: Sequence[str], **values: Any) -> bool:
    """Change the row's state only if it is in one of `sources`: the database decides."""
    result = conn.execute(
        update(out_t).where(_c.id == out_id, _c.state.in_(sources)).values(**values)
    )
    return result.rowcount == 1


def claim_for_sending(cache: Cache, out_id: str, now: datetime | None = None) -> bool:
    """queued -> sending; False if the agent cancelled or held it meanwhile (or, with `now`,
    if it is not due yet). Counts the attempt: from here on the message may reach the
    server, so it is never sent again without a check."""
    with cache.writer.begin() as conn:
        stmt = update(out_t).where(_c.id == out_id)
        stmt = (
            stmt.where(_is_due(now)) if now is not None else stmt.where(_c.state == OutState.QUEUED)
        )
        result = conn.execute(stmt.values(state=OutState.SENDING, attempts=_c.attempts + 1))
        return result.rowcount == 1


def mark_sent(cache: Cache, out_id: str, now: datetime) -> bool:
    """The server accepted it. From `held` too: a message left uncertain by a crash that the
    sender then found in the Sent folder."""
    with cache.writer.begin() as conn:
        return _move(
            conn,
            out_id,
            (OutState.SENDING, OutState.HELD),
            state=OutState.SENT,
            sent_at=now,
            next_attempt=None,
            held_reason="",
        )


def mark_retry(cache: Cache, out_id: str, error: str, next_attempt: datetime) -> bool:
    """A passing fault (no connection, 4xx): back to the queue, due again at `next_attempt`.
    A queued row may be postponed the same way (the check before sending could not be made)."""
    with cache.writer.begin() as conn:
        return _move(
            conn,
            out_id,
            (OutState.SENDING, OutState.QUEUED),
            state=OutState.QUEUED,
            last_error=error,
            next_attempt=next_attempt,
        )


def mark_failed(cache: Cache, out_id: str, error: str) -> bool:
    """A permanent refusal (5xx): kept, with the server's reason, for the agent to see."""
    with cache.writer.begin() as conn:
        return _move(conn, out_id, (OutState.SENDING,), state=OutState.FAILED, last_error=error)


def hold(cache: Cache, out_id: str, reason: str, ids: Sequence[str] = ()) -> bool:
    """Stop it for the agent to decide: the ticket changed since the draft began (`ids`: the
    messages the agent is shown), or a crash left it unknown whether the server got it."""
    with cache.writer.begin() as conn:
        return _move(
            conn,
            out_id,
            (OutState.QUEUED, OutState.SENDING),
            state=OutState.HELD,
            held_reason=reason,
            held_ids=json.dumps(list(ids)),
        )


def unfinished(cache: Cache) -> list[Outgoing]:
    """Sent, but not yet joined to its ticket, told to the team or filed in Sent."""
    stmt = (
        select(out_t)
        .where(out_t.c.state == OutState.SENT, out_t.c.finished_at.is_(None))
        .order_by(out_t.c.sent_at)
    )
    with cache.engine.connect() as conn:
        return [_from_row(r, with_raw=True) for r in conn.execute(stmt)]


def mark_finished(cache: Cache, out_id: str, now: datetime) -> None:
    with cache.writer.begin() as conn:
        conn.execute(update(out_t).where(out_t.c.id == out_id).values(finished_at=now))


def own_message_ids(cache: Cache, ticket: int, author: str) -> set[str]:
    """This author's messages for a ticket, whatever their state: never a collision."""
    stmt = select(out_t.c.message_id).where(out_t.c.ticket == ticket, out_t.c.author == author)
    with cache.engine.connect() as conn:
        return set(conn.execute(stmt).scalars())


def release_hold(
    cache: Cache,
    out_id: str,
    *,
    now: datetime,
    base_seq: int | None = None,
    base_messages: Sequence[str] | None = None,
) -> bool:
    """The agent chose "send anyway" (held) or "try again" (failed): due at once. Pass what
    the agent has now seen as the new base, or the collision guard would hold it again for
    the same news."""
    values: dict[str, Any] = {
        "state": OutState.QUEUED,
        "send_after": now,
        "next_attempt": None,
        "held_reason": "",
    }
    if base_seq is not None:
        values["base_seq"] = base_seq
    if base_messages is not None:
        values["base_messages"] = json.dumps(list(base_messages))
    with cache.writer.begin() as conn:
        return _move(conn, out_id, (OutState.HELD, OutState.FAILED), **values)


def cancel(cache: Cache, out_id: str) -> bool:
    """Undo within the delay, or discard a held or failed message. Never once it is being
    sent or was sent: False then."""
    with cache.writer.begin() as conn:
        return _move(
            conn,
            out_id,
            (OutState.QUEUED, OutState.HELD, OutState.FAILED),
            state=OutState.CANCELLED,
        )


def set_ticket(cache: Cache, out_id: str, ticket: int) -> bool:
    """A new outgoing ticket got its number from the team store."""
    with cache.writer.begin() as conn:
        result = conn.execute(
            update(out_t).where(_c.id == out_id, _c.ticket.is_(None)).values(ticket=ticket)
        )
        return result.rowcount == 1


def interrupted(cache: Cache) -> list[Outgoing]:
    """Messages a crash left in `sending`: maybe sent. The sender checks them (Sent folder,
    by Message-ID) and marks them sent or holds them; it never resends them on its own."""
    stmt = select(out_t).where(_c.state == OutState.SENDING).order_by(_c.created_at, _c.id)
    with cache.engine.connect() as conn:
        return [_from_row(r, with_raw=True) for r in conn.execute(stmt)]


def for_ticket(cache: Cache, ticket: int) -> list[Outgoing]:
    """What the ticket view shows beside the conversation: everything but the cancelled,
    oldest first, without the message bytes."""
    stmt = (
        select(*_LIGHT)
        .where(_c.ticket == ticket, _c.state != OutState.CANCELLED)
        .order_by(_c.created_at, _c.id)
    )
    with cache.engine.connect() as conn:
        return [_from_row(r, with_raw=False) for r in conn.execute(stmt)]


def unsent(cache: Cache) -> list[Outgoing]:
    """Every message not sent and not cancelled (the outbox view), oldest first, without
    the message bytes."""
    stmt = (
        select(*_LIGHT)
        .where(_c.state.in_((OutState.QUEUED, OutState.SENDING, OutState.HELD, OutState.FAILED)))
        .order_by(_c.created_at, _c.id)
    )
    with cache.engine.connect() as conn:
        return [_from_row(r, with_raw=False) for r in conn.execute(stmt)]


def counts(cache: Cache) -> dict[str, int]:
    """Messages per state, every state present (0 when none), for the status line."""
    out = dict.fromkeys(OutState.ALL, 0)
    with cache.engine.connect() as conn:
        for state, n in conn.execute(select(_c.state, func.count()).group_by(_c.state)):
            out[state] = int(n)
    return out


def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failed try: 30 s, 1, 2, 5, 10 min, then every
    30 min; each within +-10 % so that a batch of failures does not retry in step, and
    never above the cap."""
    step = RETRY_STEPS[min(max(attempts, 1), len(RETRY_STEPS)) - 1]
    jitter = (rng or random).uniform(1.0 - RETRY_JITTER, 1.0 + RETRY_JITTER)
    return min(step * jitter, RETRY_CAP)


def drop_raw(cache: Cache, before: datetime) -> int:
    """Empty the message bytes of messages sent or cancelled before `before`: once the Sent
    folder holds a copy they only fill the cache (attachments). The rows stay, for the
    ticket view and for recognising our Message-IDs. Returns how many were emptied."""
    with cache.writer.begin() as conn:
        result = conn.execute(
            update(out_t)
            .where(
                or_(
                    # Only once what follows a send is done (filing in Sent needs them).
                    and_(
                        _c.state == OutState.SENT, _c.sent_at < before, _c.finished_at.is_not(None)
                    ),
                    and_(_c.state == OutState.CANCELLED, _c.created_at < before),
                ),
                func.length(_c.raw) > 0,
            )
            .values(raw=b"")
        )
        return int(result.rowcount)


def state_label(out: Outgoing) -> str:
    """How the app and the CLI name a reply's state."""
    labels: dict[str, str] = {
        OutState.QUEUED: "queued" if not out.last_error else f"queued, retrying: {out.last_error}",
        OutState.SENDING: "sending",
        OutState.SENT: "sent",
        OutState.HELD: f"held: {out.held_reason}",
        OutState.FAILED: f"failed: {out.last_error}",
        OutState.CANCELLED: "discarded",
    }
    return labels.get(out.state, out.state)
