"""Team work from the app and the CLI: local first, pushed to the team store when it answers.

Each action is an outbox operation (a UUID), applied to the cache at once and replayed in
order; the team store decides (a claim that lost comes back as a conflict naming the holder).
Team changes come back by pulling the event log from the cache's last sequence number.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import PRESENCE_TTL, EventKind, PresenceKind, Role
from helpdesk.core.tickets import CLOSED_STATUSES
from helpdesk.storage import drafts, outbox, spam
from helpdesk.storage.cache import event_t, ticket_t
from helpdesk.storage.lock_table import LockTable, Outcome, next_order
from helpdesk.storage.merge import (
    apply_moves,
    merge,
    message_facts,
    normalize_message_id,
    split,
)
from helpdesk.storage.outbox import Op, OpKind, OpState
from helpdesk.storage.snooze import snooze
from helpdesk.storage.workspace import Workspace

RETRY_OFFLINE = 15.0  # seconds: while offline, actions do not wait on the network again sooner


def _is_offline(exc: BaseException) -> bool:
    """Whether an error means "the team store cannot be reached now" (retry later), as
    opposed to one operation the store cannot take (a conflict, shown to the agent)."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    ticket: int | None = None
    message: str = ""
    queued: bool = False  # offline: done in the cache, waiting for the team store
    holder: str | None = None


@dataclass(slots=True)
class TeamSyncReport:
    online: bool
    pushed: int = 0
    conflicts: list[Op] = field(default_factory=list)
    pulled: int = 0
    pending: int = 0
    error: str = ""


