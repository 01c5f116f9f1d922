"""Business hours: weekends, lunch breaks, holidays, Europe/Prague DST both ways, long spans."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpdesk.core.business_hours import (
    BusinessCalendar,
    BusinessDuration,
    Holidays,
    build_week,
    parse_clock,
    parse_duration,
    parse_holiday,
    parse_interval,
)

PRAGUE = ZoneInfo("Europe/Prague")
NEW_YORK = ZoneInfo("America/New_York")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOUR = 3600


def at(text: str, zone: ZoneInfo = PRAGUE, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def office(*holidays: str) -> BusinessCalendar:
    """Monday to Friday 08:00-17:00 in Prague."""
    return BusinessCalendar.weekly(PRAGUE, {d: ["08:00-17:00"] for d in WORKDAYS}, holidays)


def with_lunch(*holidays: str) -> BusinessCalendar:
    return BusinessCalendar.weekly(
        PRAGUE, {d: ["08:00-12:00", "13:00-17:00"] for d in WORKDAYS}, holidays
    )


def night_on_sundays(interval: str) -> BusinessCalendar:
    return BusinessCalendar.weekly(PRAGUE, {"sun": [interval]})


# ------------------------------------------------------------------------------------------
# Ordinary weeks


def test_friday_afternoon_plus_four_hours_is_monday_late_morning() -> None:
    friday = at("2026-03-06 16:30")
    assert friday.strftime("%a") == "Fri"
    assert office().add_business_time(friday, 4 * HOUR) == at("2026-03-09 11:30")


def test_the_weekend_holds_no_business_time() -> None:
    cal = office()
    assert cal.business_seconds_between(at("2026-03-06 17:00"), at("2026-03-09 08:00")) == 0
    assert cal.business_seconds_between(at("2026-03-06 12:00"), at("2026-03-09 12:00")) == 9 * HOUR
    assert not cal.is_open(at("2026-03-07 10:00"))
    assert cal.next_opening(at("2026-03-07 10:00")) == at("2026-03-09 08:00")


def test_opening_and_closing_edges() -> None:
    cal = office()
    assert cal.is_open(at("2026-03-02 08:00"))
    assert not cal.is_open(at("2026-03-02 07:59:59"))
    assert not cal.is_open(at("2026-03-02 17:00"))
    monday_ten = at("2026-03-02 10:00")
    assert cal.next_opening(monday_ten) == monday_ten
    assert cal.next_opening(at("2026-03-02 17:00")) == at("2026-03-03 08:00")


def test_an_amount_that_ends_at_closing_time_gives_the_closing() -> None:
    cal = office()
    assert cal.add_business_time(at("2026-03-06 16:00"), HOUR) == at("2026-03-06 17:00")
    assert cal.add_business_time(at("2026-03-06 16:00"), HOUR + 1) == at("2026-03-09 08:00:01")


def test_zero_business_time_gives_the_start_back_even_when_closed() -> None:
    saturday = at("2026-03-07 10:00")
    assert office().add_business_time(saturday, 0) == saturday


def test_a_start_outside_hours_counts_from_the_next_opening() -> None:
    assert office().add_business_time(at("2026-03-07 10:00"), HOUR) == at("2026-03-09 09:00")
    assert office().add_business_time(at("2026-03-02 06:00"), HOUR) == at("2026-03-02 09:00")


def test_several_intervals_a_day_skip_the_lunch_break() -> None:
    cal = with_lunch()
    assert cal.add_business_time(at("2026-03-02 10:00"), 4 * HOUR) == at("2026-03-02 15:00")
    assert not cal.is_open(at("2026-03-02 12:30"))
    assert cal.next_opening(at("2026-03-02 12:30")) == at("2026-03-02 13:00")
    assert cal.business_seconds_between(at("2026-03-02 11:00"), at("2026-03-02 14:00")) == 2 * HOUR


def test_results_keep_the_time_zone_they_were_given() -> None:
    start_utc = at("2026-03-06 16:30").astimezone(UTC)
    due = office().add_business_time(start_utc, 4 * HOUR)
    assert due.tzinfo is UTC
    assert due == at("2026-03-09 11:30")


def test_between_is_negative_backwards() -> None:
    cal = office()
    a, b = at("2026-03-02 09:00"), at("2026-03-03 09:00")
    assert cal.business_seconds_between(b, a) == -cal.business_seconds_between(a, b) == -9 * HOUR


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        office().is_open(datetime(2026, 3, 2, 10, 0))


def test_another_zone_counts_in_its_own_wall_clock() -> None:
    cal = BusinessCalendar.weekly(NEW_YORK, {d: ["09:00-17:00"] for d in WORKDAYS})
    # 15:00 in Prague is 09:00 in New York (both on winter time in early February).
    assert cal.is_open(at("2026-02-02 15:00"))
    assert not cal.is_open(at("2026-02-02 14:59"))


# ------------------------------------------------------------------------------------------
# Holidays


def test_yearly_holiday_range_over_christmas() -> None:
    cal = office("12-24..12-26")
    wednesday = at("2026-12-23 16:00")
    assert cal.add_business_time(wednesday, 2 * HOUR) == at("2026-12-28 09:00")
    assert not cal.is_open(at("2026-12-24 10:00"))
    # Every year: 2027-12-24 is a Friday.
    assert not cal.is_open(at("2027-12-24 10:00"))
    assert cal.is_open(at("2027-12-23 10:00"))


def test_one_off_holiday_counts_once() -> None:
    cal = office("2026-11-17")
    assert not cal.is_open(at("2026-11-17 10:00"))
    assert cal.is_open(at("2027-11-17 10:00"))
    assert cal.next_opening(at("2026-11-17 10:00")) == at("2026-11-18 08:00")
    assert cal.business_seconds_between(at("2026-11-16 08:00"), at("2026-11-19 08:00")) == 18 * HOUR


def test_holiday_forms() -> None:
    assert parse_holiday("12-24") == Holidays(yearly=frozenset({(12, 24)}))
    assert parse_holiday("2026-11-17") == Holidays(dates=frozenset({date(2026, 11, 17)}))
    assert parse_holiday("12-31..01-02").yearly == frozenset({(12, 31), (1, 1), (1, 2)})
    assert len(parse_holiday("2026-07-01..2026-07-14").dates) == 14
    assert date(2028, 2, 29) in parse_holiday("02-29")
    for bad in ("02-30", "13-01", "2026-02-29", "12-24..2026-12-26", "2026-12-26..2026-12-24"):
        with pytest.raises(ValueError):
            parse_holiday(bad)


def test_yearly_february_29_is_skipped_in_other_years() -> None:
    cal = office("02-29")
    assert not cal.is_open(at("2028-02-29 10:00"))
    # 2027 has no 29th: a year-long span must not trip over it.
    assert cal.business_seconds_between(at("2027-02-01 00:00"), at("2027-04-01 00:00")) > 0


def test_a_calendar_that_never_opens_is_refused() -> None:
    with pytest.raises(ValueError):
        BusinessCalendar.weekly(PRAGUE, {})
    every_day = [
        f"{m:02d}-01..{m:02d}-{(date(2000, m % 12 + 1, 1) - timedelta(days=1)).day}"
        for m in range(1, 13)
    ]
    cal = office(*every_day)
    with pytest.raises(ValueError, match="never opens"):
        cal.add_business_time(at("2026-03-02 10:00"), HOUR)


# ------------------------------------------------------------------------------------------
# Daylight saving time in Europe/Prague: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00


def test_spring_forward_hour_does_not_exist() -> None:
    cal = night_on_sundays("01:00-04:00")
    sunday = (at("2026-03-29 00:00"), at("2026-03-30 00:00"))
    assert cal.business_seconds_between(*sunday) == 2 * HOUR
    assert cal.add_business_time(at("2026-03-29 01:00"), 1.5 * HOUR) == at("2026-03-29 03:30")
    # The Sunday before holds the full three hours.
    assert cal.business_seconds_between(at("2026-03-22 00:00"), at("2026-03-23 00:00")) == 3 * HOUR


def test_fall_back_hour_happens_twice() -> None:
    cal = night_on_sundays("01:00-04:00")
    assert cal.business_seconds_between(at("2026-10-25 00:00"), at("2026-10-26 00:00")) == 4 * HOUR
    due = cal.add_business_time(at("2026-10-25 01:00"), 2.5 * HOUR)
    assert due == at("2026-10-25 02:30", fold=1)  # the second 02:30, on winter time
    assert due.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_an_opening_inside_the_missing_hour_opens_when_the_clock_jumps() -> None:
    cal = night_on_sundays("02:30-05:00")
    assert cal.next_opening(at("2026-03-29 00:00")) == at("2026-03-29 03:00")
    assert cal.business_seconds_between(at("2026-03-29 00:00"), at("2026-03-30 00:00")) == 2 * HOUR


def test_a_closing_inside_the_repeated_hour_is_reached_twice() -> None:
    cal = night_on_sundays("00:00-02:30")
    # Open 00:00-02:30 on summer time, then 02:00-02:30 again on winter time.
    assert cal.business_seconds_between(at("2026-10-25 00:00"), at("2026-10-26 00:00")) == 3 * HOUR
    assert cal.is_open(at("2026-10-25 02:15", fold=1))
    assert not cal.is_open(at("2026-10-25 02:45", fold=0))
    assert cal.next_opening(at("2026-10-25 02:45", fold=0)) == at("2026-10-25 02:00", fold=1)


def test_office_hours_follow_the_wall_clock_across_the_change() -> None:
    cal = office()
    # Friday before and Monday after the change: 5 h + 4 h although 71 wall hours pass.
    friday, monday = at("2026-03-27 12:00"), at("2026-03-30 12:00")
    # (Subtracting datetimes of one tzinfo ignores the change: compare in UTC.)
    assert monday.astimezone(UTC) - friday.astimezone(UTC) == timedelta(hours=71)
    assert cal.business_seconds_between(friday, monday) == 9 * HOUR
    # Monday opens at 08:00 summer time, 06:00 UTC (a week earlier it was 07:00 UTC).
    assert cal.next_opening(at("2026-03-28 12:00")).astimezone(UTC).hour == 6
    assert cal.next_opening(at("2026-03-21 12:00")).astimezone(UTC).hour == 7


def test_round_the_clock_in_prague_has_23_and_25_hour_days() -> None:
    cal = BusinessCalendar.always_open(PRAGUE)
    assert cal.business_seconds_between(at("2026-03-29 00:00"), at("2026-03-30 00:00")) == 23 * HOUR
    assert cal.business_seconds_between(at("2026-10-25 00:00"), at("2026-10-26 00:00")) == 25 * HOUR


# ------------------------------------------------------------------------------------------
# Round the clock, the default


def test_always_open_is_wall_time() -> None:
    cal = BusinessCalendar.always_open()
    start = at("2026-03-07 23:00")
    assert cal.is_open(start)
    assert cal.next_opening(start) == start
    assert cal.add_business_time(start, 36 * HOUR) == start + timedelta(hours=36)
    assert cal.add(start, BusinessDuration(days=2)) == start + timedelta(days=2)


# ------------------------------------------------------------------------------------------
# Business days


def test_business_days_keep_the_time_of_day_and_skip_weekends_and_holidays() -> None:
    cal = office("2026-03-05")
    tuesday = at("2026-03-03 10:00")
    assert cal.add_business_days(tuesday, 5) == at("2026-03-11 10:00")  # Thursday off
    assert office().add_business_days(tuesday, 5) == at("2026-03-10 10:00")
    friday = at("2026-03-06 16:30")
    assert office().add(friday, BusinessDuration(days=1)) == at("2026-03-09 16:30")
    assert office().add(friday, BusinessDuration(days=1, seconds=HOUR)) == at("2026-03-10 08:30")


def test_business_days_from_a_closed_start_count_from_the_opening() -> None:
    assert office().add_business_days(at("2026-03-07 10:00"), 1) == at("2026-03-10 08:00")


def test_business_day_landing_after_a_shorter_day_takes_its_closing() -> None:
    hours = {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu")} | {"fri": ["08:00-14:00"]}
    cal = BusinessCalendar.weekly(PRAGUE, hours)
    assert cal.add_business_days(at("2026-03-05 16:00"), 1) == at("2026-03-06 14:00")


# ------------------------------------------------------------------------------------------
# Long spans, and how fast


def _expected_hours_in(year: int, holidays: set[date], per_day: int) -> int:
    day, total = date(year, 1, 1), 0
    while day.year == year:
        if day.weekday() < 5 and day not in holidays:
            total += per_day
        day += timedelta(days=1)
    return total


def test_a_whole_year_with_holidays_and_both_changes() -> None:
    cal = with_lunch("01-01", "05-01", "12-24..12-26", "2026-11-17")
    off = {date(2026, 1, 1), date(2026, 5, 1), date(2026, 11, 17)}
    off |= {date(2026, 12, d) for d in (24, 25, 26)}
    expected = _expected_hours_in(2026, off, 8) * HOUR
    year = (at("2026-01-01 00:00"), at("2027-01-01 00:00"))
    assert cal.business_seconds_between(*year) == expected
    # And back: adding the year's business time from New Year lands on its last closing.
    assert cal.add_business_time(year[0], expected) == at("2026-12-31 17:00")


def test_year_long_spans_take_well_under_a_millisecond_each() -> None:
    def fresh() -> BusinessCalendar:
        return with_lunch("01-01", "05-01", "12-24..12-26", "2026-11-17")

    year = (at("2026-01-01 09:00"), at("2027-01-01 09:00"))
    # Fresh calendars: no cache from an earlier call helps. Best of several runs, because the
    # machine is shared; stepping by minutes would take about a second.
    timings = []
    for _ in range(20):
        cal = fresh()
        started = time.perf_counter()
        seconds = cal.business_seconds_between(*year)
        cal.add_business_time(year[0], seconds)
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.005, f"{min(timings) * 1000:.2f} ms for a year both ways"


# ------------------------------------------------------------------------------------------
# Text forms


def test_clock_and_interval_forms() -> None:
    assert parse_clock("08:00") == 8 * HOUR
    assert parse_clock("24:00") == 24 * HOUR
    assert parse_interval("22:00-00:00") == (22 * HOUR, 24 * HOUR)
    assert parse_interval("22:00-06:00") == (22 * HOUR, 6 * HOUR)  # overnight, split later
    for bad in ("25:00", "24:30", "8", "08:60", "aa:bb"):
        with pytest.raises(ValueError):
            parse_clock(bad)
    for bad in ("08:00", "08:00-08:00", "24:00-01:00", "08:00-25:00"):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_overnight_intervals_are_split_and_overlaps_refused() -> None:
    week = build_week({6: [parse_interval("22:00-06:00")]})
    assert week[6] == ((22 * HOUR, 24 * HOUR),)
    assert week[0] == ((0, 6 * HOUR),)  # Sunday's night runs into Monday
    cal = BusinessCalendar(PRAGUE, week)
    assert cal.is_open(at("2026-03-02 05:59"))
    assert not cal.is_open(at("2026-03-02 06:00"))
    with pytest.raises(ValueError) as info:
        build_week({6: [parse_interval("22:00-06:00")], 0: [parse_interval("05:00-07:00")]})
    assert info.value.args[1] == 6  # the Sunday interval spills into Monday's
    with pytest.raises(ValueError):
        build_week({0: [(8 * HOUR, 12 * HOUR), (11 * HOUR, 17 * HOUR)]})
    # Touching intervals are one.
    assert build_week({0: [(8 * HOUR, 12 * HOUR), (12 * HOUR, 17 * HOUR)]})[0] == (
        (8 * HOUR, 17 * HOUR),
    )


def test_duration_forms() -> None:
    assert parse_duration("4h") == BusinessDuration(seconds=4 * HOUR)
    assert parse_duration("1h 30m") == parse_duration("1h30m") == parse_duration("90m")
    assert parse_duration("1.5h") == BusinessDuration(seconds=1.5 * HOUR)
    assert parse_duration("5d") == BusinessDuration(days=5)
    assert parse_duration("1d 4h") == BusinessDuration(days=1, seconds=4 * HOUR)
    assert str(parse_duration("1d 4h 30m")) == "1d 4h 30m"
    for bad in ("", "h", "4x", "30m 1h", "1h 1h", "1.5d", "4 hours", "-1h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# ------------------------------------------------------------------------------------------
# Properties


CALENDARS = {
    "office with lunch": with_lunch("12-24..12-26", "2026-11-17", "2027-03-29"),
    "nights over the changes": BusinessCalendar.weekly(
        PRAGUE,
        {"sat": ["22:00-00:30"], "sun": ["00:30-02:30", "02:45-04:00"], "wed": ["10:00-11:00"]},
        ["2026-04-01"],
    ),
    "round the clock": BusinessCalendar.always_open(PRAGUE),
}
# Starts near both changes and a holiday, so that properties meet them often.
AROUND = [
    datetime(2026, 3, 25, tzinfo=UTC),
    datetime(2026, 10, 21, tzinfo=UTC),
    datetime(2026, 12, 20, tzinfo=UTC),
    datetime(2027, 3, 25, tzinfo=UTC),
]
moments = st.builds(
    lambda base, minutes, us: base + timedelta(minutes=minutes, microseconds=us),
    st.sampled_from(AROUND),
    st.integers(0, 60 * 24 * 10),
    st.integers(0, 999_999),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), moments, st.integers(0, 200 * 24 * HOUR * 10**6))
def test_adding_then_measuring_gives_the_amount_back(name: str, start: datetime, us: int) -> None:
    cal = CALENDARS[name]
    seconds = us / 1e6
    due = cal.add_business_time(start, seconds)
    assert due >= start
    assert cal.business_seconds_between(start, due) == pytest.approx(seconds, abs=1e-6)
    if seconds > 0:
        # The earliest such moment: just before it, less time has passed.
        before = due - timedelta(microseconds=1)
        assert cal.business_seconds_between(start, before) < seconds
        assert cal.is_open(before)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), moments, moments, moments)
def test_business_time_adds_up(name: str, a: datetime, b: datetime, c: datetime) -> None:
    cal = CALENDARS[name]
    ab, bc, ac = (cal.business_seconds_between(x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert ab + bc == pytest.approx(ac, abs=1e-6)
    assert abs(ab) <= abs((b - a).total_seconds()) + 1e-6


def _by_the_minute(cal: BusinessCalendar, start: datetime, minutes: int) -> int:
    """Open minutes counted the slow, obvious way: each minute's wall clock and date."""
    hours = cal.week
    count = 0
    for n in range(minutes):
        local = (start + timedelta(minutes=n)).astimezone(cal.zone)
        if local.date() in cal.holidays:
            continue
        second = local.hour * HOUR + local.minute * 60
        if any(a <= second < b for a, b in hours[local.weekday()]):
            count += 1
    return count


# Noon UTC the day before each change, and a plain week.
CHANGES = [
    datetime(2026, 3, 28, 12, tzinfo=UTC),
    datetime(2026, 10, 24, 12, tzinfo=UTC),
    datetime(2027, 3, 27, 12, tzinfo=UTC),
    datetime(2026, 12, 20, tzinfo=UTC),
]


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(sorted(CALENDARS)),
    st.sampled_from(CHANGES),
    st.integers(0, 60 * 24 * 2),
    st.integers(0, 60 * 24 * 2),
)
def test_agrees_with_counting_minute_by_minute(
    name: str, base: datetime, offset: int, minutes: int
) -> None:
    cal = CALENDARS[name]
    start = base + timedelta(minutes=offset)
    end = start + timedelta(minutes=minutes)
    assert cal.business_seconds_between(start, end) == _by_the_minute(cal, start, minutes) * 60


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), moments)
def test_next_opening_is_open_and_nothing_opens_before_it(name: str, moment: datetime) -> None:
    cal = CALENDARS[name]
    opening = cal.next_opening(moment)
    assert opening >= moment
    assert cal.is_open(opening)
    assert cal.business_seconds_between(moment, opening) == 0
