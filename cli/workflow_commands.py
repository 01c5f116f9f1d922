"""``helpdesk set N status=... priority=... category=... tags=+a,-b department=...``: edit a
ticket's fields from a script, checked against the configured workflow first, then done
exactly as the app does it (through the outbox: it works offline and replays later)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from helpdesk.cli.merge_commands import HANDLERS as MERGE_HANDLERS
from helpdesk.cli.merge_commands import add_merge_parsers
from helpdesk.cli.output import print_json
from helpdesk.cli.snooze_command import add_snooze_parser, run_snooze
from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import EDITABLE_FIELDS, Priority
from helpdesk.core.workflow import WorkflowSettings
from helpdesk.core.workflow_values import (
    apply_tag_changes,
    normalize_category,
    parse_priority,
    parse_tag_changes,
    priority_choices,
    resolve_status,
    status_choices,
)
from helpdesk.storage.cache import ticket_t
from helpdesk.storage.locations import load_settings
from helpdesk.storage.spam import is_spam
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService

# The order fields are applied in, whatever order they were given in.
_FIELDS = ("status", "priority", "category", "tags", "department")
assert set(_FIELDS) == EDITABLE_FIELDS


class FieldError(ValueError):
    """A value the workflow does not know; the message lists what it does."""


@dataclass(frozen=True, slots=True)
class Assignment:
    field: str
    text: str  # as typed


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "set",
        help="change fields of a ticket: status=, priority=, category=, tags=, department=",
        description=(
            "Change fields of ticket N, e.g. `helpdesk set 12 status=waiting priority=high "
            'category="Orders > Delivery" tags=+damaged,-vip department=sales`. A status '
            "is a configured name or a kind (open, waiting, closed); tags=a,b replaces the "
            "tags, +a/-b add and remove; an empty value clears category, tags or department."
            " Works offline: the change is sent when the team store answers."
        ),
    )
    p.add_argument("number", type=int, metavar="N")
    p.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_snooze_parser(sub)
    add_merge_parsers(sub)


def parse_assignments(items: list[str]) -> list[Assignment]:
    found: dict[str, Assignment] = {}
    for item in items:
        name, sep, text = item.partition("=")
        field = name.strip().lower()
        if not sep or field not in EDITABLE_FIELDS:
            raise FieldError(
                f"expected FIELD=VALUE with FIELD one of {', '.join(_FIELDS)}; got {item!r}"
            )
        if field in found:
            raise FieldError(f"{field} is given twice")
        found[field] = Assignment(field, text)
    return sorted(found.values(), key=lambda a: _FIELDS.index(a.field))


def stored_value(
    workflow: WorkflowSettings, assignment: Assignment, current_tags: tuple[str, ...]
) -> str | None:
    """The value as the team store keeps it, or FieldError naming the valid ones."""
    field, text = assignment.field, assignment.text
    if field == "status":
        status = resolve_status(workflow, text)
        if status is None:
            raise FieldError(
                f"unknown status {text!r}; the statuses are {status_choices(workflow)} "
                "(or a kind: open, waiting, closed)"
            )
        return status.name
    if field == "priority":
        priority = parse_priority(text)
        if priority is None:
            raise FieldError(
                f"unknown priority {text!r}; the priorities are {priority_choices()} (or 0-3)"
            )
        return str(priority.value)
    try:
        if field == "category":
            return normalize_category(text)
        if field == "tags":
            add, remove, replace = parse_tag_changes(text)
            return apply_tag_changes(current_tags, add, remove, replace)
    except ValueError as err:
        raise FieldError(f"{field}: {err}") from None
    name = text.strip()
    if name and not name.isprintable():
        raise FieldError("department: a name without control characters")
    return name or None


def _cached_status(ws: Any, number: int) -> str | None:
    with ws.cache.engine.connect() as conn:
        found = conn.execute(select(ticket_t.c.status).where(ticket_t.c.number == number))
        return found.scalar()


def _apply(svc: TeamService, ws: Any, number: int, field: str, value: str | None) -> Any:
    """One field, as the app does it: the status spam goes by the spam actions, which
    remember the sender (and a status away from spam forgets it) like the app's."""
    if field != "status" or value is None:
        return svc.set_field(number, field, value)
    if is_spam(value):
        return svc.mark_spam(number)
    if not is_spam(_cached_status(ws, number)):
        return svc.set_field(number, field, value)
    undone = svc.not_spam(number)  # restores the status it had before: maybe the one asked
    if not undone.ok or _cached_status(ws, number) == value:
        return undone
    return svc.set_field(number, field, value)


def _current_tags(ws: Any, number: int) -> tuple[str, ...] | None:
    """The ticket's tags as this cache knows them; None when the cache has no such ticket."""
    with ws.cache.engine.connect() as conn:
        tags = conn.execute(select(ticket_t.c.tags).where(ticket_t.c.number == number)).first()
    if tags is None:
        return None
    return tuple(t for t in (tags[0] or "").split(",") if t)


def run_set(args: argparse.Namespace) -> int:
    try:
        assignments = parse_assignments(args.assignments)
    except FieldError as err:
        print(f"helpdesk: {safe_text(str(err))}", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    ws = open_workspace(settings)
    try:
        current = _current_tags(ws, args.number)
        if current is None:
            print(
                f"helpdesk: no ticket #{args.number} in this cache (`helpdesk sync` fetches it)",
                file=sys.stderr,
            )
            return 1
        try:
            # Every value is checked before any is changed: a typo changes nothing.
            values = [(a, stored_value(settings.workflow, a, current)) for a in assignments]
        except FieldError as err:
            print(f"helpdesk: {safe_text(str(err))}", file=sys.stderr)
            return 2
        svc = TeamService(ws)
        results = [(a, value, _apply(svc, ws, args.number, a.field, value)) for a, value in values]
    finally:
        ws.close()
    ok = all(r.ok for _, _, r in results)
    if args.json:
        print_json(
            {
                "ticket": args.number,
                "ok": ok,
                "fields": [
                    {
                        "field": a.field,
                        "value": value,
                        "ok": r.ok,
                        "queued": r.queued,
                        "message": r.message,
                    }
                    for a, value, r in results
                ],
            }
        )
        return 0 if ok else 1
    for a, value, r in results:
        shown = safe_text(value) if value else "(none)"
        if a.field == "priority" and value is not None:
            shown = Priority(int(value)).name.lower()
        if not r.ok:
            print(f"helpdesk: #{args.number} {a.field}: {safe_text(r.message)}", file=sys.stderr)
        elif r.queued:
            print(
                f"#{args.number} {a.field} = {shown} (offline: saved, sent when the team answers)"
            )
        else:
            print(f"#{args.number} {a.field} = {shown}")
    return 0 if ok else 1


HANDLERS = {"set": run_set, "snooze": run_snooze, **MERGE_HANDLERS}
