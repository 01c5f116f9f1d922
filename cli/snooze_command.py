"""``helpdesk snooze N UNTIL`` and ``helpdesk snooze N --clear``: a ticket out of the queues
until a time (or until the customer writes), done as the app does it, through the outbox."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from helpdesk.cli.output import print_json
from helpdesk.core.sanitize import safe_text
from helpdesk.core.snooze_time import EXPECTED, format_until, parse_until
from helpdesk.storage.cache import ticket_t
from helpdesk.storage.locations import load_settings
from helpdesk.storage.snooze import snooze_calendar
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService

__all__ = ["add_snooze_parser", "run_snooze"]


def add_snooze_parser(sub: Any) -> None:
    p = sub.add_parser(
        "snooze",
        help="take a ticket out of the queues until a time, or until the customer writes",
        description=(
            "Snooze ticket N until UNTIL, read in the team's time zone: "
            f"{EXPECTED.removeprefix('expected a time like ')}. "
            "A weekday or a date alone means the opening of business hours that day (09:00 "
            "without business hours). `--clear` wakes it now. Works offline: the change is "
            "sent when the team store answers."
        ),
    )
    p.add_argument("number", type=int, metavar="N")
    p.add_argument("until", nargs="*", metavar="UNTIL", help='e.g. 2h, tomorrow, "mon 10:00"')
    p.add_argument("--clear", action="store_true", help="take the snooze off")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _err(text: str) -> None:
    print(f"helpdesk: {safe_text(text)}", file=sys.stderr)


def run_snooze(args: argparse.Namespace) -> int:
    typed = " ".join(args.until)
    if args.clear == bool(typed.strip()):
        _err("give either UNTIL or --clear")
        return 2
    settings = load_settings(args.config)
    zone, calendar = snooze_calendar(settings.workflow)
    now = datetime.now(UTC)
    until = None
    if not args.clear:
        try:
            until = parse_until(typed, now, zone, calendar)
        except ValueError as err:
            _err(str(err))
            return 2
    ws = open_workspace(settings)
    try:
        with ws.cache.engine.connect() as conn:
            known = conn.execute(
                select(ticket_t.c.number).where(ticket_t.c.number == args.number)
            ).first()
        if known is None:
            _err(f"no ticket #{args.number} in this cache (`helpdesk sync` fetches it)")
            return 1
        result = TeamService(ws).snooze(args.number, until)
    finally:
        ws.close()
    if args.json:
        print_json(
            {
                "ticket": args.number,
                "ok": result.ok,
                "queued": result.queued,
                "snoozed_until": None if until is None else until.isoformat(),
                "message": result.message,
            }
        )
        return 0 if result.ok else 1
    if not result.ok:
        _err(f"#{args.number}: {result.message}")
        return 1
    if until is None:
        text = f"#{args.number} is awake"
    else:
        text = f"#{args.number} snoozed until {format_until(until, now)} ({zone})"
    if result.queued:
        text += " (offline: saved, sent when the team answers)"
    print(text)
    return 0
