"""The SLA clock of a ticket from its history, with fixed clocks and Prague office hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.core.business_hours import BusinessCalendar, BusinessDuration
from helpdesk.core.sla import (
    CycleState,
    SlaState,
    Target,
    TicketEvent,
    compute_sla,
    describe_due,
    sla_state,
)
from helpdesk.core.workflow import (
    DEFAULT_WORKFLOW,
    ReplyOutcome,
    SlaTargets,
    StatusDefinition,
    StatusKind,
    after_customer_reply,
)

PRAGUE = ZoneInfo("Europe/Prague")
HOUR = 3600
OFFICE = BusinessCalendar.weekly(
    PRAGUE, {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}, ["2026-03-04"]
)
ALWAYS = BusinessCalendar.always_open(PRAGUE)

customer = TicketEvent.customer_message
reply = TicketEvent.our_reply


def status(when: datetime, kind: StatusKind) -> TicketEvent:
    return TicketEvent.status_change(when, kind)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PRAGUE)


def hours(n: float) -> BusinessDuration:
    return BusinessDuration(seconds=n * HOUR)


FOUR_HOURS = SlaTargets(first_response=hours(4))
ALL = SlaTargets(first_response=hours(4), next_response=hours(2), resolution=hours(16))
MONDAY = at("2026-03-02 09:00")  # 2026-03-04 (Wednesday) is a holiday in OFFICE


# ------------------------------------------------------------------------------------------
# First response


def test_friday_afternoon_ticket_is_due_monday_late_morning() -> None:
    created = at("2026-03-06 16:30")
    report = compute_sla(created, [], FOUR_HOURS, OFFICE, now=at("2026-03-09 10:00"))
    first = report.first_response
    assert first is not None
    assert first.due == at("2026-03-09 11:30")
    assert first.state is CycleState.RUNNING
    assert first.elapsed == 2.5 * HOUR
    assert report.due == at("2026-03-09 11:30")
    assert describe_due(first.due, at("2026-03-09 10:00")) == "due in 1h 30m"


def test_first_response_met() -> None:
    report = compute_sla(
        MONDAY, [reply(at("2026-03-02 12:59"))], FOUR_HOURS, OFFICE, MONDAY.replace(hour=16)
    )
    first = report.first_response
    assert first is not None
    assert first.state is CycleState.MET
    assert first.ended == at("2026-03-02 12:59")
    assert first.elapsed == 3 * HOUR + 59 * 60
    assert not report.breached
    assert report.due is None  # nothing left to meet


def test_first_response_breached_by_a_late_reply() -> None:
    report = compute_sla(
        MONDAY, [reply(at("2026-03-02 13:01"))], FOUR_HOURS, OFFICE, MONDAY.replace(hour=16)
    )
    first = report.first_response
    assert first is not None
    assert first.state is CycleState.BREACHED
    assert first.due == at("2026-03-02 13:00")
    assert report.breached


def test_unanswered_ticket_breaches_while_nobody_replies() -> None:
    now = at("2026-03-02 13:35")
    report = compute_sla(MONDAY, [], FOUR_HOURS, OFFICE, now)
    first = report.first_response
    assert first is not None and first.due is not None
    assert first.state is CycleState.BREACHED
    assert first.remaining == -35 * 60
    assert describe_due(first.due, now) == "breached 35m ago"
    assert sla_state(report.due, now) is SlaState.BREACHED


def test_a_reply_after_a_deadline_that_fell_at_closing_time_is_late() -> None:
    # Due Friday 17:00; a reply before Monday's opening adds no business time but is late.
    created = at("2026-03-06 13:00")
    report = compute_sla(
        created, [reply(at("2026-03-09 07:30"))], FOUR_HOURS, OFFICE, at("2026-03-09 09:00")
    )
    first = report.first_response
    assert first is not None
    assert first.due == at("2026-03-06 17:00")
    assert first.elapsed == first.allowed
    assert first.state is CycleState.BREACHED


def test_holidays_are_not_counted() -> None:
    # Tuesday 15:00 + 4 h: 2 h on Tuesday, none on the holiday, 2 h on Thursday.
    report = compute_sla(at("2026-03-03 15:00"), [], FOUR_HOURS, OFFICE, at("2026-03-03 15:00"))
    assert report.first_response is not None
    assert report.first_response.due == at("2026-03-05 10:00")


# ------------------------------------------------------------------------------------------
# Pauses while waiting on the customer


def test_waiting_pauses_the_clocks_and_reopening_resumes_them() -> None:
    events = [
        reply(at("2026-03-02 10:00")),
        status(at("2026-03-02 10:00"), StatusKind.WAITING),
        customer(at("2026-03-03 09:00")),
        status(at("2026-03-03 09:00"), StatusKind.OPEN),
    ]
    now = at("2026-03-03 10:00")
    report = compute_sla(MONDAY, events, ALL, OFFICE, now)
    resolution = report.resolution
    assert resolution is not None
    # 1 h on Monday before waiting, 1 h on Tuesday after reopening; the wait is not counted.
    assert resolution.elapsed == 2 * HOUR
    assert resolution.state is CycleState.RUNNING
    assert resolution.due == OFFICE.add_business_time(now, 14 * HOUR)
    (follow_up,) = report.next_responses
    assert follow_up.started == at("2026-03-03 09:00")
    assert follow_up.due == at("2026-03-03 11:00")
    assert report.due == at("2026-03-03 11:00")


def test_while_waiting_there_is_no_due_time() -> None:
    events = [reply(at("2026-03-02 10:00")), status(at("2026-03-02 10:00"), StatusKind.WAITING)]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-10 10:00"))
    assert report.status is StatusKind.WAITING
    assert report.due is None
    resolution = report.resolution
    assert resolution is not None
    assert resolution.state is CycleState.PAUSED
    assert resolution.due is None
    assert resolution.remaining == 15 * HOUR
    assert sla_state(report.due, at("2026-03-10 10:00")) is SlaState.OK


def test_first_response_pauses_too_when_set_waiting_without_a_reply() -> None:
    events = [status(at("2026-03-02 10:00"), StatusKind.WAITING)]
    report = compute_sla(MONDAY, events, FOUR_HOURS, OFFICE, at("2026-03-09 10:00"))
    first = report.first_response
    assert first is not None
    assert first.state is CycleState.PAUSED
    assert first.elapsed == HOUR


def test_a_deadline_missed_before_the_pause_stays_missed() -> None:
    events = [status(at("2026-03-02 14:00"), StatusKind.WAITING)]
    report = compute_sla(MONDAY, events, FOUR_HOURS, OFFICE, at("2026-03-05 10:00"))
    first = report.first_response
    assert first is not None
    assert first.state is CycleState.BREACHED
    assert first.due == at("2026-03-02 13:00")


# ------------------------------------------------------------------------------------------
# Next response


def test_next_response_runs_from_the_customers_follow_up() -> None:
    events = [
        customer(at("2026-03-02 09:30")),  # before our first reply: part of the first cycle
        reply(at("2026-03-02 10:00")),
        customer(at("2026-03-02 11:00")),
        customer(at("2026-03-02 11:30")),  # joins the open cycle
        reply(at("2026-03-02 14:00")),  # 3 h after the follow-up: late
        customer(at("2026-03-02 15:00")),
        reply(at("2026-03-02 15:30")),  # in time
    ]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-02 16:00"))
    assert report.first_response is not None
    assert report.first_response.state is CycleState.MET
    late, in_time = report.next_responses
    assert (late.started, late.ended, late.state) == (
        at("2026-03-02 11:00"),
        at("2026-03-02 14:00"),
        CycleState.BREACHED,
    )
    assert late.due == at("2026-03-02 13:00")
    assert (in_time.started, in_time.state, in_time.elapsed) == (
        at("2026-03-02 15:00"),
        CycleState.MET,
        30 * 60,
    )
    assert report.breached


def test_next_response_counts_business_time_over_the_night() -> None:
    events = [reply(at("2026-03-02 10:00")), customer(at("2026-03-02 16:30"))]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-02 20:00"))
    (cycle,) = report.next_responses
    assert cycle.due == at("2026-03-03 09:30")
    assert cycle.state is CycleState.RUNNING


def test_without_a_next_response_target_follow_ups_start_nothing() -> None:
    events = [reply(at("2026-03-02 10:00")), customer(at("2026-03-02 11:00"))]
    report = compute_sla(MONDAY, events, FOUR_HOURS, OFFICE, at("2026-03-02 12:00"))
    assert report.next_responses == ()
    assert report.resolution is None
    assert report.due is None


# ------------------------------------------------------------------------------------------
# Resolution


def test_resolution_met_when_closed_in_time() -> None:
    events = [reply(at("2026-03-02 10:00")), status(at("2026-03-03 12:00"), StatusKind.CLOSED)]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-05 12:00"))
    resolution = report.resolution
    assert resolution is not None
    assert resolution.state is CycleState.MET
    assert resolution.elapsed == 12 * HOUR
    assert report.due is None


def test_reopening_resumes_resolution_without_the_closed_time() -> None:
    events = [
        reply(at("2026-03-02 10:00")),
        status(at("2026-03-02 12:00"), StatusKind.CLOSED),
        customer(at("2026-03-03 09:00")),
        status(at("2026-03-03 09:00"), StatusKind.OPEN),
    ]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-03 10:00"))
    resolution = report.resolution
    assert resolution is not None
    assert resolution.ended is None
    assert resolution.elapsed == 4 * HOUR  # 3 h before closing, 1 h since reopening
    assert resolution.state is CycleState.RUNNING
    (follow_up,) = report.next_responses
    assert follow_up.due == at("2026-03-03 11:00")


def test_closing_without_a_reply_stops_the_response_clock() -> None:
    events = [status(at("2026-03-02 10:00"), StatusKind.CLOSED)]
    report = compute_sla(MONDAY, events, ALL, OFFICE, at("2026-03-09 10:00"))
    assert report.first_response is not None
    assert report.first_response.state is CycleState.STOPPED
    assert report.resolution is not None
    assert report.resolution.state is CycleState.MET
    assert not report.breached


def test_resolution_in_business_days_starts_where_the_ticket_does() -> None:
    targets = SlaTargets(resolution=BusinessDuration(days=1))
    report = compute_sla(at("2026-03-06 16:30"), [], targets, OFFICE, at("2026-03-06 16:30"))
    assert report.resolution is not None
    assert report.resolution.due == at("2026-03-09 16:30")
    assert report.resolution.allowed == 9 * HOUR


# ------------------------------------------------------------------------------------------
# Round the clock, history order, events outside the span


def test_round_the_clock_due_is_wall_time() -> None:
    created = at("2026-03-07 22:00")  # a Saturday night
    report = compute_sla(created, [], FOUR_HOURS, ALWAYS, created)
    assert report.first_response is not None
    assert report.first_response.due == created + timedelta(hours=4)


def test_event_order_does_not_matter_and_future_events_are_ignored() -> None:
    events = [
        reply(at("2026-03-02 10:00")),
        status(at("2026-03-02 10:00"), StatusKind.WAITING),
        customer(at("2026-03-03 09:00")),
        status(at("2026-03-03 09:00"), StatusKind.OPEN),
        reply(at("2026-03-03 09:45")),
    ]
    now = at("2026-03-03 10:00")
    expected = compute_sla(MONDAY, events, ALL, OFFICE, now)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    # Ties keep their order: the reply and the status change of 10:00 stay in order.
    shuffled.sort(key=lambda e: e.at)
    assert compute_sla(MONDAY, shuffled, ALL, OFFICE, now) == expected
    later = [*events, status(at("2026-03-03 11:00"), StatusKind.CLOSED)]
    assert compute_sla(MONDAY, later, ALL, OFFICE, now) == expected


# ------------------------------------------------------------------------------------------
# Property: the clocks count exactly the business time spent open


kinds = st.sampled_from([StatusKind.OPEN, StatusKind.WAITING, StatusKind.CLOSED])
event_lists = st.lists(
    st.tuples(st.integers(0, 60 * 24 * 9), st.sampled_from(["customer", "reply", "status"]), kinds),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(event_lists, st.integers(0, 60 * 24 * 10))
def test_clocks_count_the_business_time_spent_open(
    raw: list[tuple[int, str, StatusKind]], now_minutes: int
) -> None:
    created = at("2026-03-02 09:00")
    now = created + timedelta(minutes=now_minutes)
    events = []
    for minutes, kind, new_status in sorted(raw, key=lambda r: r[0]):
        moment = created + timedelta(minutes=minutes)
        if kind == "customer":
            events.append(customer(moment))
        elif kind == "reply":
            events.append(reply(moment))
        else:
            events.append(status(moment, new_status))
    report = compute_sla(created, events, ALL, OFFICE, now)

    # The slow way: walk the status periods and add up business time while open.
    def open_time_until(end: datetime) -> float:
        total, current, since = 0.0, StatusKind.OPEN, created
        for e in events:
            if e.at > end:
                break
            if e.status is not None:
                if current is StatusKind.OPEN:
                    total += OFFICE.business_seconds_between(since, e.at)
                current, since = e.status, e.at
        if current is StatusKind.OPEN and end > since:
            total += OFFICE.business_seconds_between(since, end)
        return total

    replies = [e.at for e in events if e.kind.value == "our reply" and e.at <= now]
    first = report.first_response
    assert first is not None
    first_end = replies[0] if replies else now
    assert first.elapsed == open_time_until(first_end)
    assert (first.ended is not None) == bool(replies)
    if first.ended is not None:
        late = first.elapsed > first.allowed or (first.due is not None and first.ended > first.due)
        assert first.state is (CycleState.BREACHED if late else CycleState.MET)
    for cycle in report.cycles:
        assert (
            0
            <= cycle.elapsed
            <= (
                (cycle.ended or now).astimezone(UTC) - cycle.started.astimezone(UTC)
            ).total_seconds()
        )
        if cycle.due is not None and cycle.state is not CycleState.BREACHED:
            assert cycle.ended is None or cycle.ended <= cycle.due
    if report.due is not None:
        assert report.status is StatusKind.OPEN


# ------------------------------------------------------------------------------------------
# How a due time reads


def test_sla_state_by_wall_time() -> None:
    now = at("2026-03-02 12:00")
    assert sla_state(None, now) is SlaState.OK
    assert sla_state(now + timedelta(hours=3), now) is SlaState.OK
    assert sla_state(now + timedelta(minutes=59), now) is SlaState.DUE_SOON
    assert sla_state(now, now) is SlaState.DUE_SOON
    assert sla_state(now - timedelta(seconds=1), now) is SlaState.BREACHED
    assert sla_state(now + timedelta(hours=3), now, soon=timedelta(hours=4)) == "due soon"


def test_describe_due() -> None:
    now = at("2026-03-02 12:00")
    assert describe_due(now + timedelta(hours=1, minutes=20), now) == "due in 1h 20m"
    assert describe_due(now - timedelta(minutes=35), now) == "breached 35m ago"
    assert describe_due(now + timedelta(days=2, hours=3, minutes=10), now) == "due in 2d 3h"
    assert describe_due(now + timedelta(days=1, minutes=10), now) == "due in 1d"
    assert describe_due(now + timedelta(seconds=30), now) == "due in under a minute"
    assert describe_due(now - timedelta(seconds=1), now) == "breached just now"
    assert describe_due(now - timedelta(hours=5, seconds=59), now) == "breached 5h ago"


# ------------------------------------------------------------------------------------------
# A customer's reply to a waiting or closed ticket


def test_customer_reply_reopens_waiting_and_recently_closed_tickets() -> None:
    window = timedelta(days=14)
    now = at("2026-03-20 10:00")
    waiting = StatusDefinition("waiting on customer", "$secondary", StatusKind.WAITING)
    closed = StatusDefinition("closed", "$success", StatusKind.CLOSED)
    spam = StatusDefinition("spam", "$error", StatusKind.CLOSED)
    opened = StatusDefinition("open", "$primary", StatusKind.OPEN)
    assert after_customer_reply(waiting, None, now, window) is ReplyOutcome.REOPEN
    assert (
        after_customer_reply(closed, now - timedelta(days=13), now, window) is ReplyOutcome.REOPEN
    )
    assert (
        after_customer_reply(closed, now - timedelta(days=15), now, window)
        is ReplyOutcome.NEW_TICKET
    )
    assert after_customer_reply(closed, None, now, window) is ReplyOutcome.NEW_TICKET
    assert after_customer_reply(spam, now, now, window) is ReplyOutcome.KEEP
    assert after_customer_reply(opened, None, now, window) is ReplyOutcome.KEEP


def test_stored_status_names_keep_their_meaning() -> None:
    workflow = DEFAULT_WORKFLOW
    assert workflow.status("waiting").kind is StatusKind.WAITING  # stored by earlier versions
    assert workflow.status("Waiting on customer").kind is StatusKind.WAITING
    assert workflow.status("waiting on third party").kind is StatusKind.OPEN
    assert workflow.status("spam").kind is StatusKind.CLOSED
    assert workflow.status("something unknown").kind is StatusKind.OPEN
    assert workflow.initial_status.name == "new"
    assert workflow.targets(3).first_response == hours(1)
    assert workflow.targets(9) == SlaTargets()
    assert Target.FIRST_RESPONSE == "first_response"
