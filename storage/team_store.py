"""The team store: ticket numbers and the Message-ID -> ticket index, shared by all agents.

One code path for SQLite (one machine) and PostgreSQL (many machines). Every write is a short
transaction whose outcome is decided by the database (first registration wins), never by a
read-then-write in the client.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    event,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlmodel import SQLModel

from helpdesk.core.automation_config import DEFAULT_AUTOMATION, AutomationSettings
from helpdesk.core.message import Address, AttachmentInfo, AutoKind
from helpdesk.core.rules import Rule
from helpdesk.core.team import EventKind
from helpdesk.core.threading import ThreadFacts, ThreadReason, decide
from helpdesk.core.workflow import DEFAULT_WORKFLOW, SPAM, WorkflowSettings
from helpdesk.storage.automation import Automation
from helpdesk.storage.customer_reply import CustomerMail, apply_customer_mail
from helpdesk.storage.db import (
    Migration,
    add_columns,
    as_utc,
    engine_for_url,
    ensure_schema,
    insert_ignore,
    insert_ignore_many,
    write_engine,
)
from helpdesk.storage.driver_insert import driver_insert, driver_insert_returning_ids
from helpdesk.storage.sla_clock import SlaClock
from helpdesk.storage.team_models import (
    SCHEMA_2_NEW_TABLES,
    SCHEMA_2_TICKET_COLUMNS,
    SCHEMA_6_TICKET_COLUMNS,
    TEAM_TABLES,
    MessageIndex,
    ReferenceIndex,
    SpamSender,
    TeamEvent,
    TeamMeta,
    TeamTicket,
)

_meta = TeamMeta.__table__
_ticket = TeamTicket.__table__
_index = MessageIndex.__table__
_event = TeamEvent.__table__
_refs = ReferenceIndex.__table__
_spam = SpamSender.__table__

# Who set the status of a ticket opened as spam because its sender was remembered.
SPAM_FILTER_ACTOR = "spam filter"
# Who closed a ticket that our own automatic mail opened (a team notice coming back).
OWN_MAIL_ACTOR = "system"


def _schema_2(conn: Connection) -> None:
    """Team state beside the registry: fields, agents, notes, events, presence, skips."""
    for column in SCHEMA_2_TICKET_COLUMNS:
        conn.execute(text(f"ALTER TABLE team_ticket ADD COLUMN {_column_ddl(conn, column)}"))
    next_index = next(
        i
        for i in SQLModel.metadata.tables["team_ticket"].indexes
        if i.name == "ix_team_ticket_next"
    )
    next_index.create(conn)
    SQLModel.metadata.create_all(
        conn, tables=[SQLModel.metadata.tables[name] for name in SCHEMA_2_NEW_TABLES]
    )
    _notify_trigger(conn)


def _column_ddl(conn: Connection, column: str) -> str:
    # The DDL is written for SQLite; PostgreSQL wants its own name for an aware timestamp.
    if conn.dialect.name == "postgresql":
        return column.replace("TIMESTAMP", "TIMESTAMP WITH TIME ZONE")
    return column


def _notify_trigger(conn: Connection) -> None:
    """On PostgreSQL every new event NOTIFYs the listening clients at commit, from the server
    itself: colleagues see a change at once, and no write pays a round trip for it."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            "CREATE OR REPLACE FUNCTION helpdesk_notify_team() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_notify('{CHANGES_CHANNEL}', ''); RETURN NULL; END $$"
        )
    )
    conn.execute(text("DROP TRIGGER IF EXISTS team_event_notify ON team_event"))
    conn.execute(
        text(
            "CREATE TRIGGER team_event_notify AFTER INSERT ON team_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION helpdesk_notify_team()"
        )
    )


def _schema_3(conn: Connection) -> None:
    """Send times in the registry (waiting-since from history, not from arrival order).
    Messages registered before have none: they count for nothing in it."""
    conn.execute(
        text(f"ALTER TABLE message_index ADD COLUMN {_column_ddl(conn, 'sent_at TIMESTAMP')}")
    )
    conn.execute(
        text("ALTER TABLE message_index ADD COLUMN outgoing BOOLEAN NOT NULL DEFAULT FALSE")
    )


