"""What each subcommand does. Kept apart from argument parsing so that tests call them."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from helpdesk.cli.output import print_json
from helpdesk.core.config import Settings
from helpdesk.core.sanitize import safe_text
from helpdesk.core.search_text import Marked, SearchHit
from helpdesk.core.sla import describe_due, sla_state
from helpdesk.core.tickets import Queue, TicketDetail, TicketSummary, age
from helpdesk.core.workflow import TicketSettings
from helpdesk.storage.db import SchemaError
from helpdesk.storage.locations import data_dir, load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.credentials import CredentialError
from helpdesk.sync.mailfiles import NotAMailbox

if TYPE_CHECKING:  # the sync code is imported by the commands that sync, not at start
    from helpdesk.sync.idle import IdleWatcher
    from helpdesk.sync.service import SyncService

DEFAULT_DUE_SOON = TicketSettings().due_soon

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

    def service() -> SyncService:
        from helpdesk.sync.service import SyncService

        return SyncService(ws, holder="helpdesk app")

    mail = any(a.imap is not None for a in ws.settings.accounts.values())
    app = make_app(ws, sync=service if mail else None)
    try:
        app.run()
    finally:
        if app.sync is not None:
            app.sync.close()
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


MAIL_OUT_INTERVAL = 5.0  # seconds between looks at the outgoing queue in `helpdesk sync`
WORKFLOW_INTERVAL = 60.0  # seconds between runs of the workflow jobs (escalation, summary)
WORKFLOW_FIRST_RUN = 10.0  # seconds after start: the first sync has taken the lease by then


def run_sync(args: argparse.Namespace) -> int:
    from helpdesk.sync.service import SyncService
    from helpdesk.sync.team import TeamService

    ws = _workspace(args)
    service = SyncService(ws, holder="helpdesk sync")
    if not service.has_accounts:
        print(
            "helpdesk: no account with an [accounts.NAME.imap] section in the config",
            file=sys.stderr,
        )
        return 1

    serial = threading.Lock()  # a pushed sync and the poll never run at once
    team = TeamService(ws)

    def once() -> bool:
        with serial:
            began = time.perf_counter()
            # The team's changes first: the mailbox mirror files what colleagues closed or
            # marked as spam, and it reads that from this cache.
            team.sync()
            report = service.sync_once()
            took = time.perf_counter() - began
        when = f"{report.finished_at:%Y-%m-%d %H:%M:%S}"
        if report.synced_by is not None:
            print(f"{when} not synced: {report.synced_by} syncs this cache", flush=True)
            return True
        if service.lease.held and not args.once and not watcher.started:
            watcher.start()  # the lease holder alone keeps IDLE connections
        s = report.stats
        print(
            f"{when} synced: {s.new_messages} new messages, {s.new_tickets} new tickets, "
            f"{s.duplicates} duplicates, {s.malformed} malformed, {s.flags_changed} flag "
            f"changes, {s.vanished} gone from the server; seconds: download "
            f"{s.download_s:.2f}, parse {s.parse_s:.2f}, thread {s.register_s:.2f}, "
            f"store {s.store_s:.2f}, total {took:.2f}",
            flush=True,
        )
        for account, error in report.errors.items():
            print(f"helpdesk: account {account}: {error}", file=sys.stderr, flush=True)
        return send() and report.ok

    def send() -> bool:
        with serial:
            out = service.send_mail()
        if out is None:
            return True
        if out.sent or out.held or out.failed or out.retrying:
            print(
                f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} mail out: {len(out.sent)} sent, "
                f"{len(out.held)} held, {len(out.failed)} failed, {len(out.retrying)} to retry",
                flush=True,
            )
        for error in out.errors:
            print(f"helpdesk: mail out: {error}", file=sys.stderr, flush=True)
        return not out.failed

    from helpdesk.sync.workflow_jobs import WorkflowJobs

    jobs = WorkflowJobs(ws)

    def workflow() -> None:
        if not service.lease.held:
            return  # the lease holder runs them for this cache
        report = jobs.run(datetime.now(UTC))
        if report.did_something:
            print(report.line(), flush=True)
        for step in report.steps:
            if step.error is not None:
                print(f"helpdesk: workflow {step.name}: {step.error}", file=sys.stderr, flush=True)

    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone=UTC)
    watcher = _idle_watcher(ws, scheduler, once)
    try:
        if args.once:  # from cron: the workflow jobs too, and what they queued goes out now
            synced = once()
            workflow()
            return 0 if send() and synced else 1
        scheduler.add_job(
            once,
            "interval",
            seconds=args.interval,
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            id="imap-poll",
        )
        # Replies queued by agents' commands go out within seconds, not at the next poll.
        scheduler.add_job(
            send,
            "interval",
            seconds=MAIL_OUT_INTERVAL,
            max_instances=1,
            coalesce=True,
            id="mail-out",
        )
        scheduler.add_job(
            workflow,
            "interval",
            seconds=WORKFLOW_INTERVAL,
            next_run_time=datetime.now(UTC) + timedelta(seconds=WORKFLOW_FIRST_RUN),
            max_instances=1,
            coalesce=True,
            id="workflow",
        )

        def stop(_signum: int, _frame: object) -> None:
            scheduler.shutdown(wait=False)

        signal.signal(signal.SIGTERM, stop)
        with contextlib.suppress(KeyboardInterrupt):
            scheduler.start()
        return 0
    finally:
        watcher.stop()
        service.close()
        ws.close()


def _idle_watcher(ws: Workspace, scheduler: Any, once: Callable[[], bool]) -> IdleWatcher:
    from helpdesk.sync.idle import IdleWatcher

    """IDLE on each inbox: a push queues one sync at once. Pushes that come while that job
    waits replace it, so a burst makes one sync, not ten; the poll still covers other folders."""

    def changed(_account: str) -> None:
        # Two instances: the running sync, and the one that waits to follow it.
        scheduler.add_job(
            once, id="imap-push", replace_existing=True, max_instances=2, misfire_grace_time=None
        )

    def state(account: str, text: str, error: str | None) -> None:
        line = f"helpdesk: account {account}: push {text}" + (f" ({error})" if error else "")
        print(line, file=sys.stderr if error else sys.stdout, flush=True)

    return IdleWatcher(ws.settings.accounts.values(), on_change=changed, on_state=state)


def run_import(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        from helpdesk.sync.mailfiles import import_path
        from helpdesk.sync.service import make_ingestor

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
    if getattr(args, "json", False):
        report = doctor(settings)
        print_json(report.to_json(settings.source))
    else:
        report = doctor(settings, print)
    return 1 if report.problems else 0


# -- reading tickets ---------------------------------------------------------------------------


def _summary_json(
    t: TicketSummary, now: datetime | None = None, soon: timedelta = DEFAULT_DUE_SOON
) -> dict[str, Any]:
    d = asdict(t)
    d["created_at"] = t.created_at.isoformat()
    d["last_activity"] = t.last_activity.isoformat()
    d["sla_due"] = t.sla_due.isoformat() if t.sla_due else None
    d["snoozed_until"] = t.snoozed_until.isoformat() if t.snoozed_until else None
    state = sla_state(t.sla_due, now or datetime.now(UTC), soon)
    d["sla_state"] = state.value.replace(" ", "_")  # "ok" | "due_soon" | "breached"
    return d


def run_tickets(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        rows = ws.cache.list_tickets(Queue(args.queue), ws.agent, limit=args.limit or None)
    finally:
        ws.close()
    now = datetime.now(UTC)
    soon = ws.settings.workflow.tickets.due_soon
    if args.json:
        print_json([_summary_json(t, now, soon) for t in rows])
        return 0
    for t in rows:
        due = describe_due(t.sla_due, now) if t.sla_due else ""
        print(
            f"#{t.number:<6} {age(t.last_activity, now):>4}  {_one_line(t.status):<8} "
            f"{due:<18} {(t.assignee or '-'):<20.20} {_one_line(t.customer):<28.28} "
            f"{_one_line(t.subject)}"
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
        print_json(detail_json(detail))
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


def run_search(args: argparse.Namespace) -> int:
    ws = _workspace(args)
    try:
        hits = ws.cache.search(args.text, limit=max(1, args.limit))
    finally:
        ws.close()
    if args.json:
        print_json([search_hit_json(h) for h in hits])
        return 0
    for h in hits:
        when = f"{h.date:%Y-%m-%d}" if h.date else "?"
        # One line per hit: newlines and tabs inside mail text would break the columns.
        line = (
            f"#{h.ticket:<6} {when}  {_one_line(h.sender.text):<28.28} "
            f"{_one_line(h.subject.text)}  ·  {_one_line(h.snippet.text)}"
        )
        print(line)
    return 0


def _one_line(s: str) -> str:
    return " ".join(safe_text(s).split())


def search_hit_json(h: SearchHit) -> dict[str, Any]:
    """A hit with each text's matched ranges as [start, end] offsets into it."""

    def marked(m: Marked) -> dict[str, Any]:
        return {"text": m.text, "matches": [list(span) for span in m.spans]}

    return {
        "ticket": h.ticket,
        "message": h.message,
        "date": h.date.isoformat() if h.date else None,
        "subject": marked(h.subject),
        "sender": marked(h.sender),
        "snippet": marked(h.snippet),
        "score": h.score,
    }


