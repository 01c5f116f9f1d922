"""An internal note in a conversation: unmistakably not mail (label, colour, border)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import NoteView as Note


class NoteView(Vertical):
    DEFAULT_CSS = """
    NoteView {
        height: auto;
        margin: 0 0 1 0;
        border-left: thick $warning;
        background: $warning 12%;
        padding: 0 1;
    }
    NoteView .label { color: $warning; text-style: bold; }
    NoteView .body { margin-top: 1; }
    """

    def __init__(self, note: Note) -> None:
        super().__init__()
        self.note = note

    def compose(self) -> ComposeResult:
        n = self.note
        # Team text is untrusted too (any client can write to the team store).
        label = Text(
            f"INTERNAL NOTE · team only · {safe_text(n.author)} · {n.created_at:%Y-%m-%d %H:%M}"
        )
        if n.pending:
            label.append(" · not sent to the team yet")
        yield Static(label, classes="label")
        yield Static(Text(safe_text(n.body)), classes="body")
