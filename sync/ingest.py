"""The one ingest pipeline: raw messages (from IMAP or from files) become ticket messages.

parse -> drop duplicate deliveries -> thread and register in the team store -> store in the
cache, one transaction per batch. Nothing is dropped: a message that cannot be parsed is stored
raw with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from helpdesk.core.identity import dedupe_key, find_subject_tag, verify_message_id
from helpdesk.core.mailparse import parse_message
from helpdesk.core.message import Address, ParsedMessage
from helpdesk.storage.cache import Cache
from helpdesk.storage.team_store import Registration, TeamStore


@dataclass(frozen=True, slots=True)
class Incoming:
    raw: bytes
    mailbox: int | None = None  # cache mailbox id; None for imported files
    uid: int | None = None
    flags: str = ""
    received_at: datetime | None = None  # the server's INTERNALDATE, when known


@dataclass(slots=True)
class IngestStats:
    seen: int = 0
    new_messages: int = 0
    duplicates: int = 0
    new_tickets: int = 0
    malformed: int = 0
    tickets: set[int] = field(default_factory=set)

    def add(self, other: IngestStats) -> None:
        self.seen += other.seen
        self.new_messages += other.new_messages
        self.duplicates += other.duplicates
        self.new_tickets += other.new_tickets
        self.malformed += other.malformed
        self.tickets |= other.tickets


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
            return msg.from_addr
        for a in [*msg.to, *msg.cc]:
            if a.email and a.email not in self.ours:
                return a
        return msg.from_addr or Address("", "")

    def ingest(self, batch: Sequence[Incoming]) -> IngestStats:
        stats = IngestStats(seen=len(batch))
        parsed = [(inc, parse_message(inc.raw), dedupe_key(inc.raw)) for inc in batch]
        secret = self.team.secret
        now = datetime.now(UTC)
        with self.cache.begin_write() as conn:
            existing = self.cache.existing_messages(conn, [(p.message_id, k) for _, p, k in parsed])
            locations: list[dict[str, Any]] = []
            fresh: list[tuple[Incoming, ParsedMessage, str]] = []
            pending_locations: list[tuple[int, Incoming]] = []  # index into fresh
            in_batch: dict[tuple[str, str], int] = {}
            for inc, msg, key in parsed:
                pk = existing.get((msg.message_id, key))
                if pk is not None:
                    stats.duplicates += 1
                    if inc.mailbox is not None:
                        locations.append(_location(pk, inc))
                    continue
                if (msg.message_id, key) in in_batch:
                    stats.duplicates += 1
                    pending_locations.append((in_batch[(msg.message_id, key)], inc))
                    continue
                in_batch[(msg.message_id, key)] = len(fresh)
                fresh.append((inc, msg, key))

            regs = [self._registration(conn, inc, msg, secret, now) for inc, msg, _ in fresh]
            results = self.team.register(regs) if regs else []

            new_tickets: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            for (inc, msg, key), reg, res in zip(fresh, regs, results, strict=True):
                customer = self._customer(msg)
                if res.created:
                    stats.new_tickets += 1
                new_tickets.append(
                    {
                        "number": res.ticket,
                        "subject": msg.subject,
                        "customer_name": customer.name,
                        "customer_email": customer.email,
                        "status": "new",
                        "assignee": None,
                        "created_at": reg.date,
                        "last_activity": reg.date,
                    }
                )
                stats.tickets.add(res.ticket)
                if msg.malformed:
                    stats.malformed += 1
                rows.append(
                    _message_row(msg, key, res.ticket, self._is_ours(msg.from_addr), inc, now)
                )
            # A ticket is shown with the subject and customer of its first message.
            self.cache.ensure_tickets(conn, sorted(new_tickets, key=lambda t: t["created_at"]))
            pks = self.cache.insert_messages(conn, rows)
            self.cache.insert_raw(
                conn, [(pk, inc.raw) for pk, (inc, _, _) in zip(pks, fresh, strict=True)]
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
                    for pk, (_, msg, _) in zip(pks, fresh, strict=True)
                    for a in msg.attachments
                ],
            )
            for idx, inc in pending_locations:
                if inc.mailbox is not None:
                    locations.append(_location(pks[idx], inc))
            for pk, (inc, _, _) in zip(pks, fresh, strict=True):
                if inc.mailbox is not None:
                    locations.append(_location(pk, inc))
            self.cache.add_locations(conn, locations)
            self.cache.refresh_tickets(conn, stats.tickets)
            states = self.team.ticket_states(stats.tickets)
            for number, state in states.items():
                self.cache.set_ticket_state(conn, number, state.status, state.assignee)
        stats.new_messages = len(fresh)
        return stats

    def _registration(
        self, conn: Any, inc: Incoming, msg: ParsedMessage, secret: bytes, now: datetime
    ) -> Registration:
        refs = msg.thread_ids()
        signed = [t for t in (verify_message_id(secret, r) for r in refs) if t is not None]
        tag = find_subject_tag(self.tag_prefix, msg.subject)
        if tag is not None:
            sender = msg.from_addr.email if msg.from_addr else ""
            if not sender or sender not in self.cache.participants(conn, tag):
                tag = None
        return Registration(
            message_id=msg.message_id,
            reference_ids=refs,
            signed_tickets=signed,
            tag_ticket=tag,
            subject=msg.subject,
            customer_email=self._customer(msg).email,
            date=msg.date or inc.received_at or now,
            outgoing=self._is_ours(msg.from_addr),
        )


def _location(pk: int, inc: Incoming) -> dict[str, Any]:
    return {"message": pk, "mailbox": inc.mailbox, "uid": inc.uid, "flags": inc.flags}


def _message_row(
    msg: ParsedMessage, key: str, ticket: int, outgoing: bool, inc: Incoming, now: datetime
) -> dict[str, Any]:
    return {
        "message_id": msg.message_id,
        "dedupe_key": key,
        "ticket": ticket,
        "outgoing": outgoing,
        "subject": msg.subject,
        "from_name": msg.from_addr.name if msg.from_addr else "",
        "from_email": msg.from_addr.email if msg.from_addr else "",
        "to_addrs": "\n".join(a.display() for a in msg.to),
        "cc_addrs": "\n".join(a.display() for a in msg.cc),
        "date": msg.date or inc.received_at,
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
