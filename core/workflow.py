"""The ticket workflow a team configures: statuses, priorities with SLA targets, business hours.

These sit beside :class:`helpdesk.core.tickets.Status` and :class:`helpdesk.core.team.Priority`,
which stay the names stored and imported elsewhere: a configured status is known by its name
(the stored status text), a priority by its level 0-3. ``core.workflow_config`` reads all of
this from ``helpdesk.toml``; the defaults below apply when the file says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from .business_hours import DAY, WEEKDAYS, BusinessCalendar, BusinessDuration, Holidays, Interval
from .team import Priority
from .tickets import Status

__all__ = [
    "DEFAULT_PRIORITIES",
    "DEFAULT_STATUSES",
    "DEFAULT_WORKFLOW",
    "SPAM",
    "BusinessHoursSettings",
    "ReplyOutcome",
    "SlaTargets",
    "StatusDefinition",
    "StatusKind",
    "TicketSettings",
    "WorkflowSettings",
    "after_customer_reply",
]


class StatusKind(StrEnum):
    OPEN = "open"  # the team has work to do: SLA clocks run
    WAITING = "waiting"  # waiting on the customer: SLA clocks pause
    CLOSED = "closed"  # done: clocks stop; a customer reply may reopen it


@dataclass(frozen=True, slots=True)
class StatusDefinition:
    name: str  # what is stored and shown, e.g. "waiting on customer"
    colour: str  # a theme variable like "$warning", or "#rrggbb"
    kind: StatusKind


SPAM = "spam"  # always defined (kind closed): a reply to spam never reopens it

DEFAULT_STATUSES: tuple[StatusDefinition, ...] = (
    StatusDefinition("new", "$accent", StatusKind.OPEN),
    StatusDefinition("open", "$primary", StatusKind.OPEN),
    StatusDefinition("waiting on customer", "$secondary", StatusKind.WAITING),
    # The customer still waits on us while we wait on a supplier: the clock keeps running.
    StatusDefinition("waiting on third party", "$warning", StatusKind.OPEN),
    StatusDefinition("closed", "$success", StatusKind.CLOSED),
    StatusDefinition(SPAM, "$error", StatusKind.CLOSED),
)

# The names already stored by earlier versions (core.tickets.Status) and what they mean.
_LEGACY_KINDS = {
    Status.NEW.value: StatusKind.OPEN,
    Status.OPEN.value: StatusKind.OPEN,
    Status.WAITING.value: StatusKind.WAITING,
    Status.CLOSED.value: StatusKind.CLOSED,
    Status.SPAM.value: StatusKind.CLOSED,
}


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """One priority's targets, in business time; None = no target."""

    first_response: BusinessDuration | None = None
    next_response: BusinessDuration | None = None
    resolution: BusinessDuration | None = None


def _hours(n: float) -> BusinessDuration:
    return BusinessDuration(seconds=n * 3600)


DEFAULT_PRIORITIES: dict[Priority, SlaTargets] = {
    Priority.LOW: SlaTargets(BusinessDuration(days=2), BusinessDuration(days=2), None),
    Priority.NORMAL: SlaTargets(
        BusinessDuration(days=1), BusinessDuration(days=1), BusinessDuration(days=5)
    ),
    Priority.HIGH: SlaTargets(_hours(4), _hours(8), BusinessDuration(days=2)),
    Priority.URGENT: SlaTargets(_hours(1), _hours(2), BusinessDuration(days=1)),
}

_ALL_DAY: tuple[Interval, ...] = ((0, DAY),)


