"""What an agent types as "snooze until": ``2h``, ``tomorrow``, ``mon``, ``2026-12-01 10:30``...
read as an aware moment in the team's time zone, and the short text that shows it back.

Hours and minutes are elapsed time; days and weeks are calendar days (``1d`` at 10:00 is
10:00 tomorrow, whether or not the clocks change tonight). A wall time that the clocks skip
(02:30 on a spring-forward night) is read as the same time after the change (03:30); one that
happens twice (fall back) is read as the first. "Morning" is the opening of business hours on
that day, or :data:`MORNING` when the team keeps no hours or that day has none.

Pure: the caller passes ``now``, the zone and, when the team keeps business hours, its
calendar (see :func:`opening_calendar`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from .business_hours import DAY, BusinessCalendar

__all__ = [
    "EXPECTED",
    "MAX_AHEAD",
    "MORNING",
    "WOKE_BY_CUSTOMER",
    "WOKE_BY_TIME",
    "Preset",
    "describe_until",
    "format_until",
    "opening_calendar",
    "parse_until",
    "presets",
]

MORNING = time(9, 0)
# What a WOKE event's `new` says ended the snooze.
WOKE_BY_TIME = "time"
WOKE_BY_CUSTOMER = "customer"
# A snooze for years is a typo (2062 for 2026), and a ticket parked that long is forgotten.
MAX_AHEAD = timedelta(days=366)
EXPECTED = (
    "expected a time like 2h, 30m, 1h 30m, 3d, 1w, tomorrow, tomorrow 14:00, mon, "
    "monday 10:00, 2026-12-01, 2026-12-01 10:30, 12-01 or 14:00"
)

_DAY_NAMES = {
    "mon": 0,
    "monday": 0,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "wed": 2,
    "wednesday": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fri": 4,
    "friday": 4,
    "sat": 5,
    "saturday": 5,
    "sun": 6,
    "sunday": 6,
}
_SHORT_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SHORT_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

_DURATION = re.compile(r"^(?:\d+\s*[wdhm]\s*)+$")
_DURATION_PART = re.compile(r"(\d+)\s*([wdhm])")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


def opening_calendar(calendar: BusinessCalendar) -> BusinessCalendar | None:
    """The calendar mornings are taken from, or None when it is open round the clock (the
    default when no business hours are configured): its "opening" would be midnight."""
    round_the_clock = all(day == ((0, DAY),) for day in calendar.week)
    return None if round_the_clock and not calendar.holidays else calendar


def parse_until(
    text: str,
    now: datetime,
    zone: tzinfo,
    calendar: BusinessCalendar | None = None,
) -> datetime:
    """The moment ``text`` means, in ``zone``; ValueError saying what was expected, or that
    the moment is past or too far ahead."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    typed = " ".join(text.strip().lower().split())
    if not typed:
        raise ValueError(f"an empty time; {EXPECTED}")
    local_now = now.astimezone(zone)
    until = _read(typed, now, local_now, zone, calendar)
    if until is None:
        raise ValueError(f"not a time: {text.strip()!r}; {EXPECTED}")
    if until <= now:
        raise ValueError(f"{format_until(until, now)} is in the past; snooze until a later time")
    if until - now > MAX_AHEAD:
        raise ValueError(f"{format_until(until, now)} is more than a year ahead")
    return until


def _read(
    typed: str,
    now: datetime,
    local_now: datetime,
    zone: tzinfo,
    calendar: BusinessCalendar | None,
) -> datetime | None:
    if _DURATION.match(typed):
        return _after(typed, now, zone)
    day_text, _, clock_text = typed.partition(" ")
    clock: time | None = None
    if clock_text:
        clock = _clock(clock_text)
        if clock is None:
            return None
    today = local_now.date()
    if (only_clock := _clock(day_text)) is not None and not clock_text:
        at = _wall(today, only_clock, zone)
        return at if at > now else _wall(today + timedelta(days=1), only_clock, zone)
    if day_text == "today" and clock is not None:
        return _wall(today, clock, zone)
    if day_text == "tomorrow":
        tomorrow = today + timedelta(days=1)
        if clock is not None:
            return _wall(tomorrow, clock, zone)
        if calendar is None:
            return _wall(tomorrow, MORNING, zone)
        return calendar.next_opening(_wall(tomorrow, time(0), zone)).astimezone(zone)
    if day_text in _DAY_NAMES:
        ahead = (_DAY_NAMES[day_text] - today.weekday() - 1) % 7 + 1  # 1..7: never today
        return _on(today + timedelta(days=ahead), clock, zone, calendar)
    if m := _FULL_DATE.match(day_text):
        day = _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _on(day, clock, zone, calendar)
    if m := _MONTH_DAY.match(day_text):
        month, dom = int(m.group(1)), int(m.group(2))
        day = _date(today.year, month, dom, leap_ok=True)
        found = _on(day, clock, zone, calendar) if day is not None else None
        if found is None or found <= now:
            # Past this year: the next one (02-29 waits for a leap year, within the limit).
            for year in range(today.year + 1, today.year + 5):
                day = _date(year, month, dom, leap_ok=True)
                if day is not None:
                    return _on(day, clock, zone, calendar)
        return found
    return None


