"""Queues and parsed filters (``core.ticket_query``) as SQL conditions on the cache's tickets.

Every condition here is two-valued (never NULL), so that ``-term`` is exactly the tickets
``term`` leaves out: an unassigned ticket is one of ``-assignee:petr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    column,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    true,
)
from sqlalchemy.sql.elements import UnaryExpression

from helpdesk.core.search_text import Term as SearchTerm
from helpdesk.core.search_text import fts_query, parse_query
from helpdesk.core.ticket_query import Sort, SortKey, Term, TicketQuery, matching_statuses
from helpdesk.core.tickets import Queue, Status
from helpdesk.core.workflow import DEFAULT_STATUSES, SPAM, StatusDefinition, StatusKind
from helpdesk.storage.cache_models import MESSAGE_FTS, CachedMessage, CachedTicket, SeenTicket

ticket_t = CachedTicket.__table__
message_t = CachedMessage.__table__
seen_t = SeenTicket.__table__

# Names stored before statuses were configurable, and what they mean (a configured status of
# the same name wins).
_LEGACY = {
    Status.NEW.value: StatusKind.OPEN,
    Status.OPEN.value: StatusKind.OPEN,
    Status.WAITING.value: StatusKind.WAITING,
    Status.CLOSED.value: StatusKind.CLOSED,
    Status.SPAM.value: StatusKind.CLOSED,
}


@dataclass(frozen=True, slots=True)
class FilterContext:
    """What a filter needs beyond its text: who "me" is, what time it is, the statuses."""

    agent: str
    now: datetime
    statuses: tuple[StatusDefinition, ...] = DEFAULT_STATUSES
    due_soon: timedelta = timedelta(hours=1)
    # The statuses tickets in the cache have (`Cache.statuses_present`). With them "not closed"
    # is an IN list the status indexes can seek, instead of a NOT IN that reads them whole:
    # on 100,000 tickets, mostly closed, 0.6 ms instead of 11 ms per count.
    present: tuple[str, ...] | None = None
    _kinds: dict[StatusKind, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kinds: dict[StatusKind, list[str]] = {k: [] for k in StatusKind}
        configured = {s.name.casefold() for s in self.statuses}
        for s in self.statuses:
            kinds[s.kind].append(s.name)
        for name, kind in _LEGACY.items():
            if name not in configured:
                kinds[kind].append(name)
        object.__setattr__(self, "_kinds", {k: tuple(v) for k, v in kinds.items()})

    def names(self, kind: StatusKind) -> tuple[str, ...]:
        return self._kinds[kind]

    @property
    def status_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.statuses)

    @property
    def utc_now(self) -> datetime:
        return self.now.astimezone(UTC)


def _closed(ctx: FilterContext) -> ColumnElement[bool]:
    return ticket_t.c.status.in_(ctx.names(StatusKind.CLOSED))


def _not_closed(ctx: FilterContext) -> ColumnElement[bool]:
    closed = ctx.names(StatusKind.CLOSED)
    if ctx.present is None:
        return ticket_t.c.status.not_in(closed)
    return ticket_t.c.status.in_([s for s in ctx.present if s not in closed])


def snoozed(ctx: FilterContext) -> ColumnElement[bool]:
    """Snoozed now. Two-valued; the snooze ends by itself when its time comes, in every
    cache at once, whether or not the service has recorded the wake-up yet."""
    until = ticket_t.c.snoozed_until
    return and_(until.is_not(None), until > ctx.utc_now)


def _awake(ctx: FilterContext) -> ColumnElement[bool]:
    until = ticket_t.c.snoozed_until
    return or_(until.is_(None), until <= ctx.utc_now)


def queue_condition(queue: Queue, ctx: FilterContext) -> ColumnElement[bool]:
    match queue:
        case Queue.MINE:
            return and_(ticket_t.c.assignee == ctx.agent, _not_closed(ctx), _awake(ctx))
        case Queue.UNASSIGNED:
            return and_(ticket_t.c.assignee.is_(None), _not_closed(ctx), _awake(ctx))
        case Queue.OPEN:
            return and_(_not_closed(ctx), _awake(ctx))
        case Queue.WAITING:
            return and_(ticket_t.c.status.in_(ctx.names(StatusKind.WAITING)), _awake(ctx))
        case Queue.SNOOZED:
            # The status through a function: SQLite then walks the few snoozed tickets by
            # ix_ticket_snoozed instead of every open ticket by the status index.
            status = func.coalesce(ticket_t.c.status, "")
            return and_(snoozed(ctx), status.not_in(ctx.names(StatusKind.CLOSED)))
        case Queue.CLOSED:
            return _closed(ctx)
        case Queue.SPAM:
            return ticket_t.c.status == SPAM
    return true()  # Queue.ALL


def unread_condition(agent: str) -> ColumnElement[bool]:
    """Customer mail came after the agent last opened the ticket (or never opened it)."""
    seen_since = exists().where(
        seen_t.c.ticket == ticket_t.c.number,
        seen_t.c.agent == agent,
        seen_t.c.at >= ticket_t.c.last_activity,
    )
    return and_(ticket_t.c.waiting_on_us == true(), ~seen_since)


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(column: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    return column.like(pattern, escape="\\")


def _free_text(value: str) -> ColumnElement[bool]:
    """Subject or customer, through the full-text index: accents and case do not matter
    (``faktura`` finds ``Faktúra``), and a word costs an index look-up, not a scan."""
    words: list[str] = []
    for term in parse_query('"' + value.replace('"', " ") + '"'):
        words.extend(term.words)
    match = fts_query((SearchTerm(tuple(words)),)) if words else None
    if match is None:
        return true()  # punctuation only: nothing to look for, so it excludes nothing
    # Only the customer's messages: our replies name the agent as sender.
    hits = select(message_t.c.ticket).where(
        message_t.c.id.in_(
            select(_fts.c.rowid).where(
                _fts.c[MESSAGE_FTS].op("MATCH")("{subject sender} : " + match)
            )
        ),
        message_t.c.outgoing == false(),
    )
    return ticket_t.c.number.in_(hits)


# The contentless index as a bare table: its rowid is the message's key.
_fts = table(MESSAGE_FTS, column("rowid", Integer), column(MESSAGE_FTS))


def _term_condition(term: Term, ctx: FilterContext) -> ColumnElement[bool]:
    t = ticket_t.c
    value = term.value
    match term.field:
        case "":
            return _free_text(value)
        case "status":
            return t.status.in_(matching_statuses(value, ctx.status_names))
        case "assignee":
            if value == "none":
                return t.assignee.is_(None)
            if value == "me":
                return and_(t.assignee.is_not(None), t.assignee == ctx.agent)
            if "@" in value:
                return and_(t.assignee.is_not(None), func.lower(t.assignee) == value.lower())
            return and_(t.assignee.is_not(None), _like(t.assignee, _like_escape(value) + "@%"))
        case "tag":
            tags = literal(",") + t.tags + literal(",")
            return _like(tags, f"%,{_like_escape(value)},%")
        case "from":
            if value.startswith("@"):
                return _like(t.customer_email, "%" + _like_escape(value))
            if "@" in value:
                return t.customer_email == value.lower()
            part = f"%{_like_escape(value)}%"
            return or_(_like(t.customer_email, part), _like(t.customer_name, part))
        case "priority":
            return t.priority == int(value)
        case "dept":
            if value == "none":
                return t.department.is_(None)
            return and_(t.department.is_not(None), func.lower(t.department) == value.lower())
        case "is":
            return _is_condition(value, ctx)
    raise ValueError(f"no condition for the field {term.field!r}")  # parser and this disagree


def _is_condition(value: str, ctx: FilterContext) -> ColumnElement[bool]:
    t = ticket_t.c
    now = ctx.utc_now
    match value:
        case "unread":
            return unread_condition(ctx.agent)
        case "breached":
            return and_(t.sla_due.is_not(None), t.sla_due < now)
        case "due":
            return and_(t.sla_due.is_not(None), t.sla_due >= now, t.sla_due <= now + ctx.due_soon)
        case "open":
            others = ctx.names(StatusKind.WAITING) + ctx.names(StatusKind.CLOSED)
            return t.status.not_in(others)
        case "waiting":
            return t.status.in_(ctx.names(StatusKind.WAITING))
        case "closed":
            return _closed(ctx)
        case "snoozed":
            return snoozed(ctx)
    raise ValueError(f"no condition for is:{value}")


def query_condition(query: TicketQuery, ctx: FilterContext) -> ColumnElement[bool]:
    """All terms of ``query`` (its sort aside)."""
    parts = []
    for term in query.terms:
        cond = _term_condition(term, ctx)
        parts.append(not_(cond) if term.negated else cond)
    return and_(true(), *parts)


def order_by(sort: Sort | None) -> list[UnaryExpression[object] | ColumnElement[object]]:
    """ORDER BY of a sort; the number breaks ties, so that paging never repeats a ticket."""
    t = ticket_t.c
    sort = sort or Sort(SortKey.ACTIVITY)
    rev = sort.reverse
    match sort.key:
        case SortKey.ACTIVITY:
            if rev:
                return [t.last_activity.asc(), t.number.asc()]
            return [t.last_activity.desc(), t.number.desc()]
        case SortKey.NUMBER:
            return [t.number.desc() if rev else t.number.asc()]
        case SortKey.PRIORITY:
            if rev:
                return [t.priority.asc(), t.last_activity.asc(), t.number.asc()]
            return [t.priority.desc(), t.last_activity.desc(), t.number.desc()]
        case SortKey.SLA:
            # Tickets without a due time last either way: nobody is on the clock for them.
            return [
                t.sla_due.is_(None).asc(),
                t.sla_due.desc() if rev else t.sla_due.asc(),
                t.number.desc() if rev else t.number.asc(),
            ]
    # SortKey.CUSTOMER
    name = func.coalesce(func.nullif(t.customer_name, ""), t.customer_email).collate("NOCASE")
    return [name.desc() if rev else name.asc(), t.number.asc()]
