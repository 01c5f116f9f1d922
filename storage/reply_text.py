"""The text of a reply before it is queued: templates with their variables, and signatures.

The app's editor and `helpdesk reply` both start here, so a template reads the same in both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from helpdesk.core.templates import (
    Rendered,
    Template,
    combined_signature,
    render,
    variables_for,
    with_signature,
)
from helpdesk.storage.reply_context import reply_context
from helpdesk.storage.templates_dir import load_templates
from helpdesk.storage.workspace import Workspace


def templates(ws: Workspace) -> tuple[list[Template], list[str]]:
    """The config's [[templates]], then the templates folder's; and what was wrong there."""
    reply = ws.settings.reply
    found = list(reply.templates)
    problems: list[str] = []
    if reply.templates_dir:
        folder = Path(reply.templates_dir).expanduser()
        if folder.is_dir():
            more, problems = load_templates(folder)
            names = {t.name.casefold() for t in found}
            for t in more:
                if t.name.casefold() in names:
                    problems.append(f"{t.source}: a template named {t.name!r} is already defined")
                else:
                    found.append(t)
        else:
            problems.append(f"templates_dir {folder} is not a folder")
    return found, problems


def find_template(ws: Workspace, name: str) -> Template | None:
    wanted = name.casefold()
    return next((t for t in templates(ws)[0] if t.name.casefold() == wanted), None)


def fill(ws: Workspace, ticket: int, text: str, *, today: datetime | None = None) -> Rendered:
    """`text` with the ticket's variables filled in; unknown or empty ones stay visible."""
    ctx = reply_context(ws.cache, ticket)
    agent = ws.settings.agent
    values = variables_for(
        customer_name=ctx.customer_name if ctx else "",
        customer_email=ctx.customer_email if ctx else "",
        ticket=ticket,
        subject=ctx.subject if ctx else "",
        agent_name=agent.name,
        agent_email=agent.email,
        team=ws.settings.team.name,
        order_pattern=ws.settings.reply.order_pattern,
        today=(today or datetime.now(UTC)).date(),
    )
    return render(text, values)


def signed(ws: Workspace, ticket: int, body: str) -> str:
    """`body` with the agent's and the team's signatures, their variables filled."""
    reply = ws.settings.reply
    sig = combined_signature(reply.agent_signature, reply.team_signature)
    return with_signature(body, fill(ws, ticket, sig).text) if sig else body
