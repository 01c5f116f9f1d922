"""The ticket list: one row per ticket, paged from the cache as the cursor moves down."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from helpdesk.core.sla import SlaState, sla_state
from helpdesk.core.tickets import TicketSummary, age

PRIORITY_LABELS = {0: "low", 1: "normal", 2: "high", 3: "urgent"}


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int


# Left to right; the subject takes what the others leave. Positions 0-3 are what scripts and
# tests read first (number, customer, subject, age), so new columns go after them.
_COLUMNS = (
    Column("number", "#", 5),
    Column("customer", "Customer", 16),
    Column("subject", "Subject", 0),
    Column("age", "Age", 4),
    Column("status", "Status", 7),
    Column("priority", "Pri", 6),
    Column("assignee", "Assignee", 8),
    Column("sla", "SLA", 5),
    Column("unread", "•", 1),
)
# How the table makes room when the subject would get too narrow, in order: what an agent
# misses least goes first. (column key, new width; 0 drops the column)
_SHRINK = (
    ("priority", 0),
    ("customer", 12),
    ("status", 0),
    ("sla", 0),
    ("assignee", 0),
    ("customer", 8),
)
SUBJECT_MIN = 20
_SCROLLBAR = 2


def plan_columns(width: int, cell_padding: int = 1) -> list[Column]:
    """The columns that fit ``width`` cells, the subject's width filled in."""
    widths = {c.key: c.width for c in _COLUMNS}

    def subject_width() -> int:
        shown = [k for k, w in widths.items() if w or k == "subject"]
        padding = 2 * cell_padding * len(shown)
        return width - _SCROLLBAR - padding - sum(widths.values())

    for key, new in _SHRINK:
        if subject_width() >= SUBJECT_MIN:
            break
        widths[key] = new
    subject = max(SUBJECT_MIN, subject_width())
    return [
        Column(c.key, c.label, subject if c.key == "subject" else widths[c.key])
        for c in _COLUMNS
        if widths[c.key] or c.key == "subject"
    ]


