"""One small modal for every "choose a value" action: statuses, priorities, categories, agents
and the tags line. Typing narrows the choices by fuzzy match; when the caller allows free
text, what was typed can be taken as it is (a new category "Orders > Delivery").

Also the one-question confirmation asked before an action on many tickets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.fuzzy import fold_for_match, match_score
from helpdesk.core.sanitize import safe_text

__all__ = ["Choice", "Confirm", "Picker", "rank_choices"]


@dataclass(frozen=True, slots=True)
class Choice:
    value: str  # what the caller gets back
    label: str  # what the agent reads and types against
    colour: str = ""  # a Rich colour ("#rrggbb"); "" keeps the theme's text colour
    hint: str = ""  # dim text after the label, not matched
    disabled: bool = False  # shown (so the agent knows why) but not choosable


def rank_choices(query: str, choices: Sequence[Choice]) -> list[Choice]:
    """The choices whose label holds the query's letters in order, best first; an empty
    query keeps the caller's order (which puts "me" and the current value first)."""
    wanted = fold_for_match(query.strip())
    if not wanted:
        return list(choices)
    ranked: list[tuple[int, int, Choice]] = []
    for index, choice in enumerate(choices):
        score = match_score(wanted, fold_for_match(choice.label))
        if score is not None:
            ranked.append((score, index, choice))
    ranked.sort(key=lambda item: item[:2])
    return [item[2] for item in ranked]


# A validator takes the typed text and returns the value to use, or raises ValueError with
# what is expected.
FreeText = Callable[[str], str]


class Picker(ModalScreen[str | None]):
    """Dismisses with the chosen value (or the free text as the validator made it), or None."""

    DEFAULT_CSS = """
    Picker { align: center middle; }
    Picker > Vertical {
        width: 90%;
        max-width: 70;
        height: auto;
        max-height: 20;
        overflow: hidden hidden;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    Picker Label { color: $primary; text-style: bold; }
    Picker #picker-hint { color: $text-muted; height: auto; }
    Picker #picker-error { color: $error; height: auto; display: none; }
    Picker #picker-error.-shown { display: block; }
    Picker OptionList { height: auto; max-height: 12; border: none; }
    Picker OptionList.-empty { display: none; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel", tooltip="Close without change"),
        Binding("down", "move(1)", "Next", show=False, id="picker.down", tooltip="Next choice"),
        Binding("up", "move(-1)", "Prev", show=False, id="picker.up", tooltip="Previous choice"),
        Binding(
            "enter",
            "pick",
            "Choose",
            priority=True,
            id="picker.pick",
            tooltip="Take the highlighted choice (or the text typed, where that is allowed)",
        ),
    ]

    def __init__(
        self,
        title: str,
        choices: Sequence[Choice] = (),
        *,
        free_text: FreeText | None = None,
        initial: str = "",
        hint: str = "",
        placeholder: str = "type to narrow",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.free_text = free_text
        self.initial = initial
        self.hint = hint
        self.placeholder = placeholder
        self.shown: list[Choice | str] = []  # a str is the typed text, as typed

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(self.title_text))
            yield Input(value=self.initial, placeholder=self.placeholder, compact=True)
            if self.hint:
                yield Static(Text(self.hint), id="picker-hint")
            yield Static(id="picker-error")
            yield OptionList(id="picker-list")

    def on_mount(self) -> None:
        self._show(self.initial)
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._error("")
        self._show(event.value)

    def _show(self, typed: str) -> None:
        # With free text the typed line itself is an entry, after the matches (so "ord" +
        # enter picks "Orders > Delivery"); typed empty, it is the entry that clears.
        self.shown = list(rank_choices(typed, self.choices))
        if self.free_text is not None and self._exact(typed) is None:
            self.shown.append(typed)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            [
                Option(_prompt(e), disabled=e.disabled)
                if isinstance(e, Choice)
                else Option(_free_prompt(e, bool(self.choices)))
                for e in self.shown
            ]
        )
        options.set_class(not self.shown, "-empty")
        options.highlighted = next((i for i, e in enumerate(self.shown) if _open(e)), None)

    def _error(self, message: str) -> None:
        line = self.query_one("#picker-error", Static)
        line.update(Text(message))
        line.set_class(bool(message), "-shown")

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        at = options.highlighted if options.highlighted is not None else -step
        for _ in self.shown:
            at = max(0, min(len(self.shown) - 1, at + step))
            if _open(self.shown[at]):
                options.highlighted = at
                return

    def action_pick(self) -> None:
        typed = self.query_one(Input).value
        exact = self._exact(typed)
        if exact is not None:
            self.dismiss(exact.value)
            return
        index = self.query_one(OptionList).highlighted
        if index is not None and 0 <= index < len(self.shown):
            self._take(self.shown[index])
        elif typed.strip():
            self._error(f"nothing matches {safe_text(typed)!r}")

    def _take(self, entry: Choice | str) -> None:
        if isinstance(entry, Choice):
            if not entry.disabled:
                self.dismiss(entry.value)
            return
        assert self.free_text is not None
        try:
            self.dismiss(self.free_text(entry))
        except ValueError as err:
            self._error(safe_text(str(err)))

    def _exact(self, typed: str) -> Choice | None:
        folded = fold_for_match(typed.strip())
        if not folded:
            return None
        for choice in self.choices:
            if not choice.disabled and folded in (
                fold_for_match(choice.label),
                fold_for_match(choice.value),
            ):
                return choice
        return None

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if 0 <= event.option_index < len(self.shown):
            self._take(self.shown[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)


def _open(entry: Choice | str) -> bool:
    return not (isinstance(entry, Choice) and entry.disabled)


def _free_prompt(typed: str, among_choices: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    shown = safe_text(typed.strip())
    if not among_choices:
        text.append(f"set: {shown}" if shown else "clear", style="bold")
    else:
        text.append("new: " if shown else "none", style="dim")
        text.append(shown, style="bold")
    return text


def _prompt(choice: Choice) -> Text:
    # Labels can come from mail-fed data (categories, agent names): always plain text.
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if choice.colour:
        text.append("● ", style=Style(color=choice.colour))
    text.append(safe_text(choice.label), style="bold" if not choice.disabled else "dim")
    if choice.hint:
        text.append(f"  {safe_text(choice.hint)}", style="dim")
    return text


class Confirm(ModalScreen[bool]):
    """One question, y or n: before an action touches many tickets at once, or before taking
    over a colleague's draft."""

    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical {
        width: auto;
        min-width: 30;
        max-width: 70;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
    }
    Confirm .keys { color: $text-muted; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm.yes", tooltip="Do it"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no", tooltip="Change nothing"),
    ]

    def __init__(self, question: str, keys: str = "y yes · n no") -> None:
        super().__init__()
        self.question = question
        self.keys = keys

    def compose(self) -> ComposeResult:
        with Vertical():
            # The question may name a colleague or a ticket: plain text, never markup.
            yield Static(Text(self.question), classes="question")
            yield Static(Text(self.keys), classes="keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
