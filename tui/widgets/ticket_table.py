"""The ticket list: one line per ticket, drawn only for the lines on screen.

The list holds no rows of its own: it asks a :class:`RowSource` for windows of rows around what
is visible and keeps a few of them, so a queue of 100,000 tickets costs what its screen shows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from helpdesk.core.sanitize import safe_text
from helpdesk.core.sla import SlaState, sla_state
from helpdesk.core.tickets import TicketSummary, age

PRIORITY_LABELS = {0: "low", 1: "normal", 2: "high", 3: "urgent"}
WINDOW = 100  # rows read from the source at a time
KEEP_WINDOWS = 8  # windows kept: the screen, where the cursor came from, and room to scroll
_NEAR = 2  # windows either side of the old place where a refreshed list looks for its ticket
_HEADER = 1  # lines of the column labels above the rows


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


class RowSource(Protocol):
    """A list of tickets read a window at a time (``storage.ticket_pages.QueuePages``)."""

    @property
    def total(self) -> int: ...

    def rows(self, offset: int, limit: int) -> Sequence[TicketSummary]:
        """Rows ``offset`` to ``offset + limit``, in list order."""
        ...

    def listed(self, numbers: Collection[int]) -> set[int]:
        """Those of ``numbers`` that the list holds."""
        ...


@dataclass(frozen=True, slots=True)
class TicketRows:
    """A list already in memory, as a source."""

    tickets: Sequence[TicketSummary]

    @property
    def total(self) -> int:
        return len(self.tickets)

    def rows(self, offset: int, limit: int) -> Sequence[TicketSummary]:
        return self.tickets[offset : offset + limit]

    def listed(self, numbers: Collection[int]) -> set[int]:
        return {t.number for t in self.tickets} & set(numbers)


_EMPTY = TicketRows(())


class TicketTable(ScrollView, can_focus=True):
    BINDINGS: ClassVar = [
        Binding("j", "cursor_down", "Down", show=False, id="list.down", tooltip="Next ticket"),
        Binding("k", "cursor_up", "Up", show=False, id="list.up", tooltip="Previous ticket"),
        # The arrows and paging keys have ids of their own: remapping j must not take them.
        Binding(
            "down", "cursor_down", "Down", show=False, id="list.arrow_down", tooltip="Next ticket"
        ),
        Binding("up", "cursor_up", "Up", show=False, id="list.arrow_up", tooltip="Previous ticket"),
        Binding("g", "first", "First", show=False, id="list.first", tooltip="First ticket"),
        Binding("G", "last", "Last", show=False, id="list.last", tooltip="Last ticket"),
        Binding("home", "first", "First", show=False, id="list.home", tooltip="First ticket"),
        Binding("end", "last", "Last", show=False, id="list.end", tooltip="Last ticket"),
        Binding(
            "pagedown",
            "page_down",
            "Page down",
            show=False,
            id="list.page_down",
            tooltip="A screen further down the list",
        ),
        Binding(
            "pageup",
            "page_up",
            "Page up",
            show=False,
            id="list.page_up",
            tooltip="A screen further up the list",
        ),
        # Shadows the screen's own enter in the footer, as Textual's table did; it opens too.
        Binding(
            "enter",
            "select",
            "Open",
            show=False,
            id="list.open",
            tooltip="Read the ticket under the cursor",
        ),
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

    class Highlighted(Message):
        """The cursor moved to another row."""

        def __init__(self, row: int, number: int | None) -> None:
            super().__init__()
            self.row = row
            self.number = number

    class Selected(Message):
        """The ticket under the cursor was chosen (enter, or clicked once more)."""

        def __init__(self, row: int, number: int) -> None:
            super().__init__()
            self.row = row
            self.number = number

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "ticket-table--header",
        "ticket-table--cursor",
        "ticket-table--due-soon",
        "ticket-table--breached",
        "ticket-table--unread",
        "ticket-table--muted",
        "ticket-table--presence",
        "ticket-table--marked",
    }
    # The look of Textual's own table, so that the list reads the same as before.
    DEFAULT_CSS = """
    TicketTable {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: auto;
        &:focus {
            background-tint: $foreground 5%;
            & > .ticket-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .ticket-table--header { background-tint: $foreground 5%; }
        }
        & > .ticket-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .ticket-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .ticket-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    TicketTable > .ticket-table--due-soon { color: $warning; }
    TicketTable > .ticket-table--breached { color: $error; text-style: bold; }
    TicketTable > .ticket-table--unread { color: $accent; text-style: bold; }
    TicketTable > .ticket-table--muted { color: $text-muted; }
    TicketTable > .ticket-table--presence { text-style: reverse; }
    TicketTable > .ticket-table--marked { color: $warning; text-style: bold; }
    """

    cell_padding = 1  # cells left and right of each column's text

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        due_soon: timedelta = timedelta(hours=1),
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.due_soon = due_soon
        self.source: RowSource = _EMPTY
        self.cursor_row = 0
        self.presence: dict[int, str] = {}
        self.marked: set[int] = set()  # tickets the next action applies to
        self._mark_rows: dict[int, int] = {}  # where each was marked: their order in the list
        self.columns_shown: list[Column] = []
        self._windows: OrderedDict[int, list[TicketSummary]] = OrderedDict()
        self._strips: dict[tuple[int, bool], Strip] = {}  # (row, under the cursor)
        self._now: datetime | None = None  # one clock reading per drawing of the list

    # -- the rows -------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return self.source.total

    def show(
        self,
        rows: RowSource | Sequence[TicketSummary],
        *,
        keep_cursor: bool = True,
        presence: Mapping[int, str] | None = None,
    ) -> None:
        """List ``rows``; with ``keep_cursor`` the ticket under the cursor stays under it if it
        is still near its old place. `presence`: per ticket, who else is on it ("petr
        replying"), shown before the subject."""
        source = TicketRows(rows) if isinstance(rows, Sequence) else rows
        current = self.current_number() if keep_cursor else None
        old_row, old_top = self.cursor_row, round(self.scroll_y)
        self.source = source
        self._windows.clear()
        if presence is not None:
            self.presence = dict(presence)
        if self.marked:
            # A mark on a ticket no longer listed would act unseen: it goes.
            kept = source.listed(self.marked)
            if kept != self.marked:
                self.marked &= kept
                self._mark_rows = {n: r for n, r in self._mark_rows.items() if n in kept}
                self.post_message(self.MarksChanged(len(self.marked)))
        self._set_virtual_size()
        row = self._find(current, old_row) if current is not None else None
        if row is None:
            row = min(old_row, source.total - 1) if keep_cursor else 0
        self.cursor_row = max(0, row)
        # The cursor keeps its line on the screen: a new ticket on top does not shift the view.
        top = old_top + (self.cursor_row - old_row) if keep_cursor else 0
        self.scroll_to(y=max(0, top), animate=False, immediate=True)
        self._scroll_cursor_into_view()
        self._invalidate()

    def ticket_at(self, row: int) -> TicketSummary | None:
        if not 0 <= row < self.source.total:
            return None
        window = self._window(row // WINDOW)
        at = row % WINDOW
        return window[at] if at < len(window) else None

    def tickets_in(self, start: int, stop: int) -> list[TicketSummary]:
        """The rows from ``start`` to ``stop`` (read from the source as needed)."""
        out = []
        for row in range(max(0, start), min(stop, self.source.total)):
            ticket = self.ticket_at(row)
            if ticket is not None:
                out.append(ticket)
        return out

    def current_number(self) -> int | None:
        ticket = self.ticket_at(self.cursor_row)
        return ticket.number if ticket is not None else None

    def get_row_at(self, row: int) -> list[Text]:
        """The cells of a row as drawn, left to right (for scripts and tests)."""
        ticket = self.ticket_at(row)
        if ticket is None:
            raise IndexError(row)
        return self._cells(ticket, self.clock(), self._styles())

    def _window(self, index: int) -> list[TicketSummary]:
        window = self._windows.get(index)
        if window is None:
            window = list(self.source.rows(index * WINDOW, WINDOW))
            self._windows[index] = window
            while len(self._windows) > KEEP_WINDOWS:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(index)
        return window

    def _find(self, number: int, near: int) -> int | None:
        """The row of ticket ``number`` in the windows around row ``near``."""
        middle = near // WINDOW
        around = range(middle - _NEAR, middle + _NEAR + 1)
        for index in sorted(around, key=lambda i: abs(i - middle)):
            if index < 0 or index * WINDOW >= self.source.total:
                continue
            for at, ticket in enumerate(self._window(index)):
                if ticket.number == number:
                    return index * WINDOW + at
        return None

    def _row_of(self, number: int) -> int | None:
        """The row of a ticket already read, without reading more."""
        for index, window in self._windows.items():
            for at, ticket in enumerate(window):
                if ticket.number == number:
                    return index * WINDOW + at
        return None

    def mark_read(self, number: int) -> None:
        """Drop the unread marker of one ticket without reading the list again."""
        for index, window in self._windows.items():
            for at, t in enumerate(window):
                if t.number == number:
                    if t.unread:
                        window[at] = replace(t, unread=False)
                        self._redraw_row(index * WINDOW + at)
                    return

    # -- marks ----------------------------------------------------------------------------

    def marked_numbers(self) -> list[int]:
        """The marked tickets in list order."""
        return sorted(self.marked, key=lambda n: (self._mark_rows.get(n, 0), n))

    def action_toggle_mark(self) -> None:
        number = self.current_number()
        if number is None:
            return
        self.marked ^= {number}
        if number in self.marked:
            self._mark_rows[number] = self.cursor_row
        else:
            self._mark_rows.pop(number, None)
        self._redraw_row(self.cursor_row)
        self.post_message(self.MarksChanged(len(self.marked)))
        self.action_cursor_down()

    def clear_marks(self) -> None:
        if not self.marked:
            return
        self.marked, self._mark_rows = set(), {}
        self._invalidate()
        self.post_message(self.MarksChanged(0))

    # -- the cursor -----------------------------------------------------------------------

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - _HEADER)

    def move_cursor(self, *, row: int, animate: bool = False) -> None:
        """Put the cursor on ``row`` (clamped to the list) and scroll it into view."""
        del animate  # the list jumps: an animation would draw every row it passes
        last = self.source.total - 1
        row = max(0, min(row, last))
        if row == self.cursor_row:
            return
        was, self.cursor_row = self.cursor_row, row
        self._redraw_row(was)
        self._redraw_row(row)
        self._scroll_cursor_into_view()
        self.post_message(self.Highlighted(row, self.current_number()))

    def _scroll_cursor_into_view(self) -> None:
        top, page = round(self.scroll_y), self._page
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=self.source.total - 1)

    def action_page_down(self) -> None:
        # The view turns a page and the cursor keeps its line, as in a mail index.
        page = self._page
        self.scroll_to(y=round(self.scroll_y) + page, animate=False, immediate=True)
        self.move_cursor(row=self.cursor_row + page)

    def action_page_up(self) -> None:
        page = self._page
        self.scroll_to(y=max(0, round(self.scroll_y) - page), animate=False, immediate=True)
        self.move_cursor(row=self.cursor_row - page)

    def action_select(self) -> None:
        number = self.current_number()
        if number is not None:
            self.post_message(self.Selected(self.cursor_row, number))

    def on_click(self, event: events.Click) -> None:
        if event.y < _HEADER:
            return
        row = round(self.scroll_y) + event.y - _HEADER
        if row >= self.source.total:
            return
        if row == self.cursor_row:
            self.action_select()
        else:
            self.move_cursor(row=row)

    # -- drawing --------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._columns_for(self.size.width or 80)
        # Colours come from the theme: lines drawn before a switch would keep the old ones.
        self.watch(self.app, "theme", lambda _: self._invalidate())

    def on_resize(self) -> None:
        self._columns_for(self.size.width)
        self._set_virtual_size()
        self._scroll_cursor_into_view()
        self._invalidate()

    def on_focus(self) -> None:
        self._invalidate()  # the cursor's colours follow the focus

    def on_blur(self) -> None:
        self._invalidate()

    def _columns_for(self, width: int) -> bool:
        plan = plan_columns(width, self.cell_padding)
        if plan == self.columns_shown:
            return False
        self.columns_shown = plan
        return True

    def _set_virtual_size(self) -> None:
        width = sum(c.width + 2 * self.cell_padding for c in self.columns_shown)
        self.virtual_size = Size(width, self.source.total + _HEADER)

    def _invalidate(self) -> None:
        self._strips.clear()
        self.refresh()

    def _redraw_row(self, row: int) -> None:
        self._strips.pop((row, False), None)
        self._strips.pop((row, True), None)
        self.refresh_line(row + _HEADER)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y < _HEADER:
            return self._header_strip(width)
        row = round(self.scroll_y) + y - _HEADER
        ticket = self.ticket_at(row)
        if ticket is None:
            return Strip.blank(width, base)
        cursor = row == self.cursor_row
        key = (row, cursor)
        strip = self._strips.get(key)
        if strip is None or strip.cell_length != width:
            if len(self._strips) > 4 * KEEP_WINDOWS * WINDOW:
                self._strips.clear()
            strip = self._row_strip(ticket, cursor, width, base)
            self._strips[key] = strip
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        self._now = self.clock()  # one reading for every line of this drawing
        try:
            return super().render_lines(crop)
        finally:
            self._now = None

    def _header_strip(self, width: int) -> Strip:
        style = self.rich_style + self.get_component_rich_style("ticket-table--header")
        cells = [Text(c.label, no_wrap=True, overflow="ellipsis") for c in self.columns_shown]
        return self._join(cells, width, style, Style())

    def _row_strip(self, t: TicketSummary, cursor: bool, width: int, base: Style) -> Strip:
        cells = self._cells(t, self._now or self.clock(), self._styles())
        if not cursor:
            return self._join(cells, width, base, Style())
        cursor_style = self.get_component_rich_style("ticket-table--cursor")
        # The cursor's colour wins over a cell's own, as in Textual's table; its weight adds.
        return self._join(cells, width, base + cursor_style, Style(color=cursor_style.color))

    def _join(self, cells: Sequence[Text], width: int, base: Style, post: Style) -> Strip:
        console = self.app.console
        pad = " " * self.cell_padding
        segments: list[Segment] = []
        for column, cell in zip(self.columns_shown, cells, strict=True):
            segments.append(Segment(pad))
            fitted = _fit(cell, column.width)
            # A Text without spans renders without its own style: it goes under every segment.
            own = console.get_style(fitted.style, default=Style.null())
            segments.extend(Segment.apply_style(fitted.render(console), own))
            segments.append(Segment(pad))
        line = Segment.apply_style(segments, base, post or None)
        return Strip(list(line)).adjust_cell_length(width, base).simplify()

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
            "customer": lambda: Text(
                _one_line(t.customer), style=style, no_wrap=True, overflow="ellipsis"
            ),
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
            subject.append(f"[{_one_line(who)}] ", style=styles["presence"])
        subject.append(_one_line(t.subject) or "(no subject)", style=style)
        return subject

    def _sla(self, t: TicketSummary, now: datetime, styles: Mapping[str, Style]) -> Text:
        """Time left (``45m``), or how late (``-2h``), in the theme's warning/error colours;
        for a ticket snoozed now, when it wakes (``z3d``) instead."""
        if t.snoozed_until is not None and t.snoozed_until > now:
            return Text("z" + age(now, t.snoozed_until), style=styles["muted"], justify="right")
        if t.sla_due is None:
            return Text("")
        match sla_state(t.sla_due, now, self.due_soon):
            case SlaState.BREACHED:
                return Text("-" + age(t.sla_due, now), style=styles["breached"], justify="right")
            case SlaState.DUE_SOON:
                return Text(age(now, t.sla_due), style=styles["due-soon"], justify="right")
        return Text(age(now, t.sla_due), justify="right")


def _emphasis(t: TicketSummary) -> str:
    return "bold" if t.waiting_on_us and t.status not in ("closed", "spam") else ""


def _one_line(text: str) -> str:
    """Mail text for one line of the list: a line break or tab would break the row apart."""
    return safe_text(text).replace("\n", " ").replace("\t", " ")


def _fit(cell: Text, width: int) -> Text:
    """``cell`` cut or padded to exactly ``width`` cells, on the side its justification says."""
    out = cell.copy()
    out.truncate(width, overflow="ellipsis")
    gap = width - out.cell_len
    if gap > 0:
        if cell.justify == "right":
            out.pad_left(gap)
        else:
            out.pad_right(gap)
    return out
