"""Routing rules and automatic replies, run inside the team-store transaction that registers
the mail (DESIGN.md "Automation, exactly once").

Writes are serialised (`TeamStore.write`), and only the registration that creates a ticket
sees it as new: so with any number of processes syncing one mailbox, each ticket is routed
once, and its automatic reply is decided once (an `auto_mail` row that one sender claims).

Every change is an event with the actor "rules", after a "rule" event naming each matching
rule, so a ticket's history says which rule did what.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, insert, select, update

from helpdesk.core.automation_config import DEFAULT_AUTOMATION, AutomationSettings
from helpdesk.core.language_guess import guess_language
from helpdesk.core.loop_guard import AutoReplyHistory, may_auto_reply
from helpdesk.core.message import ParsedMessage
from helpdesk.core.rules import (
    MAX_BODY_CHARS,
    Decision,
    MessageContext,
    Rule,
    TicketFields,
    Trigger,
    evaluate,
    resolve_assignee,
)
from helpdesk.core.team import Agent, EventKind, Priority, Role
from helpdesk.core.workflow import SPAM, StatusKind, WorkflowSettings
from helpdesk.storage.sla_clock import SlaClock
from helpdesk.storage.team_models import AutoMail, TeamAgent, TeamEvent, TeamNote, TeamTicket

if TYPE_CHECKING:
    from helpdesk.storage.team_store import Registration

__all__ = [
    "AUTO_REPLY_EVENT",
    "RULES_ACTOR",
    "RULE_EVENT",
    "AutoReason",
    "Automation",
]

RULES_ACTOR = "rules"
RULE_EVENT = "rule"  # `new` names a rule that matched
AUTO_REPLY_EVENT = "auto_reply"  # `new` names the template, `field` why it was chosen

_ticket = TeamTicket.__table__
_event = TeamEvent.__table__
_note = TeamNote.__table__
_agent = TeamAgent.__table__
_auto = AutoMail.__table__

# The body as registrations carry it: enough for rules, never a whole big mail in memory twice.
BODY_EXCERPT = min(MAX_BODY_CHARS, 20_000)


# Mail the server got longer ago than this is not new to its sender: acknowledging it now,
# on the first sync of an old mailbox, would write to everyone who ever wrote.
AUTO_REPLY_MAX_AGE = timedelta(days=1)


class AutoReason:
    ACKNOWLEDGE = "acknowledge"
    OUT_OF_HOURS = "out_of_hours"
    RULE = "rule"


@dataclass(frozen=True, slots=True)
class _Reply:
    template: str
    reason: str
    rule: str | None = None


def message_of(reg: Registration) -> ParsedMessage:
    """The registration as the parsed message that rules and the loop guard look at."""
    return ParsedMessage(
        message_id=reg.message_id,
        subject=reg.subject,
        from_addr=reg.from_addr,
        to=list(reg.to),
        cc=list(reg.cc),
        in_reply_to=list(reg.in_reply_to),
        text_body=reg.body,
        attachments=list(reg.attachments),
        auto=reg.auto,
        date=reg.date,
    )


class Automation:
    """What the team store runs on registered mail; built once per store."""

    def __init__(
        self,
        workflow: WorkflowSettings,
        sla: SlaClock,
        rules: Sequence[Rule] = (),
        settings: AutomationSettings = DEFAULT_AUTOMATION,
        our_addresses: Iterable[str] = (),
    ) -> None:
        self.workflow = workflow
        self.sla = sla
        self.rules = tuple(rules)
        self.settings = settings
        self.ours = frozenset(a.casefold() for a in our_addresses)
        self.follow_up_rules = any(r.on is Trigger.EVERY_MESSAGE for r in self.rules)
        self._closed = frozenset(
            s.name for s in workflow.statuses if s.kind is StatusKind.CLOSED
        ) | {SPAM}

    @property
    def active(self) -> bool:
        """Whether registration has anything to do here (nothing is done per message when
        there are no rules and no automatic replies)."""
        return bool(self.rules) or self.settings.sends_anything

    # -- entry points, inside the registering transaction ---------------------------------

    def on_new_tickets(
        self, conn: Connection, opened: Sequence[tuple[Registration, int]], now: datetime
    ) -> None:
        for reg, number in opened:
            self._run(conn, reg, number, new=True, now=now)

    def on_follow_ups(
        self, conn: Connection, joined: Sequence[tuple[Registration, int]], now: datetime
    ) -> None:
        if not self.follow_up_rules:
            return
        for reg, number in joined:
            self._run(conn, reg, number, new=False, now=now)

    # -- one message ------------------------------------------------------------------------

    def _run(
        self, conn: Connection, reg: Registration, number: int, *, new: bool, now: datetime
    ) -> None:
        row = conn.execute(select(_ticket).where(_ticket.c.number == number)).first()
        if row is None:
            return
        if row.status.strip().casefold() == SPAM:
            # Opened as spam (a remembered sender), or mail to a spam ticket: no rule routes
            # it to an agent and nothing answers it.
            return
        message = message_of(reg)
        in_hours = self.sla.calendar(None).is_open(reg.date)
        decision: Decision | None = None
        if self.rules:
            fields = TicketFields(
                status=row.status,
                priority=_priority(row.priority),
                category=row.category,
                tags=tuple(t for t in row.tags.split(",") if t),
                department=row.department,
                assignee=row.assignee,
            )
            decision = evaluate(
                self.rules,
                MessageContext(
                    message,
                    headers=reg.headers if reg.headers is not None else {},
                    in_business_hours=in_hours,
                    is_new_ticket=new,
                    ticket=fields,
                ),
            )
            self._apply(conn, decision, row, reg.date)
        if decision is not None and decision.spam:
            return
        reply = self._reply_for(decision, reg, new=new, department=_department(decision, row))
        if reply is not None:
            self._maybe_queue_reply(conn, reply, reg, message, number, now)

    def _apply(self, conn: Connection, decision: Decision, row: Any, at: datetime) -> None:
        number = row.number
        for name in decision.matched:
            self._event(conn, number, RULE_EVENT, at, new=name)
        changes: dict[str, Any] = {}
        status = SPAM if decision.spam else decision.status
        if status is not None:
            changes["status"] = self.workflow.status(status).name
        if decision.priority is not None:
            changes["priority"] = int(decision.priority)
        if decision.category is not None:
            changes["category"] = decision.category
        department = decision.department
        if department is not None:
            changes["department"] = department
        if decision.tags:
            tags = sorted({t for t in row.tags.split(",") if t} | set(decision.tags))
            changes["tags"] = ",".join(tags)
        for field, value in list(changes.items()):
            old = row._mapping[field]
            if old == value:
                del changes[field]
                continue
            self._event(
                conn,
                number,
                str(EventKind.FIELD),
                at,
                field=field,
                old=None if old is None else str(old),
                new=str(value),
            )
        # A ticket an agent already holds is never taken from them by a rule.
        if decision.assign is not None and row.assignee is None:
            agent = self._pick(conn, decision, department or row.department)
            if agent is not None:
                changes["assignee"] = agent
                self._event(conn, number, str(EventKind.ASSIGNED), at, new=agent)
        if changes:
            conn.execute(update(_ticket).where(_ticket.c.number == number).values(changes))
        for text in decision.notes:
            note_id = str(uuid.uuid4())
            conn.execute(
                insert(_note),
                {
                    "id": note_id,
                    "ticket": number,
                    "author": RULES_ACTOR,
                    "body": text,
                    "created_at": at,
                },
            )
            self._event(conn, number, str(EventKind.NOTE), at, new=note_id)

    def _pick(self, conn: Connection, decision: Decision, department: str | None) -> str | None:
        assign = decision.assign
        assert assign is not None
        agents = [_agent_of(r) for r in conn.execute(select(_agent))]
        if not agents:
            return None
        loads: dict[str, int] = {}
        last: str | None = None
        if assign.department:
            emails = [a.email for a in agents]
            rows = conn.execute(
                select(_ticket.c.assignee, func.count())
                .where(
                    _ticket.c.assignee.in_(emails),
                    _ticket.c.status.not_in(sorted(self._closed)),
                )
                .group_by(_ticket.c.assignee)
            )
            loads = {r[0]: int(r[1]) for r in rows}
            # Round robin continues after whoever got the department's latest ticket.
            last = conn.execute(
                select(_ticket.c.assignee)
                .where(_ticket.c.department == assign.department, _ticket.c.assignee.is_not(None))
                .order_by(_ticket.c.number.desc())
                .limit(1)
            ).scalar()
        return resolve_assignee(assign, agents, loads, last)

    # -- automatic replies ------------------------------------------------------------------

    def _reply_for(
        self, decision: Decision | None, reg: Registration, *, new: bool, department: str | None
    ) -> _Reply | None:
        if decision is not None and decision.auto_reply:
            rule = next(
                (
                    r.name
                    for r in reversed(self.rules)
                    if r.actions.auto_reply == decision.auto_reply
                ),
                None,
            )
            return _Reply(decision.auto_reply, AutoReason.RULE, rule)
        if not new:
            return None
        s = self.settings
        # Guessed only where a template depends on it: every new ticket passes here.
        by_language = s.acknowledge_by_language or s.out_of_hours_by_language
        language = _language(reg) if by_language else None
        if s.answers_out_of_hours and not self.sla.calendar(department).is_open(reg.date):
            template = s.out_of_hours_for(language)
            return _Reply(template, AutoReason.OUT_OF_HOURS) if template else None
        ack = s.acknowledgement_for([a.email for a in (*reg.to, *reg.cc) if a.email], language)
        return _Reply(ack, AutoReason.ACKNOWLEDGE) if ack else None

    def _maybe_queue_reply(
        self,
        conn: Connection,
        reply: _Reply,
        reg: Registration,
        message: ParsedMessage,
        number: int,
        now: datetime,
    ) -> None:
        if reg.received_at is not None and now - reg.received_at > AUTO_REPLY_MAX_AGE:
            return  # old mail met for the first time (a first sync, a folder added): no reply
        sender = reg.from_addr.email.casefold() if reg.from_addr else ""
        limits = self.settings.limits
        history = auto_reply_history(conn, sender, number, since=now - limits.window)
        verdict = may_auto_reply(
            message, self.ours, history, now, limits, headers=_headers(reg.headers)
        )
        if not verdict.allowed:
            return
        conn.execute(
            insert(_auto),
            {
                "ticket": number,
                "recipient": sender,
                "recipient_name": reg.from_addr.name if reg.from_addr else "",
                "template": reply.template,
                "reason": reply.reason,
                "rule": reply.rule,
                "reply_to_id": reg.message_id,
                "subject": reg.subject[:500],
                "state": "pending",
                "created_at": now,
                "detail": "",
            },
        )
        self._event(
            conn, number, AUTO_REPLY_EVENT, reg.date, field=reply.reason, new=reply.template
        )

    @staticmethod
    def _event(
        conn: Connection,
        ticket: int,
        kind: str,
        at: datetime,
        *,
        field: str | None = None,
        old: str | None = None,
        new: str | None = None,
    ) -> None:
        conn.execute(
            insert(_event),
            {
                "ticket": ticket,
                "actor": RULES_ACTOR,
                "kind": kind,
                "field": field,
                "old": old,
                "new": new,
                "at": at,
                "recorded_at": datetime.now(UTC),
            },
        )


def _language(reg: Registration) -> str | None:
    """The customer's language: their mail's Content-Language, else a guess from its text."""
    declared = _headers(reg.headers).get("content-language", ())
    return guess_language(f"{reg.subject}\n{reg.body}", declared[0] if declared else None)


def _headers(found: Mapping[str, Sequence[str]] | None) -> Mapping[str, Sequence[str]]:
    return found if found is not None else {}


def _department(decision: Decision | None, row: Any) -> str | None:
    if decision is not None and decision.department is not None:
        return decision.department
    return row.department


def _priority(value: int) -> Priority:
    try:
        return Priority(value)
    except ValueError:
        return Priority.NORMAL


def _agent_of(r: Any) -> Agent:
    try:
        role = Role(r.role)
    except ValueError:
        role = Role.AGENT
    return Agent(
        email=r.email,
        name=r.name,
        role=role,
        departments=tuple(d for d in r.departments.split(",") if d),
        away=bool(r.away),
    )


def auto_reply_history(
    conn: Connection, recipient: str, ticket: int, *, since: datetime, reason: str | None = None
) -> AutoReplyHistory:
    """The automatic replies `recipient` got since `since`, and those of `ticket` (of one
    `reason` only, when given): what the loop limits count."""
    in_ticket = select(_auto.c.created_at).where(_auto.c.ticket == ticket)
    if reason is not None:
        in_ticket = in_ticket.where(_auto.c.reason == reason)
    to_sender = select(_auto.c.created_at).where(
        _auto.c.recipient == recipient, _auto.c.created_at > since
    )
    return AutoReplyHistory(
        to_sender=[_utc(t) for t in conn.execute(to_sender).scalars()],
        in_ticket=[_utc(t) for t in conn.execute(in_ticket).scalars()],
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
