"""``helpdesk spam N [N ...]``, ``helpdesk spam N --undo`` and ``helpdesk spam --list``: mark
tickets as spam (their senders' next mail goes straight to spam), take it back, and list the
remembered senders. Marking goes through the outbox like the app's key, so it works offline."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from helpdesk.cli.output import print_json
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.locations import load_settings
from helpdesk.storage.spam import spam_senders
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService

__all__ = ["HANDLERS", "add_parsers", "run_spam"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "spam",
        help="mark tickets as spam (their senders are remembered), --undo, or --list",
        description=(
            "Mark tickets N as spam: status spam, and the customer's address remembered so "
            "that their next mail opens a spam ticket straight away. --undo restores the "
            "status each ticket had and forgets the sender; --list shows the remembered "
            "senders. Works offline: the change is sent when the team store answers."
        ),
    )
    p.add_argument("numbers", type=int, nargs="*", metavar="N")
    p.add_argument("--undo", action="store_true", help="not spam: restore and forget the sender")
    p.add_argument("--list", action="store_true", help="list the remembered spam senders")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run_spam(args: argparse.Namespace) -> int:
    if args.list == bool(args.numbers) or (args.list and args.undo):
        print("helpdesk: give ticket numbers (with --undo or not), or --list", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    ws = open_workspace(settings)
    try:
        if args.list:
            return _list(ws, args.json)
        svc = TeamService(ws)
        act = svc.not_spam if args.undo else svc.mark_spam
        results = [(n, act(n)) for n in args.numbers]
    finally:
        ws.close()
    ok = all(r.ok for _, r in results)
    if args.json:
        print_json(
            [
                {"ticket": n, "ok": r.ok, "queued": r.queued, "message": r.message}
                for n, r in results
            ]
        )
        return 0 if ok else 1
    done = "not spam" if args.undo else "spam"
    for n, r in results:
        if not r.ok:
            print(f"helpdesk: #{n}: {safe_text(r.message)}", file=sys.stderr)
        elif r.queued:
            print(f"#{n} {done} (offline: saved, sent when the team answers)")
        else:
            print(f"#{n} {done}")
    return 0 if ok else 1


def _list(ws: Any, as_json: bool) -> int:
    found = spam_senders(ws.team)
    if as_json:
        print_json(
            [
                {
                    "address": s.address,
                    "marked_by": s.marked_by,
                    "ticket": s.ticket,
                    "marked_at": s.marked_at.isoformat(),
                }
                for s in found
            ]
        )
        return 0
    if not found:
        print("no remembered spam senders")
    for s in found:
        ticket = f"#{s.ticket}" if s.ticket is not None else "-"
        print(
            f"{safe_text(s.address)}  {ticket}  {s.marked_at:%Y-%m-%d %H:%M}  "
            f"{safe_text(s.marked_by)}"
        )
    return 0


HANDLERS = {"spam": run_spam}
