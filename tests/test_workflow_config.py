"""The workflow sections of helpdesk.toml: statuses, priorities, business hours, [tickets]."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpdesk.core.business_hours import BusinessDuration
from helpdesk.core.config import ConfigError, Settings, parse_config
from helpdesk.core.team import Priority
from helpdesk.core.workflow import (
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    BusinessHoursSettings,
    SlaTargets,
    StatusKind,
    TicketSettings,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "helpdesk.toml"
SOURCE = "/etc/helpdesk.toml"
PRAGUE = ZoneInfo("Europe/Prague")
HOUR = 3600


def parse(text: str) -> Settings:
    return parse_config(text, SOURCE, default_agent=("Agent", "agent@example.com"))


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value).splitlines()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PRAGUE)


# ------------------------------------------------------------------------------------------
# Defaults and the example


def test_absent_sections_give_the_defaults() -> None:
    workflow = parse("").workflow
    assert workflow.statuses == DEFAULT_STATUSES
    assert [s.name for s in workflow.statuses] == [
        "new",
        "open",
        "waiting on customer",
        "waiting on third party",
        "closed",
        "spam",
    ]
    assert workflow.priorities == DEFAULT_PRIORITIES
    assert workflow.business_hours == BusinessHoursSettings()
    assert workflow.tickets == TicketSettings(timedelta(days=14), timedelta(hours=1))
    calendar = workflow.business_hours.calendar(ZoneInfo(workflow.business_hours.timezone))
    saturday_night = at("2026-03-07 23:30")
    assert calendar.is_open(saturday_night)
    assert calendar.add_business_time(saturday_night, HOUR) == saturday_night + timedelta(hours=1)


def test_the_example_file_means_what_its_comments_say() -> None:
    workflow = parse(EXAMPLE.read_text(encoding="utf-8")).workflow
    assert workflow.statuses == DEFAULT_STATUSES
    assert workflow.priorities == DEFAULT_PRIORITIES
    hours = workflow.business_hours
    assert hours.timezone == "Europe/Prague"
    calendar = hours.calendar(PRAGUE)
    assert calendar.add_business_time(at("2026-03-06 14:30"), HOUR) == at("2026-03-09 08:30")
    assert not calendar.is_open(at("2026-11-17 10:00"))
    assert not calendar.is_open(at("2027-12-24 10:00"))
    assert not calendar.is_open(at("2026-03-07 10:00"))  # Saturday: not given, so closed
    billing = workflow.hours("billing")
    assert billing.timezone == "Europe/Prague" and billing.holidays == hours.holidays
    assert billing.calendar(PRAGUE).next_opening(at("2026-03-02 08:00")) == at("2026-03-02 09:00")
    assert workflow.hours("nobody") is hours
    assert workflow.tickets.reopen_window == timedelta(days=14)


def test_statuses_priorities_hours_and_tickets_are_read() -> None:
    workflow = parse(
        """\
[[statuses]]
name = "fresh"
colour = "#88c0d0"
kind = "open"

[[statuses]]
name = "on hold"
colour = "$warning"
kind = "waiting"

[[statuses]]
name = "solved"
kind = "closed"

[priorities.urgent]
first_response = "30m"
resolution = "1d 4h"

[business_hours]
timezone = "America/New_York"
mon = ["09:00-17:00"]
sun = ["22:00-02:00"]
holidays = ["07-04", "2026-11-26"]

[business_hours.departments.night]
sat = ["20:00-23:00"]