def _schema_4(conn: Connection) -> None:
    """Shared drafts (replying)."""
    SQLModel.metadata.tables["team_draft"].create(conn)


def _schema_5(conn: Connection) -> None:
    """Automatic replies (acknowledgements, out-of-hours notices, rules' replies)."""
    SQLModel.metadata.tables["auto_mail"].create(conn)


def _schema_6(conn: Connection) -> None:
    """Snooze, merge and remembered spam senders (workflow)."""
    add_columns(conn, "team_ticket", [_column_ddl(conn, c) for c in SCHEMA_6_TICKET_COLUMNS])
    SQLModel.metadata.tables["spam_sender"].create(conn, checkfirst=True)
    # IF NOT EXISTS, not checkfirst: reflecting the table's indexes warns about the
    # expression index ix_team_ticket_next on SQLite.
    conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_team_ticket_snoozed ON team_ticket (snoozed_until)")
    )


MIGRATIONS: list[Migration] = [_schema_2, _schema_3, _schema_4, _schema_5, _schema_6]

CHANGES_CHANNEL = "helpdesk_team"
_WRITE_LOCK = 0x6864_7772  # the advisory lock key of team writes ("hdwr")
_CHECKPOINT_EVERY = 64  # writes of one client between its checkpoints of a SQLite store
_TURN_GAP = 0.0003  # seconds a SQLite writer steps back after its own turn (see _file_turn)
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
    outgoing: bool = False  # our own reply: the customer is no longer waiting
    # What routing rules and the auto-reply guard look at (filled by the ingest; `headers`
    # only while automation is configured, since reading them costs time per message).
    from_addr: Address | None = None
    to: Sequence[Address] = ()
    cc: Sequence[Address] = ()
    in_reply_to: Sequence[str] = ()
    body: str = ""  # the text, cut to what rules search
    attachments: Sequence[AttachmentInfo] = ()
    auto: AutoKind = AutoKind.NONE
    headers: Mapping[str, Sequence[str]] | None = None
    auto_sent: bool = False  # our own automatic reply: no answer, so it moves no clock
    received_at: datetime | None = None  # when the server got it (INTERNALDATE), if known


@dataclass(frozen=True, slots=True)
class Registered:
    ticket: int
    reason: ThreadReason
    created: bool  # this registration opened the ticket


@dataclass(frozen=True, slots=True)
class TicketState:
    """The team's state of one ticket, as caches mirror it."""

    number: int
    status: str
    assignee: str | None
    priority: int = 1
    category: str | None = None
    tags: tuple[str, ...] = ()
    department: str | None = None
    waiting_since: datetime | None = None
    sla_due: datetime | None = None
    lock_holder: str | None = None
    lock_expires: datetime | None = None
    snoozed_until: datetime | None = None
    merged_into: int | None = None


