"""The outbox: every local team action, kept in the cache until the team store has answered.

An action is recorded and applied to the cache in one transaction, so the app shows it at
once and a crash can lose neither; the team sync replays what is pending, in order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from helpdesk.core.tickets import CLOSED_STATUSES
from helpdesk.core.workflow import SPAM
from helpdesk.storage.cache_models import (
    CachedEvent,
    CachedNote,
    CachedTicket,
    CacheMeta,
    OutboxOp,
)
from helpdesk.storage.db import as_utc

outbox_t = OutboxOp.__table__
note_t = CachedNote.__table__
ticket_t = CachedTicket.__table__
meta_t = CacheMeta.__table__
event_t = CachedEvent.__table__


class OpKind:
    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    STEAL = "steal"
    NOTE = "note"
    SET = "set"
    SKIP = "skip"
    REASSIGN_ALL = "reassign_all"
    # Not shown before the team store agrees (see `_apply`): moving mail between tickets on
    # a guess would have to be undone message by message when it is refused.
    MERGE = "merge"
    SPLIT = "split"
    SNOOZE = "snooze"  # payload {"until": ISO time with its offset, or None to take it off}
    SPAM = "spam"  # payload {"undo": bool}: mark as spam, or not spam


class OpState:
    PENDING = "pending"
    DONE = "done"
    CONFLICT = "conflict"  # the team store said no; `result` says why, for the agent


@dataclass(frozen=True, slots=True)
class Op:
    pos: int
    id: str
    kind: str
    ticket: int | None
    payload: dict[str, Any]
    created_at: datetime
    state: str
    result: str

    @staticmethod
    def from_row(r: Any) -> Op:
        created = as_utc(r.created_at) or r.created_at
        return Op(r.pos, r.id, r.kind, r.ticket, json.loads(r.payload), created, r.state, r.result)


def record(
    conn: Connection, op_id: str, kind: str, ticket: int | None, payload: dict[str, Any], agent: str
) -> None:
    """Queue an operation and apply it to the cache: both, or neither."""
    now = datetime.now(UTC)
    conn.execute(
        insert(outbox_t),
        {
            "id": op_id,
            "kind": kind,
            "ticket": ticket,
            "payload": json.dumps(payload),
            "created_at": now,
            "state": OpState.PENDING,
        },
    )
    _apply(conn, op_id, kind, ticket, payload, agent, now)


def _apply(
    conn: Connection,
    op_id: str,
    kind: str,
    ticket: int | None,
    payload: dict[str, Any],
    agent: str,
    now: datetime,
) -> None:
    t = ticket_t.c
    if kind in (OpKind.CLAIM, OpKind.STEAL):
        conn.execute(update(ticket_t).where(t.number == ticket).values(assignee=agent))
    elif kind == OpKind.RELEASE:
        conn.execute(update(ticket_t).where(t.number == ticket).values(assignee=None))
    elif kind == OpKind.SKIP:
        conn.execute(
            update(ticket_t).where(t.number == ticket, t.assignee == agent).values(assignee=None)
        )
    elif kind == OpKind.ASSIGN:
        conn.execute(update(ticket_t).where(t.number == ticket).values(assignee=payload["to"]))
    elif kind == OpKind.REASSIGN_ALL:
        stmt = update(ticket_t).where(
            t.assignee == payload["from"], t.status.not_in([str(s) for s in CLOSED_STATUSES])
        )
        if payload.get("numbers") is not None:
            stmt = stmt.where(t.number.in_(payload["numbers"]))
        conn.execute(stmt.values(assignee=payload["to"]))
    elif kind == OpKind.SET:
        field, value = payload["field"], payload["value"]
        stored: Any = int(value) if field == "priority" and value is not None else value
        conn.execute(update(ticket_t).where(t.number == ticket).values({field: stored}))
    elif kind == OpKind.SPAM:
        _apply_spam(conn, ticket, undo=bool(payload.get("undo")))
    elif kind == OpKind.SNOOZE:
        until = payload.get("until")
        stored = None if until is None else datetime.fromisoformat(until).astimezone(UTC)
        conn.execute(update(ticket_t).where(t.number == ticket).values(snoozed_until=stored))
    elif kind == OpKind.NOTE:
        conn.execute(
            insert(note_t),
            {
                "id": op_id,
                "ticket": ticket,
                "author": agent,
                "body": payload["body"],
                "created_at": now,
                "pending": True,
            },
        )


def _apply_spam(conn: Connection, ticket: int | None, *, undo: bool) -> None:
    """Spam at once; "not spam" back to the status before the marking as far as this cache
    has heard of it (the team store's answer, pulled next, has the last word)."""
    t = ticket_t.c
    if not undo:
        conn.execute(update(ticket_t).where(t.number == ticket).values(status=SPAM))
        return
    e = event_t.c
    before = conn.execute(
        select(e.old)
        .where(e.ticket == ticket, e.kind == "field", e.field == "status", e.new == SPAM)
        .order_by(e.seq.desc())
        .limit(1)
    ).scalar()
    if before and before != SPAM:
        conn.execute(
            update(ticket_t).where(t.number == ticket, t.status == SPAM).values(status=before)
        )


def pending(conn: Connection) -> list[Op]:
    rows = conn.execute(
        select(outbox_t).where(outbox_t.c.state == OpState.PENDING).order_by(outbox_t.c.pos)
    )
    return [Op.from_row(r) for r in rows]


def get(conn: Connection, op_id: str) -> Op | None:
    row = conn.execute(select(outbox_t).where(outbox_t.c.id == op_id)).first()
    return Op.from_row(row) if row else None


def finish(
    conn: Connection, op_id: str, state: str, result: str = "", holder: str | None = None
) -> None:
    values: dict[str, Any] = {"state": state, "result": result, "attempts": outbox_t.c.attempts + 1}
    if holder is not None:
        payload = json.loads(
            conn.execute(select(outbox_t.c.payload).where(outbox_t.c.id == op_id)).scalar_one()
        )
        payload["holder"] = holder
        values["payload"] = json.dumps(payload)
    conn.execute(update(outbox_t).where(outbox_t.c.id == op_id).values(**values))


def drop_note(conn: Connection, note_id: str) -> None:
    """A note the team store refused: it must not stay as 'not sent yet' forever."""
    conn.execute(note_t.delete().where(note_t.c.id == note_id, note_t.c.pending.is_(True)))


def tickets_of(cache: Any, agents: list[str]) -> list[int]:
    with cache.engine.connect() as conn:
        return list(
            conn.execute(select(ticket_t.c.number).where(ticket_t.c.assignee.in_(agents))).scalars()
        )


def count_pending(conn: Connection) -> int:
    return int(
        conn.execute(
            select(func.count()).select_from(outbox_t).where(outbox_t.c.state == OpState.PENDING)
        ).scalar_one()
    )


def conflicts(conn: Connection, since_pos: int = 0) -> list[Op]:
    rows = conn.execute(
        select(outbox_t)
        .where(outbox_t.c.state == OpState.CONFLICT, outbox_t.c.pos > since_pos)
        .order_by(outbox_t.c.pos)
    )
    return [Op.from_row(r) for r in rows]


def meta_get(conn: Connection, key: str, default: str = "") -> str:
    value = conn.execute(select(meta_t.c.value).where(meta_t.c.key == key)).scalar()
    return default if value is None else str(value)


def meta_set(conn: Connection, key: str, value: str) -> None:
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    stmt = sqlite_insert(meta_t).values(key=key, value=value)
    conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": value}))
