"""Writing an internal note: a small editor over the ticket."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, TextArea


class NoteEditor(ModalScreen[str | None]):
    DEFAULT_CSS = """
    NoteEditor { align: center middle; }
    NoteEditor > Vertical {
        width: 90%;
        max-width: 100;
        height: 60%;
        min-height: 10;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    NoteEditor Label { color: $warning; text-style: bold; }
    NoteEditor TextArea { height: 1fr; }
    """
    BINDINGS = [
        # Priority: the text area would take ctrl+d as "delete right" and escape for itself.
        Binding(
            "ctrl+d",
            "save",
            "Save note",
            priority=True,
            id="note.save",
            tooltip="Add the note to the ticket",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            priority=True,
            id="note.cancel",
            tooltip="Close without adding",
        ),
    ]

    def __init__(self, number: int) -> None:
        super().__init__()
        self.number = number

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(
                f"Internal note on #{self.number}: the team sees it, the customer never does"
            )
            yield TextArea(id="note-text", soft_wrap=True, show_line_numbers=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text.strip()
        self.dismiss(text or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
