"""The one ingest pipeline: raw messages (from IMAP or from files) become ticket messages.

parse -> drop duplicate deliveries -> thread and register in the team store -> store in the
cache. Nothing is dropped: a message that cannot be parsed is stored raw with the reason, and
a message the server would not hand over is stored as a marked placeholder.

No cache lock is held while the team store is asked: the cache is read, the team store
registers (its answer for an id never changes), then one short cache transaction stores the
batch and, for IMAP, how far the folder has been read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from helpdesk.core.identity import find_subject_tag, verify_message_id
from helpdesk.core.mailparse import parse_message
from helpdesk.core.message import Address, AutoKind, ParsedMessage
from helpdesk.core.rules import raw_headers
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.automation import BODY_EXCERPT
from helpdesk.storage.cache import Cache, FolderMark, PackedRaw, ticket_t
from helpdesk.storage.team_store import Registration, TeamStore

_CHUNK = 500
_MAX_MERGE_LOOKUPS = 10_000


@dataclass(frozen=True, slots=True)
class Incoming:
    raw: bytes
    mailbox: int | None = None  # cache mailbox id; None for imported files
    uid: int | None = None
    flags: str = ""
    received_at: datetime | None = None  # the server's INTERNALDATE, when known
    error: str | None = None  # the server would not give this message: store a placeholder


@dataclass(slots=True)
class IngestStats:
    seen: int = 0
    new_messages: int = 0
    duplicates: int = 0
    new_tickets: int = 0
    malformed: int = 0
    flags_changed: int = 0  # known messages whose flags another client changed
    vanished: int = 0  # server copies gone (expunged or moved away); the messages stay
    tickets: set[int] = field(default_factory=set)
    # Seconds per stage, so that the slowest is known (bench/imap_sync.py prints them).
    download_s: float = 0.0
    parse_s: float = 0.0
    register_s: float = 0.0  # threading and numbering in the team store
    store_s: float = 0.0  # the cache transaction, search index included

    def add(self, other: IngestStats) -> None:
        for f in fields(self):
            name = f.name
            mine = getattr(self, name)
            if isinstance(mine, set):
                mine |= getattr(other, name)
            else:
                setattr(self, name, mine + getattr(other, name))


def parse_incoming(inc: Incoming) -> ParsedMessage:
    if inc.error is None:
        return parse_message(inc.raw)
    # One id per server slot, so that two such placeholders never collapse into one.
    key = f"unfetched-{inc.mailbox}-{inc.uid}"
    return ParsedMessage(
        message_id=f"{key}@placeholder.helpdesk.invalid",
        subject="(message the server did not deliver)",
        from_addr=None,
        dedupe_key=key,
        message_id_synthesised=True,
        parse_error=safe_text(f"the server did not return this message: {inc.error}")[:500],
    )


def sort_time(msg: ParsedMessage, inc: Incoming, now: datetime) -> datetime:
    """When a message counts as sent: its Date, but never later than it reached the server,
    so a forged future Date cannot pin a ticket to the top of a queue."""
    received = inc.received_at or now
    return min(msg.date, received) if msg.date else received


class Ingestor:
    def __init__(
        self, cache: Cache, team: TeamStore, *, our_addresses: Sequence[str], tag_prefix: str
    ) -> None:
        self.cache = cache
        self.team = team
        self.ours = {a.lower() for a in our_addresses}
        self.tag_prefix = tag_prefix

    def _is_ours(self, addr: Address | None) -> bool:
        return addr is not None and addr.email in self.ours

    def _customer(self, msg: ParsedMessage) -> Address:
        if msg.from_addr is not None and not self._is_ours(msg.from_addr):
            # A web form's mail comes from a robot and names the person in Reply-To: the
            # customer is whom answers go to (their other tickets, spam memory, auto-replies).
            for a in msg.reply_to:
                if a.email and "@" in a.email and a.email not in self.ours:
                    return a
            return msg.from_addr
        for a in [*msg.to, *msg.cc]:
            if a.email and a.email not in self.ours:
                return a
        return msg.from_addr or Address("", "")

    def ingest(
        self,
        batch: Sequence[Incoming],
        *,
        mark: FolderMark | None = None,
        parsed: Sequence[ParsedMessage] | None = None,
        packed: Sequence[PackedRaw] | None = None,
    ) -> IngestStats:
        """Store a batch; `mark` records, in the same transaction, how far a folder was read.
        `parsed` and `packed` hold the batch already parsed and its raw copies packed
        (elsewhere, in parallel), in batch order."""
        stats = IngestStats(seen=len(batch))
        now = datetime.now(UTC)
        clock = time.perf_counter()
        if parsed is None:
            parsed = [parse_incoming(inc) for inc in batch]
            stats.parse_s = time.perf_counter() - clock
            clock = time.perf_counter()
        pairs = list(zip(batch, parsed, strict=True))
        keys = [(m.message_id, m.dedupe_key) for _, m in pairs]
        with self.cache.engine.connect() as conn:
            known = self.cache.existing_messages(conn, keys)
            fresh: dict[tuple[str, str], tuple[Incoming, ParsedMessage]] = {}
            for inc, msg in pairs:
                key = (msg.message_id, msg.dedupe_key)
                if key in known or key in fresh:
                    stats.duplicates += 1
                else:
                    fresh[key] = (inc, msg)
            # Parents before replies, so that a batch threads the same in any order.
            todo = sorted(fresh.values(), key=lambda im: sort_time(im[1], im[0], now))
            # Header fields are read only when rules or automatic replies will look at them.
            with_headers = self.team.automation.active
            regs = [
                self._registration(conn, inc, msg, now, with_headers=with_headers)
                for inc, msg in todo
            ]
        results = self.team.register(regs) if regs else []
        states = self.team.ticket_states({r.ticket for r in results})
        stats.register_s = time.perf_counter() - clock
        clock = time.perf_counter()
        ready = {id(inc): p for inc, p in zip(batch, packed, strict=True)} if packed else {}
        kept = {id(inc): ready.get(id(inc)) or self.cache.pack_raw(inc.raw) for inc, _ in todo}

        with self.cache.begin_write() as conn:
            # Another writer of this cache may have stored some of these meanwhile.
            stored = self.cache.existing_messages(conn, keys)
            # A merge pulled since the team store answered has moved this cache's mail of
            # the merged ticket already; what is stored now follows it to the survivor.
            merged = merged_in_cache(conn, {r.ticket for r in results})
            results = [
                res if res.ticket not in merged else replace(res, ticket=merged[res.ticket])
                for res in results
            ]
            rows: list[dict[str, Any]] = []
            tickets: list[dict[str, Any]] = []
            new: list[tuple[Incoming, ParsedMessage]] = []
            for (inc, msg), reg, res in zip(todo, regs, results, strict=True):
                stats.tickets.add(res.ticket)
                if (msg.message_id, msg.dedupe_key) in stored:
                    stats.duplicates += 1
                    continue
                new.append((inc, msg))
                if res.created:
                    stats.new_tickets += 1
                if msg.malformed:
                    stats.malformed += 1
                customer = self._customer(msg)
                tickets.append(
                    {
                        "number": res.ticket,
                        "subject": msg.subject,
                        "customer_name": customer.name,
                        "customer_email": customer.email,
                        "created_at": reg.date,
                        "last_activity": reg.date,
                    }
                )
                rows.append(
                    _message_row(msg, res.ticket, self._is_ours(msg.from_addr), inc, reg.date, now)
                )
            # A ticket is shown with the subject and customer of its first message.
            self.cache.ensure_tickets(conn, tickets)
            pks = self.cache.insert_messages(conn, rows)
            ids = stored | {
                (m.message_id, m.dedupe_key): pk for pk, (_, m) in zip(pks, new, strict=True)
            }
            self.cache.insert_raw(
                conn, [(pk, kept[id(inc)]) for pk, (inc, _) in zip(pks, new, strict=True)]
            )
            self.cache.insert_attachments(
                conn,
                [
                    {
                        "message": pk,
                        "part": a.part,
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                        "inline": a.inline,
                        "content_id": a.content_id,
                    }
                    for pk, (_, msg) in zip(pks, new, strict=True)
                    for a in msg.attachments
                ],
            )
            self.cache.add_locations(
                conn,
                [
                    {
                        "message": ids[(m.message_id, m.dedupe_key)],
                        "mailbox": inc.mailbox,
                        "uid": inc.uid,
                        "flags": inc.flags,
                    }
                    for inc, m in pairs
                    if inc.mailbox is not None and (m.message_id, m.dedupe_key) in ids
                ],
            )
            self.cache.refresh_tickets(conn, stats.tickets)
            # Read before that merge, a merged ticket's state would undo it here.
            self.cache.set_ticket_states(
                conn,
                [s for n, s in states.items() if n not in merged or s.merged_into is not None],
            )
            if mark is not None:
                self.cache.advance_mailbox(conn, mark)
        stats.new_messages = len(new)
        stats.store_s = time.perf_counter() - clock
        return stats

    def _registration(
        self,
        conn: Any,
        inc: Incoming,
        msg: ParsedMessage,
        now: datetime,
        *,
        with_headers: bool = False,
    ) -> Registration:
        refs = msg.thread_ids()
        secret = self.team.secret
        # Ticket 0 is what a new outgoing ticket's id names: its number came only later.
        # Our own signed id names its ticket too: a forward refers to nothing in the thread.
        ids = [msg.message_id, *refs]
        signed = [t for t in (verify_message_id(secret, r) for r in ids) if t]
        tag = find_subject_tag(self.tag_prefix, msg.subject)
        if tag is not None:
            sender = msg.from_addr.email if msg.from_addr else ""
            # Our own addresses are easy to forge in From: only customers vouch for a tag.
            people = self.cache.participants(conn, tag) - self.ours
            if not sender or sender not in people:
                tag = None
        ours = self._is_ours(msg.from_addr)
        # Our own id signed for no ticket: a notice to the team (or a new ticket of ours,
        # which is no automatic mail), even should it come back under another From.
        for_no_ticket = verify_message_id(secret, msg.message_id) == 0
        return Registration(
            message_id=msg.message_id,
            reference_ids=refs,
            signed_tickets=signed,
            tag_ticket=tag,
            subject=msg.subject,
            customer_email=self._customer(msg).email,
            date=sort_time(msg, inc, now),
            outgoing=ours,
            from_addr=msg.from_addr,
            to=tuple(msg.to),
            cc=tuple(msg.cc),
            in_reply_to=tuple(msg.in_reply_to),
            body=msg.text_body[:BODY_EXCERPT],
            attachments=tuple(msg.attachments),
            auto=msg.auto,
            headers=raw_headers(inc.raw) if with_headers and inc.error is None else None,
            # Our acknowledgement coming back from Sent (or from our own sender) is no answer;
            # our team notices come back like that too.
            auto_sent=(ours or for_no_ticket) and msg.auto is AutoKind.AUTO_REPLY,
            received_at=inc.received_at or now,
        )


def merged_in_cache(conn: Any, numbers: Iterable[int]) -> dict[int, int]:
    """Tickets among ``numbers`` that this cache knows as merged -> the ticket their mail
    lives in now (merged into one that was merged later: to the end of the chain)."""
    pointers: dict[int, int] = {}
    asked: set[int] = set()
    todo = sorted({n for n in numbers if n > 0})
    while todo and len(asked) < _MAX_MERGE_LOOKUPS:
        asked.update(todo)
        for i in range(0, len(todo), _CHUNK):
            rows = conn.execute(
                select(ticket_t.c.number, ticket_t.c.merged_into).where(
                    ticket_t.c.number.in_(todo[i : i + _CHUNK]),
                    ticket_t.c.merged_into.is_not(None),
                )
            )
            pointers.update({int(n): int(m) for n, m in rows})
        todo = sorted(set(pointers.values()) - asked)
    out: dict[int, int] = {}
    for start in pointers:
        end, steps = pointers[start], 0
        while end in pointers and steps < len(pointers):  # a cycle would be a bug: stop
            end, steps = pointers[end], steps + 1
        if end != start:
            out[start] = end
    return out


def _message_row(
    msg: ParsedMessage, ticket: int, outgoing: bool, inc: Incoming, when: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "message_id": msg.message_id,
        "dedupe_key": msg.dedupe_key,
        "ticket": ticket,
        "outgoing": outgoing,
        "subject": msg.subject,
        "from_name": msg.from_addr.name if msg.from_addr else "",
        "from_email": msg.from_addr.email if msg.from_addr else "",
        "to_addrs": "\n".join(a.display() for a in msg.to),
        "cc_addrs": "\n".join(a.display() for a in msg.cc),
        "reply_to": "\n".join(a.display() for a in msg.reply_to),
        "date": msg.date,
        "sort_date": when,
        "in_reply_to": " ".join(msg.in_reply_to),
        "references": " ".join(msg.references),
        "text_body": msg.text_body,
        "html_only": msg.html_only,
        "auto": str(msg.auto),
        "size": msg.size,
        "defects": "\n".join(msg.defects),
        "parse_error": msg.parse_error,
        "received_at": inc.received_at or now,
    }
