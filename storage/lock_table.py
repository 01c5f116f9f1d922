"""The lock table and team edits: claim, release, assign, steal, handle next, notes, fields,
presence and agents, each one short write transaction in the team store with its audit event.

Every change accepts the UUID of the outbox operation that asked for it: a replay of an
operation already applied finds its event and changes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, exists, func, insert, literal, or_, select, update

from helpdesk.core.team import (
    EDITABLE_FIELDS,
    PRESENCE_TTL,
    REPLY_LOCK_TTL,
    SKIP_SECONDS,
    Agent,
    Denied,
    EventKind,
    PresenceKind,
    Role,
    check_assign,
    check_claim,
    check_edit,
    check_field_value,
    check_release,
    check_set_agent,
    check_steal,
    edit_wins,
)
from helpdesk.core.tickets import CLOSED_STATUSES, Status
from helpdesk.core.workflow import StatusKind, WorkflowSettings
from helpdesk.core.workflow_values import (
    parse_priority,
    priority_choices,
    resolve_status,
    status_choices,
)
from helpdesk.storage.db import DriverStatement, as_utc, insert_ignore, utc_now
from helpdesk.storage.sla_clock import SlaClock
from helpdesk.storage.team_events import add_event
from helpdesk.storage.team_models import (
    MessageIndex,
    TeamAgent,
    TeamEvent,
    TeamNote,
    TeamPresence,
    TeamSkip,
    TeamTicket,
)
from helpdesk.storage.team_store import (
    TeamStore,
    TicketState,
    ticket_state,
    write_gate,
)

_ticket = TeamTicket.__table__
_agent = TeamAgent.__table__
_note = TeamNote.__table__
_event = TeamEvent.__table__
_presence = TeamPresence.__table__
_skip = TeamSkip.__table__
_index = MessageIndex.__table__

_CLOSED = [str(s) for s in CLOSED_STATUSES]
STATUSES = frozenset(str(s) for s in Status)
# Fields whose change moves the SLA clock: the status (open or not), the priority (its
# targets), the department (its business hours).
_SLA_FIELDS = frozenset({"status", "priority", "department"})


def closed_names(workflow: WorkflowSettings) -> tuple[str, ...]:
    """Status names handle-next never serves: the configured closed ones, and the names
    stored before statuses were configurable, unless configured otherwise."""
    configured = {s.name.casefold() for s in workflow.statuses}
    names = {s.name for s in workflow.statuses if s.kind is StatusKind.CLOSED}
    names.update(n for n in _CLOSED if n not in configured)
    return tuple(sorted(names))


# Handle-next orders by these keys, in the configured order.
NEXT_ORDER_KEYS = ("sla", "priority", "oldest")
DEFAULT_NEXT_ORDER = ("sla", "priority", "oldest")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did. `ok` False: nothing changed, `message` says why (shown to the agent)."""

    ok: bool
    ticket: int | None = None
    message: str = ""
    holder: str | None = None  # who holds the ticket now
    replayed: bool = False  # this operation had been applied before


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    ticket: int | None
    actor: str
    kind: str
    field: str | None
    old: str | None
    new: str | None
    op_id: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    ticket: int
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Presence:
    ticket: int
    agent: str
    kind: PresenceKind
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent: Agent
    holding: int  # open tickets assigned


def _agent_of(r: Any) -> Agent:
    return Agent(
        email=r.email,
        name=r.name,
        role=Role(r.role),
        departments=tuple(d for d in r.departments.split(",") if d),
        away=bool(r.away),
    )


def _replayed(conn: Connection, op_id: str | None) -> Any:
    if op_id is None:
        return None
    return conn.execute(select(_event).where(_event.c.op_id == op_id)).first()


def _earlier(conn: Connection, op_id: str | None, *, holder: str | None = None) -> Outcome | None:
    """The outcome of an operation applied before (a replay after a crash): the same answer
    again, never a second application and never a different verdict."""
    row = _replayed(conn, op_id)
    if row is None:
        return None
    if row.kind == EventKind.REFUSED:
        return Outcome(False, row.ticket, row.new or "refused", holder=row.old, replayed=True)
    if row.kind == EventKind.FIELD_OVERRIDDEN:
        message = f"{row.field} was changed later by someone else"
        return Outcome(False, row.ticket, message, replayed=True)
    return Outcome(True, row.ticket, holder=holder, replayed=True)


