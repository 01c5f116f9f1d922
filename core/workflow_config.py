"""The workflow sections of ``helpdesk.toml``: ``[[statuses]]``, ``[priorities.NAME]``,
``[business_hours]`` (with ``[business_hours.departments.NAME]``) and ``[tickets]``.

Problems are reported like the rest of the file (``FILE:LINE: key: expected ..., got ...``);
statuses are counted from 1 as the admin reads them (``statuses[3].kind``).

The one lookup beyond the text: a time zone name is checked against the system's time zone
database (``zoneinfo``), because an unknown zone must be reported with its line now, not met
at the first SLA computation.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, TypeVar

from .business_hours import (
    WEEKDAYS,
    BusinessDuration,
    Holidays,
    Interval,
    build_week,
    parse_duration,
    parse_holiday,
    parse_interval,
)
from .config import ConfigProblem, JobSettings, _Reader, _show
from .team import Priority
from .workflow import (
    DEFAULT_PRIORITIES,
    DEFAULT_STATUSES,
    SPAM,
    BusinessHoursSettings,
    SlaTargets,
    StatusDefinition,
    StatusKind,
    TicketSettings,
    WorkflowSettings,
)

__all__ = ["WORKFLOW_KEYS", "read_jobs", "read_workflow"]

WORKFLOW_KEYS = ("statuses", "priorities", "business_hours", "tickets", "workflow")
_STATUS_KEYS = ("name", "colour", "kind")
_PRIORITY_NAMES = tuple(p.name.lower() for p in Priority)
_TARGET_KEYS = ("first_response", "next_response", "resolution")
_HOURS_KEYS = ("timezone", *WEEKDAYS, "holidays")
_TICKET_KEYS = ("reopen_window", "due_soon", "auto_close_after", "auto_close_template")

_COLOUR = re.compile(r"^(?:\$[a-z][a-z0-9-]*|#[0-9a-fA-F]{6}|[a-z]+)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_KINDS = ", ".join(f'"{k.value}"' for k in StatusKind)
_TARGET_EXPECTED = (
    'a business time like "4h", "1h 30m", "5d" or "1d 4h", above zero, at most 366 days'
)
_WALL_EXPECTED = 'a duration like "14d", "12h" or "30m", at most 366 days'
_INTERVALS_EXPECTED = 'an array of opening hours like ["08:00-12:00", "13:00-17:00"], or []'
_HOLIDAYS_EXPECTED = 'an array of dates like "12-24" (yearly), "2026-11-17" or "12-24..12-26"'


def read_workflow(r: _Reader, top: Mapping[str, Any], text: str) -> WorkflowSettings:
    """The workflow settings of a parsed file; problems go to ``r``; ``text`` is the file's
    text, for the line numbers of ``[[statuses]]`` entries."""
    statuses = _read_statuses(r, top["statuses"], text) if "statuses" in top else DEFAULT_STATUSES
    priorities = _read_priorities(r, top.get("priorities", {}))
    hours, departments = _read_hours(r, top.get("business_hours"))
    tickets = _read_tickets(r, top.get("tickets", {}))
    return WorkflowSettings(
        statuses=statuses,
        priorities=priorities,
        business_hours=hours,
        departments=departments,
        tickets=tickets,
    )


# --------------------------------------------------------------------------------------------
# [[statuses]]


@dataclass(slots=True)
class _Entry:
    header: int
    keys: dict[str, int] = field(default_factory=dict)


_STATUSES_HEADER = re.compile(r"^\s*\[\[\s*statuses\s*\]\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _index_statuses(text: str) -> list[_Entry]:
    entries: list[_Entry] = []
    current: _Entry | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if _STATUSES_HEADER.match(line):
            current = _Entry(number)
            entries.append(current)
        elif line.lstrip().startswith("["):
            current = None
        elif current is not None and (m := _KEY_LINE.match(line)):
            current.keys.setdefault(m.group(1), number)
    return entries


def _read_statuses(r: _Reader, value: object, text: str) -> tuple[StatusDefinition, ...]:
    entries = _index_statuses(text)

    def problem(
        index: int | None, key: str, expected: str, got: object = None, detail: str | None = None
    ) -> None:
        line: int | None = None
        if index is not None and index < len(entries):
            line = entries[index].keys.get(key, entries[index].header)
        elif entries:
            line = entries[0].header
        where = "statuses" if index is None else f"statuses[{index + 1}]"
        r.problems.append(
            ConfigProblem(
                f"{where}.{key}" if key else where,
                line,
                expected,
                None if got is None else _show(got),
                detail,
            )
        )

    if not isinstance(value, list) or not value:
        problem(None, "", "[[statuses]] tables, each with a name, colour and kind", value)
        return DEFAULT_STATUSES
    found: list[StatusDefinition] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(value):
        if not isinstance(body, dict):
            problem(index, "", "a table with name, colour and kind", body)
            continue
        for key in body:
            if key not in _STATUS_KEYS:
                problem(index, key, "one of: " + ", ".join(_STATUS_KEYS), detail="unknown key")
        name = body.get("name")
        if not (isinstance(name, str) and name.strip() and name.isprintable() and len(name) <= 40):
            problem(index, "name", "a name of at most 40 characters", name)
            name = None
        else:
            name = name.strip()
            folded = name.casefold()
            if folded in seen:
                problem(
                    index,
                    "name",
                    "a name no other status has",
                    name,
                    f"statuses[{seen[folded] + 1}] has the same name",
                )
                name = None
            else:
                seen[folded] = index
        colour = body.get("colour", "$foreground")
        if not (isinstance(colour, str) and _COLOUR.match(colour)):
            problem(
                index,
                "colour",
                'a theme variable like "$warning", a colour like "#d08770", or a colour name',
                colour,
            )
            colour = None
        raw_kind = body.get("kind")
        kind = None
        if isinstance(raw_kind, str):
            kind = next((k for k in StatusKind if k.value == raw_kind.strip().lower()), None)
        if kind is None:
            problem(
                index, "kind", f"one of {_KINDS}", raw_kind, None if "kind" in body else "missing"
            )
        elif index == 0 and kind is not StatusKind.OPEN:
            problem(
                0,
                "kind",
                '"open"',
                raw_kind,
                "the first status is the one new tickets get, so it must be open",
            )
        elif name is not None and name.casefold() == SPAM and kind is not StatusKind.CLOSED:
            problem(index, "kind", '"closed"', raw_kind, "the spam status is a closed one")
        if name is not None and colour is not None and kind is not None:
            found.append(StatusDefinition(name, colour, kind))
    if len(found) == len(value):
        if not any(s.kind is StatusKind.CLOSED for s in found):
            problem(None, "", 'at least one status of kind "closed"', detail="no way to close")
        if SPAM not in seen:
            found.append(next(s for s in DEFAULT_STATUSES if s.name == SPAM))
    return tuple(found) or DEFAULT_STATUSES


# --------------------------------------------------------------------------------------------
# [priorities.NAME]


def _target(value: object) -> BusinessDuration | None:
    if not isinstance(value, str):
        return None
    try:
        duration = parse_duration(value)
    except ValueError:
        return None
    return duration if duration else None


def _read_priorities(r: _Reader, value: object) -> dict[Priority, SlaTargets]:
    path = ("priorities",)
    priorities = dict(DEFAULT_PRIORITIES)
    t = r.table(value, path, _PRIORITY_NAMES)
    if t is None:
        return priorities
    for name, body in t.items():
        if name not in _PRIORITY_NAMES:
            continue  # already reported
        at = (*path, name)
        targets = r.table(body, at, _TARGET_KEYS)
        if targets is None:
            continue
        # A priority listed in the file has exactly the targets it lists.
        priorities[Priority[name.upper()]] = SlaTargets(
            first_response=r.get(targets, at, "first_response", _target, _TARGET_EXPECTED, None),
            next_response=r.get(targets, at, "next_response", _target, _TARGET_EXPECTED, None),
            resolution=r.get(targets, at, "resolution", _target, _TARGET_EXPECTED, None),
        )
    return priorities


# --------------------------------------------------------------------------------------------
# [business_hours]


def _zone(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        return None
    name = value.strip()
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name


T = TypeVar("T")


def _read_list(
    r: _Reader,
    t: Mapping[str, Any],
    path: tuple[str, ...],
    key: str,
    parse: Callable[[str], T],
    expected: str,
) -> list[T] | None:
    """An array of strings, each parsed; the first bad item is reported by itself, so that
    the admin sees which one of a long list is wrong. None when absent or wrong."""
    if key not in t:
        return None
    value = t[key]
    if not isinstance(value, list):
        r.problem((*path, key), expected, value)
        return None
    found: list[T] = []
    for item in value:
        try:
            if not isinstance(item, str):
                raise ValueError("not a string")
            found.append(parse(item))
        except ValueError as err:
            r.problem((*path, key), expected, item, detail=str(err.args[0]))
            return None
    return found


def _read_calendar(
    r: _Reader,
    value: object,
    path: tuple[str, ...],
    base: BusinessHoursSettings,
    keys: tuple[str, ...],
) -> BusinessHoursSettings:
    t = r.table(value, path, keys)
    if t is None:
        return base
    zone = r.get(
        t,
        path,
        "timezone",
        _zone,
        'a time zone name like "Europe/Prague" or "UTC"',
        base.timezone,
    )
    holidays = None
    listed = _read_list(r, t, path, "holidays", parse_holiday, _HOLIDAYS_EXPECTED)
    if listed is not None:
        holidays = Holidays()
        for found in listed:
            holidays = holidays | found
    days: dict[int, tuple[Interval, ...]] = {}
    for number, name in enumerate(WEEKDAYS):
        intervals = _read_list(r, t, path, name, parse_interval, _INTERVALS_EXPECTED)
        if intervals is not None:
            days[number] = tuple(intervals)
    given = [name for name in WEEKDAYS if name in t]
    if not given:
        week = base.week  # no day named: the whole week is inherited (round the clock at top)
    else:
        try:
            week = build_week(days)
        except ValueError as err:
            day = WEEKDAYS[err.args[1]] if len(err.args) > 1 else given[0]
            r.problem(
                (*path, day),
                "opening hours that do not overlap (those of the day before included, when "
                "they run past midnight)",
                detail=str(err.args[0]),
            )
            week = base.week
        else:
            if not any(week) and len(days) == len(given):
                r.problem(
                    (*path, given[0]),
                    "at least one day with opening hours",
                    detail="the calendar is never open",
                )
                week = base.week
    return BusinessHoursSettings(
        timezone=zone or base.timezone,
        **dict(zip(WEEKDAYS, week, strict=True)),
        holidays=base.holidays if holidays is None else holidays,
    )


def _read_hours(
    r: _Reader, value: object
) -> tuple[BusinessHoursSettings, dict[str, BusinessHoursSettings]]:
    if value is None:
        return BusinessHoursSettings(), {}
    path = ("business_hours",)
    hours = _read_calendar(r, value, path, BusinessHoursSettings(), (*_HOURS_KEYS, "departments"))
    departments: dict[str, BusinessHoursSettings] = {}
    raw = value.get("departments", {}) if isinstance(value, dict) else {}
    if not isinstance(raw, dict):
        r.problem((*path, "departments"), "[business_hours.departments.NAME] tables", raw)
        return hours, departments
    for name, body in raw.items():
        at = (*path, "departments", name)
        if not _NAME.match(name):
            r.problem(at, "a department name of letters, digits, '.', '_' or '-'")
            continue
        departments[name] = _read_calendar(r, body, at, hours, _HOURS_KEYS)
    return hours, departments


# --------------------------------------------------------------------------------------------
# [tickets]


def _wall(value: object) -> timedelta | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_duration(value).wall
    except ValueError:
        return None


def _read_tickets(r: _Reader, value: object) -> TicketSettings:
    path = ("tickets",)
    defaults = TicketSettings()
    t = r.table(value, path, _TICKET_KEYS)
    if t is None:
        return defaults
    window = r.get(t, path, "reopen_window", _wall, _WALL_EXPECTED, defaults.reopen_window)
    soon = r.get(t, path, "due_soon", _wall, _WALL_EXPECTED, defaults.due_soon)
    close_after = r.get(t, path, "auto_close_after", _positive_wall, _AUTO_CLOSE_EXPECTED, None)
    notice = r.get(t, path, "auto_close_template", _template_name, _TEMPLATE_EXPECTED, None)
    return TicketSettings(
        reopen_window=defaults.reopen_window if window is None else window,
        due_soon=defaults.due_soon if soon is None else soon,
        auto_close_after=close_after,
        auto_close_template=notice or None,
    )


_AUTO_CLOSE_EXPECTED = 'a duration above zero like "7d" or "36h", at most 366 days'
_TEMPLATE_EXPECTED = "the name of a template ([[templates]] or the templates folder)"


def _positive_wall(value: object) -> timedelta | None:
    found = _wall(value)
    return found if found is not None and found > timedelta(0) else None


def _template_name(value: object) -> str | None:
    """A template's name as ``[automation]`` takes one; whether such a template exists is
    known only when the notice is built (the templates folder is read then)."""
    if isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= 200:
        return value.strip()
    return None


# --------------------------------------------------------------------------------------------
# [workflow]: the service's periodic jobs

_JOB_KEYS = ("escalate_before", "summary_at")
_ESCALATE_EXPECTED = 'a duration like "30m" or "2h" (at most 366 days), or "off"'
_SUMMARY_EXPECTED = 'a local time like "08:00" (24-hour clock)'
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_OFF = object()  # "off": no escalation


def _escalate_before(value: object) -> timedelta | object | None:
    if isinstance(value, str) and value.strip().casefold() == "off":
        return _OFF
    return _wall(value)


def _clock_time(value: object) -> time | None:
    if not isinstance(value, str) or not (m := _CLOCK.match(value.strip())):
        return None
    return time(int(m.group(1)), int(m.group(2)))


def read_jobs(r: _Reader, value: object) -> JobSettings:
    """``[workflow]``: when the service escalates tickets and sends the daily summary."""
    path = ("workflow",)
    defaults = JobSettings()
    t = r.table(value, path, _JOB_KEYS)
    if t is None:
        return defaults
    before = r.get(
        t, path, "escalate_before", _escalate_before, _ESCALATE_EXPECTED, defaults.escalate_before
    )
    at = r.get(t, path, "summary_at", _clock_time, _SUMMARY_EXPECTED, None)
    return JobSettings(
        escalate_before=before if isinstance(before, timedelta) else None,
        summary_at=at,
    )