class TeamService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.agent = ws.settings.agent
        self.online: bool | None = None  # unknown until the first contact
        self.last_error = ""
        self._lock: LockTable | None = None
        self._joined = False
        self._retry_at = 0.0
        # The app's workers push and pull side by side: one at a time keeps the outbox order.
        self._busy = threading.RLock()

    # -- the team store, when it answers ------------------------------------------------------

    def _table(self) -> LockTable:
        if self._lock is None:
            self._lock = LockTable(self.ws.team)
        if not self._joined:
            self._lock.join(self.agent.email, self.agent.name)
            self._joined = True
        return self._lock

    def _online(self, fn: Callable[[LockTable], Any]) -> Any:
        try:
            result = fn(self._table())
        except Exception as exc:
            if not _is_offline(exc):
                raise
            self.online = False
            self._retry_at = time.monotonic() + RETRY_OFFLINE
            self.last_error = safe_text(f"{type(exc).__name__}: {exc}").splitlines()[0][:200]
            raise Offline(self.last_error) from None
        self.online = True
        self.last_error = ""
        return result

    def _worth_trying(self) -> bool:
        """Offline, an action does not wait on the network: the periodic sync retries."""
        return self.online is not False or time.monotonic() >= self._retry_at

    # -- actions ------------------------------------------------------------------------------

    def claim(self, number: int) -> ActionResult:
        return self._act(OpKind.CLAIM, number, {})

    def release(self, number: int) -> ActionResult:
        return self._act(OpKind.RELEASE, number, {})

    def assign(self, number: int, to: str) -> ActionResult:
        return self._act(OpKind.ASSIGN, number, {"to": to})

    def steal(self, number: int) -> ActionResult:
        return self._act(OpKind.STEAL, number, {})

    def add_note(self, number: int, body: str) -> ActionResult:
        # Pasted text may hold control characters (a NUL is refused by PostgreSQL).
        return self._act(OpKind.NOTE, number, {"body": safe_text(body).strip()})

    def set_field(self, number: int, name: str, value: str | None) -> ActionResult:
        return self._act(OpKind.SET, number, {"field": name, "value": value})

    def skip(self, number: int, reason: str = "") -> ActionResult:
        return self._act(OpKind.SKIP, number, {"reason": reason})

    def mark_spam(self, number: int) -> ActionResult:
        """Spam, and its sender's next mail straight to spam (storage.spam)."""
        return self._act(OpKind.SPAM, number, {"undo": False})

    def not_spam(self, number: int) -> ActionResult:
        return self._act(OpKind.SPAM, number, {"undo": True})

    def snooze(self, number: int, until: datetime | None) -> ActionResult:
        """Out of the queues until then (aware); None takes the snooze off."""
        if until is not None and until.utcoffset() is None:
            raise ValueError("snooze needs an aware datetime")
        payload = {"until": None if until is None else until.isoformat()}
        return self._act(OpKind.SNOOZE, number, payload)

    def reassign_all(
        self,
        from_agent: str,
        to_agent: str,
        *,
        numbers: list[int] | None = None,
        mark_away: bool = True,
    ) -> ActionResult:
        payload = {"from": from_agent, "to": to_agent, "numbers": numbers, "mark_away": mark_away}
        return self._act(OpKind.REASSIGN_ALL, None, payload)

    def merge(self, number: int, into: int, *, force: bool = False) -> ActionResult:
        """Merge `number` into `into`; once done, `ticket` is the survivor."""
        result = self._act(OpKind.MERGE, number, {"into": into, "force": force})
        if not result.ok or result.queued:
            return result
        with self.ws.cache.engine.connect() as conn:
            survivor = conn.execute(
                select(ticket_t.c.merged_into).where(ticket_t.c.number == number)
            ).scalar()
        survivor = survivor or into
        return ActionResult(True, survivor, f"#{number} merged into #{survivor}")

    def split(self, number: int, message_id: str) -> ActionResult:
        """Split one message of `number` off into a new ticket; once done, `ticket` is the
        new one (None while queued offline)."""
        mid = normalize_message_id(message_id)
        subject, customer = message_facts(self.ws.cache, number, mid)
        payload = {"message_id": mid, "subject": subject, "customer_email": customer}
        result = self._act(OpKind.SPLIT, number, payload)
        if not result.ok:
            return result
        if result.queued:
            return ActionResult(True, None, result.message, queued=True)
        with self.ws.cache.engine.connect() as conn:
            new = conn.execute(
                select(event_t.c.new)
                .where(
                    event_t.c.ticket == number,
                    event_t.c.kind == str(EventKind.SPLIT),
                    event_t.c.field == mid,
                )
                .order_by(event_t.c.seq.desc())
                .limit(1)
            ).scalar()
        number_new = int(new) if new and new.isdigit() else None
        return ActionResult(True, number_new, f"split off from #{number} into #{number_new}")

    def _act(self, kind: str, ticket: int | None, payload: dict[str, Any]) -> ActionResult:
        op_id = str(uuid.uuid4())
        with self.ws.cache.writer.begin() as conn:
            outbox.record(conn, op_id, kind, ticket, payload, self.agent.email)
        self.push()
        with self.ws.cache.engine.connect() as conn:
            op = outbox.get(conn, op_id)
        assert op is not None
        if op.state == OpState.PENDING:
            return ActionResult(
                True,
                ticket,
                "offline: saved, it will be sent when the team store answers",
                queued=True,
            )
        if op.state == OpState.CONFLICT:
            return ActionResult(False, ticket, op.result, holder=op.payload.get("holder"))
        return ActionResult(True, ticket, op.result)

    def handle_next(self) -> ActionResult:
        """Claim the best waiting ticket: in the team store when online, else tentatively."""
        self.push()
        try:
            if not self._worth_trying():
                raise Offline(self.last_error)
            team = self.ws.settings.team
            out: Outcome = self._online(
                lambda t: t.handle_next(
                    self.agent.email,
                    order=team.next_order,
                    departments_only=team.next_departments_only,
                    op_id=str(uuid.uuid4()),
                )
            )
        except Offline:
            number = self._local_next()
            if number is None:
                return ActionResult(False, message="nothing is waiting (offline)")
            return self._act(OpKind.CLAIM, number, {})
        if not out.ok:
            return ActionResult(False, message=out.message)
        self.pull()
        return ActionResult(True, out.ticket, holder=self.agent.email)

    def _local_next(self) -> int | None:
        t = ticket_t.c
        stmt = (
            select(t.number)
            .where(
                t.assignee.is_(None),
                t.status.not_in([str(s) for s in CLOSED_STATUSES]),
                or_(t.snoozed_until.is_(None), t.snoozed_until <= datetime.now(UTC)),
            )
            .order_by(*next_order(self.ws.settings.team.next_order, ticket_t), t.number)
            .limit(1)
        )
        with self.ws.cache.engine.connect() as conn:
            return conn.execute(stmt).scalar()

    # -- presence -----------------------------------------------------------------------------

    def here(self, number: int, kind: PresenceKind = PresenceKind.VIEWING) -> None:
        """Say that this agent is on a ticket (renew every PRESENCE_HEARTBEAT seconds)."""
        with contextlib.suppress(Offline):  # presence is best effort: it expires on its own
            self._online(lambda t: t.heartbeat(self.agent.email, number, kind, ttl=PRESENCE_TTL))

    def gone(self, number: int) -> None:
        with contextlib.suppress(Offline):
            self._online(lambda t: t.leave(self.agent.email, number))

    # -- replay and pull ----------------------------------------------------------------------

    def push(self, *, force: bool = False) -> int:
        """Replay pending operations in order; stop at the first that cannot reach the store."""
        if not force and not self._worth_trying():
            return 0
        with self._busy:
            with self.ws.cache.engine.connect() as conn:
                ops = outbox.pending(conn)
            done = 0
            for op in ops:
                try:
                    out: Outcome = self._online(partial(_replay, agent=self.agent.email, op=op))
                except Offline:
                    break
                except Exception as exc:  # this operation cannot be taken; the rest go on
                    out = Outcome(False, op.ticket, safe_text(f"{type(exc).__name__}: {exc}")[:200])
                state = OpState.DONE if out.ok else OpState.CONFLICT
                message = out.message if not out.ok else ""
                if not out.ok and out.holder and out.holder != self.agent.email:
                    message = f"#{op.ticket}: {out.holder} has it now"
                undo = self._team_truth(op) if not out.ok else []
                with self.ws.cache.writer.begin() as conn:
                    outbox.finish(conn, op.id, state, message, holder=out.holder)
                    if not out.ok:
                        # The cache showed the refused change at once: put the team's truth back.
                        self.ws.cache.set_ticket_states(conn, undo)
                        if op.kind == OpKind.NOTE:
                            outbox.drop_note(conn, op.id)
                done += 1
            self._push_drafts()
            if done:
                self.pull()
            return done

    def _push_drafts(self) -> None:
        """Drafts saved or discarded here since the last push, so a colleague taking the
        ticket over sees what was being written."""
        pending = drafts.unpushed(self.ws.cache)
        if not pending:
            return
        try:
            self._online(lambda _t: drafts.push(self.ws.team, pending))
        except Offline:
            return  # kept for the next push
        except Exception as exc:  # one bad draft must not stop the team sync
            self.last_error = safe_text(f"drafts: {type(exc).__name__}: {exc}")[:200]
            return
        for d in pending:
            if d.updated_at is not None:
                drafts.mark_pushed(self.ws.cache, d.id, d.updated_at)

    def _team_truth(self, op: Op) -> list[Any]:
        try:
            if op.ticket is not None:
                numbers = [op.ticket]
            else:  # a bulk hand-over: the tickets either agent holds in this cache
                numbers = outbox.tickets_of(
                    self.ws.cache, [op.payload.get("from", ""), op.payload.get("to", "")]
                )
            return list(self._online(lambda _t: self.ws.team.ticket_states(numbers)).values())
        except Offline:
            return []

    def pull(self) -> int:
        """Bring the cache up to the team's event log; returns how many events arrived."""
        cache = self.ws.cache
        with cache.engine.connect() as conn:
            seq = int(outbox.meta_get(conn, "team_seq", "0"))
        total = 0
        try:
            while True:
                events = self._online(partial(LockTable.events_since, seq=seq, limit=1000))
                if not events:
                    break
                touched = {e.ticket for e in events if e.ticket is not None}
                states = self._online(partial(_states_of, store=self.ws.team, numbers=touched))
                note_ids = [e.new for e in events if e.kind == "note" and e.new]
                notes = self._online(partial(LockTable.notes, ids=note_ids)) if note_ids else []
                seq = events[-1].seq
                with cache.writer.begin() as conn:
                    apply_moves(conn, events)  # before the states: a split makes a ticket
                    cache.set_ticket_states(conn, states.values())
                    cache.store_notes(
                        conn, [(n.id, n.ticket, n.author, n.body, n.created_at) for n in notes]
                    )
                    cache.store_events(
                        conn,
                        [
                            {
                                "seq": e.seq,
                                "ticket": e.ticket,
                                "actor": e.actor,
                                "kind": e.kind,
                                "field": e.field,
                                "old": e.old,
                                "new": e.new,
                                "at": e.at,
                            }
                            for e in events
                        ],
                    )
                    outbox.meta_set(conn, "team_seq", str(seq))
                total += len(events)
            presence = self._online(lambda t: t.presence())
            cache.replace_presence(
                [
                    {
                        "ticket": p.ticket,
                        "agent": p.agent,
                        "kind": str(p.kind),
                        "expires_at": p.expires_at,
                    }
                    for p in presence
                ]
            )
        except Offline:
            pass
        return total

    def sync(self) -> TeamSyncReport:
        """Push, then pull: what the app's worker and the service run every few seconds."""
        pushed = self.push(force=True)
        pulled = self.pull() if self.online is not False else 0
        with self.ws.cache.engine.connect() as conn:
            pending = outbox.count_pending(conn)
        return TeamSyncReport(bool(self.online), pushed, [], pulled, pending, self.last_error)

    def wait_for_change(self, timeout: float) -> bool:
        """Block until a colleague may have changed something, or `timeout` passes. Never
        raises: the watcher must outlive any outage (the periodic sync reports it)."""
        try:
            return bool(self.ws.team.wait_for_change(timeout))
        except Exception:
            self.ws.team.drop_listener()
            time.sleep(timeout)
            return False

    def pending(self) -> int:
        with self.ws.cache.engine.connect() as conn:
            return outbox.count_pending(conn)

    def conflicts(self, since_pos: int = 0) -> list[Op]:
        with self.ws.cache.engine.connect() as conn:
            return outbox.conflicts(conn, since_pos)

    def set_agent(
        self,
        email: str,
        *,
        role: Role | None = None,
        departments: list[str] | None = None,
        away: bool | None = None,
    ) -> Outcome:
        """Administration needs the team store to answer: it is not queued offline."""
        try:
            return self._online(
                lambda t: t.set_agent(
                    self.agent.email, email, role=role, departments=departments, away=away
                )
            )
        except Offline as exc:
            return Outcome(False, message=f"the team store does not answer: {exc}")

    def agents(self) -> list[Any]:
        return list(self._online(lambda t: t.agents()))


