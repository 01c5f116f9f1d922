"""The keys of the screen underneath, grouped by who owns them, as the keymap has set them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Label, Static

__all__ = ["HelpGroup", "HelpRow", "HelpScreen", "help_groups"]


@dataclass(frozen=True, slots=True)
class HelpRow:
    keys: tuple[str, ...]  # as shown to the user: "?", "^k", "enter"
    description: str
    tooltip: str
    binding_id: str | None


@dataclass(frozen=True, slots=True)
class HelpGroup:
    title: str
    rows: tuple[HelpRow, ...]


def _group_title(node: DOMNode) -> str:
    if isinstance(node, App):
        return "Everywhere"
    name = type(node).__name__
    if isinstance(node, Screen) and name.endswith("Screen") and name != "Screen":
        name = name.removesuffix("Screen")
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", name)
    return " ".join([words[0], *(w.lower() for w in words[1:])]) if words else name


def help_groups(screen: Screen[object]) -> list[HelpGroup]:
    """What each key does on ``screen`` now: bindings shadowed by a closer one are left out
    (they would not run), overridden keys are shown as the keymap set them."""
    app = screen.app
    by_node: dict[int, tuple[DOMNode, dict[tuple[str, str], list[Binding]]]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system:
            continue
        _, actions = by_node.setdefault(id(active.node), (active.node, {}))
        actions.setdefault((binding.action, binding.description), []).append(binding)
    groups: list[HelpGroup] = []
    for node, actions in by_node.values():
        rows = [
            HelpRow(
                keys=tuple(app.get_key_display(b) for b in bindings),
                description=bindings[0].description or bindings[0].action,
                tooltip=bindings[0].tooltip,
                binding_id=bindings[0].id,
            )
            for bindings in actions.values()
        ]
        # Ours (with an id, remappable) before the widget defaults that come with Textual.
        rows.sort(key=lambda r: r.binding_id is None)
        groups.append(HelpGroup(_group_title(node), tuple(rows)))
    # The screen's own keys first, then its widgets', the keys that work everywhere last.
    groups.sort(key=lambda g: (g.title == "Everywhere", g.title != _group_title(screen)))
    return groups


def _table(group: HelpGroup, keys_width: int, what_width: int) -> Table:
    # Every group with the same column widths: the groups read as one list.
    table = Table.grid(padding=(0, 2), expand=True)
    table.add_column("keys", no_wrap=True, width=keys_width)
    table.add_column("what", no_wrap=True, width=what_width)
    table.add_column("why", ratio=1, overflow="fold")
    for row in group.rows:
        why = Text(row.tooltip, style="dim")
        if row.binding_id:
            # The id is what a [keymap] line in helpdesk.toml names.
            why.append(f"  {row.binding_id}", style="italic")
        table.add_row(Text(", ".join(row.keys), style="bold"), Text(row.description), why)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100%;
        max-width: 110;
        height: 1fr;
        border: round $primary;
        border-title-color: $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .group { color: $accent; text-style: bold; margin-top: 1; }
    HelpScreen .group.first { margin-top: 0; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close", tooltip="Back to the screen"),
        Binding(
            "q,question_mark",
            "close",
            "Close",
            show=False,
            id="help.close_keys",
            tooltip="Back to the screen",
        ),
        Binding("j,down", "scroll_down", "Down", show=False, id="help.down", tooltip="Scroll down"),
        Binding("k,up", "scroll_up", "Up", show=False, id="help.up", tooltip="Scroll up"),
    ]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        # Read now: once this screen is on top, the one underneath is no longer `app.screen`.
        self.groups = help_groups(under)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = "Keys"
            body.can_focus = False
            rows = [row for group in self.groups for row in group.rows]
            keys_width = min(20, max((len(", ".join(r.keys)) for r in rows), default=4))
            what_width = min(24, max((len(r.description) for r in rows), default=4))
            for i, group in enumerate(self.groups):
                yield Label(group.title, classes="group first" if i == 0 else "group")
                yield Static(_table(group, keys_width, what_width))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_scroll_down(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_up(animate=False)
