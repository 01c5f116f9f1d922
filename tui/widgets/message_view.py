"""One message of a conversation: who, when, marks, attachments, and the text."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from helpdesk.core.tickets import ConversationMessage


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} kB"
    return f"{n / 1024 / 1024:.1f} MB"


class MessageView(Vertical):
    DEFAULT_CSS = """
    MessageView {
        height: auto;
        margin: 0 0 1 0;
        border-left: thick $primary;
        padding: 0 1;
    }
    MessageView.-outgoing { border-left: thick $success; }
    MessageView.-malformed { border-left: thick $error; }
    MessageView .header { color: $text; text-style: bold; }
    MessageView .meta { color: $text-muted; }
    MessageView .problem { color: $error; }
    MessageView .attachments { color: $accent; }
    MessageView .body { margin-top: 1; }
    """

    def __init__(self, message: ConversationMessage) -> None:
        super().__init__()
        self.message = message
        self.set_class(message.outgoing, "-outgoing")
        self.set_class(message.problem is not None, "-malformed")

    def compose(self) -> ComposeResult:
        m = self.message
        # Every line is a Text: mail content is shown as plain text, never as markup.
        direction = "→ reply" if m.outgoing else "← from"
        yield Static(Text(f"{direction} {m.sender}"), classes="header")
        when = f"{m.date:%Y-%m-%d %H:%M}" if m.date else "no date"
        meta = f"{when}  to {', '.join(m.to) or '—'}"
        if m.cc:
            meta += f"  cc {', '.join(m.cc)}"
        if m.auto:
            meta += f"  [automatic: {m.auto}]"
        yield Static(Text(meta), classes="meta")
        if m.problem:
            yield Static(Text(f"⚠ malformed message, kept raw: {m.problem}"), classes="problem")
        if m.attachments:
            names = ", ".join(f"{a.filename} ({_size(a.size)})" for a in m.attachments)
            yield Static(Text(f"📎 {names}"), classes="attachments")
        yield Static(Text(m.text.strip() or "(no text)"), classes="body")
