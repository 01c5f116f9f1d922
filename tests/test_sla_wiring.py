"""The workflow wired into the team store, on SQLite and on a real PostgreSQL: `sla_due` kept
from each ticket's history (business hours, replies, waiting), customer mail reopening
waiting and recently closed tickets or opening a linked follow-up, configured statuses, and
handle-next serving the ticket that breaches first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.core.business_hours import BusinessDuration
from helpdesk.core.team import Priority, Role
from helpdesk.core.workflow import (
    DEFAULT_PRIORITIES,
    BusinessHoursSettings,
    SlaTargets,
    StatusDefinition,
    StatusKind,
    TicketSettings,
    WorkflowSettings,
)
from helpdesk.storage.customer_reply import FOLLOW_UP, FOLLOW_UP_OF
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_store import Registration, TeamStore

PRAGUE = ZoneInfo("Europe/Prague")
LEAD, JANA = "lead@h.example", "jana@h.example"
NINE_TO_FIVE = ((9 * 3600, 17 * 3600),)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Prague in November 2026 (the 16th is a Monday, the 20th a Friday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=PRAGUE)


def hours(n: float) -> BusinessDuration:
    return BusinessDuration(seconds=n * 3600)


OFFICE = BusinessHoursSettings(
    timezone="Europe/Prague",
    mon=NINE_TO_FIVE,
    tue=NINE_TO_FIVE,
    wed=NINE_TO_FIVE,
    thu=NINE_TO_FIVE,
    fri=NINE_TO_FIVE,
    sat=(),
    sun=(),
)
WORKFLOW = WorkflowSettings(
    priorities={
        Priority.LOW: SlaTargets(),
        Priority.NORMAL: SlaTargets(first_response=hours(4), next_response=hours(4)),
        Priority.HIGH: SlaTargets(hours(2), hours(1), resolution=hours(16)),
        Priority.URGENT: SlaTargets(first_response=hours(1)),
    },
    business_hours=OFFICE,
    tickets=TicketSettings(reopen_window=timedelta(days=3)),
)


class Clock:
    """The SLA clock's "now", set by each test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_team(url: str, workflow: WorkflowSettings, now: datetime) -> tuple[LockTable, Clock]:
    store = TeamStore(url, workflow)
    clock = Clock(now)
    store.sla.clock = clock
    team = LockTable(store)
    assert team.join(LEAD, "Lead").role is Role.ADMIN  # the first agent runs the team
    team.join(JANA, "Jana")
    return team, clock


@pytest.fixture
def office(store_url: str) -> tuple[LockTable, Clock]:
    return make_team(store_url, WORKFLOW, at(16, 9))


def mail(
    mid: str,
    when: datetime,
    *,
    refs: tuple[str, ...] = (),
    outgoing: bool = False,
    customer: str = "eva@customer.example",
) -> Registration:
    return Registration(mid, list(refs), [], None, "Where is my order?", customer, when, outgoing)


def register(team: LockTable, *regs: Registration) -> list[int]:
    return [r.ticket for r in team.store.register(list(regs))]


def due(team: LockTable, number: int) -> datetime | None:
    state = team.state(number)
    assert state is not None
    return state.sla_due


def status(team: LockTable, number: int) -> str:
    state = team.state(number)
    assert state is not None
    return state.status


# -- the due time of new tickets ---------------------------------------------------------------


def test_a_friday_afternoon_ticket_is_due_on_monday_in_business_time(
    office: tuple[LockTable, Clock],
) -> None:
    team, clock = office
    clock.now = at(20, 16, 30)
    (n,) = register(team, mail("fri@c.example", at(20, 16)))
    # 1h left on Friday (16-17), then 3h on Monday from 09:00.
    assert due(team, n) == at(23, 12)
    assert status(team, n) == "new"  # the workflow's first status


def test_priority_and_department_change_the_targets(office: tuple[LockTable, Clock]) -> None:
    team, clock = office
    clock.now = at(17, 9, 30)
    (n,) = register(team, mail("p@c.example", at(17, 9)))
    assert due(team, n) == at(17, 13)  # normal: 4 business hours
    assert team.set_field(LEAD, n, "priority", "urgent", at=at(17, 9, 10)).ok
    assert due(team, n) == at(17, 10)  # urgent: 1 business hour from creation
    assert team.set_field(LEAD, n, "priority", "low", at=at(17, 9, 20)).ok
    assert due(team, n) is None  # no targets at all


def test_a_department_with_its_own_hours_is_timed_by_them(store_url: str) -> None:
    night = BusinessHoursSettings(timezone="Europe/Prague")  # round the clock
    workflow = WorkflowSettings(
        priorities=WORKFLOW.priorities,
        business_hours=OFFICE,
        departments={"night": night},
    )
    team, _ = make_team(store_url, workflow, at(20, 18))
    (n,) = register(team, mail("d@c.example", at(20, 17, 30)))
    assert due(team, n) == at(23, 13)  # office hours: Monday
    assert team.set_field(LEAD, n, "department", "night", at=at(20, 17, 40)).ok
    assert due(team, n) == at(20, 21, 30)  # the night shift's clock never stops