def _refuse(
    conn: Connection,
    op_id: str | None,
    actor: str,
    ticket: int | None,
    message: str,
    holder: str | None = None,
) -> Outcome:
    """Say no, and remember the answer under the operation's id for its replays."""
    if op_id is not None:
        add_event(
            conn,
            ticket=ticket,
            actor=actor,
            kind=EventKind.REFUSED,
            old=holder,
            new=message[:500],
            op_id=op_id,
            at=utc_now(),
        )
    return Outcome(False, ticket, message, holder=holder)


_AGENT_BY_EMAIL = select(_agent).where(_agent.c.email == bindparam("email"))


def _load_agent(conn: Connection, email: str) -> Agent | None:
    row = conn.execute(_AGENT_BY_EMAIL, {"email": email}).first()
    return _agent_of(row) if row else None


def _actor(conn: Connection, email: str) -> Agent:
    agent = _load_agent(conn, email)
    if agent is None:
        raise Denied(f"{email} is not an agent of this team (start the app once to join)")
    return agent


def _ticket_row(conn: Connection, number: int) -> Any:
    row = conn.execute(select(_ticket).where(_ticket.c.number == number)).first()
    if row is None:
        raise Denied(f"no ticket #{number}")
    return row


class LockTable:
    def __init__(self, store: TeamStore, workflow: WorkflowSettings | None = None) -> None:
        """``workflow``: the statuses and SLA targets edits are checked and timed by; the
        team store's own by default."""
        self.store = store
        self.workflow = store.workflow if workflow is None else workflow
        self.sla = store.sla if workflow is None else SlaClock(workflow)
        self._closed = closed_names(self.workflow)
        self._members: set[str] = set()

    # -- agents ------------------------------------------------------------------------------

    def join(self, email: str, name: str) -> Agent:
        """Register an agent on first contact; the team's first agent becomes its admin."""
        with self.store.write() as conn:
            found = _load_agent(conn, email)
            if found is not None:
                if name and found.name != name:
                    conn.execute(update(_agent).where(_agent.c.email == email).values(name=name))
                    found = Agent(found.email, name, found.role, found.departments, found.away)
                return found
            first = conn.execute(select(func.count()).select_from(_agent)).scalar_one() == 0
            role = Role.ADMIN if first else Role.AGENT
            conn.execute(
                insert(_agent),
                {
                    "email": email,
                    "name": name,
                    "role": str(role),
                    "departments": "",
                    "away": False,
                    "created_at": utc_now(),
                },
            )
            add_event(
                conn,
                ticket=None,
                actor=email,
                kind=EventKind.AGENT,
                field="role",
                new=str(role),
                at=utc_now(),
            )
            return Agent(email, name, role)

    def agent(self, email: str) -> Agent | None:
        with self.store.engine.connect() as conn:
            return _load_agent(conn, email)

    def agents(self) -> list[AgentLoad]:
        held = (
            select(_ticket.c.assignee, func.count().label("n"))
            .where(_ticket.c.assignee.is_not(None), _ticket.c.status.not_in(self._closed))
            .group_by(_ticket.c.assignee)
            .subquery()
        )
        stmt = (
            select(_agent, func.coalesce(held.c.n, 0))
            .outerjoin(held, held.c.assignee == _agent.c.email)
            .order_by(_agent.c.email)
        )
        with self.store.engine.connect() as conn:
            return [AgentLoad(_agent_of(r), int(r[-1])) for r in conn.execute(stmt)]

    def set_agent(
        self,
        actor: str,
        email: str,
        *,
        role: Role | None = None,
        departments: Sequence[str] | None = None,
        away: bool | None = None,
        op_id: str | None = None,
        at: datetime | None = None,
    ) -> Outcome:
        at = at or utc_now()
        try:
            with self.store.write() as conn:
                if _replayed(conn, op_id):
                    return Outcome(True, replayed=True)
                who = _actor(conn, actor)
                check_set_agent(who, email, departments=departments is not None)
                if role is not None and who.role is not Role.ADMIN:
                    raise Denied("only an admin can change roles")
                target = _actor(conn, email)
                changes: dict[str, Any] = {}
                if role is not None and role != target.role:
                    changes["role"] = (str(target.role), str(role))
                if departments is not None and tuple(departments) != target.departments:
                    changes["departments"] = (",".join(target.departments), ",".join(departments))
                if away is not None and away != target.away:
                    changes["away"] = (str(target.away).lower(), str(away).lower())
                values = {
                    "role": str(role) if role is not None else str(target.role),
                    "departments": ",".join(departments)
                    if departments is not None
                    else ",".join(target.departments),
                    "away": away if away is not None else target.away,
                }
                conn.execute(update(_agent).where(_agent.c.email == email).values(**values))
                for i, (field, (old, new)) in enumerate(sorted(changes.items())):
                    add_event(
                        conn,
                        ticket=None,
                        actor=actor,
                        kind=EventKind.AGENT,
                        field=field,
                        old=f"{email}:{old}",
                        new=f"{email}:{new}",
                        op_id=op_id if i == 0 else None,
                        at=at,
                    )
                return Outcome(True)
        except Denied as why:
            return Outcome(False, message=str(why))

    # -- claims ------------------------------------------------------------------------------

    def _act(
        self,
        actor: str,
        number: int,
        op_id: str | None,
        body: Callable[[Connection, Agent, Any], Outcome],
        *,
        holder: str | None = None,
        merged_ok: bool = False,
    ) -> Outcome:
        """The frame of every action on one ticket, in one write transaction.

        A replayed operation gets its first answer again. An unknown agent or ticket, a
        merged ticket (unless `merged_ok`: the body says itself what it does with one), or a
        rule that says no (`Denied`, which `body` raises before it writes anything), is
        refused with who holds the ticket now, and the refusal is remembered for replays.
        """
        with self.store.write() as conn:
            if (earlier := _earlier(conn, op_id, holder=holder)) is not None:
                return earlier
            try:
                who = _actor(conn, actor)
                row = _ticket_row(conn, number)
                if row.merged_into is not None and not merged_ok:
                    # An offline edit replayed after a colleague's merge would otherwise
                    # change (or reopen) an empty ticket nobody looks at any more. No
                    # holder named: the merge is the news, not who held the ticket.
                    said = f"#{number} was merged into #{row.merged_into}"
                    return _refuse(conn, op_id, actor, number, said)
                return body(conn, who, row)
            except Denied as why:
                now_held = conn.execute(
                    select(_ticket.c.assignee).where(_ticket.c.number == number)
                ).scalar()
                return _refuse(conn, op_id, actor, number, str(why), now_held)

    def claim(
        self, actor: str, number: int, *, op_id: str | None = None, at: datetime | None = None
    ) -> Outcome:
        """Take a ticket nobody holds: one conditional write, so two agents never both win."""
        when = at or utc_now()

        def body(conn: Connection, who: Agent, row: Any) -> Outcome:
            check_claim(who, row.assignee)
            won = conn.execute(
                update(_ticket)
                .where(
                    _ticket.c.number == number,
                    or_(_ticket.c.assignee.is_(None), _ticket.c.assignee == actor),
                )
                .values(assignee=actor)
                .returning(_ticket.c.number)
            ).first()
            if won is None:  # cannot happen inside the serialised write; kept as the rule itself
                return Outcome(False, number, "held by another agent")
            if row.assignee != actor:
                add_event(
                    conn,
                    ticket=number,
                    actor=actor,
                    kind=EventKind.CLAIMED,
                    new=actor,
                    op_id=op_id,
                    at=when,
                )
            return Outcome(True, number, holder=actor)

        return self._act(actor, number, op_id, body, holder=actor)

    def release(
        self, actor: str, number: int, *, op_id: str | None = None, at: datetime | None = None
    ) -> Outcome:
        when = at or utc_now()

        def body(conn: Connection, who: Agent, row: Any) -> Outcome:
            check_release(who, row.assignee)
            if row.assignee is None:
                return Outcome(True, number)
            conn.execute(
                update(_ticket)
                .where(_ticket.c.number == number)
                .values(assignee=None, lock_holder=None, lock_expires=None)
            )
            add_event(
                conn,
                ticket=number,
                actor=actor,
                kind=EventKind.RELEASED,
                old=row.assignee,
                op_id=op_id,
                at=when,
            )
            return Outcome(True, number)

        return self._act(actor, number, op_id, body)

    def assign(
        self,
        actor: str,
        number: int,
        target: str,
        *,
        op_id: str | None = None,
        at: datetime | None = None,
    ) -> Outcome:
        when = at or utc_now()

        def body(conn: Connection, who: Agent, row: Any) -> Outcome:
            check_assign(who, row.assignee, _actor(conn, target))
            self._move(conn, number, row.assignee, target, actor, EventKind.ASSIGNED, op_id, when)
            return Outcome(True, number, holder=target)

        return self._act(actor, number, op_id, body, holder=target)

    def steal(
        self, actor: str, number: int, *, op_id: str | None = None, at: datetime | None = None
    ) -> Outcome:
        when = at or utc_now()

        def body(conn: Connection, who: Agent, row: Any) -> Outcome:
            check_steal(who)
            self._move(conn, number, row.assignee, actor, actor, EventKind.STOLEN, op_id, when)
            return Outcome(True, number, holder=actor)

        return self._act(actor, number, op_id, body, holder=actor)

    @staticmethod
    def _move(
        conn: Connection,
        number: int,
        old: str | None,
        new: str,
        actor: str,
        kind: EventKind,
        op_id: str | None,
        at: datetime,
    ) -> None:
        # The reply lock belongs to the holder: a new holder starts without the old one's.
        conn.execute(
            update(_ticket)
            .where(_ticket.c.number == number)
            .values(assignee=new, lock_holder=None, lock_expires=None)
        )
        add_event(conn, ticket=number, actor=actor, kind=kind, old=old, new=new, op_id=op_id, at=at)

    def reassign_all(
        self,
        actor: str,
        from_agent: str,
        to_agent: str,
        *,
        numbers: Sequence[int] | None = None,
        mark_away: bool = True,
        op_id: str | None = None,
        at: datetime | None = None,
    ) -> Outcome:
        """Hand over the open tickets of an agent (all, or the given ones), e.g. for a holiday."""
        at = at or utc_now()
        with self.store.write() as conn:
            if (earlier := _earlier(conn, op_id)) is not None:
                return earlier
            try:
                who = _actor(conn, actor)
                to = _actor(conn, to_agent)
                _actor(conn, from_agent)
                if not who.is_lead and actor != from_agent:
                    raise Denied("only a lead can hand over another agent's tickets")
                if to.away:
                    raise Denied(f"{to_agent} is away")
            except Denied as why:
                return _refuse(conn, op_id, actor, None, str(why))
            stmt = select(_ticket.c.number).where(
                _ticket.c.assignee == from_agent, _ticket.c.status.not_in(self._closed)
            )
            if numbers is not None:
                stmt = stmt.where(_ticket.c.number.in_(list(numbers)))
            moved = sorted(conn.execute(stmt).scalars())
            first_op = op_id
            for number in moved:
                self._move(
                    conn, number, from_agent, to_agent, actor, EventKind.ASSIGNED, first_op, at
                )
                first_op = None
            if mark_away:
                conn.execute(update(_agent).where(_agent.c.email == from_agent).values(away=True))
                add_event(
                    conn,
                    ticket=None,
                    actor=actor,
                    kind=EventKind.AGENT,
                    field="away",
                    old=f"{from_agent}:false",
                    new=f"{from_agent}:true",
                    op_id=first_op,
                    at=at,
                )
            return Outcome(True, message=f"{len(moved)} tickets moved to {to_agent}")

    # -- handle next -------------------------------------------------------------------------

    def handle_next(
        self,
        actor: str,
        *,
        order: Sequence[str] = DEFAULT_NEXT_ORDER,
        departments_only: bool = False,
        op_id: str | None = None,
    ) -> Outcome:
        """Pick the best waiting ticket and claim it, in one statement."""
        now = utc_now()
        # On PostgreSQL one statement takes the write turn, claims and records the event.
        # A replay takes the turn first, so that two replays of one operation cannot both
        # miss its earlier answer. (The statement's snapshot predates its wait for the turn:
        # a presence row committed in those milliseconds is not seen; the claim itself is
        # still re-checked on the row.)
        one_statement = self.store.engine.dialect.name == "postgresql"
        with self.store.write(gated=not one_statement or op_id is not None) as conn:
            if (earlier := _earlier(conn, op_id, holder=actor)) is not None:
                return earlier
            deps = None
            if departments_only or actor not in self._members:
                # Agents are never deleted: once seen, membership needs no look-up per press.
                try:
                    who = _actor(conn, actor)
                except Denied as why:
                    return Outcome(False, message=str(why))
                self._members.add(actor)
                deps = list(who.departments) if departments_only and who.departments else None
            params: dict[str, Any] = {"actor": actor, "now": now}
            if deps is None and not one_statement:
                # SQLite's hot path, straight on the driver: every colleague waits for it.
                claim, event = _sqlite_next(tuple(order), conn.dialect, self._closed)
                won = claim.first(conn, params)
                if won is not None:
                    event.first(
                        conn,
                        {
                            "ticket": won[0],
                            "actor": actor,
                            "kind": str(EventKind.CLAIMED),
                            "new": actor,
                            "op_id": op_id,
                            "at": now,
                            "recorded_at": utc_now(),
                        },
                    )
            else:
                stmt = _next_statement(
                    tuple(order), deps is not None, conn.dialect.name, self._closed
                )
                if deps is not None:
                    params["deps"] = deps
                if one_statement:
                    params.update(op_id=op_id, recorded_at=utc_now())
                won = conn.execute(stmt, params).first()
                if won is not None and not one_statement:
                    add_event(
                        conn,
                        ticket=won[0],
                        actor=actor,
                        kind=EventKind.CLAIMED,
                        new=actor,
                        op_id=op_id,
                        at=now,
                    )
            if won is None:
                return Outcome(False, message="nothing is waiting")
            return Outcome(True, won[0], holder=actor)

    def skip(
        self,
        actor: str,
        number: int,
        reason: str = "",
        *,
        seconds: int = SKIP_SECONDS,
        op_id: str | None = None,
    ) -> Outcome:
        """Not now: the ticket is not offered to this agent again for a while (and released)."""
        until = utc_now() + timedelta(seconds=seconds)

        def body(conn: Connection, _who: Agent, row: Any) -> Outcome:
            conn.execute(_skip.delete().where(_skip.c.agent == actor, _skip.c.ticket == number))
            conn.execute(
                insert(_skip),
                {"agent": actor, "ticket": number, "until": until, "reason": reason[:200]},
            )
            if row.assignee == actor:
                # The reply lock goes with the ticket, or the next agent could not answer.
                conn.execute(
                    update(_ticket)
                    .where(_ticket.c.number == number)
                    .values(assignee=None, lock_holder=None, lock_expires=None)
                )
            add_event(
                conn,
                ticket=number,
                actor=actor,
                kind=EventKind.RELEASED if row.assignee == actor else EventKind.SKIPPED,
                old=row.assignee,
                new=f"skipped: {reason}" if reason else "skipped",
                op_id=op_id,
                at=utc_now(),
            )
            return Outcome(True, number)

        return self._act(actor, number, op_id, body)

    # -- notes and fields --------------------------------------------------------------------

    def add_note(
        self, actor: str, number: int, body: str, *, note_id: str, at: datetime | None = None
    ) -> Outcome:
        """Append an internal note. Notes never conflict: the id makes a replay a no-op."""
        at = at or utc_now()
        with self.store.write() as conn:
            try:
                _actor(conn, actor)
                found = _ticket_row(conn, number)
            except Denied as why:
                return Outcome(False, number, str(why))
            target, message = number, ""
            if found.merged_into is not None:
                # A note written offline before a colleague merged the ticket: it goes where
                # the conversation went, or nobody would read it.
                from helpdesk.storage.merge import survivor_of  # merge builds on this module

                target = survivor_of(conn, number)
                message = f"#{number} was merged into #{target}: the note is on #{target}"
            row = {"id": note_id, "ticket": target, "author": actor, "body": body, "created_at": at}
            if insert_ignore(conn, _note, [row]) == 0:
                return Outcome(True, target, message, replayed=True)
            add_event(
                conn,
                ticket=target,
                actor=actor,
                kind=EventKind.NOTE,
                new=note_id,
                op_id=note_id,
                at=at,
            )
            return Outcome(True, target, message)

    def set_field(
        self,
        actor: str,
        number: int,
        field: str,
        value: str | None,
        *,
        op_id: str | None = None,
        at: datetime | None = None,
    ) -> Outcome:
        """Edit one field; the later edit wins (by when it was made), both stay in the log."""
        if field not in EDITABLE_FIELDS:
            return Outcome(False, number, f"{field} is not an editable field")
        # An edit's time is the agent's, but never later than now: a client clock running
        # ahead must not win every edit.
        when = min(at or utc_now(), utc_now())

        def body(conn: Connection, who: Agent, row: Any) -> Outcome:
            check_edit(who, row.assignee)
            new = check_field_value(field, self._known_value(field, value), self._status_names)
            old = row._mapping[field]
            old_text = None if old is None else str(old)
            last = conn.execute(
                select(func.max(_event.c.at)).where(
                    _event.c.ticket == number,
                    _event.c.field == field,
                    _event.c.kind == str(EventKind.FIELD),
                )
            ).scalar()
            wins = edit_wins(when, as_utc(last))
            add_event(
                conn,
                ticket=number,
                actor=actor,
                kind=EventKind.FIELD if wins else EventKind.FIELD_OVERRIDDEN,
                field=field,
                old=old_text,
                new=new,
                op_id=op_id,
                at=when,
            )
            if not wins:
                return Outcome(
                    False, number, f"{field} was changed later by someone else; kept {old_text!r}"
                )
            stored: Any = int(new) if field == "priority" and new is not None else new
            conn.execute(update(_ticket).where(_ticket.c.number == number).values({field: stored}))
            if field in _SLA_FIELDS:
                self.sla.recompute(conn, [number])
            return Outcome(True, number)

        return self._act(actor, number, op_id, body)

    @property
    def _status_names(self) -> frozenset[str]:
        return frozenset(s.name for s in self.workflow.statuses)

    def _known_value(self, field: str, value: str | None) -> str | None:
        """A status or priority as stored, by the workflow's names; Denied naming the
        valid ones when it is none of them."""
        if field == "status":
            found = resolve_status(self.workflow, value or "")
            if found is None:
                raise Denied(
                    f"unknown status {value!r}; the statuses are {status_choices(self.workflow)}"
                )
            return found.name
        if field == "priority" and value is not None:
            priority = parse_priority(value)
            if priority is None:
                raise Denied(f"unknown priority {value!r}; the priorities are {priority_choices()}")
            return str(priority.value)
        return value

    # -- the reply lock ----------------------------------------------------------------------

    def take_reply_lock(self, actor: str, number: int, *, ttl: int = REPLY_LOCK_TTL) -> Outcome:
        """Sending a reply needs this: held by the ticket's assignee, renewed while they
        write, and gone on its own when they stop (no stuck locks after a crash)."""
        now = utc_now()
        until = now + timedelta(seconds=ttl)
        t = _ticket.c
        with self.store.write() as conn:
            try:
                _actor(conn, actor)
                row = _ticket_row(conn, number)
            except Denied as why:
                return Outcome(False, number, str(why))
            if row.assignee not in (None, actor):
                return Outcome(False, number, f"held by {row.assignee}", holder=row.assignee)
            won = conn.execute(
                update(_ticket)
                .where(
                    t.number == number,
                    or_(t.assignee.is_(None), t.assignee == actor),
                    or_(t.lock_holder.is_(None), t.lock_holder == actor, t.lock_expires <= now),
                )
                .values(assignee=actor, lock_holder=actor, lock_expires=until)
                .returning(t.number)
            ).first()
            if won is None:
                return Outcome(
                    False, number, f"{row.lock_holder} is replying", holder=row.lock_holder
                )
            if row.assignee is None:
                add_event(
                    conn, ticket=number, actor=actor, kind=EventKind.CLAIMED, new=actor, at=now
                )
            return Outcome(True, number, holder=actor)

    def drop_reply_lock(self, actor: str, number: int) -> None:
        with self.store.write() as conn:
            conn.execute(
                update(_ticket)
                .where(_ticket.c.number == number, _ticket.c.lock_holder == actor)
                .values(lock_holder=None, lock_expires=None)
            )

    def record_reply(
        self, actor: str, number: int, message_id: str, at: datetime | None = None
    ) -> None:
        """Who sent a reply: the ticket view names them, and the first such event of a
        ticket is its first response."""
        op_id = f"replied:{message_id}"  # a sender that finishes twice records it once
        with self.store.write() as conn:
            if _replayed(conn, op_id) is not None:
                return
            add_event(
                conn,
                ticket=number,
                actor=actor,
                kind=EventKind.REPLIED,
                new=message_id,
                at=at or utc_now(),
                op_id=op_id,
            )
            self.sla.recompute(conn, [number])

    def ticket_message_ids(self, number: int) -> set[str]:
        """Every message the team knows in a ticket: what a reply's collision check compares."""
        with self.store.engine.connect() as conn:
            return set(
                conn.execute(select(_index.c.message_id).where(_index.c.ticket == number)).scalars()
            )

    # -- presence ----------------------------------------------------------------------------

    def heartbeat(
        self,
        actor: str,
        number: int,
        kind: PresenceKind = PresenceKind.VIEWING,
        *,
        ttl: int = PRESENCE_TTL,
    ) -> None:
        expires = utc_now() + timedelta(seconds=ttl)
        with self.store.write() as conn:
            conn.execute(
                _presence.delete().where(_presence.c.ticket == number, _presence.c.agent == actor)
            )
            conn.execute(
                insert(_presence),
                {"ticket": number, "agent": actor, "kind": str(kind), "expires_at": expires},
            )

    def leave(self, actor: str, number: int) -> None:
        with self.store.write() as conn:
            conn.execute(
                _presence.delete().where(_presence.c.ticket == number, _presence.c.agent == actor)
            )

    def presence(self) -> list[Presence]:
        now = utc_now()
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(_presence).where(_presence.c.expires_at > now).order_by(_presence.c.ticket)
            )
            return [
                Presence(r.ticket, r.agent, PresenceKind(r.kind), as_utc(r.expires_at) or now)
                for r in rows
            ]

    # -- reading -----------------------------------------------------------------------------

    def events_since(self, seq: int, limit: int = 1000) -> list[Event]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(_event).where(_event.c.seq > seq).order_by(_event.c.seq).limit(limit)
            )
            return [
                Event(
                    r.seq,
                    r.ticket,
                    r.actor,
                    r.kind,
                    r.field,
                    r.old,
                    r.new,
                    r.op_id,
                    as_utc(r.at) or utc_now(),
                )
                for r in rows
            ]

    def last_seq(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(_event.c.seq), 0))).scalar_one())

    def notes(self, ticket: int | None = None, ids: Sequence[str] | None = None) -> list[Note]:
        stmt = select(_note).order_by(_note.c.created_at, _note.c.id)
        if ticket is not None:
            stmt = stmt.where(_note.c.ticket == ticket)
        if ids is not None:
            stmt = stmt.where(_note.c.id.in_(list(ids)))
        with self.store.engine.connect() as conn:
            return [
                Note(r.id, r.ticket, r.author, r.body, as_utc(r.created_at) or utc_now())
                for r in conn.execute(stmt)
            ]

    def state(self, number: int) -> TicketState | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(_ticket).where(_ticket.c.number == number)).first()
            return ticket_state(row) if row else None