[tickets]
reopen_window = "3d"
due_soon = "2h 30m"
"""
    ).workflow
    assert [(s.name, s.colour, s.kind) for s in workflow.statuses] == [
        ("fresh", "#88c0d0", StatusKind.OPEN),
        ("on hold", "$warning", StatusKind.WAITING),
        ("solved", "$foreground", StatusKind.CLOSED),
        ("spam", "$error", StatusKind.CLOSED),  # always there
    ]
    assert workflow.status("On Hold").kind is StatusKind.WAITING
    assert workflow.priorities[Priority.URGENT] == SlaTargets(
        first_response=BusinessDuration(seconds=1800),
        resolution=BusinessDuration(days=1, seconds=4 * HOUR),
    )
    assert workflow.priorities[Priority.LOW] == DEFAULT_PRIORITIES[Priority.LOW]
    hours = workflow.business_hours
    assert hours.timezone == "America/New_York"
    assert hours.mon == ((0, 2 * HOUR), (9 * HOUR, 17 * HOUR))  # Sunday's night runs on
    assert hours.tue == ()
    assert date(2027, 7, 4) in hours.holidays and date(2026, 11, 26) in hours.holidays
    night = workflow.hours("night")
    assert night.timezone == "America/New_York"
    assert night.sat == ((20 * HOUR, 23 * HOUR),) and night.mon == ()
    assert workflow.tickets == TicketSettings(timedelta(days=3), timedelta(hours=2, minutes=30))


def test_business_hours_without_days_stay_round_the_clock() -> None:
    hours = parse('[business_hours]\ntimezone = "Europe/Prague"\nholidays = ["12-25"]\n')
    calendar = hours.workflow.business_hours.calendar(PRAGUE)
    assert calendar.is_open(at("2026-03-07 03:00"))
    assert not calendar.is_open(at("2026-12-25 12:00"))


def test_a_listed_priority_without_targets_has_none() -> None:
    workflow = parse("[priorities.low]\n").workflow
    assert workflow.priorities[Priority.LOW] == SlaTargets()


# ------------------------------------------------------------------------------------------
# Errors: file, line, key, what is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[business_hours]\ntimezone = "Europe/Praha"\n',
            f'{SOURCE}:2: business_hours.timezone: expected a time zone name like "Europe/Prague"'
            ' or "UTC", got "Europe/Praha"',
        ),
        (
            '[business_hours]\nmon = ["08:00-12:00"]\ntue = ["08:00-25:00"]\n',
            f"{SOURCE}:3: business_hours.tue: no such time of day: '25:00'; expected an array of "
            'opening hours like ["08:00-12:00", "13:00-17:00"], or [], got "08:00-25:00"',
        ),
        (
            '[business_hours]\nwed = ["08:00-12:00", "11:00-17:00"]\n',
            f"{SOURCE}:2: business_hours.wed: overlapping opening hours on wed; expected opening "
            "hours that do not overlap (those of the day before included, when they run past "
            "midnight)",
        ),
        (
            '[business_hours]\nmon = "08:00-17:00"\n',
            f"{SOURCE}:2: business_hours.mon: expected an array of opening hours like "
            '["08:00-12:00", "13:00-17:00"], or [], got "08:00-17:00"',
        ),
        (
            "[business_hours]\nmon = []\n",
            f"{SOURCE}:2: business_hours.mon: the calendar is never open; expected at least one "
            "day with opening hours",
        ),
        (
            '[business_hours]\nholidays = ["12-24", "02-30"]\n',
            f"{SOURCE}:2: business_hours.holidays: day is out of range for month; expected an "
            'array of dates like "12-24" (yearly), "2026-11-17" or "12-24..12-26", got "02-30"',
        ),
        (
            '[business_hours]\nmonday = ["08:00-17:00"]\n',
            f'{SOURCE}:2: business_hours.monday: unknown key (did you mean "mon"?); expected one '
            "of: timezone, mon, tue, wed, thu, fri, sat, sun, holidays, departments",
        ),
        (
            '[priorities.high]\nfirst_response = "4h"\nfirst_reply = "1h"\n',
            f"{SOURCE}:3: priorities.high.first_reply: unknown key (did you mean "
            '"first_response"?); expected one of: first_response, next_response, resolution',
        ),
        (
            '[priorities.critical]\nfirst_response = "1h"\n',
            f"{SOURCE}:1: priorities.critical: unknown key; expected one of: low, normal, high, "
            "urgent",
        ),
        (
            '[priorities.high]\nresolution = "1.5d"\n',
            f'{SOURCE}:2: priorities.high.resolution: expected a business time like "4h", '
            '"1h 30m", "5d" or "1d 4h", above zero, at most 366 days, got "1.5d"',
        ),
        (
            '[priorities.high]\nnext_response = "0h"\n',
            f'{SOURCE}:2: priorities.high.next_response: expected a business time like "4h", '
            '"1h 30m", "5d" or "1d 4h", above zero, at most 366 days, got "0h"',
        ),
        (
            "[tickets]\nreopen_window = 14\n",
            f'{SOURCE}:2: tickets.reopen_window: expected a duration like "14d", "12h" or "30m", '
            "at most 366 days, got 14",
        ),
        (
            '[tickets]\nreopen_window = "99999999999d"\n',
            f'{SOURCE}:2: tickets.reopen_window: expected a duration like "14d", "12h" or "30m", '
            'at most 366 days, got "99999999999d"',
        ),
        (
            '[priorities.high]\nfirst_response = "99999999d"\n',
            f'{SOURCE}:2: priorities.high.first_response: expected a business time like "4h", '
            '"1h 30m", "5d" or "1d 4h", above zero, at most 366 days, got "99999999d"',
        ),
    ],
)
def test_a_bad_value_is_reported_with_its_line(text: str, expected: str) -> None:
    assert problems_of(text) == [expected]


STATUSES = """\
[[statuses]]
name = "new"
kind = "open"

