"""Reading "snooze until" as agents type it, with a fixed clock: durations, mornings by the
business hours, weekdays, dates, times of day, daylight-saving changes, and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from helpdesk.core.business_hours import BusinessCalendar
from helpdesk.core.snooze_time import (
    describe_until,
    format_until,
    opening_calendar,
    parse_until,
    presets,
)

PRAGUE = ZoneInfo("Europe/Prague")
# Friday 27 Nov 2026, 16:00 in Prague (15:00 UTC).
FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
OFFICE = BusinessCalendar.weekly(
    PRAGUE,
    {d: ["08:30-12:00", "13:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    holidays=["12-24..12-26", "2026-12-01"],
)


def at(text: str, now: datetime = FRIDAY, calendar: BusinessCalendar | None = OFFICE) -> str:
    """The moment as Prague wall time with its offset, for readable expectations."""
    return parse_until(text, now, PRAGUE, calendar).strftime("%Y-%m-%d %H:%M %z")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2h", "2026-11-27 18:00 +0100"),
        ("30m", "2026-11-27 16:30 +0100"),
        ("1h 30m", "2026-11-27 17:30 +0100"),
        ("1h30m", "2026-11-27 17:30 +0100"),
        ("3d", "2026-11-30 16:00 +0100"),
        ("1w", "2026-12-04 16:00 +0100"),
        ("1d 2h", "2026-11-28 18:00 +0100"),
        ("  2H ", "2026-11-27 18:00 +0100"),
    ],
)
def test_durations(typed: str, expected: str) -> None:
    assert at(typed) == expected


def test_tomorrow_is_the_next_opening_of_business_hours() -> None:
    # Friday: the office opens next on Monday morning, not on Saturday.
    assert at("tomorrow") == "2026-11-30 08:30 +0100"
    # On a Monday it is Tuesday's opening.
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert at("tomorrow", monday) == "2026-12-02 08:30 +0100"  # 1 Dec is a one-off holiday
    # Without business hours: 09:00 tomorrow.
    assert at("tomorrow", calendar=None) == "2026-11-28 09:00 +0100"
    assert at("Tomorrow 14:00") == "2026-11-28 14:00 +0100"  # a time given is taken as it is


def test_round_the_clock_calendar_means_no_mornings() -> None:
    assert opening_calendar(BusinessCalendar.always_open(PRAGUE)) is None
    assert opening_calendar(OFFICE) is OFFICE
    with_holiday = BusinessCalendar.weekly(
        PRAGUE, {d: ["00:00-24:00"] for d in ("mon", "tue")}, holidays=["12-24"]
    )
    assert opening_calendar(with_holiday) is with_holiday


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("mon", "2026-11-30 08:30 +0100"),
        ("monday", "2026-11-30 08:30 +0100"),
        ("Tue", "2026-12-01 09:00 +0100"),  # a holiday: no opening that day, so 09:00
        ("fri", "2026-12-04 08:30 +0100"),  # never today: next week's Friday
        ("sat", "2026-11-28 09:00 +0100"),  # the office is closed: 09:00
        ("thursday 10:15", "2026-12-03 10:15 +0100"),
    ],
)
def test_weekdays(typed: str, expected: str) -> None:
    assert at(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-02", "2026-12-02 08:30 +0100"),
        ("2026-12-01", "2026-12-01 09:00 +0100"),
        ("2026-12-02 10:30", "2026-12-02 10:30 +0100"),
        ("12-02", "2026-12-02 08:30 +0100"),
        ("12-2 7:05", "2026-12-02 07:05 +0100"),
        ("11-02", "2027-11-02 08:30 +0100"),  # past this year: next year's
        ("11-27 17:00", "2026-11-27 17:00 +0100"),  # later today is still this year
        ("17:30", "2026-11-27 17:30 +0100"),  # later today
        ("15:00", "2026-11-28 15:00 +0100"),  # past today: tomorrow
        ("today 23:59", "2026-11-27 23:59 +0100"),
    ],
)
def test_dates_and_times_of_day(typed: str, expected: str) -> None:
    assert at(typed) == expected


def test_a_february_29_waits_for_a_leap_year() -> None:
    now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert at("02-29", now, None) == "2028-02-29 09:00 +0100"


def test_spring_forward() -> None:
    # Prague skips 02:00-03:00 on Sunday 29 March 2026.
    saturday = datetime(2026, 3, 28, 9, 0, tzinfo=UTC)  # 10:00 CET
    # A day is a calendar day: the same wall time, 23 real hours later.
    one_day = parse_until("1d", saturday, PRAGUE)
    assert one_day.strftime("%Y-%m-%d %H:%M %z") == "2026-03-29 10:00 +0200"
    assert one_day - saturday == timedelta(hours=23)
    # Hours are elapsed time.
    assert at("24h", saturday) == "2026-03-29 11:00 +0200"
    # A wall time the clocks skip is read as the same time after the change.
    assert at("2026-03-29 02:30", saturday) == "2026-03-29 03:30 +0200"


def test_fall_back() -> None:
    # Prague repeats 02:00-03:00 on Sunday 25 October 2026.
    saturday = datetime(2026, 10, 24, 8, 0, tzinfo=UTC)  # 10:00 CEST
    one_day = parse_until("1d", saturday, PRAGUE)
    assert one_day.strftime("%Y-%m-%d %H:%M %z") == "2026-10-25 10:00 +0100"
    assert one_day - saturday == timedelta(hours=25)
    # A repeated wall time is its first occurrence (still summer time).
    assert at("2026-10-25 02:30", saturday) == "2026-10-25 02:30 +0200"
    # Business mornings after the change are in winter time.
    assert at("mon", saturday) == "2026-10-26 08:30 +0100"


def test_the_result_is_in_the_team_zone_and_aware() -> None:
    until = parse_until("2h", FRIDAY, PRAGUE)
    assert until.tzinfo is PRAGUE
    assert until.astimezone(UTC) == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        parse_until("2h", datetime(2026, 11, 27, 15, 0), PRAGUE)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "an empty time; expected"),
        ("soon", "not a time: 'soon'; expected a time like 2h"),
        ("yesterday", "not a time"),
        ("2x", "not a time"),
        ("tomorrow noon", "not a time"),
        ("25:00", "no such time of day: '25:00'"),
        ("12:60", "no such time of day"),
        ("2026-02-30", "no such date: 2026-02-30"),
        ("13-01", "no such date: 13-01"),
        ("2h 2h", "h given twice"),
        ("2026-11-27 15:59", "Fri 27 Nov 15:59 is in the past"),
        ("2025-12-01", "Mon 1 Dec 2025 08:30 is in the past"),
        ("today 08:00", "is in the past"),
        ("2028-01-05", "more than a year ahead"),
        ("400d", "more than a year ahead"),
        ("99999h", "more than a year ahead"),
    ],
)
def test_refusals_say_what_was_expected(typed: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_until(typed, FRIDAY, PRAGUE, OFFICE)
    assert message in str(err.value)


def test_now_itself_is_past() -> None:
    with pytest.raises(ValueError, match="in the past"):
        parse_until("0m", FRIDAY, PRAGUE)


def test_describe_until() -> None:
    now = FRIDAY
    assert describe_until(now + timedelta(hours=2, minutes=10), now) == "for 2h 10m"
    assert describe_until(now + timedelta(minutes=45), now) == "for 45m"
    assert describe_until(now + timedelta(seconds=20), now) == "for 1m"
    assert describe_until(now + timedelta(hours=11), now) == "for 11h"
    monday = parse_until("mon", now, PRAGUE, OFFICE)
    assert describe_until(monday, now) == "until Mon 30 Nov 08:30"
    next_year = parse_until("01-05", now, PRAGUE, OFFICE)
    assert describe_until(next_year, now) == "until Tue 5 Jan 2027 08:30"
    assert describe_until(now - timedelta(hours=1), now).startswith("ended ")
    # Shown in the zone of the time passed: the caller passes it in the team's.
    assert format_until(monday.astimezone(UTC)) == "Mon 30 Nov 07:30"


def test_presets() -> None:
    found = presets(FRIDAY, PRAGUE, OFFICE)
    assert [(p.label, p.typed) for p in found] == [
        ("In 1 hour", "1h"),
        ("Tomorrow morning", "tomorrow"),
        ("Next Monday", "mon"),
    ]
    assert [format_until(p.until) for p in found] == [
        "Fri 27 Nov 17:00",
        "Mon 30 Nov 08:30",
        "Mon 30 Nov 08:30",
    ]