@functools.cache
def _next_statement(
    order: tuple[str, ...], by_department: bool, dialect: str, closed: tuple[str, ...]
) -> Any:
    """The pick-and-claim statement, built once per policy: each press only binds values
    (building it anew cost more than running it)."""
    t = _ticket
    actor: Any = bindparam("actor")
    now: Any = bindparam("now")
    others_here = exists().where(
        _presence.c.ticket == t.c.number, _presence.c.agent != actor, _presence.c.expires_at > now
    )
    skipped = exists().where(
        _skip.c.ticket == t.c.number, _skip.c.agent == actor, _skip.c.until > now
    )
    # A ticket snoozed now waits for its time (the wake-up job may not have run yet).
    awake = or_(t.c.snoozed_until.is_(None), t.c.snoozed_until <= now)
    cand = select(t.c.number).where(
        t.c.assignee.is_(None), t.c.status.not_in(closed), awake, ~others_here, ~skipped
    )
    if by_department:
        cand = cand.where(
            or_(t.c.department.is_(None), t.c.department.in_(bindparam("deps", expanding=True)))
        )
    # Leads with `assignee` (NULL for every candidate) so that the order is the one of
    # ix_team_ticket_next, which both engines then walk instead of sorting.
    cand = cand.order_by(t.c.assignee, *next_order(order), t.c.number).limit(1)
    if dialect == "postgresql":
        cand = cand.where(write_gate()).with_for_update(skip_locked=True)
    claim = (
        update(t)
        .where(t.c.number == cand.scalar_subquery(), t.c.assignee.is_(None))
        .values(assignee=actor)
        .returning(t.c.number)
    )
    if dialect != "postgresql":
        return claim
    # The claim and its event in one statement (a data-modifying WITH): the event's
    # sequence number is drawn after the write turn was taken, so events commit in order.
    won = claim.cte("won")
    event = (
        insert(_event)
        .from_select(
            ["ticket", "actor", "kind", "new", "op_id", "at", "recorded_at"],
            select(
                won.c.number,
                actor,
                literal(str(EventKind.CLAIMED)),
                actor,
                bindparam("op_id"),
                now,
                bindparam("recorded_at"),
            ),
        )
        .returning(_event.c.seq)
        .cte("event")
    )
    return select(won.c.number).add_cte(event)