# -- replies, waiting, customer mail ---------------------------------------------------------


def test_a_reply_ends_the_first_response_and_the_next_one_starts_with_the_customer(
    office: tuple[LockTable, Clock],
) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    (n,) = register(team, mail("h1@c.example", at(16, 9)))
    assert team.set_field(LEAD, n, "priority", "high", at=at(16, 9, 1)).ok
    assert due(team, n) == at(16, 11)  # first response: 2h
    clock.now = at(16, 10, 1)
    team.record_reply(JANA, n, "r1@h.example", at=at(16, 10))
    assert due(team, n) == at(17, 17)  # what is left: resolution, 16 business hours
    clock.now = at(16, 13, 1)
    register(team, mail("h2@c.example", at(16, 13), refs=("r1@h.example", "h1@c.example")))
    assert due(team, n) == at(16, 14)  # the customer wrote again: next response, 1h
    clock.now = at(16, 13, 31)
    team.record_reply(JANA, n, "r2@h.example", at=at(16, 13, 30))
    assert due(team, n) == at(17, 17)


def test_a_reply_clears_the_due_time_when_no_target_is_left(
    office: tuple[LockTable, Clock],
) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    (n,) = register(team, mail("n1@c.example", at(16, 9)))
    assert due(team, n) == at(16, 13)
    clock.now = at(16, 10, 1)
    team.record_reply(JANA, n, "nr1@h.example", at=at(16, 10))
    assert due(team, n) is None  # normal has no resolution target


def test_our_reply_found_in_the_mailbox_answers_too(office: tuple[LockTable, Clock]) -> None:
    team, clock = office
    clock.now = at(16, 12)
    (n,) = register(team, mail("mb1@c.example", at(16, 9)))
    assert due(team, n) == at(16, 13)
    # Answered from a plain mail client: the Sent copy is registered as ours.
    register(team, mail("mbr1@h.example", at(16, 11), refs=("mb1@c.example",), outgoing=True))
    assert due(team, n) is None
    register(team, mail("mb2@c.example", at(16, 11, 30), refs=("mbr1@h.example",)))
    assert due(team, n) == at(16, 15, 30)  # the customer wrote back: next response, 4h


def test_waiting_on_the_customer_pauses_and_their_mail_reopens_and_rearms(
    office: tuple[LockTable, Clock],
) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    (n,) = register(team, mail("w1@c.example", at(16, 9)))
    assert team.set_field(LEAD, n, "priority", "high", at=at(16, 9, 1)).ok
    clock.now = at(16, 10, 1)
    assert team.set_field(JANA, n, "status", "waiting", at=at(16, 10)).ok  # a kind: the first
    assert status(team, n) == "waiting on customer"
    assert due(team, n) is None  # nobody can act on it: the clocks pause
    clock.now = at(16, 15, 1)
    (joined,) = register(team, mail("w2@c.example", at(16, 15), refs=("w1@c.example",)))
    assert joined == n
    assert status(team, n) == "open"
    reopened = [
        e
        for e in team.events_since(0)
        if e.ticket == n and e.kind == "field" and e.field == "status" and e.new == "open"
    ]
    assert [(e.old, e.actor) for e in reopened] == [("waiting on customer", "system")]
    # Never answered: the first response goes on from where it paused (1h ran, 1h left).
    assert due(team, n) == at(16, 16)


def test_a_reply_to_a_ticket_closed_within_the_window_reopens_it(
    office: tuple[LockTable, Clock],
) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    (n,) = register(team, mail("c1@c.example", at(16, 9)))
    clock.now = at(16, 10, 1)
    team.record_reply(JANA, n, "cr1@h.example", at=at(16, 10))
    assert team.set_field(JANA, n, "status", "closed", at=at(16, 10, 5)).ok
    assert due(team, n) is None
    clock.now = at(18, 9, 1)  # two days later: inside the three-day window
    (joined,) = register(
        team, mail("c2@c.example", at(18, 9), refs=("cr1@h.example", "c1@c.example"))
    )
    assert joined == n and status(team, n) == "open"
    assert due(team, n) == at(18, 13)  # next response: 4h from the customer's mail