@dataclass(frozen=True, slots=True)
class BusinessHoursSettings:
    """``[business_hours]`` (or one department's override): round the clock by default."""

    timezone: str = "UTC"
    mon: tuple[Interval, ...] = _ALL_DAY
    tue: tuple[Interval, ...] = _ALL_DAY
    wed: tuple[Interval, ...] = _ALL_DAY
    thu: tuple[Interval, ...] = _ALL_DAY
    fri: tuple[Interval, ...] = _ALL_DAY
    sat: tuple[Interval, ...] = _ALL_DAY
    sun: tuple[Interval, ...] = _ALL_DAY
    holidays: Holidays = field(default_factory=Holidays)

    @property
    def week(self) -> tuple[tuple[Interval, ...], ...]:
        return tuple(getattr(self, name) for name in WEEKDAYS)

    def calendar(self, zone: tzinfo) -> BusinessCalendar:
        """The calendar, in ``zone``: the caller resolves :attr:`timezone` (core does no I/O)."""
        return BusinessCalendar(zone, self.week, self.holidays)


@dataclass(frozen=True, slots=True)
class TicketSettings:
    """``[tickets]``: wall-clock durations of the ticket life cycle."""

    # A customer reply this long after a ticket was closed opens a new, linked ticket instead.
    reopen_window: timedelta = timedelta(days=14)
    # Tickets due within this much wall time are shown as "due soon".
    due_soon: timedelta = timedelta(hours=1)
    # A ticket waiting on the customer this long (wall time) without an answer is closed;
    # None: never. The optional template is a notice mailed to the customer then.
    auto_close_after: timedelta | None = None
    auto_close_template: str | None = None


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    statuses: tuple[StatusDefinition, ...] = DEFAULT_STATUSES
    priorities: dict[Priority, SlaTargets] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))
    business_hours: BusinessHoursSettings = field(default_factory=BusinessHoursSettings)
    departments: dict[str, BusinessHoursSettings] = field(default_factory=dict)
    tickets: TicketSettings = field(default_factory=TicketSettings)

    @property
    def initial_status(self) -> StatusDefinition:
        """New tickets take the first status (checked to be of kind open)."""
        return self.statuses[0]

    @property
    def close_status(self) -> StatusDefinition:
        """The status closing sets: the first closed one that is not spam."""
        closed = [s for s in self.statuses if s.kind is StatusKind.CLOSED]
        return next((s for s in closed if s.name.casefold() != SPAM), closed[0])

    def status(self, name: str) -> StatusDefinition:
        """The definition of a stored status name; names stored before statuses were
        configurable keep their meaning, and an unknown name counts as open (never hidden)."""
        folded = name.strip().casefold()
        for status in self.statuses:
            if status.name.casefold() == folded:
                return status
        return StatusDefinition(name, "$foreground", _LEGACY_KINDS.get(folded, StatusKind.OPEN))

    def targets(self, priority: int) -> SlaTargets:
        try:
            return self.priorities.get(Priority(priority), SlaTargets())
        except ValueError:
            return SlaTargets()

    def hours(self, department: str | None = None) -> BusinessHoursSettings:
        """A department's business hours, or the team's when it has none of its own."""
        if department is not None and department in self.departments:
            return self.departments[department]
        return self.business_hours


DEFAULT_WORKFLOW = WorkflowSettings()


class ReplyOutcome(StrEnum):
    KEEP = "keep"  # nothing changes (already open, or spam)
    REOPEN = "reopen"  # back to an open status
    NEW_TICKET = "new ticket"  # closed too long ago: a new ticket, linked to this one


def after_customer_reply(
    status: StatusDefinition,
    closed_at: datetime | None,
    now: datetime,
    window: timedelta,
) -> ReplyOutcome:
    """What a customer's reply does to a ticket: a waiting ticket reopens; a closed one
    reopens within ``window`` of its closing (wall time), after it a linked ticket opens."""
    if status.name.casefold() == SPAM:
        return ReplyOutcome.KEEP
    if status.kind is StatusKind.OPEN:
        return ReplyOutcome.KEEP
    if status.kind is StatusKind.WAITING:
        return ReplyOutcome.REOPEN
    if closed_at is not None and now - closed_at <= window:
        return ReplyOutcome.REOPEN
    return ReplyOutcome.NEW_TICKET
