"""One message of a conversation: who, when, marks, attachments, and the text.

A message can be folded to its first line (sender, date, first words). Its quoted text and
signature are folded to a marker line, and its full headers hidden, by classes of the screen
(``-show-quotes``, ``-show-headers`` in app.tcss), so that one key changes every message of a
ticket at once, messages mounted later included.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Click
from textual.reactive import reactive
from textual.widgets import Static

from helpdesk.core.quoted_text import BlockKind, first_words, split_blocks
from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import ConversationMessage

__all__ = ["MessageView", "fold_older", "size_label"]


def size_label(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} kB"
    return f"{n / 1024 / 1024:.1f} MB"


def _one_line(s: str) -> str:
    return " ".join(safe_text(s).split())


def _marker(kind: BlockKind, lines: int) -> str:
    plural = "" if lines == 1 else "s"
    if kind is BlockKind.SIGNATURE:
        return f"… signature, {lines} line{plural}"
    return f"… {lines} quoted line{plural}"


class MessageView(Vertical, can_focus=True):
    DEFAULT_CSS = """
    MessageView {
        height: auto;
        margin: 0 0 1 0;
        border-left: thick $primary;
        padding: 0 1;
    }
    MessageView.-outgoing { border-left: thick $success; }
    MessageView.-malformed { border-left: thick $error; }
    MessageView:focus { background: $boost; }
    MessageView.-folded { margin: 0; }
    /* Important: the screen's quote and header toggles must not open a folded message. */
    MessageView.-folded > * { display: none !important; }
    MessageView.-folded > .header {
        display: block !important;
        color: $text-muted;
        text-style: none;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    MessageView .header { color: $text; text-style: bold; }
    MessageView .meta { color: $text-muted; }
    MessageView .headers { display: none; color: $text-muted; }
    MessageView .problem { color: $error; }
    MessageView .attachments { color: $accent; }
    MessageView .body { margin-top: 1; }
    MessageView .quoted { display: none; color: $text-muted; margin-top: 1; }
    MessageView .fold-marker { color: $text-muted; text-style: italic; }
    MessageView .fold-marker.-first { margin-top: 1; }
    """

    BINDINGS = [
        Binding(
            "enter",
            "toggle_fold",
            "Expand",
            show=False,
            id="message.toggle",
            tooltip="Show or fold this message",
        ),
        Binding(
            "space",
            "expand",
            "Expand",
            show=False,
            id="message.expand",
            tooltip="Show this folded message",
        ),
    ]

    folded: reactive[bool] = reactive(False, init=False)

    def __init__(self, message: ConversationMessage) -> None:
        super().__init__()
        self.message = message
        self.set_class(message.outgoing, "-outgoing")
        self.set_class(message.problem is not None, "-malformed")

    def _header_text(self) -> Text:
        m = self.message
        direction = "→ reply" if m.outgoing else "← from"
        if not self.folded:
            return Text(f"▾ {direction} {_one_line(m.sender)}")
        when = f"{m.date:%Y-%m-%d %H:%M}" if m.date else "no date"
        line = Text(f"▸ {direction} {_one_line(m.sender)} · {when}")
        words = first_words(safe_text(m.text))
        if words:
            line.append(f" · {words}")
        if m.attachments:
            line.append(f" · 📎{len(m.attachments)}")
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line

    def _headers_text(self) -> Text:
        m = self.message
        rows = [
            ("From", m.sender),
            ("To", ", ".join(m.to) or "—"),
            ("Cc", ", ".join(m.cc) or "—"),
            ("Date", f"{m.date:%a, %d %b %Y %H:%M:%S %z}" if m.date else "—"),
            ("Subject", m.subject or "—"),
            ("Message-ID", f"<{m.message_id.strip('<>')}>" if m.message_id else "—"),
        ]
        out = Text()
        for i, (name, value) in enumerate(rows):
            if i:
                out.append("\n")
            out.append(f"{name}: ", style="bold")
            out.append(_one_line(value))
        return out

    def _body(self) -> Iterable[Static]:
        text = safe_text(self.message.text).strip()
        if not text:
            yield Static(Text("(no text)"), classes="body")
            return
        first = True
        for block in split_blocks(text):
            top = "-first" if first else ""
            first = False
            if block.kind is BlockKind.TEXT or not block.folds:
                yield Static(Text(block.text), classes=f"body {top}")
                continue
            yield Static(Text(_marker(block.kind, block.lines)), classes=f"fold-marker {top}")
            yield Static(Text(block.text), classes=f"quoted {top}")

    def compose(self) -> ComposeResult:
        m = self.message
        # Every line is a Text: mail content is shown as plain text, never as markup.
        yield Static(self._header_text(), classes="header")
        when = f"{m.date:%Y-%m-%d %H:%M}" if m.date else "no date"
        meta = f"{when}  to {', '.join(m.to) or '—'}"
        if m.cc:
            meta += f"  cc {', '.join(m.cc)}"
        if m.auto:
            meta += f"  [automatic: {m.auto}]"
        yield Static(Text(safe_text(meta)), classes="meta")
        yield Static(self._headers_text(), classes="headers")
        if m.problem:
            yield Static(Text(f"⚠ malformed message, kept raw: {m.problem}"), classes="problem")
        if m.attachments:
            lines = Text()
            for i, a in enumerate(m.attachments):
                if i:
                    lines.append("\n")
                lines.append(f"📎 {_one_line(a.filename)} ({size_label(a.size)}, ")
                lines.append(f"{_one_line(a.content_type)})")
            yield Static(lines, classes="attachments")
        yield from self._body()

    def watch_folded(self, folded: bool) -> None:
        self.set_class(folded, "-folded")
        if self.is_mounted:
            self.query_one(".header", Static).update(self._header_text())

    def action_toggle_fold(self) -> None:
        self.folded = not self.folded

    def action_expand(self) -> None:
        self.folded = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Space on an open message pages the conversation, as it does elsewhere.
        if action == "expand":
            return self.folded
        return True

    def on_click(self, event: Click) -> None:
        if self.folded:
            event.stop()
            self.folded = False


def fold_older(views: list[MessageView], expanded: set[int]) -> None:
    """Fold every message but the newest and those the agent opened (cache ids)."""
    for i, view in enumerate(views):
        view.folded = i != len(views) - 1 and view.message.id not in expanded
