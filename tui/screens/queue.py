"""The queue screen: queues with live counts (a sidebar on wide terminals, a tabs line on
narrow ones), the ticket list, and the filter line (``\\``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.ticket_query import QueryError, TicketQuery, parse_ticket_query
from helpdesk.core.tickets import Queue
from helpdesk.storage.ticket_filter import FilterContext
from helpdesk.storage.ticket_pages import QueuePages
from helpdesk.tui.actions import TicketActionKeys, ticket_action_bindings
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.status_bar import StatusBar
from helpdesk.tui.widgets.ticket_table import TicketTable

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

SIDEBAR_MIN_WIDTH = 100  # from this many columns the queues stand in a sidebar


@dataclass(frozen=True, slots=True)
class QueueDef:
    """One entry of the queue list: a base queue, narrowed by a query for departments and
    saved views."""

    key: str
    label: str
    base: Queue
    query: TicketQuery = field(default_factory=TicketQuery)


# The number keys keep the places agents learnt first (1 Open ... 5 All); the rest follow.
QUEUES = (
    QueueDef("open", "Open", Queue.OPEN),
    QueueDef("unassigned", "Unassigned", Queue.UNASSIGNED),
    QueueDef("mine", "Mine", Queue.MINE),
    QueueDef("closed", "Closed", Queue.CLOSED),
    QueueDef("all", "All", Queue.ALL),
    QueueDef("waiting", "Waiting", Queue.WAITING),
    QueueDef("snoozed", "Snoozed", Queue.SNOOZED),
    QueueDef("spam", "Spam", Queue.SPAM),
)
# Keys of queues shown only with tickets in them.
_HIDDEN_WHEN_EMPTY: frozenset[str] = frozenset({"snoozed"})
FILTER_HINT = 'filter: status:open assignee:me tag:x from:@example.com is:unread "text" -word'


class QueueTabs(Static):
    """The queues on one line; on a narrow terminal a window of them around the current one."""

    _last: tuple[list[QueueDef], str, dict[str, int]] | None = None

    def on_resize(self) -> None:
        if self._last is not None:
            self.show(*self._last)

    def show(self, queues: list[QueueDef], current: str, counts: dict[str, int]) -> None:
        self._last = (queues, current, counts)
        parts = [
            (q.key, f" {i + 1 if i < 9 else ' '} {q.label} {counts.get(q.key, 0)} ")
            for i, q in enumerate(queues)
        ]
        width = max(20, self.size.width or 80)
        at = next((i for i, (k, _) in enumerate(parts) if k == current), 0)
        start = 0
        # Slide the window right until the current queue fits, keeping room for the arrows.
        while start < at and sum(len(p) + 2 for _, p in parts[start : at + 1]) + 4 > width:
            start += 1
        text = Text(no_wrap=True, overflow="crop")
        if start:
            text.append("‹ ")
        for i, (key, label) in enumerate(parts[start:], start):
            if i > start:
                text.append("  ")
            if text.cell_len + len(label) + 2 > width and i > at:
                text.append("›")
                break
            text.append(label, style="reverse bold" if key == current else "")
        self.update(text)


class QueueSidebar(OptionList):
    """The queues with their counts; clicked, not focused (the keys stay on the list)."""

    can_focus = False

    def show(self, queues: list[QueueDef], current: str, counts: dict[str, int]) -> None:
        width = 16  # the sidebar's inside, its padding and border aside
        options = []
        for i, q in enumerate(queues):
            count = str(counts.get(q.key, 0))
            key = str(i + 1) if i < 9 else " "
            label = q.label[: width - len(count) - 3]
            line = Text(no_wrap=True)
            line.append(f"{key} ", style="dim")
            line.append(label)
            line.append(" " * max(1, width - 2 - len(label) - len(count)))
            line.append(count)
            options.append(Option(line, id=q.key))
        self.clear_options()
        self.add_options(options)
        for i, q in enumerate(queues):
            if q.key == current:
                self.highlighted = i


class QueueScreen(TicketActionKeys, Screen[None]):
    BINDINGS = [
        *ticket_action_bindings("queue", "of the selected ticket, or of all marked ones"),
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
                str(n),
                f"jump({n})",
                f"Queue {n}",
                show=False,
                id=f"queue.jump_{n}",
                tooltip=f"Show queue {n} of the list",
            )
            for n in range(1, 10)
        ],
        Binding(
            "backslash",
            "filter",
            "Filter",
            id="queue.filter",
            tooltip='Narrow the list: status:open assignee:me tag:x is:unread "text" -word',
        ),
        Binding(
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="queue.clear_filter",
            tooltip="Show the whole queue again",
        ),
        Binding("c", "claim", "Claim", id="queue.claim", tooltip="Take the selected ticket"),
        Binding(
            "C",
            "release",
            "Release",
            show=False,
            id="queue.release",
            tooltip="Give the selected ticket back",
        ),
        Binding(
            "m",
            "new_mail",
            "New mail",
            show=False,
            id="queue.new_mail",
            tooltip="Write to a customer first: a new ticket once sent",
        ),
        Binding("q", "app.quit", "Quit", id="app.quit", tooltip="Quit helpdesk"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (SIDEBAR_MIN_WIDTH, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self.queue = "open"
        self.total = 0
        self.queues: list[QueueDef] = list(QUEUES)
        self.counts: dict[str, int] = {}
        self.stale = False  # the cache changed while another screen covered this one
        self.filter = TicketQuery()
        self.filter_text = ""
        self._viewing: int | None = None  # the ticket opened over this screen

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(id="queue-body"):
            yield QueueSidebar(id="queue-sidebar")
            with Vertical(id="queue-main"):
                yield QueueTabs(id="queue-tabs")
                yield TicketTable(
                    self.hd.clock,
                    due_soon=self.hd.ws.settings.workflow.tickets.due_soon,
                    id="tickets",
                )
                yield Input(placeholder=FILTER_HINT, id="filter")
                yield Static(id="filter-error")
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.reload(keep_cursor=False)
        self.query_one(TicketTable).focus()

    # -- reading the cache ----------------------------------------------------------------

    def context(self) -> FilterContext:
        workflow = self.hd.ws.settings.workflow
        return FilterContext(
            self.hd.ws.agent,
            self.hd.clock(),
            statuses=workflow.statuses,
            due_soon=workflow.tickets.due_soon,
        )

    def _queue_list(self) -> list[QueueDef]:
        departments = [
            QueueDef(f"dept:{d}", d, Queue.OPEN, parse_ticket_query(f'dept:"{d}"'))
            for d in self.hd.ws.cache.departments()
            if '"' not in d
        ]
        views = [
            QueueDef(
                f"view:{v.name}",
                v.name,
                Queue.ALL,
                TicketQuery(v.query.terms, v.query.sort or v.sort),
            )
            for v in self.hd.ws.settings.views
        ]
        return [*QUEUES, *departments, *views]

    @property
    def current(self) -> QueueDef:
        for q in self.queues:
            if q.key == self.queue:
                return q
        return self.queues[0]

    def _effective(self) -> TicketQuery:
        return self.current.query & self.filter

    def reload(self, *, keep_cursor: bool = True, recount: bool = True) -> None:
        """Read the list again; `recount=False` keeps the queue counts, which only change
        with the data (and then `refresh_views` reloads with them)."""
        self.stale = False
        cache, agent = self.hd.ws.cache, self.hd.ws.agent
        ctx = self.context()
        if recount or not self.counts:
            listed = self._queue_list()
            counts = {
                q.key: cache.count_tickets(q.base, agent, query=q.query, context=ctx)
                for q in listed
            }
            self.queues = [q for q in listed if q.key not in _HIDDEN_WHEN_EMPTY or counts[q.key]]
            self.counts = counts
        counts = self.counts
        if self.queue not in counts:
            self.queue = self.queues[0].key  # a department emptied, a view removed
        current = self.current
        query = self._effective()
        self.total = (
            cache.count_tickets(current.base, agent, query=query, context=ctx)
            if self.filter.terms
            else counts[current.key]
        )
        self.query_one(QueueTabs).show(self.queues, self.queue, counts)
        self.query_one(QueueSidebar).show(self.queues, self.queue, counts)
        table = self.query_one(TicketTable)
        others = {}
        for p in cache.presence():
            if p.agent != agent:
                others[p.ticket] = f"{p.agent.split('@')[0]} {p.kind}"
        # The list reads only the rows it shows, a window at a time.
        table.show(
            QueuePages(cache, current.base, ctx, self.total, query),
            keep_cursor=keep_cursor,
            presence=others,
        )
        self._update_where()

    def _update_where(self) -> None:
        table = self.query_one(TicketTable)
        label = self.current.label
        if self.filter_text:
            label = f"{label} · {self.filter_text}"
        marked = f" · {len(table.marked)} marked" if table.marked else ""
        self.query_one(StatusBar).where = f"{label}: {self.total} tickets{marked}"

    def on_ticket_table_marks_changed(self, _event: TicketTable.MarksChanged) -> None:
        self._update_where()

    def action_targets(self) -> list[int]:
        """The marked tickets, or else the one under the cursor."""
        table = self.query_one(TicketTable)
        if table.marked:
            return table.marked_numbers()
        number = table.current_number()
        return [] if number is None else [number]

    def targets_done(self) -> None:
        self.query_one(TicketTable).clear_marks()

    # -- tickets ----------------------------------------------------------------------------

    def on_ticket_table_selected(self, event: TicketTable.Selected) -> None:
        self.action_open_ticket()

    def action_open_ticket(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.open_ticket(number)

    def action_new_mail(self) -> None:
        self.hd.new_mail()

    def action_claim(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.claim(number)

    def action_release(self) -> None:
        number = self.query_one(TicketTable).current_number()
        if number is not None:
            self.hd.release(number)

    def on_screen_suspend(self, _event: events.ScreenSuspend) -> None:
        # However a ticket was opened over the list (enter, handle next, search), its mail
        # is now read: the unread marker goes.
        number = _ticket_on_top(self.hd)
        if number is not None:
            self._viewing = number
            self.hd.ws.cache.mark_seen(number, self.hd.ws.agent, self.hd.clock())

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        read, self._viewing = self._viewing, None
        if read is not None:
            # Mail that came while the ticket was open was read there too.
            self.hd.ws.cache.mark_seen(read, self.hd.ws.agent, self.hd.clock())
        if self.stale:
            self.reload()
        elif read is not None:  # nothing changed meanwhile but the marker of the ticket read
            self.query_one(TicketTable).mark_read(read)

    # -- queues -----------------------------------------------------------------------------

    def switch_to(self, key: str) -> None:
        self.queue = key
        self.reload(keep_cursor=False, recount=False)

    def action_jump(self, n: int) -> None:
        if 1 <= n <= len(self.queues):
            self.switch_to(self.queues[n - 1].key)

    def _step(self, by: int) -> None:
        keys = [q.key for q in self.queues]
        i = keys.index(self.queue) if self.queue in keys else 0
        self.switch_to(keys[(i + by) % len(keys)])

    def action_next_queue(self) -> None:
        self._step(1)

    def action_prev_queue(self) -> None:
        self._step(-1)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.switch_to(event.option.id)

    # -- the filter -------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.value = self.filter_text
        box.focus()

    def _parse(self, text: str) -> TicketQuery | QueryError:
        statuses = [s.name for s in self.hd.ws.settings.workflow.statuses]
        try:
            return parse_ticket_query(text, statuses=statuses)
        except QueryError as err:
            return err

    def _show_error(self, error: QueryError | None) -> None:
        line = self.query_one("#filter-error", Static)
        # The agent's own text goes into a Text: a "[" typed must not be read as markup.
        line.update(Text(error.message) if error is not None else Text(""))
        line.set_class(error is not None, "-shown")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            parsed = self._parse(event.value)
            self._show_error(parsed if isinstance(parsed, QueryError) else None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        parsed = self._parse(event.value)
        if isinstance(parsed, QueryError):
            self._show_error(parsed)
            return  # the input stays, with what is wrong under it
        self._show_error(None)
        self.filter, self.filter_text = parsed, str(parsed)
        event.input.remove_class("-shown")
        self.query_one(TicketTable).focus()
        self.reload(keep_cursor=False)

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.remove_class("-shown")
        box.value = ""
        self._show_error(None)
        self.query_one(TicketTable).focus()
        if self.filter_text:
            self.filter, self.filter_text = TicketQuery(), ""
            self.reload(keep_cursor=False)


def _ticket_on_top(app: HelpdeskApp) -> int | None:
    screen = app.screen
    return screen.detail.summary.number if isinstance(screen, TicketScreen) else None
