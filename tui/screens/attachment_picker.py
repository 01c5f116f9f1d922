"""The attachments of a ticket in one list: enter opens one with the system's handler, `s`
saves it into a folder (~/Downloads unless the agent types another).

Saving and opening run in worker threads: an attachment can be tens of megabytes inside a raw
message kept in the blob store, and a handler can take its time to start. The name written is
cleaned again by :mod:`helpdesk.storage.attachments`, which never writes outside the folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import ConversationMessage
from helpdesk.storage.attachments import (
    AttachmentNotFound,
    StoredAttachment,
    list_attachments,
    save_attachment,
    save_for_viewing,
)
from helpdesk.storage.cache import Cache
from helpdesk.tui.widgets.message_view import size_label

__all__ = ["AttachmentPicker", "default_download_dir", "open_with_system", "system_opener"]

# A handler that is still running after this long has opened the file (a viewer that stays
# in the foreground of xdg-open); one that failed has said so well before.
OPEN_WAIT = 10.0


def default_download_dir() -> Path:
    return Path.home() / "Downloads"


def system_opener() -> list[str] | None:
    """The command that opens a file with the desktop's chosen program, if there is one."""
    name = "open" if sys.platform == "darwin" else "xdg-open"
    found = shutil.which(name)
    return [found] if found else None


