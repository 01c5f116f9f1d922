"""The embedded default: a throwaway workspace filled with the bundled sample mailbox."""

from __future__ import annotations

import mailbox
from datetime import datetime
from pathlib import Path

from helpdesk.core import demo_mailbox
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.mailfiles import import_path
from helpdesk.sync.service import make_ingestor


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_demo_workspace(root: Path, *, now: datetime) -> Path:
    """Write a config, an mbox with the sample mail, and import it. Returns the config path."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    name, email = demo_mailbox.AGENTS[0]
    config = root / "helpdesk.toml"
    config.write_text(
        "# A throwaway demo workspace made by `helpdesk demo`.\n"
        f"[agent]\nname = {_toml_str(name)}\nemail = {_toml_str(email)}\n\n"
        f"[team]\nname = {_toml_str(demo_mailbox.TEAM_NAME)}\n"
        f"store = {_toml_str('sqlite:///' + str(root / 'team.sqlite'))}\n"
        f"addresses = [{', '.join(_toml_str(a) for a in (demo_mailbox.TEAM_ADDRESS, demo_mailbox.INFO_ADDRESS))}]\n\n"
        f"[cache]\npath = {_toml_str(str(root / 'cache.sqlite'))}\n",
        encoding="utf-8",
    )
    # An mbox keeps the messages in date order, so ticket numbers come out the same each time.
    mbox_path = root / "sample-mailbox.mbox"
    if not mbox_path.exists():
        box = mailbox.mbox(mbox_path, create=True)
        try:
            for raw in demo_mailbox.generate(now):
                box.add(raw)
            box.flush()
        finally:
            box.close()
    ws = open_workspace(load_settings(str(config), env={}))
    try:
        import_path(mbox_path, make_ingestor(ws))
    finally:
        ws.close()
    return config
