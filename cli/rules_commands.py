"""``helpdesk rules test FILE.eml``: what the configured routing rules would do with a message,
rule by rule, without doing any of it (no store, no server, no mail is touched)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from helpdesk.core.rules import Decision, MessageContext, Outcome, evaluate
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.locations import load_settings


def add_parsers(sub: Any) -> None:
    rules = sub.add_parser("rules", help="routing rules of the config file")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    test = rules_sub.add_parser(
        "test", help="show which rules match a saved message and what they would do"
    )
    test.add_argument("file", metavar="FILE.eml", help="a message as saved by a mail client")
    test.add_argument(
        "--hours",
        choices=["in", "out"],
        help="take the message as arrived inside or outside business hours "
        "(default: unknown, so conditions on in_business_hours do not match)",
    )
    test.add_argument(
        "--follow-up",
        action="store_true",
        help='as a message joining an existing ticket (only on = "every message" rules run)',
    )
    test.add_argument("--json", action="store_true", help="machine-readable output")


def _line(text: str) -> str:
    return " ".join(safe_text(text).split())


def _decision_json(decision: Decision) -> dict[str, Any]:
    assign = decision.assign
    return {
        "assign": None
        if assign is None
        else {
            "agent": assign.agent,
            "department": assign.department,
            "strategy": assign.strategy.value if assign.department else None,
        },
        "department": decision.department,
        "status": decision.status,
        "priority": decision.priority.name.lower() if decision.priority is not None else None,
        "category": decision.category,
        "tags": list(decision.tags),
        "spam": decision.spam,
        "auto_reply": decision.auto_reply,
        "notes": [safe_text(n) for n in decision.notes],
        "stopped_by": decision.stopped_by,
        "remarks": list(decision.remarks),
    }


def run_rules(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    path = Path(args.file)
    raw = path.read_bytes()
    from helpdesk.core.mailparse import parse_message  # the parser loads for this command only

    message = parse_message(raw)
    hours = {"in": True, "out": False}.get(args.hours or "")
    decision = evaluate(
        settings.rules,
        MessageContext(message, raw=raw, in_business_hours=hours, is_new_ticket=not args.follow_up),
    )
    sender = message.from_addr.email if message.from_addr else ""
    if args.json:
        out = {
            "file": str(path),
            "message": {
                "subject": safe_text(message.subject),
                "from": safe_text(sender),
                "auto": message.auto.value,
            },
            "in_business_hours": hours,
            "new_ticket": not args.follow_up,
            "rules": [
                {
                    "index": r.index,
                    "name": safe_text(r.name),
                    "outcome": r.outcome.value,
                    "reason": safe_text(r.reason),
                    "checks": [
                        {
                            "condition": safe_text(c.condition),
                            "passed": c.passed,
                            "detail": safe_text(c.detail),
                        }
                        for c in r.checks
                    ],
                    "actions": [safe_text(a) for a in r.actions],
                }
                for r in decision.results
            ],
            "actions": _decision_json(decision),
            "would_do": [safe_text(a) for a in decision.describe()],
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0

    print(_line(f'Message: "{message.subject}" from {sender or "(no sender)"}'))
    if message.auto.value:
        print(f"Automatic mail: {message.auto.value}")
    if hours is None:
        when = "business hours unknown (give --hours in or --hours out)"
    else:
        when = "inside business hours" if hours else "outside business hours"
    joins = "joins an existing ticket" if args.follow_up else "opens a new ticket"
    print(f"Time: {when}; {joins}")
    if not settings.rules:
        print(f"No rules in {settings.source or 'the configuration'}.")
        return 0
    print()
    width = min(40, max(len(r.name) for r in decision.results))
    for r in decision.results:
        name = _line(r.name)
        print(f"{r.index:>3}  {name:<{width}}  {r.outcome.value}: {_line(r.reason)}")
        if r.outcome is Outcome.MATCHED:
            for action in r.actions:
                print(f"       -> {_line(action)}")
    print()
    would = decision.describe()
    if would:
        print("Would do:")
        for line in would:
            print(f"  {_line(line)}")
    else:
        print("Would do nothing.")
    for remark in decision.remarks:
        print(f"  ({_line(remark)})")
    print("Nothing was done: this is a test.")
    return 0


HANDLERS = {"rules": run_rules}
