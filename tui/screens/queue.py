"""The queue screen: tabs of queues with live counts, and the ticket list."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from helpdesk.core.tickets import Queue
from helpdesk.tui.widgets.status_bar import StatusBar
from helpdesk.tui.widgets.ticket_table import TicketTable

QUEUE_ORDER = (Queue.OPEN, Queue.UNASSIGNED, Queue.MINE, Queue.CLOSED, Queue.ALL)
QUEUE_LABELS = {
    Queue.OPEN: "Open",
    Queue.UNASSIGNED: "Unassigned",
    Queue.MINE: "Mine",
    Queue.CLOSED: "Closed",
    Queue.ALL: "All",
}
if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

PAGE = 500  # rows read from the cache at a time: a big mailbox stays as quick as a small one


class QueueTabs(Static):
    def show(self, current: Queue, counts: dict[Queue, int]) -> None:
        text = Text()
        for i, q in enumerate(QUEUE_ORDER):
            if i:
                text.append("  ")
            label = f" {i + 1} {QUEUE_LABELS[q]} {counts.get(q, 0)} "
            text.append(label, style="reverse bold" if q == current else "")
        self.update(text)


class QueueScreen(Screen[None]):
    BINDINGS = [
        Binding(
            "enter", "open_ticket", "Open", id="queue.open", tooltip="Read the selected ticket"
        ),
        Binding("tab", "next_queue", "Next queue", id="queue.next", tooltip="Show the next queue"),
        Binding(
            "shift+tab",
            "prev_queue",
            "Prev queue",
            show=False,
            id="queue.prev",
            tooltip="Show the previous queue",
        ),
        *[
            Binding(
                str(i + 1),
                f"queue('{q.value}')",
                QUEUE_LABELS[q],
                show=False,
                id=f"queue.{q.value}",
                tooltip=f"Show the {QUEUE_LABELS[q]} queue",
            )
            for i, q in enumerate(QUEUE_ORDER)
        ],
        Binding("c", "claim", "Claim", id="queue.claim", tooltip="Take the selected ticket"),
        Binding(
            "C",
            "release",
            "Release",
            show=False,
            id="queue.release",
            tooltip="Give the selected ticket back",
        ),
        Binding("q", "app.quit", "Quit", id="app.quit", tooltip="Quit helpdesk"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.queue = Queue.OPEN
        self.total = 0

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield QueueTabs(id="queue-tabs")
        yield TicketTable(self.hd.clock, id="tickets")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.reload(keep_cursor=False)
        self.query_one(TicketTable).focus()

    def reload(self, *, keep_cursor: bool = True) -> None:
        cache, agent = self.hd.ws.cache, self.hd.ws.agent
        counts = {q: cache.count_tickets(q, agent) for q in QUEUE_ORDER}
        self.total = counts[self.queue]
        self.query_one(QueueTabs).show(self.queue, counts)
        table = self.query_one(TicketTable)
        shown = max(PAGE, len(table.tickets)) if keep_cursor else PAGE
        others = {}
        for p in cache.presence():
            if p.agent != agent:
                others[p.ticket] = f"{p.agent.split('@')[0]} {p.kind}"
        table.show(
            cache.list_tickets(self.queue, agent, limit=shown),
            keep_cursor=keep_cursor,
            presence=others,
        )
        self._update_where()

    def _update_where(self) -> None:
        table = self.query_one(TicketTable)
        label = QUEUE_LABELS[self.queue]
        shown = len(table.tickets)
        more = f" (first {shown})" if shown < self.total else ""
        self.query_one(StatusBar).where = f"{label}: {self.total} tickets{more}"

    def on_data_table_row_highlighted(self, event: TicketTable.RowHighlighted) -> None:
        table = self.query_one(TicketTable)
        if event.cursor_row >= len(table.tickets) - 20 and len(table.tickets) < self.total:
            ws = self.hd.ws
            table.append(
                ws.cache.list_tickets(self.queue, ws.agent, limit=PAGE, offset=len(table.tickets))
            )
            self._update_where()

    def on_data_table_row_selected(self, event: TicketTable.RowSelected) -> None:
        self.action_open_ticket()

    def action_open_ticket(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.open_ticket(number)

    def action_claim(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.claim(number)

    def action_release(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.release(number)

    def action_queue(self, name: str) -> None:
        self.queue = Queue(name)
        self.reload(keep_cursor=False)

    def action_next_queue(self) -> None:
        i = QUEUE_ORDER.index(self.queue)
        self.action_queue(QUEUE_ORDER[(i + 1) % len(QUEUE_ORDER)].value)

    def action_prev_queue(self) -> None:
        i = QUEUE_ORDER.index(self.queue)
        self.action_queue(QUEUE_ORDER[(i - 1) % len(QUEUE_ORDER)].value)
