"""The SLA clock of one ticket, worked out from its history.

Three kinds of target, each optional, each in business time (``core.business_hours``):

* **first response**: from the ticket's creation to our first reply;
* **next response**: from a customer's message that follows a reply of ours to our next reply
  (one cycle per such message; further customer messages before we answer join the cycle);
* **resolution**: from creation to closing. Reopening resumes it where it stopped.

All clocks run only while the ticket's status is of kind *open*: they pause while it waits on
the customer and while it is closed. A target is *due* at the earliest moment its business time
runs out; a cycle is breached when it ended (or, still open, now is) after that moment. A
cycle paused before its time ran out has no due time, only what remains.

Due times are instants; :func:`describe_due` words them in **wall time** ("due in 1h 20m",
"breached 35m ago"), because an agent reads it against the clock on the wall: a ticket due
on Monday 08:30 is "due in 2d 14h" on Friday evening, not "due in 30m".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .business_hours import BusinessCalendar, BusinessDuration
from .workflow import SlaTargets, StatusKind

__all__ = [
    "CycleState",
    "SlaCycle",
    "SlaReport",
    "SlaState",
    "Target",
    "TicketEvent",
    "TicketEventKind",
    "compute_sla",
    "describe_due",
    "sla_due",
    "sla_state",
]


class Target(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


class TicketEventKind(StrEnum):
    CUSTOMER_MESSAGE = "customer message"
    OUR_REPLY = "our reply"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class TicketEvent:
    at: datetime
    kind: TicketEventKind
    status: StatusKind | None = None  # the new status's kind, for STATUS events

    @classmethod
    def customer_message(cls, at: datetime) -> TicketEvent:
        return cls(at, TicketEventKind.CUSTOMER_MESSAGE)

    @classmethod
    def our_reply(cls, at: datetime) -> TicketEvent:
        return cls(at, TicketEventKind.OUR_REPLY)

    @classmethod
    def status_change(cls, at: datetime, kind: StatusKind) -> TicketEvent:
        return cls(at, TicketEventKind.STATUS, kind)


class CycleState(StrEnum):
    RUNNING = "running"  # open, time left, clock running
    PAUSED = "paused"  # open, time left, ticket waiting on the customer
    STOPPED = "stopped"  # a response never given because the ticket was closed; time left
    MET = "met"
    BREACHED = "breached"  # ended late, or still open past its due time


@dataclass(frozen=True, slots=True)
class SlaCycle:
    target: Target
    started: datetime
    allowed: float  # business seconds the target grants, fixed when the cycle starts
    elapsed: float  # business seconds counted (while running) up to its end or now
    due: datetime | None  # when its time runs (or ran) out; None while paused with time left
    ended: datetime | None  # the reply or closing that ended it; None while open
    state: CycleState

    @property
    def remaining(self) -> float:
        """Business seconds left; negative once breached."""
        return self.allowed - self.elapsed


@dataclass(frozen=True, slots=True)
class SlaReport:
    first_response: SlaCycle | None
    next_responses: tuple[SlaCycle, ...]
    resolution: SlaCycle | None
    status: StatusKind  # the ticket's status kind now

    @property
    def cycles(self) -> tuple[SlaCycle, ...]:
        found = [self.first_response, *self.next_responses, self.resolution]
        return tuple(c for c in found if c is not None)

    @property
    def due(self) -> datetime | None:
        """The earliest due time of a cycle still to be met while the clocks run: what the team
        store keeps as ``sla_due`` and handle-next serves first. None while the ticket waits
        on the customer or is closed (nobody can act on it now)."""
        if self.status is not StatusKind.OPEN:
            return None
        dues = [c.due for c in self.cycles if c.ended is None and c.due is not None]
        return min(dues) if dues else None

    @property
    def breached(self) -> bool:
        return any(c.state is CycleState.BREACHED for c in self.cycles)


class _Cycle:
    """A cycle while the history is replayed."""

    __slots__ = ("allowed", "due", "ended", "ended_at_clock", "start_clock", "started", "target")

    def __init__(self, target: Target, started: datetime, clock: int, allowed: int) -> None:
        self.target = target
        self.started = started
        self.start_clock = clock  # the ticket's running business time (µs) at the start
        self.allowed = allowed  # µs
        self.due: datetime | None = None
        self.ended: datetime | None = None
        self.ended_at_clock: int | None = None


def _allowed_us(calendar: BusinessCalendar, start: datetime, target: BusinessDuration) -> int:
    # Business days depend on where the cycle starts; in seconds they become fixed there.
    if target.days:
        return calendar.granted_us(start, target)
    return round(target.seconds * 1e6)


class _Replay:
    """A ticket's history replayed up to ``now``: the cycles as they stand, and the clock."""

    __slots__ = ("calendar", "clock", "first", "nexts", "now", "resolution", "status")

    def __init__(
        self,
        created: datetime,
        events: Iterable[TicketEvent],
        targets: SlaTargets,
        calendar: BusinessCalendar,
        now: datetime,
        initial: StatusKind,
    ) -> None:
        self.calendar = calendar
        self.now = now
        # Plain tuples, not new TicketEvents: this runs for every ticket a sync touches.
        history = sorted(
            (
                (created if created > e.at else e.at, e.kind, e.status)
                for e in events
                if e.at <= now
            ),
            key=_first,
        )
        status = initial
        clock = 0  # running business µs since creation
        moment = created
        first = (
            _Cycle(Target.FIRST_RESPONSE, created, 0, _allowed_us(calendar, created, t))
            if (t := targets.first_response)
            else None
        )
        resolution = (
            _Cycle(Target.RESOLUTION, created, 0, _allowed_us(calendar, created, t))
            if (t := targets.resolution)
            else None
        )
        nexts: list[_Cycle] = []
        replied = False
        next_target = targets.next_response

        def advance(to: datetime) -> None:
            nonlocal clock, moment
            if status is StatusKind.OPEN and to > moment:
                run = round(calendar.business_seconds_between(moment, to) * 1e6)
                for cycle in (first, resolution, *nexts):
                    if cycle is None or cycle.ended is not None:
                        continue
                    left = cycle.allowed - (clock - cycle.start_clock)
                    if cycle.due is None and left <= run:
                        cycle.due = calendar.add_business_time(moment, max(left, 0) / 1e6)
                clock += run
            if to > moment:
                moment = to

        def end(cycle: _Cycle | None, at: datetime) -> None:
            if cycle is not None and cycle.ended is None:
                cycle.ended = at
                cycle.ended_at_clock = clock

        for at, kind, new_status in history:
            advance(at)
            if kind is TicketEventKind.OUR_REPLY:
                replied = True
                end(first, at)
                if nexts:
                    end(nexts[-1], at)
            elif kind is TicketEventKind.CUSTOMER_MESSAGE:
                waiting = nexts and nexts[-1].ended is None
                if replied and not waiting and next_target:
                    allowed = _allowed_us(calendar, at, next_target)
                    nexts.append(_Cycle(Target.NEXT_RESPONSE, at, clock, allowed))
            elif new_status is not None:
                if new_status is StatusKind.CLOSED:
                    end(resolution, at)
                elif status is StatusKind.CLOSED and resolution is not None:
                    resolution.ended = None  # reopened: the resolution clock goes on
                    resolution.ended_at_clock = None
                status = new_status
        advance(now)
        self.first = first
        self.resolution = resolution
        self.nexts = nexts
        self.status = status
        self.clock = clock

    def report(self, cycle: _Cycle | None) -> SlaCycle | None:
        if cycle is None:
            return None
        now, status = self.now, self.status
        if cycle.ended is not None:
            assert cycle.ended_at_clock is not None
            elapsed = cycle.ended_at_clock - cycle.start_clock
            late = cycle.due is not None and cycle.ended > cycle.due
            state = CycleState.BREACHED if late else CycleState.MET
            due = cycle.due
        else:
            elapsed = self.clock - cycle.start_clock
            due = cycle.due
            if due is not None and now > due:
                state = CycleState.BREACHED
            elif status is StatusKind.OPEN:
                state = CycleState.RUNNING
                if due is None:
                    due = self.calendar.add_business_time(now, (cycle.allowed - elapsed) / 1e6)
            elif status is StatusKind.WAITING or cycle.target is Target.RESOLUTION:
                state = CycleState.PAUSED
            else:
                state = CycleState.STOPPED
        return SlaCycle(
            target=cycle.target,
            started=cycle.started,
            allowed=cycle.allowed / 1e6,
            elapsed=elapsed / 1e6,
            due=due,
            ended=cycle.ended,
            state=state,
        )

    def due(self) -> datetime | None:
        """What ``SlaReport.due`` gives, without building the report."""
        if self.status is not StatusKind.OPEN:
            return None
        found: datetime | None = None
        for cycle in (self.first, *self.nexts, self.resolution):
            if cycle is None or cycle.ended is not None:
                continue
            due = cycle.due
            if due is None:
                elapsed = self.clock - cycle.start_clock
                due = self.calendar.add_business_time(self.now, (cycle.allowed - elapsed) / 1e6)
            if found is None or due < found:
                found = due
        return found


