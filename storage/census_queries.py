"""The local side of `helpdesk doctor`: what the cache stored per folder, duplicates, and the
cache against the team store's Message-ID registry. Read-only.

What counts as a duplicate: one delivery is one message (DESIGN.md, "Tickets and threading"),
so two message rows are a duplicate when they hold the same delivery:
* the same dedupe key on two rows (the ingest should have stored it once), or
* the same Message-ID on two rows whose raw copies hash to the same dedupe key (the stored
  keys differ, so the ingest could not see they were one), or
* the same Message-ID filed in two tickets, whatever the content: the registry maps an id to
  one ticket, so the customer's mail shows up twice.
Two rows with one Message-ID and really different content in one ticket are not duplicates:
the design keeps both (a resend with changed content, a list that adds a footer).
Two UIDs of one folder pointing at one message row are duplicate deliveries on the server,
stored once as intended: not reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.exc import NoResultFound

from helpdesk.core.identity import dedupe_key
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import CachedMessage, Mailbox, MessageLocation
from helpdesk.storage.team_models import MessageIndex, ReferenceIndex, TeamTicket
from helpdesk.storage.team_store import TeamStore

_mailbox = Mailbox.__table__
_message = CachedMessage.__table__
_location = MessageLocation.__table__
_index = MessageIndex.__table__
_refs = ReferenceIndex.__table__
_ticket = TeamTicket.__table__

_CHUNK = 500
# Below this share of registry rows per cached id, scanning the whole registry is cheaper than
# asking for the cache's ids 500 at a time.
_SCAN_RATIO = 4


@dataclass(frozen=True, slots=True)
class StoredFolder:
    mailbox_id: int
    account: str
    name: str
    uidvalidity: int | None
    uidnext: int | None  # every UID below it has been stored
    uids: frozenset[int]


def stored_folder(cache: Cache, account: str, name: str) -> StoredFolder | None:
    """The folder's sync state and the UIDs stored for it; None if never seen.

    Read from the (mailbox, uid) index alone: the foreign key (on in every connection of the
    cache) keeps a location from outliving its message row."""
    with cache.engine.connect() as conn:
        box = conn.execute(
            select(_mailbox).where(_mailbox.c.account == account, _mailbox.c.name == name)
        ).first()
        if box is None:
            return None
        rows = _tuples(conn, select(_location.c.uid).where(_location.c.mailbox == box.id))
        uids = frozenset(chain.from_iterable(rows))
        return StoredFolder(box.id, account, name, box.uidvalidity, box.uidnext, uids)


@dataclass(frozen=True, slots=True)
class StoredCopy:
    id: int  # the cache's message row
    message_id: str
    ticket: int


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    kind: str  # "same content", "same delivery", "several tickets"
    copies: tuple[StoredCopy, ...]

    @property
    def tickets(self) -> list[int]:
        return sorted({c.ticket for c in self.copies})


def find_duplicates(cache: Cache) -> list[DuplicateGroup]:
    found: list[DuplicateGroup] = []
    with cache.engine.connect() as conn:
        # Two GROUP BYs find the few suspects; only their rows are read.
        keys = list(
            conn.execute(
                select(_message.c.dedupe_key)
                .group_by(_message.c.dedupe_key)
                .having(func.count() > 1)
            ).scalars()
        )
        ids = list(
            conn.execute(
                select(_message.c.message_id)
                .group_by(_message.c.message_id)
                .having(func.count() > 1)
            ).scalars()
        )
        for key in keys:
            rows = conn.execute(
                select(_message.c.id, _message.c.message_id, _message.c.ticket)
                .where(_message.c.dedupe_key == key)
                .order_by(_message.c.id)
            )
            found.append(DuplicateGroup("same content", tuple(StoredCopy(*r) for r in rows)))
        same_id = [
            StoredCopy(pk, mid, ticket)
            for i in range(0, len(ids), _CHUNK)
            for pk, mid, ticket in conn.execute(
                select(_message.c.id, _message.c.message_id, _message.c.ticket)
                .where(_message.c.message_id.in_(ids[i : i + _CHUNK]))
                .order_by(_message.c.id)
            )
        ]
    by_id: dict[str, list[StoredCopy]] = defaultdict(list)
    for copy in same_id:
        by_id[copy.message_id].append(copy)
    for copies in by_id.values():
        found.extend(_same_id_groups(cache, copies))
    return found


def _same_id_groups(cache: Cache, copies: list[StoredCopy]) -> list[DuplicateGroup]:
    if len({c.ticket for c in copies}) > 1:
        # Shown twice to the agents whatever the content: one report covers it.
        return [DuplicateGroup("several tickets", tuple(copies))]
    by_key: dict[str, list[StoredCopy]] = defaultdict(list)
    for copy in copies:
        try:
            raw = cache.raw(copy.id)
        except (NoResultFound, OSError):
            continue  # no raw copy (the cache counts report that) or its blob is unreadable
        # The stored key may be the one that went wrong: hash the raw copy again.
        by_key[dedupe_key(raw)].append(copy)
    return [DuplicateGroup("same delivery", tuple(g)) for g in by_key.values() if len(g) > 1]


@dataclass(slots=True)
class RegistryCheck:
    cached_ids: int = 0
    registered: int = 0  # rows in the team store's Message-ID index
    # Cached messages whose Message-ID the team store does not know.
    unregistered: list[str] = field(default_factory=list)
    # (Message-ID, ticket in the cache, ticket in the registry) where the two disagree.
    misfiled: list[tuple[str, int, int]] = field(default_factory=list)
    # Registry rows whose ticket does not exist: (id, ticket), Message-IDs then references.
    dangling: list[tuple[str, int]] = field(default_factory=list)
    dangling_refs: list[tuple[str, int]] = field(default_factory=list)


def _tuples(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """Every row as a plain tuple, straight from the driver: on 100,000 rows SQLAlchemy's Row
    objects cost as much as the query. Only for queries whose parameters are our own integers
    (they are inlined)."""
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def check_registry(cache: Cache, team: TeamStore) -> RegistryCheck:
    # Two narrow scans, each answered by an index alone (message_id; ticket, date): a scan of
    # the message table itself would read every body. Sets and dicts do the comparing in C.
    with cache.engine.connect() as conn:
        mids: dict[int, str] = dict(_tuples(conn, select(_message.c.id, _message.c.message_id)))
        tickets: dict[int, int] = dict(_tuples(conn, select(_message.c.id, _message.c.ticket)))
    cached = set(zip(map(mids.__getitem__, tickets.keys()), tickets.values(), strict=True))
    ids = set(mids.values())
    result = RegistryCheck(cached_ids=len(ids))
    with team.engine.connect() as conn:
        result.registered = int(conn.execute(select(func.count()).select_from(_index)).scalar_one())
        pairs = select(_index.c.message_id, _index.c.ticket)
        registry: dict[str, int] = {}
        if result.registered <= _SCAN_RATIO * max(len(ids), 1):
            registry.update(_tuples(conn, pairs))
        else:
            wanted = list(ids)
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                registry.update(conn.execute(pairs.where(_index.c.message_id.in_(chunk))).all())
        for table, key, sink in (
            (_index, _index.c.message_id, result.dangling),
            (_refs, _refs.c.ref_id, result.dangling_refs),
        ):
            rows = conn.execute(
                select(key, table.c.ticket)
                .outerjoin(_ticket, _ticket.c.number == table.c.ticket)
                .where(_ticket.c.number.is_(None))
                .order_by(key)
            )
            sink.extend((m, t) for m, t in rows)
    odd = cached - registry.items()  # (id, ticket) pairs the registry does not hold
    result.unregistered = sorted({m for m, _ in odd if m not in registry})
    result.misfiled = sorted((m, t, registry[m]) for m, t in odd if m in registry)
    return result
