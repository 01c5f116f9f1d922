"""The small questions the compose screen asks: leave (keep or discard the draft), a file to
attach, a colleague's draft to take over; and running $EDITOR on the body."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

__all__ = [
    "AttachPrompt",
    "LeaveChoice",
    "PathSuggester",
    "edit_externally",
    "editor_command",
]

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 90%;
    max-width: 80;
    height: auto;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{name} .question {{ text-style: bold; }}
{name} .keys {{ color: $text-muted; }}
{name} .problem {{ color: $error; }}
"""


class LeaveChoice(ModalScreen[str | None]):
    """The choice: "keep", "discard", or None to go on writing."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="LeaveChoice")
    BINDINGS = [
        Binding("k", "choose('keep')", "Keep", id="leave.keep", tooltip="Leave, keeping the draft"),
        Binding(
            "d",
            "choose('discard')",
            "Discard",
            id="leave.discard",
            tooltip="Leave and throw the draft away",
        ),
        Binding(
            "escape",
            "choose('')",
            "Write on",
            id="leave.back",
            tooltip="Back to the reply",
        ),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Leave this reply?"), classes="question")
            yield Static(
                Text("k keep the draft (it reopens next time) · d discard it · escape write on"),
                classes="keys",
            )

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice or None)


class PathSuggester(Suggester):
    """Completes the last part of a path from what is on disk."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        path = Path(os.path.expanduser(value))
        folder, stem = (path, "") if value.endswith(os.sep) else (path.parent, path.name)
        try:
            names = sorted(p.name for p in folder.iterdir() if p.name.startswith(stem))
        except OSError:
            return None
        visible = [n for n in names if stem.startswith(".") or not n.startswith(".")]
        if not visible:
            return None
        return value + visible[0][len(stem) :]


class AttachPrompt(ModalScreen[Path | None]):
    """A file to send along, by its path."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="AttachPrompt")
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="attach.cancel", tooltip="Attach nothing"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Attach a file: its path (→ completes, Enter attaches)", classes="question")
            yield Input(
                placeholder="~/Documents/invoice.pdf",
                suggester=PathSuggester(),
                id="attach-path",
                compact=True,
            )
            yield Static("", classes="problem", id="attach-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        raw = event.value.strip()
        if not raw:
            self.dismiss(None)
            return
        path = Path(os.path.expanduser(raw))
        if not path.is_file():
            self.query_one("#attach-problem", Static).update(Text(f"not a file: {path}"))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)


def editor_command(env: dict[str, str] | None = None) -> list[str]:
    """The agent's editor, as `git` and mail programs find it: $VISUAL, $EDITOR, then vi."""
    source = os.environ if env is None else env
    return shlex.split(source.get("VISUAL") or source.get("EDITOR") or "vi")


def edit_externally(text: str, command: list[str]) -> str | None:
    """Run `command` on a temporary file holding `text`; the file's text afterwards, or None
    when the editor failed (the body is left as it was then)."""
    fd, name = tempfile.mkstemp(prefix="helpdesk-reply-", suffix=".txt")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        if subprocess.call([*command, str(path)]) != 0:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    finally:
        path.unlink(missing_ok=True)