def _first(item: tuple[datetime, TicketEventKind, StatusKind | None]) -> datetime:
    return item[0]


def compute_sla(
    created: datetime,
    events: Iterable[TicketEvent],
    targets: SlaTargets,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    initial: StatusKind = StatusKind.OPEN,
) -> SlaReport:
    """Replay a ticket's history up to ``now`` and report every SLA cycle.

    ``events`` may come in any order (ties keep their given order); events before ``created``
    count as at ``created``, events after ``now`` are ignored. ``initial`` is the kind of the
    status the ticket was created with.
    """
    replay = _Replay(created, events, targets, calendar, now, initial)
    first_report = replay.report(replay.first)
    return SlaReport(
        first_response=first_report,
        next_responses=tuple(r for c in replay.nexts if (r := replay.report(c)) is not None),
        resolution=replay.report(replay.resolution),
        status=replay.status,
    )


def sla_due(
    created: datetime,
    events: Iterable[TicketEvent],
    targets: SlaTargets,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    initial: StatusKind = StatusKind.OPEN,
) -> datetime | None:
    """``compute_sla(...).due``, cheaper: the team store keeps only this, for every ticket
    a sync touches."""
    return _Replay(created, events, targets, calendar, now, initial).due()


# --------------------------------------------------------------------------------------------
# Showing a due time


class SlaState(StrEnum):
    OK = "ok"
    DUE_SOON = "due soon"
    BREACHED = "breached"


def sla_state(
    due: datetime | None, now: datetime, soon: timedelta = timedelta(hours=1)
) -> SlaState:
    """How a due time looks now: breached once past, "due soon" within ``soon`` (wall time)."""
    if due is None:
        return SlaState.OK
    if now > due:
        return SlaState.BREACHED
    if due - now <= soon:
        return SlaState.DUE_SOON
    return SlaState.OK


def _span(seconds: int) -> str:
    """Two units at most, rounded down: '2d 3h', '1h 20m', '35m'."""
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        elif parts:
            break  # "1d 5m" reads as more precise than it is: stop at the first gap
        if len(parts) == 2:
            break
    return " ".join(parts)


def describe_due(due: datetime, now: datetime) -> str:
    """``"due in 1h 20m"`` or ``"breached 35m ago"``, in wall time (see the module text)."""
    seconds = (due - now) // timedelta(seconds=1)  # floor: a moment past due is past
    if seconds >= 0:
        return f"due in {_span(seconds)}" if seconds >= 60 else "due in under a minute"
    return f"breached {_span(-seconds)} ago" if -seconds >= 60 else "breached just now"