def test_a_reply_long_after_closing_opens_a_linked_ticket(office: tuple[LockTable, Clock]) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    (old,) = register(team, mail("l1@c.example", at(16, 9)))
    clock.now = at(16, 10, 1)
    team.record_reply(JANA, old, "lr1@h.example", at=at(16, 10))
    assert team.set_field(JANA, old, "status", "closed", at=at(16, 10, 5)).ok
    clock.now = at(20, 10, 1)  # four days later: past the window
    (res,) = team.store.register(
        [mail("l2@c.example", at(20, 10), refs=("lr1@h.example", "l1@c.example"))]
    )
    new = res.ticket
    assert new != old and res.created
    assert status(team, old) == "closed" and status(team, new) == "new"
    assert team.store.lookup(["l2@c.example", "l1@c.example"]) == {
        "l2@c.example": new,
        "l1@c.example": old,
    }
    links = {
        (e.ticket, e.field, e.new)
        for e in team.events_since(0)
        if e.field in (FOLLOW_UP, FOLLOW_UP_OF)
    }
    assert links == {(old, FOLLOW_UP, str(new)), (new, FOLLOW_UP_OF, str(old))}
    assert next(e.kind for e in team.events_since(0) if e.ticket == new) == "created"
    assert due(team, new) == at(20, 14)  # a fresh first response
    assert due(team, old) is None
    # The customer goes on in the new ticket: it joins it, the old one stays closed.
    clock.now = at(20, 11, 1)
    (again,) = register(team, mail("l3@c.example", at(20, 11), refs=("l2@c.example",)))
    assert again == new and status(team, old) == "closed"


def test_our_own_mail_and_spam_are_never_reopened(office: tuple[LockTable, Clock]) -> None:
    team, clock = office
    clock.now = at(16, 9, 5)
    spam, waiting = register(team, mail("s1@c.example", at(16, 9)), mail("o1@c.example", at(16, 9)))
    assert team.set_field(LEAD, spam, "status", "spam", at=at(16, 9, 1)).ok
    assert team.set_field(LEAD, waiting, "status", "waiting", at=at(16, 9, 1)).ok
    clock.now = at(16, 11)
    register(
        team,
        mail("s2@c.example", at(16, 10), refs=("s1@c.example",)),
        mail("o2@h.example", at(16, 10), refs=("o1@c.example",), outgoing=True),
    )
    assert status(team, spam) == "spam" and status(team, waiting) == "waiting on customer"


# -- configured statuses, handle-next ------------------------------------------------------


def test_configured_statuses_are_the_ones_accepted_and_closed_ones_are_not_served(
    store_url: str,
) -> None:
    workflow = WorkflowSettings(
        statuses=(
            StatusDefinition("triage", "$accent", StatusKind.OPEN),
            StatusDefinition("in progress", "$primary", StatusKind.OPEN),
            StatusDefinition("resolved", "$success", StatusKind.CLOSED),
        ),
    )
    team, _ = make_team(store_url, workflow, datetime.now(UTC))
    a, b = register(
        team,
        mail("x1@c.example", datetime.now(UTC) - timedelta(hours=2)),
        mail("x2@c.example", datetime.now(UTC) - timedelta(hours=1)),
    )
    assert status(team, a) == "triage"
    assert team.set_field(LEAD, a, "status", "In Progress").ok
    assert status(team, a) == "in progress"
    refused = team.set_field(LEAD, a, "status", "waiting")  # no status of kind waiting here
    assert not refused.ok
    assert refused.message == (
        'unknown status \'waiting\'; the statuses are "triage", "in progress", "resolved"'
    )
    assert not team.set_field(LEAD, a, "priority", "asap").ok
    assert team.set_field(LEAD, a, "status", "resolved").ok
    assert team.handle_next(JANA).ticket == b  # the resolved one is older, but done


def test_handle_next_serves_the_breaching_urgent_ticket_before_an_older_normal_one(
    store_url: str,
) -> None:
    now = datetime.now(UTC)
    # Round the clock (the default): normal is due in a day, urgent in an hour, high in 4h.
    team, _ = make_team(store_url, WorkflowSettings(), now)
    older, urgent, high, almost = register(
        team,
        mail("o@c.example", now - timedelta(hours=5)),
        mail("u@c.example", now - timedelta(hours=2)),
        mail("h@c.example", now - timedelta(minutes=10)),
        mail("a@c.example", now - timedelta(hours=23, minutes=30)),
    )
    assert team.set_field(LEAD, urgent, "priority", "urgent").ok
    assert team.set_field(LEAD, high, "priority", "high").ok
    assert due(team, urgent) == now - timedelta(hours=1)  # breached an hour ago
    normal = DEFAULT_PRIORITIES[Priority.NORMAL].first_response
    assert normal is not None and due(team, older) == now - timedelta(hours=5) + normal.wall
    served = [team.handle_next(JANA).ticket for _ in range(4)]
    # Due first wins over priority: the normal ticket due in 30 minutes comes before the
    # high one due in nearly four hours; the oldest normal ticket comes last.
    assert served == [urgent, almost, high, older]