def open_with_system(path: Path, opener: Sequence[str]) -> str | None:
    """Run ``opener path``; None when it worked, else what went wrong, for the agent.

    The handler runs in its own session with no terminal: a text-mode viewer chosen by
    the desktop's rules must not take over the terminal the app is drawn in."""
    try:
        proc = subprocess.Popen(
            [*opener, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as error:
        return f"{opener[0]} could not run: {error.strerror or error}"
    try:
        code = proc.wait(timeout=OPEN_WAIT)
    except subprocess.TimeoutExpired:
        return None
    if code != 0:
        return f"no program could open it ({os.path.basename(opener[0])} exited with {code})"
    return None


def _one_line(s: str) -> str:
    return " ".join(safe_text(s).split())


class AttachmentPicker(ModalScreen[None]):
    DEFAULT_CSS = """
    AttachmentPicker { align: center middle; }
    AttachmentPicker > Vertical {
        width: 90%;
        max-width: 90;
        height: auto;
        max-height: 22;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    AttachmentPicker Label { color: $primary; text-style: bold; }
    AttachmentPicker OptionList {
        height: auto;
        max-height: 12;
        border: none;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    AttachmentPicker #attachment-folder { display: none; }
    AttachmentPicker #attachment-folder.-shown { display: block; }
    AttachmentPicker #attachment-hint { color: $text-muted; }
    AttachmentPicker #attachment-status { color: $text-muted; height: auto; }
    AttachmentPicker #attachment-status.-error { color: $error; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close", id="attachments.close", tooltip="Back to the ticket"),
        Binding(
            "s",
            "ask_folder",
            "Save",
            id="attachments.save",
            tooltip="Save the highlighted attachment into a folder (~/Downloads unless changed)",
        ),
        Binding(
            "o",
            "open",
            "Open",
            show=False,
            id="attachments.open",
            tooltip="Open the highlighted attachment with the system's program for it",
        ),
    ]

    def __init__(
        self,
        cache: Cache,
        ticket: int,
        messages: Sequence[ConversationMessage] = (),
        *,
        download_dir: Path | None = None,
        opener: Sequence[str] | None = None,
        attachments: list[StoredAttachment] | None = None,
    ) -> None:
        super().__init__()
        self.cache = cache
        self.ticket = ticket
        self.messages = {m.id: m for m in messages}
        self.download_dir = download_dir if download_dir is not None else default_download_dir()
        # None: found when first needed (the system's handler may be installed meanwhile).
        self.opener = list(opener) if opener is not None else None
        self.attachments = (
            attachments if attachments is not None else list_attachments(cache, ticket)
        )
        self.last_result: Path | str | None = None  # the path saved or opened, or the problem

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"Attachments of #{self.ticket}"))
            yield OptionList(*self._options(), id="attachment-list")
            yield Input(
                value=str(self.download_dir),
                placeholder="folder to save into",
                compact=True,
                id="attachment-folder",
            )
            yield Static(Text("enter open · s save · esc back"), id="attachment-hint")
            yield Static(id="attachment-status")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def _options(self) -> list[Option]:
        out: list[Option] = []
        for i, a in enumerate(self.attachments):
            line = Text(_one_line(a.filename), style="bold")
            line.append(f"  {size_label(a.size)}  {_one_line(a.content_type)}", style="dim")
            m = self.messages.get(a.message)
            if m is not None:
                when = f"{m.date:%Y-%m-%d %H:%M}" if m.date else ""
                line.append(f"  · {_one_line(m.from_name or m.from_email)} {when}", style="dim")
            line.no_wrap = True
            line.overflow = "ellipsis"
            out.append(Option(line, id=str(i)))
        return out

    def _current(self) -> StoredAttachment | None:
        index = self.query_one(OptionList).highlighted
        if index is None or not 0 <= index < len(self.attachments):
            return None
        return self.attachments[index]

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#attachment-status", Static)
        status.update(Text(text))
        status.set_class(error, "-error")

    # -- keys ---------------------------------------------------------------------------------

    def action_close(self) -> None:
        folder = self.query_one("#attachment-folder", Input)
        if folder.has_class("-shown"):
            folder.remove_class("-shown")
            self.query_one(OptionList).focus()
            return
        self.dismiss(None)

    def action_ask_folder(self) -> None:
        if self._current() is None:
            return
        folder = self.query_one("#attachment-folder", Input)
        folder.add_class("-shown")
        folder.focus()
        self._status("enter saves into this folder · esc back")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        att = self._current()
        text = event.value.strip()
        if att is None or not text:
            return
        event.input.remove_class("-shown")
        self.query_one(OptionList).focus()
        self._status(f"saving {_one_line(att.filename)}…")
        self._save(att, Path(os.path.expanduser(text)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        att = self._current()
        if att is None:
            return
        self._status(f"opening {_one_line(att.filename)}…")
        self._open(att)

    # -- workers ------------------------------------------------------------------------------

    def _done(self, text: str, result: Path | str, *, error: bool = False) -> None:
        self.last_result = result
        if self.is_attached:
            self._status(text, error=error)
        # A toast too: the agent may have closed the list while the worker ran.
        self.app.notify(text, severity="error" if error else "information", markup=False)

    @work(thread=True, group="attachment", exit_on_error=False)
    def _save(self, att: StoredAttachment, folder: Path) -> None:
        name = _one_line(att.filename)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = save_attachment(self.cache, att.message, att.part, folder)
        except (AttachmentNotFound, OSError, ValueError) as error:
            problem = f"{name} not saved: {_one_line(str(error))}"
            self.app.call_from_thread(self._done, problem, problem, error=True)
            return
        self.app.call_from_thread(self._done, f"Saved {name} as {path}", path)

    @work(thread=True, group="attachment", exit_on_error=False)
    def _open(self, att: StoredAttachment) -> None:
        name = _one_line(att.filename)
        opener = self.opener if self.opener is not None else system_opener()
        if opener is None:
            # Saving first would leave a copy nobody asked for.
            problem = f"No program to open files here (xdg-open is missing): press s to save {name}"
            self.app.call_from_thread(self._done, problem, problem, error=True)
            return
        try:
            path = save_for_viewing(self.cache, att.message, att.part)
        except (AttachmentNotFound, OSError, ValueError) as error:
            problem = f"{name} not opened: {_one_line(str(error))}"
            self.app.call_from_thread(self._done, problem, problem, error=True)
            return
        failed = open_with_system(path, opener)
        if failed is not None:
            problem = f"{name}: {failed}; a copy is at {path}"
            self.app.call_from_thread(self._done, problem, problem, error=True)
            return
        self.app.call_from_thread(self._done, f"Opened {name}", path)
