"""Search across all tickets: results as the agent types, matches highlighted, Enter opens.

The query runs in a worker thread a moment after the last key (typing a word makes one query,
not one per letter); every query carries a generation number and an answer to an older one
is dropped, so a slow query can never paint over the results of the text now in the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.sanitize import safe_text
from helpdesk.core.search_text import Marked, SearchHit
from helpdesk.core.tickets import TicketSummary
from helpdesk.storage.ticket_lookup import summaries

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

__all__ = ["PAGE", "SearchScreen", "hit_prompt", "marked_text"]

DEBOUNCE = 0.05  # seconds of quiet after a key before the query runs (a stale answer is dropped)
PAGE = 50  # hits fetched at a time; the next page is read as the cursor nears the end
PAGE_AHEAD = 10  # hits left below the cursor when the next page is asked for
MATCH = Style(bold=True, reverse=True)


def marked_text(marked: Marked, base: str | Style = "") -> Text:
    """Rich Text of a hit's text with the matched ranges styled: spans, never markup, and each
    piece cleaned of control characters again (the offsets stay right: pieces are cleaned
    one by one)."""
    text = Text(style=base, no_wrap=True, overflow="ellipsis", end="")
    for piece, matched in marked.segments():
        text.append(safe_text(piece).replace("\n", " "), style=MATCH if matched else None)
    return text


def hit_prompt(hit: SearchHit, summary: TicketSummary | None) -> Group:
    """Two lines: number, subject, customer and status; then the snippet."""
    top = Table.grid(padding=(0, 1), expand=True)
    top.add_column(no_wrap=True)
    top.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    top.add_column(no_wrap=True, overflow="ellipsis", max_width=28)
    top.add_column(no_wrap=True, overflow="ellipsis", max_width=12)
    subject = marked_text(hit.subject) if hit.subject.text else Text("(no subject)", style="italic")
    customer = safe_text(summary.customer) if summary is not None else ""
    status = safe_text(summary.status) if summary is not None else ""
    top.add_row(
        Text(f"#{hit.ticket}", style="bold"),
        subject,
        Text(customer, no_wrap=True, overflow="ellipsis"),
        Text(status, style="bold"),
    )
    # The line's own newline stays: the list counts an option's lines by its newlines.
    snippet = Text("  ", no_wrap=True, overflow="ellipsis")
    snippet.append_text(marked_text(hit.snippet if hit.snippet.text else hit.sender, base="dim"))
    return Group(top, snippet)


@dataclass
class _Page:
    generation: int
    offset: int
    hits: list[SearchHit]
    tickets: dict[int, TicketSummary]
    error: str | None = None


class SearchResults(OptionList):
    """The hits; focus stays in the input, so the screen moves this list's cursor."""

    can_focus = False