@functools.cache
def _sqlite_next(
    order: tuple[str, ...], dialect: Any, closed: tuple[str, ...]
) -> tuple[DriverStatement, DriverStatement]:
    """Handle-next's claim and its event as driver statements (see `DriverStatement`)."""
    keys = ("ticket", "actor", "kind", "new", "op_id", "at", "recorded_at")
    event = (
        insert(_event)
        .values({k: bindparam(k, type_=_event.c[k].type) for k in keys})
        .returning(_event.c.seq)
    )
    return (
        DriverStatement(_next_statement(order, False, "sqlite", closed), dialect),
        DriverStatement(event, dialect),
    )


def next_order(order: Sequence[str], table: Any = None) -> list[Any]:
    """ORDER BY columns of a handle-next policy, for the team store's tickets or (offline)
    the cache's, which have the same columns."""
    t = _ticket if table is None else table
    cols: list[Any] = []
    for key in order:
        if key == "sla":
            cols += [t.c.sla_due.is_(None), t.c.sla_due]
        elif key == "priority":
            cols.append(t.c.priority.desc())
        elif key == "oldest":
            cols += [t.c.waiting_since.is_(None), t.c.waiting_since]
        else:
            raise ValueError(
                f"unknown handle-next order key {key!r}; known: {', '.join(NEXT_ORDER_KEYS)}"
            )
    return cols


__all__ = ["AgentLoad", "Denied", "Event", "LockTable", "Note", "Outcome", "Presence"]
