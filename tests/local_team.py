"""A one-machine workspace for app and action tests: an agent, a SQLite team store and a
cache in a folder, and a few customers' mails imported (no mail server)."""

from __future__ import annotations

from pathlib import Path

from mailbuild import message

from helpdesk.core.config import parse_config
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor

SUPPORT = "support@helpdesk.example"


def customer_mails(
    count: int,
    *,
    mid: str = "m{i}@customer.example",
    sender: str = "Customer {i} <c{i}@customer.example>",
    subject: str = "Question {i}",
) -> list[bytes]:
    """`count` first mails of different customers, an hour apart from 01:00 on 2 Nov 2026;
    `{i}` in the patterns is 1, 2, ..."""
    return [
        message(
            mid.format(i=i),
            sender=sender.format(i=i),
            subject=subject.format(i=i),
            date=f"Mon, 02 Nov 2026 0{i}:00:00 +0000",
        )
        for i in range(1, count + 1)
    ]


def local_workspace(
    root: Path, agent: str, mails: list[bytes], *, ours: str = SUPPORT, extra: str = ""
) -> Workspace:
    """The workspace of agent "Jana" (`agent`), with `mails` imported; `extra` is more of
    helpdesk.toml (statuses, [app], ...)."""
    text = f"""
[agent]
name = "Jana"
email = "{agent}"
[team]
store = "sqlite:///{root / "team.sqlite"}"
addresses = ["{ours}"]
[cache]
path = "{root / "cache.sqlite"}"
{extra}
"""
    settings = parse_config(text, str(root / "helpdesk.toml"), default_agent=("x", "x@y.z"))
    ws = open_workspace(settings)
    import_messages(mails, make_ingestor(ws))
    return ws
