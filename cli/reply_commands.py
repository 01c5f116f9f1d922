"""``helpdesk reply`` and ``helpdesk outbox``: replying from scripts and ssh sessions, through the
same queue, reply lock and collision guard as the app."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from helpdesk.cli.output import print_json
from helpdesk.core.sanitize import safe_text
from helpdesk.storage import outgoing
from helpdesk.storage.locations import load_settings
from helpdesk.storage.outgoing import Outgoing, OutState, state_label
from helpdesk.storage.reply_text import fill, find_template, signed
from helpdesk.storage.workspace import Workspace, open_workspace

# The mail-out code (and through it the IMAP and SMTP code) is imported by these commands
# only: every other command, and the app, starts without it.


def add_parsers(sub: Any) -> None:
    reply = sub.add_parser(
        "reply", help="reply to a ticket (queued, then sent with the collision guard)"
    )
    reply.add_argument("number", type=int, metavar="TICKET")
    reply.add_argument("--file", metavar="BODY", help="the text of the reply ('-' = stdin)")
    reply.add_argument("--template", metavar="NAME", help="start from this template")
    reply.add_argument(
        "--status", metavar="STATUS", help="the ticket's status once sent (default: [reply])"
    )
    reply.add_argument(
        "--attach", metavar="FILE", action="append", default=[], help="attach a file (repeatable)"
    )
    reply.add_argument("--all", action="store_true", help="reply to everyone on the last mail")
    reply.add_argument("--to", metavar="ADDR", action="append", help="instead of the customer")
    reply.add_argument("--cc", metavar="ADDR", action="append")
    reply.add_argument("--bcc", metavar="ADDR", action="append", default=[])
    reply.add_argument(
        "--forward", action="store_true", help="forward the last mail to --to (a third party)"
    )
    reply.add_argument(
        "--with-attachments",
        action="store_true",
        help="with --forward: send the forwarded mail's attachments along",
    )
    reply.add_argument(
        "--no-signature", action="store_true", help="leave the configured signature out"
    )
    reply.add_argument(
        "--queue-only", action="store_true", help="queue it; `helpdesk sync` or the app sends it"
    )

    new = sub.add_parser("mail", help="open a new ticket by writing to a customer first")
    new.add_argument("--to", metavar="ADDR", action="append", required=True)
    new.add_argument("--cc", metavar="ADDR", action="append", default=[])
    new.add_argument("--subject", required=True)
    new.add_argument("--file", metavar="BODY", required=True, help="the text ('-' = stdin)")
    new.add_argument("--attach", metavar="FILE", action="append", default=[])
    new.add_argument("--status", metavar="STATUS", help="the ticket's status once sent")
    new.add_argument("--queue-only", action="store_true")

    box = sub.add_parser("outbox", help="replies waiting to be sent, held or failed")
    box.add_argument("--json", action="store_true", help="machine-readable output")
    box_sub = box.add_subparsers(dest="outbox_command", metavar="ACTION")
    anyway = box_sub.add_parser("send", help="send a held reply anyway (or retry a failed one)")
    anyway.add_argument("id", metavar="ID")
    discard = box_sub.add_parser("discard", help="discard a queued, held or failed reply")
    discard.add_argument("id", metavar="ID")


def _workspace(args: argparse.Namespace) -> Workspace:
    return open_workspace(load_settings(args.config))


def _read_body(path: str | None) -> str:
    from helpdesk.sync.mail_out import ReplyError

    if path is None:
        return ""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplyError(f"cannot read {path}: {exc}") from None


def run_reply(args: argparse.Namespace) -> int:
    from helpdesk.sync.mail_out import ReplyError, ReplyRequest, forwarded_parts, queue_reply

    ws = _workspace(args)
    try:
        text = _read_body(args.file)
        if args.template:
            template = find_template(ws, args.template)
            if template is None:
                raise ReplyError(f"no template named {args.template!r} (see [reply] templates)")
            text = (text.rstrip("\n") + "\n\n" if text.strip() else "") + template.body
        if not text.strip():
            raise ReplyError("nothing to send: give --file BODY or --template NAME")
        body = fill(ws, args.number, text).text
        if not args.no_signature:
            body = signed(ws, args.number, body)
        kind = "forward" if args.forward else "reply_all" if args.all else "reply"
        if args.with_attachments and not args.forward:
            raise ReplyError("--with-attachments goes with --forward")
        parts = forwarded_parts(ws, args.number) if args.with_attachments else ()
        out = queue_reply(
            ws,
            ReplyRequest(
                ticket=args.number,
                body=body,
                kind=kind,
                to=tuple(args.to) if args.to else None,
                cc=tuple(args.cc) if args.cc else None,
                bcc=tuple(args.bcc),
                attach=tuple(Path(p) for p in args.attach),
                status_after=args.status,
                forward_parts=parts,
            ),
        )
    except ReplyError as exc:
        print(f"helpdesk: {safe_text(str(exc))}", file=sys.stderr)
        return 1
    print(f"queued reply {out.id} to ticket #{args.number} as <{out.message_id}>")
    if args.queue_only:
        return 0
    return _send_now(ws, out.id)


def run_mail(args: argparse.Namespace) -> int:
    from helpdesk.sync.mail_out import ReplyError, queue_new

    ws = _workspace(args)
    try:
        out = queue_new(
            ws,
            to=tuple(args.to),
            cc=tuple(args.cc),
            subject=args.subject,
            body=_read_body(args.file),
            attach=tuple(Path(p) for p in args.attach),
            status_after=args.status,
        )
    except ReplyError as exc:
        print(f"helpdesk: {safe_text(str(exc))}", file=sys.stderr)
        return 1
    print(f"queued new mail {out.id} as <{out.message_id}>")
    return 0 if args.queue_only else _send_now(ws, out.id)


def _send_now(ws: Workspace, out_id: str) -> int:
    from helpdesk.sync.service import SyncService

    service = SyncService(ws, holder="helpdesk reply")
    try:
        report = service.send_mail()
    finally:
        service.close()
    if report is None:
        holder = service.lease.current_holder() or "another process"
        print(f"{holder} sends it (it holds this cache's sync lease)")
        return 0
    for error in report.errors:
        print(f"helpdesk: {error}", file=sys.stderr)
    out = outgoing.get(ws.cache, out_id)
    if out is None:
        return 1
    print(f"{f'#{out.ticket}' if out.ticket else 'new ticket'}: {safe_text(state_label(out))}")
    return 0 if out.state in (OutState.SENT, OutState.QUEUED) else 1


def _row(out: Outgoing) -> dict[str, Any]:
    return {
        "id": out.id,
        "ticket": out.ticket,
        "kind": out.kind,
        "state": out.state,
        "message_id": out.message_id,
        "author": out.author,
        "created_at": out.created_at.isoformat(),
        "attempts": out.attempts,
        "last_error": out.last_error,
        "held_reason": out.held_reason,
    }


def run_outbox(args: argparse.Namespace) -> int:
    from helpdesk.sync.mail_out import send_anyway

    ws = _workspace(args)
    if args.outbox_command == "send":
        out = outgoing.get(ws.cache, args.id)
        if out is None or out.state not in (OutState.HELD, OutState.FAILED):
            print(f"helpdesk: no held or failed reply {args.id}", file=sys.stderr)
            return 1
        send_anyway(ws, out.id)
        return _send_now(ws, out.id)
    if args.outbox_command == "discard":
        if not outgoing.cancel(ws.cache, args.id):
            print(f"helpdesk: reply {args.id} cannot be discarded now", file=sys.stderr)
            return 1
        print(f"discarded {args.id}")
        return 0
    rows = outgoing.unsent(ws.cache)
    if args.json:
        print_json([_row(o) for o in rows])
        return 0
    if not rows:
        print("nothing waiting: every reply has been sent")
    for o in rows:
        print(f"{o.id}  #{o.ticket}  {o.created_at:%Y-%m-%d %H:%M}  {safe_text(state_label(o))}")
    return 0


HANDLERS = {"reply": run_reply, "mail": run_mail, "outbox": run_outbox}
