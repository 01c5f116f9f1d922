"""Replies in a conversation that are not plain mail yet (queued, sending, held, failed), and
sent replies with the agent who wrote them.

A held or failed reply waits for the agent: the widget takes focus (tab) and offers its
choices as keys, so deciding never needs a mouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static

from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import EventKind
from helpdesk.core.tickets import ConversationMessage, EventView
from helpdesk.storage.outgoing import Outgoing, OutState, state_label
from helpdesk.tui.widgets.message_view import MessageView

__all__ = ["OutgoingView", "SentReplyView", "reply_authors"]

_KIND = {"reply": "reply", "reply_all": "reply to all", "forward": "forward", "new": "new mail"}
_WAITING = (OutState.HELD, OutState.FAILED)


def reply_authors(history: list[EventView]) -> dict[str, EventView]:
    """Message-ID (bare) -> the team's "replied" event for it: who sent it, and when."""
    return {_bare(e.new): e for e in history if e.kind == EventKind.REPLIED and e.new}


def _bare(message_id: str) -> str:
    return message_id.strip().removeprefix("<").removesuffix(">").strip()


class OutgoingView(Vertical, can_focus=True):
    """One reply of ours that has not joined the conversation as sent mail."""

    DEFAULT_CSS = """
    OutgoingView {
        height: auto;
        margin: 0 0 1 0;
        border-left: thick $secondary;
        padding: 0 1;
        background: $secondary 8%;
    }
    OutgoingView.-held, OutgoingView.-failed {
        border-left: thick $error;
        background: $error 10%;
    }
    OutgoingView:focus { background: $boost; }
    OutgoingView .state { text-style: bold; }
    OutgoingView.-held .state, OutgoingView.-failed .state { color: $error; }
    OutgoingView .choices { color: $text-muted; }
    OutgoingView:focus .choices { color: $text; text-style: bold; }
    """

    BINDINGS = [
        Binding(
            "a",
            "decide('send')",
            "Send anyway",
            id="outgoing.send_anyway",
            tooltip="Send this held or failed reply as it is",
        ),
        Binding(
            "e",
            "decide('edit')",
            "Edit",
            id="outgoing.edit",
            tooltip="Take the reply back into the editor",
        ),
        Binding(
            "d",
            "decide('discard')",
            "Discard",
            id="outgoing.discard",
            tooltip="Throw the reply away (undo while it waits to be sent)",
        ),
    ]

    @dataclass
    class Decision(Message):
        """The agent chose what happens to a reply: send, edit or discard."""

        out_id: str
        choice: str

    def __init__(self, out: Outgoing) -> None:
        super().__init__()
        self.out = out
        self.set_class(out.state == OutState.HELD, "-held")
        self.set_class(out.state == OutState.FAILED, "-failed")

    def compose(self) -> ComposeResult:
        out = self.out
        kind = _KIND.get(out.kind, out.kind)
        # The held reason and server errors carry mail and server text: plain Text only.
        yield Static(
            Text(safe_text(f"→ {kind} by {out.author}: {state_label(out)}")), classes="state"
        )
        to = ", ".join(out.rcpt) or "—"
        yield Static(Text(safe_text(f"{out.created_at:%Y-%m-%d %H:%M}  to {to}")), classes="meta")
        if out.state in _WAITING:
            yield Static(
                Text("tab here, then: a send anyway · e edit · d discard"), classes="choices"
            )
        elif out.state == OutState.QUEUED:
            yield Static(Text("d discard · u undo the last reply"), classes="choices")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "decide":
            return True
        choice = parameters[0] if parameters else ""
        if choice == "discard":
            return self.out.state in (*_WAITING, OutState.QUEUED)
        return self.out.state in _WAITING

    def action_decide(self, choice: str) -> None:
        self.post_message(self.Decision(self.out.id, choice))


class SentReplyView(MessageView):
    """A sent reply, with the agent who wrote it (the From line may name only the team)."""

    DEFAULT_CSS = """
    SentReplyView .author { color: $success; }
    """

    def __init__(self, message: ConversationMessage, author: str, sent: datetime | None) -> None:
        super().__init__(message)
        self.author = author
        self.sent = sent

    def compose(self) -> ComposeResult:
        parts: list[Widget] = list(super().compose())
        line = f"written by {self.author}"
        if self.sent is not None:
            line += f", sent {self.sent:%Y-%m-%d %H:%M}"
        parts.insert(1, Static(Text(safe_text(line)), classes="author"))
        yield from parts
