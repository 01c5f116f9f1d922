"""The ticket list: one row per ticket, paged from the cache as the cursor moves down."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from helpdesk.core.tickets import TicketSummary, age

# (key, label, width); the subject takes what is left.
_FIXED = (
    ("number", "#", 6),
    ("customer", "Customer", 18),
    ("age", "Age", 4),
    ("status", "Status", 8),
    ("assignee", "Assignee", 12),
)
_SUBJECT_MIN = 12


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

    def on_mount(self) -> None:
        self._columns_for(self.size.width or 80)

    def on_resize(self) -> None:
        self._columns_for(self.size.width)
        self._fill(self.tickets, keep_cursor=True)

    def _columns_for(self, width: int) -> None:
        fixed = sum(w for _, _, w in _FIXED) + 2 * (len(_FIXED) + 1)
        subject = max(_SUBJECT_MIN, width - fixed - 1)
        self.clear(columns=True)
        (n, c, a, s, asg) = _FIXED
        self.add_column(n[1], width=n[2], key=n[0])
        self.add_column(c[1], width=c[2], key=c[0])
        self.add_column("Subject", width=subject, key="subject")
        self.add_column(a[1], width=a[2], key=a[0])
        self.add_column(s[1], width=s[2], key=s[0])
        self.add_column(asg[1], width=asg[2], key=asg[0])

    def show(self, tickets: Sequence[TicketSummary], *, keep_cursor: bool = True) -> None:
        self.tickets = list(tickets)
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
        return [
            Text(str(t.number), style=style, justify="right"),
            Text(t.customer, style=style, no_wrap=True, overflow="ellipsis"),
            Text(t.subject or "(no subject)", style=style, no_wrap=True, overflow="ellipsis"),
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