class SearchScreen(Screen[None]):
    # Priority: the input would otherwise take the arrows and page keys for its own scrolling.
    BINDINGS = [
        Binding("escape", "back", "Back", id="search.back", tooltip="Close the search"),
        Binding("down", "move(1)", "Next", priority=True, id="search.down", tooltip="Next result"),
        Binding(
            "up",
            "move(-1)",
            "Prev",
            show=False,
            priority=True,
            id="search.up",
            tooltip="Previous result",
        ),
        Binding(
            "pagedown",
            "move(10)",
            "Page",
            show=False,
            priority=True,
            id="search.page_down",
            tooltip="Ten results down",
        ),
        Binding(
            "pageup",
            "move(-10)",
            "Page up",
            show=False,
            priority=True,
            id="search.page_up",
            tooltip="Ten results up",
        ),
    ]

    class PageReady(Message):
        def __init__(self, page: _Page) -> None:
            super().__init__()
            self.page = page

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.initial = text
        self.hits: list[SearchHit] = []
        self.query_text = ""
        self.generation = 0
        self.more = False  # the last page was full: there may be another
        self.loading = False
        self.open_when_ready = False  # Enter came before the typed text was searched
        self._timer: Timer | None = None

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    def compose(self) -> ComposeResult:
        yield Input(
            self.initial,
            placeholder="Search subjects, senders and mail text",
            id="search-input",
        )
        yield Static("", id="search-status")
        yield SearchResults(id="search-results")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._status("Type to search all tickets; Enter opens, Escape goes back")
        if self.initial.strip():
            self._start(self.initial)

    def on_screen_resume(self) -> None:
        self.query_one(Input).focus()

    def _status(self, text: str) -> None:
        self.query_one("#search-status", Static).update(Text(text))

    # -- querying -----------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._timer is not None:
            self._timer.stop()
        value = event.value
        self._timer = self.set_timer(DEBOUNCE, lambda: self._start(value))

    def _start(self, text: str) -> None:
        self.generation += 1  # whatever is still under way is now stale
        self.query_text = text
        self.hits = []
        self.more = False
        if not text.strip():
            self.loading = self.open_when_ready = False
            self.query_one(SearchResults).clear_options()
            self._status("Type to search all tickets; Enter opens, Escape goes back")
            return
        self.loading = True
        self._status("searching…")
        self._run_query(self.generation, text, 0)

    @work(thread=True, exclusive=True, group="search", exit_on_error=False)
    def _run_query(self, generation: int, text: str, offset: int) -> None:
        cache = self.hd.ws.cache
        try:
            hits = cache.search(text, limit=PAGE, offset=offset)
            tickets = summaries(cache, [h.ticket for h in hits])
            page = _Page(generation, offset, hits, tickets)
        except Exception as exc:  # shown, never lost in a worker
            page = _Page(generation, offset, [], {}, f"{type(exc).__name__}: {exc}")
        self.post_message(self.PageReady(page))

    def on_search_screen_page_ready(self, message: SearchScreen.PageReady) -> None:
        page = message.page
        if page.generation != self.generation or page.offset != len(self.hits):
            return  # the answer to a query the agent has typed past
        self.loading = False
        results = self.query_one(SearchResults)
        if page.error is not None:
            self._status(f"Search failed: {page.error}")
            return
        if page.offset == 0:
            results.clear_options()
        self.hits.extend(page.hits)
        self.more = len(page.hits) == PAGE
        results.add_options(Option(hit_prompt(h, page.tickets.get(h.ticket))) for h in page.hits)
        if page.offset == 0 and page.hits:
            results.highlighted = 0
        self._show_count()
        if self.open_when_ready:
            self.open_when_ready = False
            self._open()

    def _show_count(self) -> None:
        n = len(self.hits)
        if n == 0:
            self._status("No ticket matches")
        else:
            self._status(f"{n}{'+' if self.more else ''} ticket{'' if n == 1 else 's'}")

    def _more_if_near_end(self, index: int) -> None:
        if self.more and not self.loading and index >= len(self.hits) - PAGE_AHEAD:
            self.loading = True
            self._run_query(self.generation, self.query_text, len(self.hits))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._more_if_near_end(event.option_index)

    # -- keys ---------------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        results = self.query_one(SearchResults)
        if not self.hits:
            return
        current = results.highlighted if results.highlighted is not None else -1
        results.highlighted = max(0, min(len(self.hits) - 1, current + step))

    def action_back(self) -> None:
        self.dismiss(None)

    def current(self) -> SearchHit | None:
        index = self.query_one(SearchResults).highlighted
        if index is None or not 0 <= index < len(self.hits):
            return None
        return self.hits[index]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value != self.query_text:
            if self._timer is not None:
                self._timer.stop()
            self.open_when_ready = True
            self._start(event.value)
        else:
            self._open()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.query_one(SearchResults).highlighted = event.option_index
        self._open()

    def _open(self) -> None:
        hit = self.current()
        if hit is not None:
            self.hd.open_ticket(hit.ticket)
