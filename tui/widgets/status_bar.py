"""The status line: sync state, the last error, and what the agent is looking at."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text-muted;
        padding: 0 1;
    }
    StatusBar.-error { color: $error; }
    """

    sync_text: reactive[str] = reactive("")
    where: reactive[str] = reactive("")

    def render(self) -> Text:
        # Built from Text parts: error strings can carry server-provided text, never markup.
        text = Text(self.where, style="bold")
        if self.sync_text:
            text.append("  ·  ")
            text.append(self.sync_text)
        return text

    def on_mount(self) -> None:
        # A screen pushed later starts with the app's current sync state.
        status = getattr(self.app, "status_text", None)
        if status is not None:
            self.show_sync(status(), error=getattr(self.app, "sync_error", False))

    def show_sync(self, text: str, *, error: bool = False) -> None:
        self.sync_text = text
        self.set_class(error, "-error")
