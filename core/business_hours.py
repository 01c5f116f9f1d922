"""Business hours: when the team works, and how much working time lies between two moments.

A :class:`BusinessCalendar` holds a time zone, opening intervals for each weekday (wall-clock
times, several a day allowed) and holidays (yearly like ``12-24`` and one-off dates). An
instant is *open* when its wall-clock time in the calendar's zone falls inside an interval of
that date's weekday and the date is not a holiday. Everything else follows from that one
rule, which is what makes daylight-saving changes come out right:

* spring forward: wall times that do not exist (02:00-03:00 in Europe/Prague) are never open,
  so an interval 01:00-04:00 holds two real hours that day;
* fall back: wall times that happen twice are open both times, so 01:00-04:00 holds four.

The arithmetic works in integer microseconds since the epoch, so adding business time and
measuring it back gives exactly what was added. It walks day by day only where a day differs
from an ordinary week (a holiday, a change of UTC offset); ordinary weeks are skipped whole,
so a year takes about sixty steps, not half a million minutes.

Pure: the caller passes the ``tzinfo`` (a ``zoneinfo.ZoneInfo``, usually).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

__all__ = [
    "WEEKDAYS",
    "BusinessCalendar",
    "BusinessDuration",
    "Holidays",
    "build_week",
    "parse_clock",
    "parse_duration",
    "parse_holiday",
    "parse_interval",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86_400
_US = 1_000_000
_DAY_US = DAY * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
# UTC offsets in use stay within -12h..+14h; a day's instants lie within this much of its
# wall-clock midnight-to-midnight read as UTC.
_MARGIN = 16 * 3600
# Weeks in a row with no open time before a calendar counts as never opening (a guard against
# a calendar whose yearly holidays cover every day the week opens).
_MAX_EMPTY_DAYS = 8 * 366

Interval = tuple[int, int]  # seconds after midnight, wall clock; end may be 24:00
Week = tuple[tuple[Interval, ...], ...]  # seven days, Monday first


# --------------------------------------------------------------------------------------------
# Text forms: "08:00", "08:00-17:00", "12-24", "2026-11-17", "12-24..12-26", "1d 4h"

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(text: str) -> int:
    """``"HH:MM"`` as seconds after midnight; ``"24:00"`` is the end of the day."""
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(f"not a time of day: {text!r}")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"no such time of day: {text!r}")
    return hours * 3600 + minutes * 60


def parse_interval(text: str) -> Interval:
    """``"08:00-17:00"`` as (start, end) seconds. An overnight interval (``"22:00-06:00"``)
    comes back with end < start; :func:`build_week` carries its tail into the next day."""
    start_text, sep, end_text = text.partition("-")
    if not sep:
        raise ValueError(f"not an interval like 08:00-17:00: {text!r}")
    start, end = parse_clock(start_text), parse_clock(end_text)
    if start in (end, DAY):
        raise ValueError(f"an empty interval: {text!r}")
    if end == 0:
        end = DAY  # "22:00-00:00" means until midnight
    return start, end


def build_week(days: Mapping[int, Sequence[Interval]]) -> Week:
    """Seven days of sorted, merged intervals from (weekday -> intervals), Monday = 0.

    Overnight intervals are split at midnight (Sunday's tail goes to Monday); intervals that
    touch are merged; intervals that overlap raise ``ValueError`` naming the weekday in
    ``args[1]``, so a config reader can point at the right key.
    """
    pieces: list[list[tuple[int, int, int]]] = [[] for _ in range(7)]  # (start, end, from day)
    for day, intervals in days.items():
        if not 0 <= day <= 6:
            raise ValueError(f"no such weekday: {day}", day)
        for start, end in intervals:
            if not (0 <= start < DAY and 0 < end <= DAY and start != end):
                raise ValueError(f"bad interval {start}-{end}", day)
            if end > start:
                pieces[day].append((start, end, day))
            else:
                pieces[day].append((start, DAY, day))
                pieces[(day + 1) % 7].append((0, end, day))
    week: list[tuple[Interval, ...]] = []
    for day, found in enumerate(pieces):
        found.sort()
        merged: list[list[int]] = []
        for start, end, origin in found:
            if merged and start < merged[-1][1]:
                raise ValueError(
                    f"overlapping opening hours on {WEEKDAYS[day]}", max(origin, merged[-1][2])
                )
            if merged and start == merged[-1][1]:
                merged[-1][1] = end
                merged[-1][2] = max(merged[-1][2], origin)
            else:
                merged.append([start, end, origin])
        week.append(tuple((s, e) for s, e, _ in merged))
    return tuple(week)


@dataclass(frozen=True, slots=True)
class Holidays:
    """Days the team does not work: yearly (month, day) pairs and one-off dates."""

    yearly: frozenset[tuple[int, int]] = frozenset()
    dates: frozenset[date] = frozenset()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.dates or (day.month, day.day) in self.yearly

    def __or__(self, other: Holidays) -> Holidays:
        return Holidays(self.yearly | other.yearly, self.dates | other.dates)

    def __bool__(self) -> bool:
        return bool(self.yearly or self.dates)


_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_LEAP_YEAR = 2000  # yearly days are checked and walked in a leap year, so 02-29 is allowed


def _one_day(text: str) -> date | tuple[int, int]:
    text = text.strip()
    if m := _MONTH_DAY.match(text):
        month, day = int(m.group(1)), int(m.group(2))
        date(_LEAP_YEAR, month, day)  # raises ValueError for 02-30 and the like
        return month, day
    if m := _FULL_DATE.match(text):
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    raise ValueError(f"not a date like 12-24 or 2026-11-17: {text!r}")


def parse_holiday(text: str) -> Holidays:
    """``"12-24"`` (every year), ``"2026-11-17"`` (once), or a range of either form,
    ``"12-24..12-26"``, ``"2026-07-01..2026-07-14"``; a yearly range may wrap the new year."""
    first_text, sep, last_text = text.partition("..")
    first = _one_day(first_text)
    if not sep:
        if isinstance(first, date):
            return Holidays(dates=frozenset({first}))
        return Holidays(yearly=frozenset({first}))
    last = _one_day(last_text)
    if isinstance(first, date) and isinstance(last, date):
        if last < first:
            raise ValueError(f"a range that ends before it starts: {text!r}")
        if (last - first).days > 3660:
            raise ValueError(f"a range of more than ten years: {text!r}")
        days = (first + timedelta(days=n) for n in range((last - first).days + 1))
        return Holidays(dates=frozenset(days))
    if isinstance(first, tuple) and isinstance(last, tuple):
        day = date(_LEAP_YEAR, *first)
        end = date(_LEAP_YEAR if last >= first else _LEAP_YEAR + 1, *last)
        yearly: set[tuple[int, int]] = set()
        while day <= end:
            yearly.add((day.month, day.day))
            day += timedelta(days=1)
        return Holidays(yearly=frozenset(yearly))
    raise ValueError(f"a range mixing yearly and one-off dates: {text!r}")


@dataclass(frozen=True, slots=True)
class BusinessDuration:
    """An amount of business time: whole business days, then business seconds.

    A business day is "the same time on the next day the team works", so ``5d`` from Tuesday
    10:00 is the next Tuesday 10:00 (a holiday in between pushes it a day further), whatever
    the opening hours of the days in between.
    """

    days: int = 0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.days < 0 or self.seconds < 0:
            raise ValueError("a business duration cannot be negative")

    @property
    def wall(self) -> timedelta:
        """The same numbers read as wall-clock time (a day is 24 hours)."""
        return timedelta(days=self.days, seconds=self.seconds)

    def __bool__(self) -> bool:
        return bool(self.days or self.seconds)

    def __str__(self) -> str:
        parts = [f"{self.days}d"] if self.days else []
        rest = round(self.seconds)
        for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
            if rest >= size:
                parts.append(f"{rest // size}{unit}")
                rest %= size
        return " ".join(parts) or "0m"


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> BusinessDuration:
    """``"4h"``, ``"1h 30m"``, ``"90m"``, ``"1.5h"``, ``"5d"``, ``"1d 4h"``: units d, h, m, s,
    largest first, each once; days are whole."""
    rest = text.strip().lower()
    if not rest:
        raise ValueError("an empty duration")
    days = 0
    seconds = 0.0
    seen = ""
    pos = 0
    while pos < len(rest):
        m = _DURATION_PART.match(rest, pos)
        if not m:
            raise ValueError(f"not a duration like 4h or 1h 30m: {text!r}")
        number, unit = m.group(1), m.group(2)
        if seen and "dhms".index(unit) <= "dhms".index(seen[-1]):
            raise ValueError(f"units out of order or repeated: {text!r}")
        seen += unit
        if unit == "d":
            if "." in number:
                raise ValueError(f"business days are whole: {text!r}")
            days = int(number)
        else:
            seconds += float(number) * _UNIT_SECONDS[unit]
        pos = m.end()
        while pos < len(rest) and rest[pos] == " ":
            pos += 1
    # A target of years is a typo, and walking to it day by day would hang the SLA clock.
    if days > MAX_DURATION_DAYS or seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"longer than {MAX_DURATION_DAYS} days: {text!r}")
    return BusinessDuration(days=days, seconds=seconds)


MAX_DURATION_DAYS = 366


# --------------------------------------------------------------------------------------------
# The calendar


def _to_us(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("business time needs an aware datetime (one with a time zone)")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _from_us(us: int, zone: tzinfo | None) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(zone)


_ALL_DAY: tuple[Interval, ...] = ((0, DAY),)


class BusinessCalendar:
    """Opening hours in one time zone, with holidays. Immutable; safe to share.

    Results keep the time zone of the datetime passed in.
    """

    __slots__ = (
        "_clean_cache",
        "_day_cache",
        "_granted_cache",
        "_plain",
        "_transitions",
        "_week_us",
        "_year_cache",
        "holidays",
        "week",
        "zone",
    )

    def __init__(
        self,
        zone: tzinfo,
        week: Sequence[Sequence[Interval]],
        holidays: Holidays | None = None,
    ) -> None:
        if len(week) != 7:
            raise ValueError("a week has seven days, Monday first")
        self.zone = zone
        self.week: Week = build_week(dict(enumerate(week)))
        self.holidays = holidays or Holidays()
        if not any(self.week):
            raise ValueError("a calendar that is never open")
        self._week_us = sum(e - s for day in self.week for s, e in day) * _US
        # Every instant open: business time is wall time, whatever the zone does.
        self._plain = not self.holidays and all(day == _ALL_DAY for day in self.week)
        self._day_cache: dict[date, tuple[tuple[int, int], ...]] = {}
        self._clean_cache: dict[date, bool] = {}
        self._year_cache: dict[int, list[int]] = {}
        self._transitions: list[int] = []
        self._granted_cache: dict[tuple[datetime, int, float], int] = {}

    @classmethod
    def always_open(cls, zone: tzinfo = UTC) -> BusinessCalendar:
        """Round the clock, every day: the default when no business hours are configured."""
        return cls(zone, [_ALL_DAY] * 7)

    @classmethod
    def weekly(
        cls,
        zone: tzinfo,
        hours: Mapping[str, Sequence[str]],
        holidays: Iterable[str] = (),
    ) -> BusinessCalendar:
        """From text: ``{"mon": ["08:00-12:00", "13:00-17:00"], ...}``; days left out are
        closed. Raises ``ValueError`` on bad text."""
        days: dict[int, list[Interval]] = {}
        for name, intervals in hours.items():
            if name not in WEEKDAYS:
                raise ValueError(f"no such weekday: {name!r}")
            days[WEEKDAYS.index(name)] = [parse_interval(text) for text in intervals]
        found = Holidays()
        for text in holidays:
            found = found | parse_holiday(text)
        return cls(zone, [days.get(n, ()) for n in range(7)], found)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BusinessCalendar):
            return NotImplemented
        return (self.zone, self.week, self.holidays) == (other.zone, other.week, other.holidays)

    def __hash__(self) -> int:
        return hash((self.zone, self.week, self.holidays))

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.zone!r}, {self.week!r}, {self.holidays!r})"

    # ---- public API -------------------------------------------------------------------------

    def is_open(self, at: datetime) -> bool:
        t = _to_us(at)
        if self._plain:
            return True
        return any(a <= t < b for a, b in self._pieces(self._date_of(t)))

    def next_opening(self, at: datetime) -> datetime:
        """``at`` itself when open, else the moment the calendar next opens."""
        t = _to_us(at)
        if self._plain:
            return at
        day = self._date_of(t)
        for _ in range(_MAX_EMPTY_DAYS):
            for a, b in self._pieces(day):
                if t < b:
                    return at if a <= t else _from_us(a, at.tzinfo)
            day += timedelta(days=1)
        raise ValueError("the calendar never opens")

    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """The earliest moment by which ``seconds`` of business time have passed since
        ``start``. Zero gives ``start`` back unchanged, even when closed; an amount that ends
        exactly at a closing gives that closing, not the next opening."""
        if seconds < 0:
            raise ValueError("cannot add negative business time")
        t = _to_us(start)
        remaining = round(seconds * _US)
        if remaining == 0:
            return start
        if self._plain:
            return _from_us(t + remaining, start.tzinfo)
        day = self._date_of(t)
        for a, b in self._pieces(day):
            if b <= t:
                continue
            a = max(a, t)
            if remaining <= b - a:
                return _from_us(a + remaining, start.tzinfo)
            remaining -= b - a
        day += timedelta(days=1)
        empty = 0
        while True:
            if remaining > self._week_us and self._clean_week(day):
                remaining -= self._week_us
                day += timedelta(days=7)
                empty = 0
                continue
            pieces = self._pieces(day)
            for a, b in pieces:
                if remaining <= b - a:
                    return _from_us(a + remaining, start.tzinfo)
                remaining -= b - a
            empty = 0 if pieces else empty + 1
            if empty > _MAX_EMPTY_DAYS:
                raise ValueError("the calendar never opens")
            day += timedelta(days=1)

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Business seconds from ``a`` to ``b``; negative when ``b`` comes first."""
        ta, tb = _to_us(a), _to_us(b)
        if tb < ta:
            return -self._between(tb, ta) / _US
        return self._between(ta, tb) / _US

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The same wall-clock time ``days`` working days later (see :class:`BusinessDuration`).

        A start outside business hours counts from the next opening. When that time of day is
        not open on the day reached, the next opening on that day is taken, or its closing.
        """
        if days < 0:
            raise ValueError("cannot add negative business days")
        if days == 0:
            return start
        opened = self.next_opening(start)
        local = opened.astimezone(self.zone)
        day = local.date()
        left = days
        empty = 0
        while left:
            day += timedelta(days=1)
            if self._pieces(day):
                left -= 1
                empty = 0
            else:
                empty += 1
                if empty > _MAX_EMPTY_DAYS:
                    raise ValueError("the calendar never opens")
        wanted = _to_us(datetime.combine(day, local.time(), tzinfo=self.zone))
        pieces = self._pieces(day)
        for a, b in pieces:
            if wanted < b:
                return _from_us(max(a, wanted), start.tzinfo)
        return _from_us(pieces[-1][1], start.tzinfo)

    def add(self, start: datetime, duration: BusinessDuration) -> datetime:
        """``start`` plus a business duration: its days first, then its seconds."""
        moment = self.add_business_days(start, duration.days)
        return self.add_business_time(moment, duration.seconds)

    def granted_us(self, start: datetime, duration: BusinessDuration) -> int:
        """The business microseconds ``duration`` grants from ``start``: its days are worth
        what lies between ``start`` and the same time that many working days later."""
        key = (start, duration.days, duration.seconds)
        found = self._granted_cache.get(key)
        if found is None:
            # A ticket's clock is replayed whenever the ticket is touched, from the same
            # starts: remembering them spares the day walk every time after the first.
            end = self.add(start, duration)
            found = round(self.business_seconds_between(start, end) * 1e6)
            if len(self._granted_cache) > 65_536:
                self._granted_cache.clear()
            self._granted_cache[key] = found
        return found

    # ---- the day-by-day machinery -----------------------------------------------------------

    def _date_of(self, us: int) -> date:
        # Offsets change on whole seconds, so the second is enough to know the date.
        return datetime.fromtimestamp(us // _US, self.zone).date()

    def _offset(self, second: int) -> int:
        """The zone's UTC offset, in seconds, at a UTC instant given in epoch seconds."""
        offset = datetime.fromtimestamp(second, self.zone).utcoffset()
        assert offset is not None
        return int(offset.total_seconds())

    def _segments(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """[lo, hi) in epoch seconds cut where the UTC offset changes: (start, end, offset).

        Assumes the offset never changes and changes back inside the span (true of every zone
        for spans of days: transitions are months apart)."""
        segments: list[tuple[int, int, int]] = []
        while lo < hi:
            first = self._offset(lo)
            if self._offset(hi - 1) == first:
                segments.append((lo, hi, first))
                break
            high = self._transition(lo, hi - 1, first)
            segments.append((lo, high, first))
            lo = high
        return segments

    def _transition(self, low: int, high: int, first: int) -> int:
        """The first second in (low, high] whose offset is not ``first``; neighbouring days
        meet the same change, so each one found is remembered."""
        for known in self._transitions:
            if low < known <= high and self._offset(known - 1) == first:
                return known
        while high - low > 1:
            mid = (low + high) // 2
            if self._offset(mid) == first:
                low = mid
            else:
                high = mid
        if len(self._transitions) > 256:
            self._transitions.clear()
        self._transitions.append(high)
        return high

    def _pieces(self, day: date) -> tuple[tuple[int, int], ...]:
        """The open stretches of one local date, as sorted UTC microsecond pairs."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        intervals = () if day in self.holidays else self.week[day.weekday()]
        found: list[tuple[int, int]] = []
        if intervals:
            midnight = (day - _EPOCH_DATE).days * DAY  # wall midnight read as UTC seconds
            segments = self._segments(midnight - _MARGIN, midnight + DAY + _MARGIN)
            for start, end in intervals:
                wall_start, wall_end = midnight + start, midnight + end
                for lo, hi, offset in segments:
                    x = max(wall_start, lo + offset)
                    y = min(wall_end, hi + offset)
                    if x < y:
                        found.append(((x - offset) * _US, (y - offset) * _US))
            found.sort()
            merged: list[tuple[int, int]] = []
            for a, b in found:
                if merged and a <= merged[-1][1]:
                    merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
                else:
                    merged.append((a, b))
            found = merged
        pieces = tuple(found)
        if len(self._day_cache) > 4096:
            self._day_cache.clear()
        self._day_cache[day] = pieces
        return pieces

    def _clean_week(self, first: date) -> bool:
        """True when the seven days from ``first`` are an ordinary week: no holiday, one UTC
        offset throughout, so their business time is the week's total."""
        cached = self._clean_cache.get(first)
        if cached is not None:
            return cached
        clean = True
        if self.holidays:
            start = first.toordinal()
            for year in {first.year, first.year + (first.month == 12 and first.day > 25)}:
                ordinals = self._holiday_ordinals(year)
                at = bisect_left(ordinals, start)
                if at < len(ordinals) and ordinals[at] < start + 7:
                    clean = False
        if clean:
            midnight = (first - _EPOCH_DATE).days * DAY
            clean = self._offset(midnight - _MARGIN) == self._offset(midnight + 7 * DAY + _MARGIN)
        if len(self._clean_cache) > 4096:
            self._clean_cache.clear()
        self._clean_cache[first] = clean
        return clean

    def _holiday_ordinals(self, year: int) -> list[int]:
        cached = self._year_cache.get(year)
        if cached is not None:
            return cached
        found = {d.toordinal() for d in self.holidays.dates if d.year == year}
        for month, day in self.holidays.yearly:
            with suppress(ValueError):  # 02-29 outside leap years
                found.add(date(year, month, day).toordinal())
        ordinals = sorted(found)
        if len(self._year_cache) > 256:
            self._year_cache.clear()
        self._year_cache[year] = ordinals
        return ordinals

    def _between(self, ta: int, tb: int) -> int:
        if self._plain:
            return tb - ta
        first, last = self._date_of(ta), self._date_of(tb)
        if first == last:
            return _overlap(self._pieces(first), ta, tb)
        total = _overlap(self._pieces(first), ta, tb)
        day = first + timedelta(days=1)
        while day < last:
            if (last - day).days >= 7 and self._clean_week(day):
                total += self._week_us
                day += timedelta(days=7)
                continue
            total += sum(b - a for a, b in self._pieces(day))
            day += timedelta(days=1)
        return total + _overlap(self._pieces(last), ta, tb)


def _overlap(pieces: Iterable[tuple[int, int]], lo: int, hi: int) -> int:
    total = 0
    for a, b in pieces:
        x, y = max(a, lo), min(b, hi)
        if x < y:
            total += y - x
    return total
