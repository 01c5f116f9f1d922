"""Choosing a template: type a few letters of its name, Enter inserts it.

Ranking is core's `fuzzy_rank` ("odp" finds "Odpověď"); the list shows each template's first
line so that two similar names can be told apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.sanitize import safe_text
from helpdesk.core.templates import Template, fuzzy_rank

__all__ = ["TemplatePicker"]


def _prompt(t: Template) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(safe_text(t.name), style="bold")
    if t.language:
        text.append(f"  {safe_text(t.language)}")
    first = next((line for line in t.body.splitlines() if line.strip()), "")
    if first:
        text.append(f"  {safe_text(first.strip())}", style="dim")
    return text


class TemplatePicker(ModalScreen[Template | None]):
    DEFAULT_CSS = """
    TemplatePicker { align: center middle; }
    TemplatePicker > Vertical {
        width: 90%;
        max-width: 100;
        height: 80%;
        max-height: 22;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    TemplatePicker Label { color: $primary; text-style: bold; }
    TemplatePicker #template-problems { color: $warning; height: auto; max-height: 3; }
    TemplatePicker OptionList { height: 1fr; }
    """
    BINDINGS = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            id="template.cancel",
            tooltip="Back to the reply without a template",
        ),
        Binding(
            "down",
            "move(1)",
            "Next",
            show=False,
            id="template.down",
            tooltip="Next template",
        ),
        Binding(
            "up",
            "move(-1)",
            "Previous",
            show=False,
            id="template.up",
            tooltip="Previous template",
        ),
        Binding(
            "enter",
            "pick",
            "Insert",
            priority=True,
            id="template.pick",
            tooltip="Insert the chosen template at the cursor",
        ),
    ]

    def __init__(
        self, templates: Sequence[Template], problems: Sequence[str] = (), language: str = ""
    ) -> None:
        super().__init__()
        self.templates = list(templates)
        self.problems = list(problems)
        self.language = language
        self.shown: list[Template] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Insert a template at the cursor: type part of its name")
            yield Input(placeholder="template name", id="template-query", compact=True)
            if self.problems:
                yield Static(Text(safe_text("; ".join(self.problems))), id="template-problems")
            yield OptionList(id="template-list")

    def on_mount(self) -> None:
        self._show("")
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    def _show(self, query: str) -> None:
        self.shown = fuzzy_rank(query, self.templates, self.language)
        options = self.query_one(OptionList)
        options.clear_options()
        if self.shown:
            options.add_options([Option(_prompt(t)) for t in self.shown])
            options.highlighted = 0
        elif not self.templates:
            options.add_option(
                Option(Text("no templates: see [reply] in helpdesk.toml"), disabled=True)
            )

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if not self.shown:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self.shown) - 1, current + step))

    def action_pick(self) -> None:
        index = self.query_one(OptionList).highlighted
        if self.shown and index is not None and 0 <= index < len(self.shown):
            self.dismiss(self.shown[index])

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.shown):
            self.dismiss(self.shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
