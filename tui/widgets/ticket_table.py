"""The ticket list: one row per ticket, paged from the cache as the cursor moves down."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from helpdesk.core.tickets import TicketSummary, age

# (key, label, width) of the fixed columns; the subject takes what is left.
_FIXED = (
    ("number", "#", 5),
    ("customer", "Customer", 16),
    ("age", "Age", 4),
    ("status", "Status", 7),
    ("assignee", "Assignee", 8),
)
_SUBJECT_MIN = 12
_SCROLLBAR = 2


class TicketTable(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next ticket"),
        Binding("k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous ticket"),
        Binding("g", "scroll_top", "First", show=False, id="list.first", tooltip="First ticket"),
        Binding("G", "scroll_bottom", "Last", show=False, id="list.last", tooltip="Last ticket"),
    ]

    def __init__(self, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, id=id)
        self.clock = clock
        self.tickets: list[TicketSummary] = []
        self.presence: dict[int, str] = {}
        self._subject_width = 0

    def on_mount(self) -> None:
        self._columns_for(self.size.width or 80)

    def on_resize(self) -> None:
        # Rebuilding re-measures every row: only when the subject column really changes.
        if self._columns_for(self.size.width):
            self._fill(self.tickets, keep_cursor=True)

    def _columns_for(self, width: int) -> bool:
        # Each column has one cell of padding on either side; keep room for the scrollbar so
        # that the table never scrolls sideways.
        padding = 2 * self.cell_padding * (len(_FIXED) + 1)
        fixed = sum(w for _, _, w in _FIXED) + padding + _SCROLLBAR
        subject = max(_SUBJECT_MIN, width - fixed)
        if subject == self._subject_width:
            return False
        self._subject_width = subject
        self.clear(columns=True)
        for key, label, w in _FIXED[:2]:
            self.add_column(label, width=w, key=key)
        self.add_column("Subject", width=subject, key="subject")
        for key, label, w in _FIXED[2:]:
            self.add_column(label, width=w, key=key)
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
        self._fill(self.tickets, keep_cursor=keep_cursor)

    def append(self, tickets: Sequence[TicketSummary]) -> None:
        now = self.clock()
        for t in tickets:
            self.tickets.append(t)
            self.add_row(*self._cells(t, now), key=str(t.number))

    def _fill(self, tickets: Sequence[TicketSummary], *, keep_cursor: bool) -> None:
        current = self.current_number() if keep_cursor else None
        self.clear()
        now = self.clock()
        for t in tickets:
            self.add_row(*self._cells(t, now), key=str(t.number))
        if current is not None:
            for i, t in enumerate(tickets):
                if t.number == current:
                    self.move_cursor(row=i, animate=False)
                    break

    def _cells(self, t: TicketSummary, now: datetime) -> list[Text]:
        # Every cell is a Text: subjects and names come from mail and must never be markup.
        style = "bold" if t.waiting_on_us and t.status not in ("closed", "spam") else ""
        subject = Text(no_wrap=True, overflow="ellipsis")
        if who := self.presence.get(t.number):
            subject.append(f"[{who}] ", style="reverse")
        subject.append(t.subject or "(no subject)", style=style)
        return [
            Text(str(t.number), style=style, justify="right"),
            Text(t.customer, style=style, no_wrap=True, overflow="ellipsis"),
            subject,
            Text(age(t.last_activity, now), justify="right"),
            Text(t.status),
            Text(
                t.assignee.split("@")[0] if t.assignee else "—", no_wrap=True, overflow="ellipsis"
            ),
        ]

    def current_number(self) -> int | None:
        if not self.tickets or self.cursor_row < 0 or self.cursor_row >= len(self.tickets):
            return None
        return self.tickets[self.cursor_row].number
