"""``helpdesk merge N INTO [--force]`` and ``helpdesk split N MESSAGE_ID``: done as the app
does them (through the outbox), so they are queued while the team store is away."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select

from helpdesk.cli.output import print_json
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.cache import message_t, ticket_t
from helpdesk.storage.locations import load_settings
from helpdesk.storage.merge import normalize_message_id
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.team import ActionResult, TeamService

__all__ = ["add_merge_parsers", "run_merge", "run_split"]


def add_merge_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "merge",
        help="merge ticket N into ticket INTO (mail, notes and later mail go there)",
        description=(
            "Merge ticket N into INTO: its messages, notes and any later mail to either "
            "ticket land in INTO; N is closed and points there. Tickets of two different "
            "customers are merged only with --force. Works offline: sent when the team "
            "store answers."
        ),
    )
    p.add_argument("number", type=int, metavar="N")
    p.add_argument("into", type=int, metavar="INTO")
    p.add_argument("--force", action="store_true", help="merge even different customers' tickets")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    s = sub.add_parser(
        "split",
        help="split one message of ticket N off into a new ticket; prints its number",
        description=(
            "Open a new ticket with the message MESSAGE_ID of ticket N (see `helpdesk show N "
            "--json`); replies to that message follow it. Prints the new ticket's number."
        ),
    )
    s.add_argument("number", type=int, metavar="N")
    s.add_argument("message_id", metavar="MESSAGE_ID")
    s.add_argument("--json", action="store_true", help="machine-readable output")


def _missing(ws: Workspace, numbers: list[int]) -> list[int]:
    with ws.cache.engine.connect() as conn:
        known = set(
            conn.execute(select(ticket_t.c.number).where(ticket_t.c.number.in_(numbers))).scalars()
        )
    return [n for n in numbers if n not in known]


def _has_message(ws: Workspace, number: int, message_id: str) -> bool:
    with ws.cache.engine.connect() as conn:
        found = conn.execute(
            select(message_t.c.id).where(
                message_t.c.ticket == number, message_t.c.message_id == message_id
            )
        ).first()
    return found is not None


def _fail(text: str, code: int = 1) -> int:
    print(f"helpdesk: {safe_text(text)}", file=sys.stderr)
    return code


def _report(args: argparse.Namespace, result: ActionResult, done: str, **fields: Any) -> int:
    if args.json:
        print_json(
            {
                "ticket": args.number,
                "ok": result.ok,
                "queued": result.queued,
                "message": result.message,
                **fields,
            }
        )
        return 0 if result.ok else 1
    if not result.ok:
        return _fail(f"#{args.number}: {result.message or 'refused'}")
    if result.queued:
        print(f"#{args.number}: offline: saved, sent when the team store answers", file=sys.stderr)
        return 0
    print(done)
    return 0


def run_merge(args: argparse.Namespace) -> int:
    if args.number == args.into:
        return _fail(f"#{args.number} cannot be merged into itself", 2)
    ws = open_workspace(load_settings(args.config))
    try:
        missing = _missing(ws, [args.number, args.into])
        if missing:
            return _fail(f"no ticket #{missing[0]} in this cache (`helpdesk sync` fetches it)")
        result = TeamService(ws).merge(args.number, args.into, force=args.force)
    finally:
        ws.close()
    survivor = result.ticket if result.ok and not result.queued else None
    return _report(
        args, result, f"#{args.number} merged into #{survivor}", into=args.into, survivor=survivor
    )


def run_split(args: argparse.Namespace) -> int:
    mid = normalize_message_id(args.message_id)
    ws = open_workspace(load_settings(args.config))
    try:
        if not _has_message(ws, args.number, mid):
            return _fail(f"no message <{mid}> in ticket #{args.number} in this cache")
        result = TeamService(ws).split(args.number, mid)
    finally:
        ws.close()
    new = result.ticket if result.ok and not result.queued else None
    # Only the number on stdout: `new=$(helpdesk split 12 ID)` works in a script.
    return _report(args, result, str(new), message_id=mid, new=new)


HANDLERS = {"merge": run_merge, "split": run_split}
