"""The `helpdesk` command: the app, and a scriptable CLI beside it."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from helpdesk import __version__
from helpdesk.cli.admin_commands import HANDLERS as ADMIN_HANDLERS
from helpdesk.cli.admin_commands import add_parsers as add_admin_parsers
from helpdesk.cli.reply_commands import HANDLERS as REPLY_HANDLERS
from helpdesk.cli.reply_commands import add_parsers as add_reply_parsers
from helpdesk.cli.rules_commands import HANDLERS as RULES_HANDLERS
from helpdesk.cli.rules_commands import add_parsers as add_rules_parsers
from helpdesk.cli.spam_commands import HANDLERS as SPAM_HANDLERS
from helpdesk.cli.spam_commands import add_parsers as add_spam_parsers
from helpdesk.cli.team_commands import HANDLERS as TEAM_HANDLERS
from helpdesk.cli.team_commands import add_parsers as add_team_parsers
from helpdesk.cli.workflow_commands import HANDLERS as WORKFLOW_HANDLERS
from helpdesk.cli.workflow_commands import add_parsers as add_workflow_parsers
from helpdesk.core.config import ConfigError
from helpdesk.core.tickets import Queue

Handler = Callable[[argparse.Namespace], int]


class UserError(Exception):
    """A problem the user can fix, shown as one line without a traceback."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="helpdesk",
        description="A keyboard-driven terminal helpdesk on a shared IMAP mailbox.",
    )
    p.add_argument("--version", action="version", version=f"helpdesk {__version__}")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $HELPDESK_CONFIG, then the XDG config dir)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("app", help="open the terminal app (the default)")

    demo = sub.add_parser(
        "demo", help="open the app on a throwaway demo workspace (no server needed)"
    )
    demo.add_argument(
        "--dir", metavar="DIR", help="where to put the workspace (default: a fresh temp dir)"
    )
    demo.add_argument(
        "--no-app", action="store_true", help="only create the workspace and print its config path"
    )

    sync = sub.add_parser("sync", help="sync mail headless; runs until stopped")
    sync.add_argument("--once", action="store_true", help="sync once and exit")
    sync.add_argument(
        "--interval", type=float, default=60.0, metavar="SECONDS", help="seconds between polls (60)"
    )

    imp = sub.add_parser(
        "import", help="import a Maildir or an mbox file through the ingest pipeline"
    )
    imp.add_argument("path", metavar="PATH")

    doctor = sub.add_parser(
        "doctor", help="check the config, the stores and the servers; prove nothing was lost"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    tickets = sub.add_parser("tickets", help="list tickets")
    tickets.add_argument("--queue", choices=[q.value for q in Queue], default=Queue.OPEN.value)
    tickets.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    tickets.add_argument("--json", action="store_true", help="machine-readable output")

    show = sub.add_parser("show", help="show one ticket with its conversation")
    show.add_argument("number", type=int)
    show.add_argument("--json", action="store_true", help="machine-readable output")

    search = sub.add_parser("search", help="full-text search of subjects, senders and bodies")
    search.add_argument("text", help='words (accents optional), "a phrase", a word prefix')
    search.add_argument("--limit", type=int, default=50, help="at most this many tickets (50)")
    search.add_argument("--json", action="store_true", help="machine-readable output")

    atts = sub.add_parser("attachments", help="list the attachments of a ticket")
    atts.add_argument("number", type=int, metavar="TICKET")
    atts.add_argument("--json", action="store_true", help="machine-readable output")

    save = sub.add_parser(
        "save-attachment", help="save an attachment of a ticket (see `attachments`) to a folder"
    )
    save.add_argument("number", type=int, metavar="TICKET")
    save.add_argument("part", nargs="?", metavar="PART", help="its MIME part, e.g. 2 or 2.1")
    save.add_argument("--message", type=int, metavar="ID", help="the message it belongs to")
    save.add_argument("--all", action="store_true", help="save every attachment of the ticket")
    save.add_argument("--to", metavar="DIR", help="target folder (default: the current one)")

    add_team_parsers(sub)
    add_admin_parsers(sub)
    add_rules_parsers(sub)
    add_reply_parsers(sub)
    add_workflow_parsers(sub)
    add_spam_parsers(sub)

    auth = sub.add_parser("auth", help="store account passwords in the keyring")
    auth_sub = auth.add_subparsers(dest="auth_command", metavar="ACTION", required=True)
    auth_set = auth_sub.add_parser(
        "set", help="store the password of ACCOUNT (read from the terminal or stdin)"
    )
    auth_set.add_argument("account")
    auth_set.add_argument(
        "--service", choices=["imap", "smtp"], help="only for this service (default: both)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from helpdesk.cli import commands

    handlers: dict[str | None, Handler] = {
        None: commands.run_app,
        "app": commands.run_app,
        "demo": commands.run_demo,
        "sync": commands.run_sync,
        "import": commands.run_import,
        "doctor": commands.run_doctor,
        "tickets": commands.run_tickets,
        "show": commands.run_show,
        "attachments": commands.run_attachments,
        "save-attachment": commands.run_save_attachment,
        "search": commands.run_search,
        "auth": commands.run_auth,
    }
    handlers.update(TEAM_HANDLERS)
    handlers.update(ADMIN_HANDLERS)
    handlers.update(RULES_HANDLERS)
    handlers.update(REPLY_HANDLERS)
    handlers.update(WORKFLOW_HANDLERS)
    handlers.update(SPAM_HANDLERS)
    try:
        return handlers[args.command](args)
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader has all it wanted. Point stdout
        # at /dev/null so that the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"helpdesk: configuration error: {exc}", file=sys.stderr)
        return 2
    except (UserError, *commands.KNOWN_ERRORS) as exc:
        # A database error's first line says it; the SQL and parameters below it do not help.
        print(
            f"helpdesk: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
