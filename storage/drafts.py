"""Drafts: kept in the cache while the agent types, and shared through the team store.

The compose screen saves every few seconds; the team sync pushes what changed, so a colleague
who takes the ticket over sees what was being written. The newest save of a draft wins in the
team store (by the saving agent's clock), and a discarded draft is pushed as a tombstone that
no older copy can bring back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, or_, select, update
from sqlalchemy.sql import ColumnElement

from helpdesk.storage.cache_models import CachedDraft
from helpdesk.storage.db import as_utc, utc_now
from helpdesk.storage.team_models import TeamDraft

if TYPE_CHECKING:
    from helpdesk.storage.cache import Cache
    from helpdesk.storage.team_store import TeamStore

draft_t = CachedDraft.__table__
team_draft_t = TeamDraft.__table__


@dataclass(frozen=True, slots=True)
class DraftAttachment:
    """A file to send along: from the agent's disk (`path`) or a part of a ticket's message.
    A message is named by its Message-ID as well as by this cache's key, because another
    agent's cache numbers its messages differently; a path means something only on the
    machine that saved it."""

    filename: str
    path: str | None = None
    message_id: str | None = None
    message_pk: int | None = None
    part: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @staticmethod
    def from_json(value: dict[str, Any]) -> DraftAttachment:
        return DraftAttachment(
            filename=str(value.get("filename", "")),
            path=value.get("path"),
            message_id=value.get("message_id"),
            message_pk=value.get("message_pk"),
            part=value.get("part"),
        )


@dataclass(frozen=True, slots=True)
class DraftRecord:
    """One draft. Address fields hold what the agent typed (maybe half an address).
    `updated_at` is set by `save`; `deleted` marks a discarded draft on its way to the team."""

    id: str
    ticket: int | None
    kind: str
    author: str
    to: str = ""
    cc: str = ""
    bcc: str = ""
    subject: str = ""
    body: str = ""
    attachments: tuple[DraftAttachment, ...] = ()
    base_seq: int = 0
    base_messages: tuple[str, ...] = ()
    template: str | None = None
    updated_at: datetime | None = None
    deleted: bool = False


def _content(d: DraftRecord) -> dict[str, Any]:
    """The columns both tables share."""
    return {
        "ticket": d.ticket,
        "kind": d.kind,
        "author": d.author,
        "to_addrs": d.to,
        "cc_addrs": d.cc,
        "bcc_addrs": d.bcc,
        "subject": d.subject,
        "body": d.body,
        "attachments": json.dumps([a.to_json() for a in d.attachments]),
        "base_seq": d.base_seq,
        "base_messages": json.dumps(list(d.base_messages)),
        "template": d.template,
    }


def _record(r: Any) -> DraftRecord:
    return DraftRecord(
        id=r.id,
        ticket=r.ticket,
        kind=r.kind,
        author=r.author,
        to=r.to_addrs,
        cc=r.cc_addrs,
        bcc=r.bcc_addrs,
        subject=r.subject,
        body=r.body,
        attachments=tuple(DraftAttachment.from_json(a) for a in json.loads(r.attachments)),
        base_seq=int(r.base_seq),
        base_messages=tuple(json.loads(r.base_messages)),
        template=r.template,
        updated_at=as_utc(r.updated_at),
        deleted=bool(r.deleted),
    )


def _ticket_is(column: Any, ticket: int | None) -> ColumnElement[bool]:
    # None is the draft of a new outgoing ticket, which has no number yet.
    return column.is_(None) if ticket is None else column == ticket


def _upsert(
    conn: Connection,
    table: Any,
    rows: list[dict[str, Any]],
    where: Callable[[Any], ColumnElement[bool]] | None = None,
) -> None:
    """INSERT ... ON CONFLICT (id) DO UPDATE of every column but the key, where `where`
    (given the proposed row, `excluded`) allows it; one statement on SQLite and PostgreSQL."""
    stmt: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    columns = [k for k in rows[0] if k != "id"]
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={k: stmt.excluded[k] for k in columns},
        where=where(stmt.excluded) if where is not None else None,
    )
    conn.execute(stmt, rows)


# -- the cache -------------------------------------------------------------------------------


def save(cache: Cache, draft: DraftRecord, now: datetime) -> bool:
    """Keep the draft as it is now (insert or replace), stamped `now`. A draft discarded
    before is left discarded (False): an autosave that fires just after the discard must
    not bring it back. `draft.updated_at` and `draft.deleted` are ignored."""
    row = {"id": draft.id, **_content(draft), "updated_at": now, "deleted": False}
    with cache.writer.begin() as conn:
        gone = conn.execute(
            select(draft_t.c.deleted).where(draft_t.c.id == draft.id)
        ).scalar_one_or_none()
        if gone:
            return False
        _upsert(conn, draft_t, [row])
    return True


def load(cache: Cache, draft_id: str) -> DraftRecord | None:
    """The draft, unless it is unknown or discarded."""
    with cache.engine.connect() as conn:
        row = conn.execute(
            select(draft_t).where(draft_t.c.id == draft_id, draft_t.c.deleted.is_(False))
        ).first()
    return _record(row) if row is not None else None


def for_ticket(cache: Cache, ticket: int | None, author: str | None = None) -> list[DraftRecord]:
    """The ticket's drafts (of one author if given), newest first. `ticket=None`: drafts of
    new outgoing tickets."""
    stmt = select(draft_t).where(_ticket_is(draft_t.c.ticket, ticket), draft_t.c.deleted.is_(False))
    if author is not None:
        stmt = stmt.where(draft_t.c.author == author)
    stmt = stmt.order_by(draft_t.c.updated_at.desc(), draft_t.c.id)
    with cache.engine.connect() as conn:
        return [_record(r) for r in conn.execute(stmt)]


def discard(cache: Cache, draft_id: str, now: datetime | None = None) -> bool:
    """Forget the draft here (sent, or thrown away) and mark it so that the team store
    forgets it too. False if there was no such draft (or it was discarded already)."""
    with cache.writer.begin() as conn:
        result = conn.execute(
            update(draft_t)
            .where(draft_t.c.id == draft_id, draft_t.c.deleted.is_(False))
            .values(deleted=True, updated_at=now or utc_now())
        )
        return result.rowcount == 1


def unpushed(cache: Cache) -> list[DraftRecord]:
    """Drafts the team store has not seen as they are now, discards included; oldest first."""
    stmt = (
        select(draft_t)
        .where(or_(draft_t.c.pushed_at.is_(None), draft_t.c.updated_at > draft_t.c.pushed_at))
        .order_by(draft_t.c.updated_at, draft_t.c.id)
    )
    with cache.engine.connect() as conn:
        return [_record(r) for r in conn.execute(stmt)]


def mark_pushed(cache: Cache, draft_id: str, at: datetime) -> None:
    """The team store has the draft as it was at `at`: pass the pushed record's `updated_at`,
    not the clock, so that a save made while the push was on its way is pushed in turn."""
    with cache.writer.begin() as conn:
        conn.execute(
            update(draft_t)
            .where(
                draft_t.c.id == draft_id,
                or_(draft_t.c.pushed_at.is_(None), draft_t.c.pushed_at < at),
            )
            .values(pushed_at=at)
        )


def purge(cache: Cache, before: datetime) -> int:
    """Remove discarded drafts the team store knows about, discarded before `before`."""
    with cache.writer.begin() as conn:
        result = conn.execute(
            draft_t.delete().where(
                draft_t.c.deleted.is_(True),
                draft_t.c.pushed_at.is_not(None),
                draft_t.c.pushed_at >= draft_t.c.updated_at,
                draft_t.c.updated_at < before,
            )
        )
        return int(result.rowcount)


# -- the team store --------------------------------------------------------------------------


def push(store: TeamStore, drafts: Sequence[DraftRecord]) -> None:
    """Upsert drafts into the team store: the newer `updated_at` wins, and on a tie the
    deletion, so that a discard is never undone by a copy of the same moment."""
    newest: dict[str, DraftRecord] = {}
    for d in drafts:
        if d.updated_at is None:
            raise ValueError(f"draft {d.id} was never saved: it has no updated_at")
        # One row per id: a statement may not update the same row twice (PostgreSQL).
        seen = newest.get(d.id)
        if seen is None or _wins(d, seen):
            newest[d.id] = d
    rows = [
        {"id": d.id, **_content(d), "updated_at": d.updated_at, "deleted": d.deleted}
        for d in newest.values()
    ]
    if not rows:
        return
    t = team_draft_t.c

    def newer(excluded: Any) -> ColumnElement[bool]:
        return or_(
            t.updated_at < excluded.updated_at,
            and_(t.updated_at == excluded.updated_at, excluded.deleted, ~t.deleted),
        )

    with store.write() as conn:
        _upsert(conn, team_draft_t, rows, newer)


def _wins(a: DraftRecord, b: DraftRecord) -> bool:
    """The same rule as `push`'s, between two records in hand."""
    assert a.updated_at is not None and b.updated_at is not None
    return a.updated_at > b.updated_at or (
        a.updated_at == b.updated_at and a.deleted and not b.deleted
    )


def shared_for_ticket(store: TeamStore, ticket: int | None) -> list[DraftRecord]:
    """The drafts agents left on a ticket (not discarded), newest first."""
    t = team_draft_t.c
    stmt = (
        select(team_draft_t)
        .where(_ticket_is(t.ticket, ticket), t.deleted.is_(False))
        .order_by(t.updated_at.desc(), t.id)
    )
    with store.engine.connect() as conn:
        return [_record(r) for r in conn.execute(stmt)]


def shared(store: TeamStore, draft_id: str) -> DraftRecord | None:
    """One draft as the team store has it, tombstone included (`deleted`)."""
    with store.engine.connect() as conn:
        row = conn.execute(select(team_draft_t).where(team_draft_t.c.id == draft_id)).first()
    return _record(row) if row is not None else None
