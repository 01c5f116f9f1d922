"""Team commands of the CLI: next, claim, release, assign, reassign, note, agents."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from helpdesk.cli.output import print_json
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.team import ActionResult, Offline, TeamService


def add_parsers(sub: Any) -> None:
    nxt = sub.add_parser(
        "next", help="claim the next waiting ticket by the team's policy and show it"
    )
    nxt.add_argument("--json", action="store_true")
    for name, text in (
        ("claim", "take a ticket nobody holds"),
        ("release", "give a ticket back to the queue"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("number", type=int)
        p.add_argument("--json", action="store_true")
    assign = sub.add_parser(
        "assign", help="give a ticket to an agent (yours or unassigned; leads: any)"
    )
    assign.add_argument("number", type=int)
    assign.add_argument("agent", help="the agent's email")
    assign.add_argument("--json", action="store_true")
    steal = sub.add_parser("steal", help="take a ticket another agent holds (leads only)")
    steal.add_argument("number", type=int)
    steal.add_argument("--json", action="store_true")
    reassign = sub.add_parser(
        "reassign", help="hand over all open tickets of an agent, who is marked away"
    )
    reassign.add_argument("--from", dest="from_agent", required=True, metavar="AGENT")
    reassign.add_argument("--to", dest="to_agent", required=True, metavar="AGENT")
    reassign.add_argument(
        "--ticket",
        dest="tickets",
        type=int,
        action="append",
        metavar="N",
        help="only these (repeatable)",
    )
    reassign.add_argument("--keep-present", action="store_true", help="do not mark the agent away")
    reassign.add_argument("--json", action="store_true")
    note = sub.add_parser("note", help="add an internal note (never sent to the customer)")
    note.add_argument("number", type=int)
    note.add_argument("text", help="the note; - reads it from stdin")
    note.add_argument("--json", action="store_true")
    agents = sub.add_parser("agents", help="the team: roles, who is away, who holds what")
    agents.add_argument("--json", action="store_true")


def _service(args: argparse.Namespace) -> tuple[Workspace, TeamService]:
    ws = open_workspace(load_settings(args.config))
    return ws, TeamService(ws)


def _report(args: argparse.Namespace, result: ActionResult, done: str) -> int:
    if getattr(args, "json", False):
        print_json(
            {
                "ok": result.ok,
                "ticket": result.ticket,
                "queued": result.queued,
                "message": result.message,
                "holder": result.holder,
            }
        )
    elif result.ok:
        print(result.message if result.queued else done)
    else:
        print(f"helpdesk: {result.message}", file=sys.stderr)
    return 0 if result.ok else 1


def run_next(args: argparse.Namespace) -> int:
    ws, svc = _service(args)
    try:
        result = svc.handle_next()
        if not result.ok or result.ticket is None:
            return _report(args, result, "")
        detail = ws.cache.ticket(result.ticket)
    finally:
        ws.close()
    if args.json:
        from helpdesk.cli.commands import detail_json

        out = detail_json(detail) if detail else {"number": result.ticket}
        out["queued"] = result.queued
        print_json(out)
        return 0
    from helpdesk.cli.commands import print_detail

    if detail is not None:
        print_detail(detail)
    else:
        print(f"claimed #{result.ticket} (its mail is not in this cache yet)")
    return 0


def _one(args: argparse.Namespace, action: str) -> int:
    ws, svc = _service(args)
    try:
        match action:
            case "claim":
                return _report(args, svc.claim(args.number), f"claimed #{args.number}")
            case "release":
                return _report(args, svc.release(args.number), f"released #{args.number}")
            case "steal":
                return _report(args, svc.steal(args.number), f"#{args.number} is yours now")
            case "assign":
                return _report(
                    args,
                    svc.assign(args.number, args.agent.lower()),
                    f"#{args.number} assigned to {args.agent}",
                )
            case "reassign":
                res = svc.reassign_all(
                    args.from_agent.lower(),
                    args.to_agent.lower(),
                    numbers=args.tickets,
                    mark_away=not args.keep_present,
                )
                return _report(args, res, res.message or "done")
            case "note":
                text = sys.stdin.read() if args.text == "-" else args.text
                if not text.strip():
                    print("helpdesk: an empty note was not added", file=sys.stderr)
                    return 1
                return _report(
                    args, svc.add_note(args.number, text.strip()), f"note added to #{args.number}"
                )
    finally:
        ws.close()
    raise AssertionError(action)


def run_claim(args: argparse.Namespace) -> int:
    return _one(args, "claim")


def run_release(args: argparse.Namespace) -> int:
    return _one(args, "release")


def run_steal(args: argparse.Namespace) -> int:
    return _one(args, "steal")


def run_assign(args: argparse.Namespace) -> int:
    return _one(args, "assign")


def run_reassign(args: argparse.Namespace) -> int:
    return _one(args, "reassign")


def run_note(args: argparse.Namespace) -> int:
    return _one(args, "note")


def run_agents(args: argparse.Namespace) -> int:
    ws, svc = _service(args)
    try:
        loads = svc.agents()
    except Offline as exc:
        print(f"helpdesk: the team store does not answer: {exc}", file=sys.stderr)
        return 1
    finally:
        ws.close()
    if args.json:
        rows = [
            {
                "email": a.agent.email,
                "name": a.agent.name,
                "role": str(a.agent.role),
                "departments": list(a.agent.departments),
                "away": a.agent.away,
                "holding": a.holding,
            }
            for a in loads
        ]
        print_json(rows)
        return 0
    for a in loads:
        away = "away" if a.agent.away else ""
        print(
            f"{a.agent.email:<32} {a.agent.name:<24.24} {a.agent.role!s:<6} {a.holding:>4} open  {away}"
        )
    return 0


HANDLERS = {
    "next": run_next,
    "claim": run_claim,
    "release": run_release,
    "steal": run_steal,
    "assign": run_assign,
    "reassign": run_reassign,
    "note": run_note,
    "agents": run_agents,
}
