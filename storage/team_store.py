"""The team store: ticket numbers and the Message-ID -> ticket index, shared by all agents.

One code path for SQLite (one machine) and PostgreSQL (many machines). Every write is a short
transaction whose outcome is decided by the database (first registration wins), never by a
read-then-write in the client.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, insert, select, text

from helpdesk.core.threading import ThreadFacts, ThreadReason, decide
from helpdesk.storage.db import (
    Migration,
    engine_for_url,
    ensure_schema,
    insert_ignore,
    write_engine,
)
from helpdesk.storage.team_models import TEAM_TABLES, MessageIndex, TeamMeta, TeamTicket

_meta = TeamMeta.__table__
_ticket = TeamTicket.__table__
_index = MessageIndex.__table__

MIGRATIONS: list[Migration] = []

_REGISTER_LOCK = 0x6864_7265  # the advisory lock key of ticket registration ("hdre")
_CHUNK = 500  # ids per IN (...) query: well under SQLite's bound-parameter limit


@dataclass(frozen=True, slots=True)
class Registration:
    """One new message, with what the registering cache found out about it."""

    message_id: str
    reference_ids: Sequence[str]  # nearest parent first
    signed_tickets: Sequence[int]  # tickets named by our verified signed ids
    tag_ticket: int | None  # subject tag whose sender the cache saw take part in that ticket
    subject: str
    customer_email: str
    date: datetime


@dataclass(frozen=True, slots=True)
class Registered:
    ticket: int
    reason: ThreadReason
    created: bool  # this registration opened the ticket


@dataclass(frozen=True, slots=True)
class TicketState:
    number: int
    status: str
    assignee: str | None


class TeamStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = engine_for_url(url)
        self._writer = write_engine(self.engine)
        ensure_schema(self.engine, name="team", tables=TEAM_TABLES, migrations=MIGRATIONS)
        self._secret: bytes | None = None

    def close(self) -> None:
        self.engine.dispose()

    @property
    def secret(self) -> bytes:
        """The team's key for signing Message-IDs, made once by whoever needs it first."""
        if self._secret is None:
            with self._writer.begin() as conn:
                insert_ignore(conn, _meta, [{"key": "hmac_secret", "value": secrets.token_hex(32)}])
                value = conn.execute(
                    select(_meta.c.value).where(_meta.c.key == "hmac_secret")
                ).scalar_one()
            self._secret = bytes.fromhex(value)
        return self._secret

    def lookup(self, message_ids: Iterable[str]) -> dict[str, int]:
        with self.engine.connect() as conn:
            return _lookup(conn, message_ids)

    def register(self, regs: Sequence[Registration]) -> list[Registered]:
        """Thread and register a batch of new messages in one transaction, in order."""
        out: list[Registered] = []
        with self._writer.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Registrations are short and rare next to reads: running them one at a time
                # across the team (as SQLite's write lock does) rules out deadlocks between two
                # batches that insert the same ids in different orders.
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _REGISTER_LOCK})
            wanted = {r.message_id for r in regs}
            for r in regs:
                wanted.update(r.reference_ids)
            known = _lookup(conn, wanted)
            signed = {t for r in regs for t in r.signed_tickets}
            if signed:
                existing = set(
                    conn.execute(
                        select(_ticket.c.number).where(_ticket.c.number.in_(signed))
                    ).scalars()
                )
            else:
                existing = set()
            for r in regs:
                facts = ThreadFacts(
                    own_ticket=known.get(r.message_id),
                    signed_tickets=tuple(t for t in r.signed_tickets if t in existing),
                    reference_tickets=tuple(known.get(i) for i in r.reference_ids),
                    tag_ticket=r.tag_ticket,
                    sender_is_participant=r.tag_ticket is not None,
                )
                decision = decide(facts)
                if decision.reason is ThreadReason.KNOWN and decision.ticket is not None:
                    out.append(Registered(decision.ticket, decision.reason, False))
                    continue
                now = datetime.now(UTC)
                created = decision.ticket is None
                ticket = decision.ticket
                if ticket is None:
                    ticket = conn.execute(
                        insert(_ticket).returning(_ticket.c.number),
                        {
                            "subject": r.subject[:500],
                            "customer_email": r.customer_email,
                            "status": "new",
                            "created_at": r.date,
                        },
                    ).scalar_one()
                row = {"message_id": r.message_id, "ticket": ticket, "registered_at": now}
                if insert_ignore(conn, _index, [row]) == 0:
                    # Another cache registered this id between our read and our write: its
                    # answer wins, and the ticket we opened for it was never seen by anyone.
                    if created:
                        conn.execute(delete(_ticket).where(_ticket.c.number == ticket))
                    winner = _lookup(conn, [r.message_id])[r.message_id]
                    known[r.message_id] = winner
                    out.append(Registered(winner, ThreadReason.KNOWN, False))
                    continue
                known[r.message_id] = ticket
                out.append(Registered(ticket, decision.reason, created))
        return out

    def ticket_states(self, numbers: Iterable[int]) -> dict[int, TicketState]:
        nums = sorted(set(numbers))
        out: dict[int, TicketState] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(nums), _CHUNK):
                rows = conn.execute(
                    select(_ticket.c.number, _ticket.c.status, _ticket.c.assignee).where(
                        _ticket.c.number.in_(nums[i : i + _CHUNK])
                    )
                )
                for number, status, assignee in rows:
                    out[number] = TicketState(number, status, assignee)
        return out

    def counts(self) -> tuple[int, int]:
        """(tickets, registered message ids), for doctor."""
        from sqlalchemy import func

        with self.engine.connect() as conn:
            tickets = conn.execute(select(func.count()).select_from(_ticket)).scalar_one()
            ids = conn.execute(select(func.count()).select_from(_index)).scalar_one()
        return int(tickets), int(ids)


def _lookup(conn: Connection, message_ids: Iterable[str]) -> dict[str, int]:
    ids = [i for i in set(message_ids) if i]
    out: dict[str, int] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(
            select(_index.c.message_id, _index.c.ticket).where(
                _index.c.message_id.in_(ids[i : i + _CHUNK])
            )
        )
        out.update({mid: t for mid, t in rows})
    return out
