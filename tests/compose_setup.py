"""A workspace for the compose tests: one agent, a team store and a cache in a folder, an
SMTP account that nothing listens on (queueing is local), and the templates a test needs."""

from __future__ import annotations

from pathlib import Path

from helpdesk.core.config import parse_config
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor

OURS = "support@helpdesk.example"

_CONFIG = """
[agent]
name = "Jana Dvořáková"
email = "jana@helpdesk.example"
[team]
name = "Support"
store = "sqlite:///{root}/team.sqlite"
addresses = ["{ours}"]
[cache]
path = "{root}/cache.sqlite"
[accounts.support]
address = "{ours}"
[accounts.support.smtp]
host = "127.0.0.1"
port = 9
tls = "none"
[reply]
send_delay = {delay}
team_signature = "{{{{ team.name }}}} team"
"""


def compose_workspace(
    root: Path, raws: list[bytes], *, templates: str = "", delay: int = 30
) -> Workspace:
    """`templates`: [[templates]] tables, as helpdesk.toml holds them."""
    text = _CONFIG.format(root=root, ours=OURS, delay=delay) + templates
    settings = parse_config(text, str(root / "helpdesk.toml"), default_agent=("x", "x@y.z"))
    ws = open_workspace(settings)
    import_messages(raws, make_ingestor(ws))
    return ws
