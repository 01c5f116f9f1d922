"""The team store's cheap due time (``sla_due``) and the calendar's memo of granted time give
exactly what the full report and a fresh calendar give."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.core.business_hours import BusinessCalendar, BusinessDuration
from helpdesk.core.sla import TicketEvent, compute_sla, sla_due
from helpdesk.core.workflow import DEFAULT_PRIORITIES, SlaTargets, StatusKind

PRAGUE = ZoneInfo("Europe/Prague")
HOURS = {d: ["08:00-12:00", "13:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def calendars() -> list[BusinessCalendar]:
    # Made afresh for each test, so that one test's memo cannot answer another's question.
    return [
        BusinessCalendar.weekly(PRAGUE, HOURS, ["12-24..12-26", "2026-03-04"]),
        BusinessCalendar.always_open(PRAGUE),  # round the clock, across daylight saving
        BusinessCalendar.always_open(UTC),
    ]


TARGETS = [
    *DEFAULT_PRIORITIES.values(),
    SlaTargets(
        first_response=BusinessDuration(seconds=5400),
        next_response=BusinessDuration(days=1, seconds=1800),
        resolution=BusinessDuration(days=3, seconds=7200),
    ),
]
# Late March holds the spring-forward change in Prague, late October the fall-back one.
STARTS = [datetime(2026, 3, 27, 16, 30, tzinfo=UTC), datetime(2026, 10, 23, 7, 5, tzinfo=UTC)]

events = st.lists(
    st.tuples(
        st.integers(-60, 60 * 24 * 12),
        st.sampled_from(["customer", "reply", "status"]),
        st.sampled_from([StatusKind.OPEN, StatusKind.WAITING, StatusKind.CLOSED]),
    ),
    max_size=10,
)


def history(created: datetime, raw: list[tuple[int, str, StatusKind]]) -> list[TicketEvent]:
    out: list[TicketEvent] = []
    for minutes, kind, status in raw:
        when = created + timedelta(minutes=minutes)
        if kind == "customer":
            out.append(TicketEvent.customer_message(when))
        elif kind == "reply":
            out.append(TicketEvent.our_reply(when))
        else:
            out.append(TicketEvent.status_change(when, status))
    return out


@settings(max_examples=200, deadline=None)
@given(
    events,
    st.integers(0, 60 * 24 * 14),
    st.sampled_from(range(len(TARGETS))),
    st.sampled_from(range(len(STARTS))),
    st.sampled_from([StatusKind.OPEN, StatusKind.WAITING]),
)
def test_sla_due_is_the_reports_due(
    raw: list[tuple[int, str, StatusKind]],
    now_minutes: int,
    target: int,
    start: int,
    initial: StatusKind,
) -> None:
    created = STARTS[start]
    now = created + timedelta(minutes=now_minutes)
    found = history(created, raw)
    for calendar in calendars():
        report = compute_sla(created, found, TARGETS[target], calendar, now, initial=initial)
        assert sla_due(created, found, TARGETS[target], calendar, now, initial=initial) == (
            report.due
        )


def test_a_new_ticket_is_due_its_target_later() -> None:
    created = datetime(2026, 3, 2, 9, 0, tzinfo=PRAGUE)  # a Monday, 09:00
    one_day = SlaTargets(first_response=BusinessDuration(days=1))
    office, always, _ = calendars()
    # One working day later, at the same time of day (opening hours between don't count).
    assert sla_due(created, [TicketEvent.customer_message(created)], one_day, office, created) == (
        datetime(2026, 3, 3, 9, 0, tzinfo=PRAGUE)
    )
    # Over the night of the spring-forward change a day is 23 hours of wall time.
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=PRAGUE)
    due = sla_due(saturday, [], one_day, always, saturday)
    assert due is not None
    # (Instants in one zone subtract as wall times: compare them in UTC.)
    assert due.astimezone(UTC) - saturday.astimezone(UTC) == timedelta(hours=23)
    # Waiting on the customer: no due time at all.
    assert sla_due(created, [], one_day, office, created, initial=StatusKind.WAITING) is None


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 60 * 24 * 400), min_size=1, max_size=8),
    st.integers(0, 5),
    st.integers(0, 4 * 3600),
)
def test_granted_time_remembered_equals_worked_out(
    offsets: list[int], days: int, seconds: int
) -> None:
    duration = BusinessDuration(days=days, seconds=seconds)
    other = BusinessDuration(days=days + 1, seconds=seconds)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for calendar in calendars():
        for minutes in [*offsets, *offsets]:  # each start twice: the second from the memo
            start = base + timedelta(minutes=minutes)
            worked = calendar.business_seconds_between(start, calendar.add(start, duration))
            assert calendar.granted_us(start, duration) == round(worked * 1e6)
            # The same start with another duration is another question.
            worked = calendar.business_seconds_between(start, calendar.add(start, other))
            assert calendar.granted_us(start, other) == round(worked * 1e6)
            # The same instant in another zone is the same start.
            assert calendar.granted_us(start.astimezone(PRAGUE), other) == round(worked * 1e6)