class TeamStore:
    def __init__(
        self,
        url: str,
        workflow: WorkflowSettings = DEFAULT_WORKFLOW,
        *,
        rules: Sequence[Rule] = (),
        automation: AutomationSettings = DEFAULT_AUTOMATION,
        our_addresses: Sequence[str] = (),
    ) -> None:
        self.url = url
        self.workflow = workflow
        self.sla = SlaClock(workflow)  # keeps `sla_due` in step with each write's history
        # Routing and automatic replies of the tickets this store's registrations open.
        self.automation = Automation(workflow, self.sla, rules, automation, our_addresses)
        self.engine: Engine = engine_for_url(url)
        self._writer = write_engine(self.engine)
        self._thread_lock = threading.Lock()
        database = self.engine.url.database
        sqlite_file = self.engine.dialect.name == "sqlite" and database not in (
            None,
            "",
            ":memory:",
        )
        self._lock_path = f"{database}.writelock" if sqlite_file else None
        self._writes_since_checkpoint = 0
        self._checkpoint_due = threading.Event()
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._closing = False
        self._last_turn_end = 0.0
        if sqlite_file:
            _checkpoint_outside_turns(self.engine)
        self._listener: Any = None  # psycopg connection that LISTENs, made on first wait
        ensure_schema(
            self.engine,
            name="team",
            tables=TEAM_TABLES,
            migrations=MIGRATIONS,
            after_create=_notify_trigger,
        )
        self._secret: bytes | None = None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._lock_path is not None:
            with self._checkpoint_lock:
                thread, self._checkpointer = self._checkpointer, None
                pending = self._writes_since_checkpoint or thread is not None
            if thread is not None:
                self._closing = True
                self._checkpoint_due.set()
                thread.join(timeout=10)
            if pending:
                self._checkpoint()
        self.engine.dispose()

    @contextmanager
    def write(self, *, gated: bool = True) -> Iterator[Connection]:
        """A write transaction. Team writes run one at a time, on PostgreSQL as on SQLite:
        the event log's sequence then commits in order (a cache pulling `seq > n` never skips
        an event committed late), and two batches can never deadlock on each other's rows.
        `gated=False` is for a PostgreSQL statement that takes the turn itself (`write_gate`),
        which saves a round trip while every other writer waits.
        """
        # Our threads queue before taking a pooled connection (so that a queue of them cannot
        # drain the pool); the connection is then taken before the file turn, so that the
        # turn lasts only as long as the transaction.
        with (
            self._thread_turn(),
            self._writer.connect() as conn,
            self._file_turn(),
            conn.begin(),
        ):
            if gated and conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _WRITE_LOCK})
            yield conn
        if self._lock_path is not None:
            self._count_write()

    def _count_write(self) -> None:
        with self._checkpoint_lock:
            self._writes_since_checkpoint += 1
            if self._writes_since_checkpoint < _CHECKPOINT_EVERY:
                return
            self._writes_since_checkpoint = 0
            if self._checkpointer is None:
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="team-checkpoint", daemon=True
                )
                self._checkpointer.start()
        self._checkpoint_due.set()

    def _checkpoint_loop(self) -> None:
        while True:
            self._checkpoint_due.wait()
            self._checkpoint_due.clear()
            if self._closing:
                return
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, away from any write.

        SQLite would otherwise do it inside the commit that crosses its threshold, with the
        turn held: every agent then waits for the fsync (the p99 of handle-next). A PASSIVE
        checkpoint does not block writers, and one that finds another running just returns;
        it runs in a thread of its own so that no action of ours waits for it either.
        """
        with contextlib.suppress(Exception), self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def wait_for_change(self, timeout: float) -> bool:
        """Block until the team's state may have changed (True) or `timeout` passes (False).

        PostgreSQL pushes a notification; a SQLite file is watched through its event log.
        One thread at a time may wait (the app's watcher).
        """
        if self.engine.dialect.name == "postgresql":
            return self._wait_notify(timeout)
        deadline = time.monotonic() + timeout
        start = self._last_seq()
        while time.monotonic() < deadline:
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            if self._last_seq() != start:
                return True
        return False

    def _last_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(_event.c.seq), 0))).scalar_one())

    def drop_listener(self) -> None:
        """Forget a broken LISTEN connection; the next wait makes a new one."""
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()
            self._listener = None

    def _wait_notify(self, timeout: float) -> bool:
        import psycopg

        if self._listener is None or self._listener.closed:
            url = self.engine.url.set(drivername="postgresql")
            self._listener = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=10
            )
            self._listener.execute(f"LISTEN {CHANGES_CHANNEL}")
        for _ in self._listener.notifies(timeout=timeout, stop_after=1):
            return True
        return False

    def _thread_turn(self) -> contextlib.AbstractContextManager[object]:
        """Threads of this process writing a SQLite store take turns here first."""
        return self._thread_lock if self._lock_path is not None else contextlib.nullcontext()

    @contextmanager
    def _file_turn(self) -> Iterator[None]:
        """Wait for our turn to write a SQLite team store on a lock file.

        SQLite's own busy handler polls with sleeps of up to 100 ms, which adds that much to a
        claim whenever twenty agents press `n` at once; a blocking file lock hands the turn
        over as soon as the writer before us commits.
        """
        if self._lock_path is None:
            yield
            return
        # A file lock is not handed over in order: the writer that just let go, still on
        # the CPU, would take it again before the waiters it woke get to run, and under load
        # one agent would wait for many turns of another. Stepping back for a moment after a
        # turn of our own lets the woken waiter in first.
        if time.monotonic() - self._last_turn_end < _TURN_GAP:
            time.sleep(_TURN_GAP)
        # Group-writable (within the umask): on a support server several agents' accounts
        # share one team store, and each must be able to take its turn.
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock
            self._last_turn_end = time.monotonic()

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

    def register(self, regs: Sequence[Registration], *, actor: str = "system") -> list[Registered]:
        """Thread and register a batch of new messages in one transaction, in order.

        Decided in memory first (tickets opened within the batch get placeholder numbers),
        then written with one statement per table.
        """
        if not regs:
            return []
        now = datetime.now(UTC)
        with self.write() as conn:
            wanted = {r.message_id for r in regs}
            for r in regs:
                wanted.update(r.reference_ids)
            known = _lookup(conn, wanted)
            children = _lookup(conn, {r.message_id for r in regs} - set(known), table=_refs)
            signed = {t for r in regs for t in r.signed_tickets}
            existing = set(
                conn.execute(select(_ticket.c.number).where(_ticket.c.number.in_(signed))).scalars()
                if signed
                else ()
            )
            # Mail naming a merged ticket (by our signed id, its tag or its messages) goes
            # to the ticket it was merged into.
            named = existing | set(known.values()) | set(children.values())
            named.update(r.tag_ticket for r in regs if r.tag_ticket is not None)
            merged = _survivors(conn, named)

            def follow(ticket: int | None) -> int | None:
                return merged.get(ticket, ticket) if ticket is not None else None

            decided: list[tuple[int, ThreadReason, bool]] = []  # placeholders are negative
            opened: list[Registration] = []
            index_rows: list[tuple[Registration, int]] = []
            ref_rows: dict[str, int] = {}
            for r in regs:
                facts = ThreadFacts(
                    own_ticket=follow(known.get(r.message_id)),
                    signed_tickets=tuple(
                        merged.get(t, t) for t in r.signed_tickets if t in existing
                    ),
                    reference_tickets=tuple(follow(known.get(i)) for i in r.reference_ids),
                    referenced_by=follow(children.get(r.message_id)),
                    tag_ticket=follow(r.tag_ticket),
                    sender_is_participant=r.tag_ticket is not None,
                )
                decision = decide(facts)
                if decision.reason is ThreadReason.KNOWN and decision.ticket is not None:
                    decided.append((decision.ticket, decision.reason, False))
                    continue
                ticket = decision.ticket
                if ticket is None:
                    opened.append(r)
                    ticket = -len(opened)
                # Writes are serialised (`write`), so an id read as unknown above is still
                # unknown: the first registration of an id always wins.
                known[r.message_id] = ticket
                index_rows.append((r, ticket))
                for ref in r.reference_ids:
                    if ref not in known:
                        children.setdefault(ref, ticket)
                        ref_rows.setdefault(ref, ticket)
                decided.append((ticket, decision.reason, decision.ticket is None))

            numbers: dict[int, int] = {}
            # Mail from a sender an agent marked as spam opens a spam ticket straight away.
            spammers = _spam_senders(conn, [r.customer_email for r in opened])
            spam = self.workflow.status(SPAM).name
            initial = self.workflow.initial_status.name
            # Our own automatic mail (a team notice the server filed or a lead's address
            # delivered back) is kept as a ticket, but one nobody has to work on: closed.
            closing = self.workflow.close_status.name
            opening = [  # (status, who set it when it is not `initial`)
                (closing, OWN_MAIL_ACTOR)
                if r.auto_sent
                else (spam, SPAM_FILTER_ACTOR)
                if _folded(r.customer_email) in spammers
                else (initial, actor)
                for r in opened
            ]
            if opened:
                ticket_rows = [
                    {
                        "subject": r.subject[:500],
                        "customer_email": r.customer_email,
                        "status": opening[i][0],
                        "created_at": r.date,
                    }
                    for i, r in enumerate(opened)
                ]
                got = driver_insert_returning_ids(conn, _ticket, ticket_rows)
                if got is None:
                    result = conn.execute(
                        insert(_ticket).returning(_ticket.c.number, sort_by_parameter_order=True),
                        ticket_rows,
                    )
                    got = [row[0] for row in result]
                numbers = {-(i + 1): number for i, number in enumerate(got)}

            def real(ticket: int) -> int:
                return numbers.get(ticket, ticket)

            if opened:
                _insert_many(
                    conn,
                    _event,
                    [
                        {
                            "ticket": numbers[-(i + 1)],
                            "actor": actor,
                            "kind": str(EventKind.CREATED),
                            "new": r.message_id,
                            "at": r.date,
                            "recorded_at": now,
                        }
                        for i, r in enumerate(opened)
                    ],
                )
            if any(status != initial for status, _ in opening):
                # As "field" events (like a rule's), so that "not spam" knows what to restore
                # and the history says who closed what.
                conn.execute(
                    insert(_event),
                    [
                        {
                            "ticket": numbers[-(i + 1)],
                            "actor": how[1],
                            "kind": str(EventKind.FIELD),
                            "field": "status",
                            "old": initial,
                            "new": how[0],
                            "at": r.date,
                            "recorded_at": now,
                        }
                        for i, (r, how) in enumerate(zip(opened, opening, strict=True))
                        if how[0] != initial
                    ],
                )
            if index_rows:
                _insert_many(
                    conn,
                    _index,
                    [
                        {
                            "message_id": r.message_id,
                            "ticket": real(t),
                            "registered_at": now,
                            # Our automatic replies answer nothing: no time, no clock moves.
                            "sent_at": None if r.auto_sent else r.date,
                            "outgoing": r.outgoing,
                        }
                        for r, t in index_rows
                    ],
                )
            refs = [{"ref_id": ref, "ticket": real(t)} for ref, t in ref_rows.items()]
            if not driver_insert(conn, _refs, refs, ignore=True):
                insert_ignore_many(conn, _refs, refs)
            # A customer's mail to a ticket that already existed may reopen it, or open a
            # follow-up when it was closed long ago (ours never do either).
            moved = apply_customer_mail(
                conn,
                self.workflow,
                [
                    CustomerMail(r.message_id, t, r.date, r.subject, r.customer_email, r.auto)
                    for r, t in index_rows
                    if t > 0 and not r.outgoing
                ],
                actor=actor,
                now=now,
            )
            if self.automation.active:
                self.automation.on_new_tickets(
                    conn,
                    # Our own automatic mail gets no rules and no acknowledgement.
                    [(r, numbers[-(i + 1)]) for i, r in enumerate(opened) if not r.auto_sent],
                    now,
                )
                self.automation.on_follow_ups(
                    conn,
                    [
                        (r, t)
                        for r, t in index_rows
                        if t > 0 and not r.outgoing and r.message_id not in moved
                    ],
                    now,
                )
            touched = {
                real(ticket) for ticket, reason, _ in decided if reason is not ThreadReason.KNOWN
            }
            touched.update(moved.values())
            _update_waiting(conn, touched)
            self.sla.recompute(conn, touched)
        results = [Registered(real(t), reason, created) for t, reason, created in decided]
        opened_now: set[int] = set()
        for i, r in enumerate(regs):
            follow_up = moved.get(r.message_id)
            if follow_up is not None:
                first = follow_up not in opened_now and results[i].reason is not ThreadReason.KNOWN
                opened_now.add(follow_up)
                results[i] = Registered(follow_up, ThreadReason.NEW, first)
        return results

    def ticket_states(self, numbers: Iterable[int]) -> dict[int, TicketState]:
        nums = sorted(set(numbers))
        out: dict[int, TicketState] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(nums), _CHUNK):
                rows = conn.execute(
                    select(_ticket).where(_ticket.c.number.in_(nums[i : i + _CHUNK]))
                )
                for r in rows:
                    out[r.number] = ticket_state(r)
        return out

    def counts(self) -> tuple[int, int]:
        """(tickets, registered message ids), for doctor."""
        from sqlalchemy import func

        with self.engine.connect() as conn:
            tickets = conn.execute(select(func.count()).select_from(_ticket)).scalar_one()
            ids = conn.execute(select(func.count()).select_from(_index)).scalar_one()
        return int(tickets), int(ids)


def _lookup(conn: Connection, message_ids: Iterable[str], *, table: Any = None) -> dict[str, int]:
    """Ticket per id, from the Message-ID index (or, with `table=_refs`, the references)."""
    table = _index if table is None else table
    key = table.c.message_id if table is _index else table.c.ref_id
    ids = [i for i in set(message_ids) if i]
    out: dict[str, int] = {}
    for i in range(0, len(ids), _CHUNK):
        rows = conn.execute(select(key, table.c.ticket).where(key.in_(ids[i : i + _CHUNK])))
        out.update({mid: t for mid, t in rows})
    return out


def _folded(address: str) -> str:
    return address.strip().lower()


def _spam_senders(conn: Connection, addresses: Iterable[str]) -> set[str]:
    """Which of these addresses are remembered spam senders (lower-cased): one query for a
    batch (its customers are far fewer than the bound-parameter limit's chunk)."""
    wanted = sorted({_folded(a) for a in addresses if a.strip()})
    found: set[str] = set()
    for i in range(0, len(wanted), _CHUNK):
        found.update(
            conn.execute(
                select(_spam.c.address).where(_spam.c.address.in_(wanted[i : i + _CHUNK]))
            ).scalars()
        )
    return found


def _survivors(conn: Connection, numbers: Iterable[int]) -> dict[int, int]:
    """Merged tickets among `numbers` -> the ticket each was merged into, in one query per
    hop (merges keep pointers one hop long, so one query unless a chain was left behind)."""
    out: dict[int, int] = {}
    todo = sorted({n for n in numbers if n is not None and n > 0})
    for _ in range(8):
        found: dict[int, int] = {}
        for i in range(0, len(todo), _CHUNK):
            rows = conn.execute(
                select(_ticket.c.number, _ticket.c.merged_into).where(
                    _ticket.c.number.in_(todo[i : i + _CHUNK]), _ticket.c.merged_into.is_not(None)
                )
            )
            found.update({n: m for n, m in rows})
        if not found:
            break
        for start, target in list(out.items()):
            out[start] = found.get(target, target)
        for n, target in found.items():
            out.setdefault(n, target)
        todo = sorted(set(found.values()) - set(out))
        if not todo:
            break
    return out


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    # Registration's bulk rows go straight to SQLite's driver (same values, a fraction of
    # SQLAlchemy's per-row cost); PostgreSQL takes the ordinary executemany.
    if not driver_insert(conn, table, rows):
        conn.execute(insert(table), rows)


def write_gate() -> Any:
    """A PostgreSQL condition, true once this transaction holds the team's write turn: a
    statement that starts with it needs no separate lock statement (see `TeamStore.write`)."""
    locked = select(func.pg_advisory_xact_lock(_WRITE_LOCK)).subquery()
    return select(func.count()).select_from(locked).scalar_subquery() > 0


def _update_waiting(conn: Connection, tickets: set[int]) -> None:
    """`waiting_since`: the oldest customer message sent after our last reply, computed from
    the registry. Messages arrive in any order (a first sync is newest first, and INBOX and
    Sent are separate folders), so folding only the new ones onto the old value was wrong."""
    m, ours = _index.alias("m"), _index.alias("ours")
    last_reply = (
        select(func.max(ours.c.sent_at))
        .where(ours.c.ticket == _ticket.c.number, ours.c.outgoing)
        .scalar_subquery()
    )
    oldest_unanswered = (
        select(func.min(m.c.sent_at))
        .where(
            m.c.ticket == _ticket.c.number,
            ~m.c.outgoing,
            m.c.sent_at.is_not(None),
            or_(last_reply.is_(None), m.c.sent_at > last_reply),
        )
        .scalar_subquery()
    )
    nums = sorted(tickets)
    for i in range(0, len(nums), _CHUNK):
        conn.execute(
            update(_ticket)
            .where(_ticket.c.number.in_(nums[i : i + _CHUNK]))
            .values(waiting_since=oldest_unanswered)
        )


def ticket_state(r: Any) -> TicketState:
    return TicketState(
        number=r.number,
        status=r.status,
        assignee=r.assignee,
        priority=r.priority,
        category=r.category,
        tags=tuple(t for t in r.tags.split(",") if t),
        department=r.department,
        waiting_since=as_utc(r.waiting_since),
        sla_due=as_utc(r.sla_due),
        lock_holder=r.lock_holder,
        lock_expires=as_utc(r.lock_expires),
        snoozed_until=as_utc(r.snoozed_until),
        merged_into=r.merged_into,
    )


def _checkpoint_outside_turns(engine: Engine) -> None:
    """Team store connections leave checkpoints to `TeamStore._checkpoint`."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()