# -- attachments -------------------------------------------------------------------------------


def _human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def run_attachments(args: argparse.Namespace) -> int:
    from helpdesk.storage.attachments import list_attachments

    ws = _workspace(args)
    try:
        if ws.cache.ticket(args.number) is None:
            print(f"helpdesk: no ticket #{args.number}", file=sys.stderr)
            return 1
        rows = list_attachments(ws.cache, args.number)
    finally:
        ws.close()
    if args.json:
        print_json([asdict(a) for a in rows])
        return 0
    if not rows:
        print(f"ticket #{args.number} has no attachments")
        return 0
    print(f"{'MESSAGE':>7}  {'PART':<8} {'SIZE':>9}  {'TYPE':<28} NAME")
    for a in rows:
        print(
            f"{a.message:>7}  {_one_line(a.part):<8} {_human_size(a.size):>9}  "
            f"{_one_line(a.content_type):<28.28} {_one_line(a.filename)}"
        )
    return 0


def run_save_attachment(args: argparse.Namespace) -> int:
    from helpdesk.storage.attachments import (
        AttachmentNotFound,
        list_attachments,
        save_attachment,
    )

    if args.all == (args.part is not None):
        print("helpdesk: give either a PART or --all", file=sys.stderr)
        return 2
    folder = Path(args.to).expanduser() if args.to else Path.cwd()
    if not folder.is_dir():
        print(f"helpdesk: no such folder: {_one_line(str(folder))}", file=sys.stderr)
        return 1
    ws = _workspace(args)
    try:
        rows = list_attachments(ws.cache, args.number)
        if args.message is not None:
            rows = [a for a in rows if a.message == args.message]
        if not args.all:
            rows = [a for a in rows if a.part == args.part]
        if not rows:
            what = "attachments" if args.all else f"attachment at part {_one_line(args.part)}"
            print(f"helpdesk: ticket #{args.number} has no {what}", file=sys.stderr)
            return 1
        messages = sorted({a.message for a in rows})
        if not args.all and len(messages) > 1:
            listed = ", ".join(str(m) for m in messages)
            print(
                f"helpdesk: part {_one_line(args.part)} is in several messages of "
                f"#{args.number} ({listed}): choose one with --message",
                file=sys.stderr,
            )
            return 1
        for a in rows:
            try:
                path = save_attachment(ws.cache, a.message, a.part, folder)
            except AttachmentNotFound as exc:
                print(f"helpdesk: {_one_line(str(exc))}", file=sys.stderr)
                return 1
            print(f"saved {_one_line(str(path))} ({_human_size(path.stat().st_size)})")
    finally:
        ws.close()
    return 0


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