def _date(year: int, month: int, dom: int, *, leap_ok: bool = False) -> date | None:
    """The date, or None for 02-29 of a common year when ``leap_ok`` (a month-day form)."""
    try:
        return date(year, month, dom)
    except ValueError:
        if leap_ok and (month, dom) == (2, 29):
            return None
        shown = f"{month:02d}-{dom:02d}" if leap_ok else f"{year:04d}-{month:02d}-{dom:02d}"
        raise ValueError(f"no such date: {shown}") from None


def _clock(text: str) -> time | None:
    m = _CLOCK.match(text)
    if not m:
        return None
    hours, minutes = int(m.group(1)), int(m.group(2))
    if hours > 23 or minutes > 59:
        raise ValueError(f"no such time of day: {text!r} (00:00 to 23:59)")
    return time(hours, minutes)


def _after(typed: str, now: datetime, zone: tzinfo) -> datetime:
    days = 0
    elapsed = timedelta()
    seen: set[str] = set()
    for number, unit in _DURATION_PART.findall(typed):
        if unit in seen:
            raise ValueError(f"{unit} given twice in {typed!r}; {EXPECTED}")
        seen.add(unit)
        amount = int(number)
        if amount > 10_000:
            raise ValueError(f"{number}{unit} is more than a year ahead")
        if unit == "w":
            days += 7 * amount
        elif unit == "d":
            days += amount
        elif unit == "h":
            elapsed += timedelta(hours=amount)
        else:
            elapsed += timedelta(minutes=amount)
    moment = now
    if days:
        local = now.astimezone(zone)
        moment = _wall(local.date() + timedelta(days=days), local.time(), zone, fold=local.fold)
    return (moment + elapsed).astimezone(zone)


def _wall(day: date, clock: time, zone: tzinfo, *, fold: int = 0) -> datetime:
    """A wall time on a day, as a real moment: a skipped time moves past the gap."""
    naive = datetime.combine(day, clock.replace(tzinfo=None, fold=fold))
    return naive.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)


def _on(
    day: date | None, clock: time | None, zone: tzinfo, calendar: BusinessCalendar | None
) -> datetime | None:
    """A day at a time of day, or at its morning."""
    if day is None:
        return None
    if clock is not None:
        return _wall(day, clock, zone)
    if calendar is not None:
        opens = calendar.next_opening(_wall(day, time(0), zone)).astimezone(zone)
        if opens.date() == day:
            return opens
    return _wall(day, MORNING, zone)


# --------------------------------------------------------------------------------------------
# Showing it back


def format_until(until: datetime, now: datetime | None = None) -> str:
    """``Mon 1 Dec 09:00`` in ``until``'s own zone; the year only when it is not ``now``'s."""
    text = f"{_SHORT_DAYS[until.weekday()]} {until.day} {_SHORT_MONTHS[until.month - 1]}"
    if now is not None and until.year != now.astimezone(until.tzinfo).year:
        text += f" {until.year}"
    return f"{text} {until:%H:%M}"


_SHORT_SPAN = timedelta(hours=12)


def describe_until(until: datetime, now: datetime) -> str:
    """``for 2h 10m`` when it ends within half a day, else ``until Mon 1 Dec 09:00``
    (in ``until``'s zone: pass it in the team's)."""
    left = until - now
    if left <= timedelta():
        return f"ended {format_until(until, now)}"
    if left < _SHORT_SPAN:
        minutes = max(1, round(left.total_seconds() / 60))
        hours, minutes = divmod(minutes, 60)
        parts = ([f"{hours}h"] if hours else []) + ([f"{minutes}m"] if minutes else [])
        return "for " + " ".join(parts)
    return f"until {format_until(until, now)}"


@dataclass(frozen=True, slots=True)
class Preset:
    label: str  # what the agent reads: "Tomorrow morning"
    typed: str  # the same as typed text: "tomorrow"
    until: datetime


def presets(now: datetime, zone: tzinfo, calendar: BusinessCalendar | None = None) -> list[Preset]:
    """The usual choices, as the app offers them before anything is typed."""
    found = []
    for label, typed in (
        ("In 1 hour", "1h"),
        ("Tomorrow morning", "tomorrow"),
        ("Next Monday", "mon"),
    ):
        found.append(Preset(label, typed, parse_until(typed, now, zone, calendar)))
    return found