def _states_of(_table: LockTable, *, store: Any, numbers: set[int]) -> Any:
    return store.ticket_states(numbers)


class Offline(Exception):
    """The team store did not answer; the operation stays in the outbox."""


def _replay(table: LockTable, *, agent: str, op: Op) -> Outcome:
    at: datetime = op.created_at
    p = op.payload
    n = op.ticket
    match op.kind:
        case OpKind.CLAIM:
            assert n is not None
            return table.claim(agent, n, op_id=op.id, at=at)
        case OpKind.RELEASE:
            assert n is not None
            return table.release(agent, n, op_id=op.id, at=at)
        case OpKind.ASSIGN:
            assert n is not None
            return table.assign(agent, n, p["to"], op_id=op.id, at=at)
        case OpKind.STEAL:
            assert n is not None
            return table.steal(agent, n, op_id=op.id, at=at)
        case OpKind.NOTE:
            assert n is not None
            return table.add_note(agent, n, p["body"], note_id=op.id, at=at)
        case OpKind.SET:
            assert n is not None
            return table.set_field(agent, n, p["field"], p["value"], op_id=op.id, at=at)
        case OpKind.SKIP:
            assert n is not None
            return table.skip(agent, n, p.get("reason", ""), op_id=op.id)
        case OpKind.SPAM:
            assert n is not None
            spam_action = spam.not_spam if p.get("undo") else spam.mark_spam
            return spam_action(table, agent, n, op_id=op.id, at=at)
        case OpKind.SNOOZE:
            assert n is not None
            until = p.get("until")
            when = None if until is None else datetime.fromisoformat(until)
            return snooze(table, agent, n, when, op_id=op.id, at=at)
        case OpKind.MERGE:
            assert n is not None
            return merge(table, agent, n, p["into"], op_id=op.id, at=at, force=bool(p.get("force")))
        case OpKind.SPLIT:
            assert n is not None
            return split(
                table,
                agent,
                n,
                p["message_id"],
                op_id=op.id,
                at=at,
                subject=p.get("subject"),
                customer_email=p.get("customer_email"),
            )
        case OpKind.REASSIGN_ALL:
            return table.reassign_all(
                agent,
                p["from"],
                p["to"],
                numbers=p.get("numbers"),
                mark_away=p.get("mark_away", True),
                op_id=op.id,
                at=at,
            )
    return Outcome(False, n, f"unknown operation {op.kind}")
