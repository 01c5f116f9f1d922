"""What each subcommand does. Kept apart from argument parsing so that tests call them."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import shutil
import signal
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import DBAPIError

from helpdesk.core.config import Settings
from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import Queue, TicketDetail, TicketSummary, age
from helpdesk.storage.db import SchemaError
from helpdesk.storage.locations import data_dir, load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.credentials import CredentialError
from helpdesk.sync.mailfiles import NotAMailbox, import_path
from helpdesk.sync.service import SyncService, make_ingestor

KNOWN_ERRORS = (CredentialError, NotAMailbox, SchemaError, DBAPIError, OSError)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _workspace(args: argparse.Namespace) -> Workspace:
    return open_workspace(_settings(args))


# -- the app -----------------------------------------------------------------------------------


def run_app(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    return _open_app(ws)


def _open_app(ws: Workspace) -> int:
    from helpdesk.tui.app import make_app

    service = SyncService(ws)
    app = make_app(ws, sync=service if service.has_accounts else None)
    try:
        app.run()
    finally:
        ws.close()
    return app.return_code or 0


def run_demo(args: argparse.Namespace) -> int:
    from helpdesk.cli.demo import create_demo_workspace

    if args.dir:
        root = Path(args.dir)
    else:
        # One throwaway workspace, made anew on every run, so that demos never pile up.
        root = data_dir() / "demo"
        shutil.rmtree(root, ignore_errors=True)
    config = create_demo_workspace(root, now=datetime.now(UTC))
    if args.no_app:
        print(config)
        return 0
    return _open_app(open_workspace(load_settings(str(config))))


# -- mail in -----------------------------------------------------------------------------------


def run_sync(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    service = SyncService(ws)
    if not service.has_accounts:
        print(
            "helpdesk: no account with an [accounts.NAME.imap] section in the config",
            file=sys.stderr,
        )
        return 1

    def once() -> bool:
        report = service.sync_once()
        s = report.stats
        print(
            f"{report.finished_at:%Y-%m-%d %H:%M:%S} synced: {s.new_messages} new messages, "
            f"{s.new_tickets} new tickets, {s.duplicates} duplicates, {s.malformed} malformed",
            flush=True,
        )
        for account, error in report.errors.items():
            print(f"helpdesk: account {account}: {error}", file=sys.stderr, flush=True)
        return report.ok

    try:
        if args.once:
            return 0 if once() else 1
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler(timezone=UTC)
        scheduler.add_job(
            once,
            "interval",
            seconds=args.interval,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="imap-poll",
        )

        def stop(_signum: int, _frame: object) -> None:
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        with contextlib.suppress(KeyboardInterrupt):
            scheduler.start()
        return 0
    finally:
        ws.close()


def run_import(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        stats = import_path(Path(args.path).expanduser(), make_ingestor(ws))
    finally:
        ws.close()
    print(
        f"imported {stats.seen} messages: {stats.new_messages} new, {stats.duplicates} already known, "
        f"{stats.new_tickets} new tickets, {stats.malformed} malformed (kept raw and marked)"
    )
    return 0


# -- doctor ------------------------------------------------------------------------------------


def run_doctor(args: argparse.Namespace) -> int:
    from helpdesk.cli.doctor import doctor

    settings = _settings(args)
    problems = doctor(settings, print)
    return 1 if problems else 0


# -- reading tickets ---------------------------------------------------------------------------


def _summary_json(t: TicketSummary) -> dict[str, Any]:
    d = asdict(t)
    d["created_at"] = t.created_at.isoformat()
    d["last_activity"] = t.last_activity.isoformat()
    return d


def run_tickets(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        rows = ws.cache.list_tickets(Queue(args.queue), ws.agent, limit=args.limit or None)
    finally:
        ws.close()
    if args.json:
        json.dump([_summary_json(t) for t in rows], sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    now = datetime.now(UTC)
    for t in rows:
        print(
            f"#{t.number:<6} {age(t.last_activity, now):>4}  {t.status:<8} {(t.assignee or '-'):<20.20} "
            f"{t.customer:<28.28} {t.subject}"
        )
    return 0


def detail_json(d: TicketDetail) -> dict[str, Any]:
    out = _summary_json(d.summary)
    msgs = []
    for m in d.messages:
        md = asdict(m)
        md["date"] = m.date.isoformat() if m.date else None
        msgs.append(md)
    out["messages"] = msgs
    out["notes"] = [
        {
            "id": n.id,
            "author": n.author,
            "body": n.body,
            "created_at": n.created_at.isoformat(),
            "pending": n.pending,
        }
        for n in d.notes
    ]
    out["history"] = [
        {
            "seq": e.seq,
            "actor": e.actor,
            "kind": e.kind,
            "field": e.field,
            "old": e.old,
            "new": e.new,
            "at": e.at.isoformat(),
        }
        for e in d.history
    ]
    return out


def run_show(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        detail = ws.cache.ticket(args.number)
    finally:
        ws.close()
    if detail is None:
        print(f"helpdesk: no ticket #{args.number}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(detail_json(detail), sys.stdout, ensure_ascii=False, indent=2)
        print()
        return 0
    print_detail(detail)
    return 0


def print_detail(detail: TicketDetail) -> None:
    s = detail.summary
    print(
        f"#{s.number}  {s.subject}\n{s.customer}  ·  {s.status}  ·  {s.assignee or 'unassigned'}\n"
    )
    for m in detail.messages:
        when = f"{m.date:%Y-%m-%d %H:%M}" if m.date else "?"
        print(f"--- {'→' if m.outgoing else '←'} {m.sender}  {when}")
        if m.problem:
            print(f"[malformed: {m.problem}]")
        print(m.text.rstrip() + "\n")
    for n in detail.notes:
        waiting = "  (not sent to the team yet)" if n.pending else ""
        print(f"--- INTERNAL NOTE by {safe_text(n.author)}  {n.created_at:%Y-%m-%d %H:%M}{waiting}")
        print(safe_text(n.body).rstrip() + "\n")


# -- secrets -----------------------------------------------------------------------------------


def run_auth(args: argparse.Namespace) -> int:
    from helpdesk.sync.credentials import set_password

    settings = _settings(args)
    if args.account not in settings.accounts:
        known = ", ".join(sorted(settings.accounts)) or "none"
        print(
            f"helpdesk: no account {args.account!r} in the config (accounts: {known})",
            file=sys.stderr,
        )
        return 1
    if sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.account}: ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("helpdesk: empty password, nothing stored", file=sys.stderr)
        return 1
    set_password(args.account, password, args.service)
    print(f"stored the password of {args.account} in the keyring")
    return 0