class TicketTable(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next ticket"),
        Binding("k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous ticket"),
        Binding("g", "scroll_top", "First", show=False, id="list.first", tooltip="First ticket"),
        Binding("G", "scroll_bottom", "Last", show=False, id="list.last", tooltip="Last ticket"),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            show=False,
            id="list.mark",
            tooltip="Mark or unmark the ticket for an action on all marked ones, and move on",
        ),
    ]

    class MarksChanged(Message):
        """The set of marked tickets changed (the status line shows how many)."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ticket-table--due-soon",
        "ticket-table--breached",
        "ticket-table--unread",
        "ticket-table--muted",
        "ticket-table--presence",
        "ticket-table--marked",
    }
    DEFAULT_CSS = """
    TicketTable > .ticket-table--due-soon { color: $warning; }
    TicketTable > .ticket-table--breached { color: $error; text-style: bold; }
    TicketTable > .ticket-table--unread { color: $accent; text-style: bold; }
    TicketTable > .ticket-table--muted { color: $text-muted; }
    TicketTable > .ticket-table--presence { text-style: reverse; }
    TicketTable > .ticket-table--marked { color: $warning; text-style: bold; }
    """

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        due_soon: timedelta = timedelta(hours=1),
        id: str | None = None,
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self.clock = clock
        self.due_soon = due_soon
        self.tickets: list[TicketSummary] = []
        self.presence: dict[int, str] = {}
        self.marked: set[int] = set()  # tickets the next action applies to
        self.columns_shown: list[Column] = []

    def on_mount(self) -> None:
        self._columns_for(self.size.width or 80)
        # Colours come from the theme: rows drawn before a switch would keep the old ones.
        self.watch(self.app, "theme", lambda _: self._fill(self.tickets, keep_cursor=True))

    def on_resize(self) -> None:
        # Rebuilding re-measures every row: only when the columns really change.
        if self._columns_for(self.size.width):
            self._fill(self.tickets, keep_cursor=True)

    def _columns_for(self, width: int) -> bool:
        plan = plan_columns(width, self.cell_padding)
        if plan == self.columns_shown:
            return False
        self.columns_shown = plan
        self.clear(columns=True)
        for c in plan:
            self.add_column(c.label, width=c.width, key=c.key)
        return True

    def show(
        self,
        tickets: Sequence[TicketSummary],
        *,
        keep_cursor: bool = True,
        presence: Mapping[int, str] | None = None,
    ) -> None:
        """`presence`: per ticket, who else is on it ("petr replying"), shown before the subject."""
        self.tickets = list(tickets)
        if presence is not None:
            self.presence = dict(presence)
        # A mark on a ticket no longer listed would act unseen: it goes.
        kept = self.marked & {t.number for t in self.tickets}
        if kept != self.marked:
            self.marked = kept
            self.post_message(self.MarksChanged(len(kept)))
        self._fill(self.tickets, keep_cursor=keep_cursor)

    def append(self, tickets: Sequence[TicketSummary]) -> None:
        now = self.clock()
        styles = self._styles()
        for t in tickets:
            self.tickets.append(t)
            self.add_row(*self._cells(t, now, styles), key=str(t.number))

    def mark_read(self, number: int) -> None:
        """Drop the unread marker of one ticket without rebuilding the list."""
        for i, t in enumerate(self.tickets):
            if t.number == number:
                if t.unread:
                    self.tickets[i] = replace(t, unread=False)
                    if any(c.key == "unread" for c in self.columns_shown):
                        self.update_cell(str(number), "unread", Text(""))
                return

    def marked_numbers(self) -> list[int]:
        """The marked tickets in list order."""
        return [t.number for t in self.tickets if t.number in self.marked]

    def action_toggle_mark(self) -> None:
        number = self.current_number()
        if number is None:
            return
        self.marked ^= {number}
        self._redraw_subject(number)
        self.post_message(self.MarksChanged(len(self.marked)))
        self.action_cursor_down()

    def clear_marks(self) -> None:
        if not self.marked:
            return
        was, self.marked = self.marked, set()
        for number in was:
            self._redraw_subject(number)
        self.post_message(self.MarksChanged(0))

    def _redraw_subject(self, number: int) -> None:
        ticket = next((t for t in self.tickets if t.number == number), None)
        if ticket is None or not any(c.key == "subject" for c in self.columns_shown):
            return
        style = _emphasis(ticket)
        self.update_cell(str(number), "subject", self._subject(ticket, style, self._styles()))

    def _fill(self, tickets: Sequence[TicketSummary], *, keep_cursor: bool) -> None:
        current = self.current_number() if keep_cursor else None
        self.clear()
        now = self.clock()
        styles = self._styles()
        for t in tickets:
            self.add_row(*self._cells(t, now, styles), key=str(t.number))
        if current is not None:
            for i, t in enumerate(tickets):
                if t.number == current:
                    self.move_cursor(row=i, animate=False)
                    break

    def _styles(self) -> dict[str, Style]:
        names = ("due-soon", "breached", "unread", "muted", "presence", "marked")
        out = {}
        for n in names:
            s = self.get_component_rich_style(f"ticket-table--{n}")
            # The colour and weight only: a cell's own background would hide the cursor row.
            out[n] = Style(
                color=s.color, bold=s.bold, italic=s.italic, reverse=s.reverse, dim=s.dim
            )
        return out

    def _cells(self, t: TicketSummary, now: datetime, styles: Mapping[str, Style]) -> list[Text]:
        # Every cell is a Text: subjects and names come from mail and must never be markup.
        style = _emphasis(t)
        cells: dict[str, Callable[[], Text]] = {
            "number": lambda: Text(str(t.number), style=style, justify="right"),
            "customer": lambda: Text(t.customer, style=style, no_wrap=True, overflow="ellipsis"),
            "subject": lambda: self._subject(t, style, styles),
            "age": lambda: Text(age(t.last_activity, now), justify="right"),
            "status": lambda: Text(t.status, no_wrap=True, overflow="ellipsis"),
            "priority": lambda: Text(
                PRIORITY_LABELS.get(t.priority, str(t.priority)),
                style=styles["muted"] if t.priority == 1 else "",
            ),
            "assignee": lambda: Text(
                t.assignee.split("@")[0] if t.assignee else "—", no_wrap=True, overflow="ellipsis"
            ),
            "sla": lambda: self._sla(t, now, styles),
            "unread": lambda: Text("●", style=styles["unread"]) if t.unread else Text(""),
        }
        return [cells[c.key]() for c in self.columns_shown]

    def _subject(self, t: TicketSummary, style: str, styles: Mapping[str, Style]) -> Text:
        subject = Text(no_wrap=True, overflow="ellipsis")
        if t.number in self.marked:
            subject.append("✓ ", style=styles["marked"])
        if who := self.presence.get(t.number):
            subject.append(f"[{who}] ", style=styles["presence"])
        subject.append(t.subject or "(no subject)", style=style)
        return subject

    def _sla(self, t: TicketSummary, now: datetime, styles: Mapping[str, Style]) -> Text:
        """Time left (``45m``), or how late (``-2h``), in the theme's warning/error colours."""
        if t.sla_due is None:
            return Text("")
        match sla_state(t.sla_due, now, self.due_soon):
            case SlaState.BREACHED:
                return Text("-" + age(t.sla_due, now), style=styles["breached"], justify="right")
            case SlaState.DUE_SOON:
                return Text(age(now, t.sla_due), style=styles["due-soon"], justify="right")
        return Text(age(now, t.sla_due), justify="right")

    def current_number(self) -> int | None:
        if not self.tickets or self.cursor_row < 0 or self.cursor_row >= len(self.tickets):
            return None
        return self.tickets[self.cursor_row].number


def _emphasis(t: TicketSummary) -> str:
    return "bold" if t.waiting_on_us and t.status not in ("closed", "spam") else ""