[[statuses]]
name = "parked"
colour = "$warning"
kind = "paused"

[[statuses]]
name = "New"
kind = "closed"
shade = "dark"
"""


def test_status_problems_name_the_entry_and_its_line() -> None:
    assert problems_of(STATUSES) == [
        f'{SOURCE}:8: statuses[2].kind: expected one of "open", "waiting", "closed", got "paused"',
        f"{SOURCE}:11: statuses[3].name: statuses[1] has the same name; expected a name no "
        'other status has, got "New"',
        f"{SOURCE}:13: statuses[3].shade: unknown key; expected one of: name, colour, kind",
    ]


def test_the_first_status_must_be_open_and_one_must_close() -> None:
    text = '[[statuses]]\nname = "pending"\nkind = "waiting"\n'
    assert problems_of(text) == [
        f'{SOURCE}:1: statuses: no way to close; expected at least one status of kind "closed"',
        f"{SOURCE}:3: statuses[1].kind: the first status is the one new tickets get, so it "
        'must be open; expected "open", got "waiting"',
    ]
    text = '[[statuses]]\nname = "open"\nkind = "open"\n'
    assert problems_of(text) == [
        f'{SOURCE}:1: statuses: no way to close; expected at least one status of kind "closed"',
    ]


def test_status_colour_and_spam_kind_are_checked() -> None:
    text = (
        '[[statuses]]\nname = "open"\nkind = "open"\ncolour = "rgb(1,2,3)"\n\n'
        '[[statuses]]\nname = "spam"\nkind = "waiting"\n'
    )
    problems = problems_of(text)
    assert len(problems) == 2
    assert problems[0].startswith(f"{SOURCE}:4: statuses[1].colour: expected a theme variable")
    assert problems[1] == (
        f'{SOURCE}:8: statuses[2].kind: the spam status is a closed one; expected "closed", '
        'got "waiting"'
    )


def test_department_problems_point_into_the_department() -> None:
    text = (
        '[business_hours]\nmon = ["08:00-17:00"]\n\n'
        '[business_hours.departments.night]\nsun = ["22:00-06:00"]\nmon = ["05:00-07:00"]\n'
        'timezone = "Mars/Olympus"\n'
    )
    assert problems_of(text) == [
        f"{SOURCE}:5: business_hours.departments.night.sun: overlapping opening hours on mon; "
        "expected opening hours that do not overlap (those of the day before included, when "
        "they run past midnight)",
        f"{SOURCE}:7: business_hours.departments.night.timezone: expected a time zone name like "
        '"Europe/Prague" or "UTC", got "Mars/Olympus"',
    ]


def test_every_problem_of_the_file_is_listed_at_once() -> None:
    text = (
        '[[statuses]]\nname = "new"\nkind = "opne"\n\n'
        '[priorities.low]\nresolution = "soon"\n\n'
        '[business_hours]\ntimezone = "Nowhere"\n\n'
        '[tickets]\ndue_soon = "1 hour"\n'
    )
    lines = problems_of(text)
    assert [line.split(": ")[0] for line in lines] == [
        f"{SOURCE}:3",
        f"{SOURCE}:6",
        f"{SOURCE}:9",
        f"{SOURCE}:12",
    ]
