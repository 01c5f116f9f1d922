"""The virtual ticket list: windows of a queue read from either end, and the list widget that
reads only what it shows (issue 5, big mailboxes)."""

from __future__ import annotations

import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from textual.app import App, ComposeResult

from helpdesk.core.ticket_query import parse_ticket_query
from helpdesk.core.tickets import Queue, TicketSummary
from helpdesk.storage.cache import Cache, ticket_t
from helpdesk.storage.ticket_pages import QueuePages
from helpdesk.tui.widgets.ticket_table import WINDOW, TicketTable

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
AGENT = "jana@helpdesk.example"


# -- windows of a queue from the cache -----------------------------------------------------


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.sqlite")
    rnd = random.Random(3)
    rows = []
    for number in range(1, 1201):
        # Few distinct values, so that every sort has long runs of ties to break.
        at = NOW - timedelta(hours=rnd.randrange(40))
        rows.append(
            {
                "number": number,
                "subject": f"Dotaz {number}",
                "customer_name": rnd.choice(["", "Anna", "anna", "Bohdan", "Cyril"]),
                "customer_email": f"c{number % 7}@firma.example",
                "status": rnd.choice(["new", "open", "closed"]),
                "assignee": None,
                "created_at": at,
                "last_activity": at,
                "message_count": 1,
                "waiting_on_us": True,
                "priority": rnd.choice([0, 1, 2, 3]),
                "tags": "",
                "sla_due": rnd.choice([None, None, at + timedelta(hours=4)]),
            }
        )
    with c.begin_write() as conn:
        conn.execute(insert(ticket_t), rows)
    yield c
    c.close()


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "sort:-activity",
        "sort:number",
        "sort:priority",
        "sort:sla",
        "sort:-sla",
        "sort:customer",
    ],
)
@pytest.mark.parametrize("queue", [Queue.ALL, Queue.OPEN])
def test_every_window_matches_the_list_read_in_one_go(
    cache: Cache, typed: str, queue: Queue
) -> None:
    query = parse_ticket_query(typed)
    ctx = cache.filter_context(AGENT, NOW)
    whole = [
        t.number for t in cache.list_tickets(queue, AGENT, limit=None, query=query, context=ctx)
    ]
    total = cache.count_tickets(queue, AGENT, query=query, context=ctx)
    assert total == len(whole) > 300
    pages = QueuePages(cache, queue, ctx, total, query)
    # Windows near the end are read backwards: they must still be the same rows, in order.
    for offset in (0, 37, total // 2 - 10, total // 2 + 3, total - 150, total - 1):
        got = [t.number for t in pages.rows(offset, 100)]
        assert got == whole[offset : offset + 100], (typed, offset)
    assert pages.rows(total, 100) == []


def test_listed_says_which_tickets_a_queue_holds(cache: Cache) -> None:
    ctx = cache.filter_context(AGENT, NOW)
    query = parse_ticket_query("status:closed")
    total = cache.count_tickets(Queue.ALL, AGENT, query=query, context=ctx)
    pages = QueuePages(cache, Queue.ALL, ctx, total, query)
    closed = {t.number for t in cache.list_tickets(Queue.ALL, AGENT, limit=None, query=query)}
    asked = set(range(1, 1201, 3)) | {99_999}
    assert pages.listed(asked) == asked & closed
    assert pages.listed([]) == set()


# -- the widget ----------------------------------------------------------------------------


def ticket(number: int, **changes: Any) -> TicketSummary:
    at = NOW - timedelta(minutes=number)
    base = TicketSummary(
        number=number,
        subject=f"Dotaz {number}",
        customer_name=f"Zákazník {number}",
        customer_email=f"c{number}@firma.example",
        status="new",
        assignee=None,
        created_at=at,
        last_activity=at,
        message_count=1,
        waiting_on_us=False,
    )
    return replace(base, **changes)


@dataclass
class CountedRows:
    """A list in memory that counts what the widget asks of it."""

    tickets: list[TicketSummary]
    reads: list[tuple[int, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.tickets)

    def rows(self, offset: int, limit: int) -> Sequence[TicketSummary]:
        self.reads.append((offset, limit))
        return self.tickets[offset : offset + limit]

    def listed(self, numbers: Collection[int]) -> set[int]:
        return {t.number for t in self.tickets} & set(numbers)


class ListApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield TicketTable(lambda: NOW, id="tickets")

    def on_ticket_table_selected(self, event: TicketTable.Selected) -> None:
        self.messages.append(event)

    def on_ticket_table_marks_changed(self, event: TicketTable.MarksChanged) -> None:
        self.messages.append(event)


def screen_text(app: App[None]) -> str:
    table = app.query_one(TicketTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def big(n: int) -> CountedRows:
    return CountedRows([ticket(i) for i in range(n, 0, -1)])


async def test_a_big_list_reads_only_what_it_shows_and_G_reaches_the_last_ticket() -> None:
    app = ListApp()
    rows = big(100_000)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(TicketTable)
        table.focus()
        table.show(rows, keep_cursor=False)
        await pilot.pause()
        assert table.row_count == 100_000
        assert rows.reads == [(0, WINDOW)]
        assert "Dotaz 100000" in screen_text(app)
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor_row == 99_999 and table.current_number() == 1
        lines = screen_text(app).splitlines()
        assert " Dotaz 23 " in lines[1] and " Dotaz 1 " in lines[-1]
        assert len(rows.reads) <= 3  # the first window, and the one or two at the end
        await pilot.press("k", "k")
        assert table.current_number() == 3
        await pilot.press("g")
        await pilot.pause()
        assert table.current_number() == 100_000 and round(table.scroll_y) == 0
        await pilot.press("pagedown")
        await pilot.pause()
        page = table.size.height - 1  # the header line aside
        assert table.cursor_row == page
        assert table.ticket_at(round(table.scroll_y)) == rows.tickets[page]
        await pilot.press("pageup", "j", "j", "j")
        assert table.cursor_row == 3
        assert all(limit == WINDOW for _, limit in rows.reads)


async def test_the_same_ticket_stays_under_the_cursor_when_the_list_is_refreshed() -> None:
    app = ListApp()
    rows = big(1000)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(TicketTable)
        table.focus()
        table.show(rows, keep_cursor=False)
        await pilot.pause()
        table.move_cursor(row=250)
        await pilot.pause()
        under, line = table.current_number(), table.cursor_row - round(table.scroll_y)
        assert under == 750
        # Two new tickets on top, one closed above the cursor: the rows shift by one.
        fresh = [ticket(1002), ticket(1001), *[t for t in rows.tickets if t.number != 900]]
        table.show(CountedRows(fresh), keep_cursor=True)
        await pilot.pause()
        assert table.current_number() == 750 and table.cursor_row == 251
        assert table.cursor_row - round(table.scroll_y) == line  # same line of the screen
        # A new queue starts at its top.
        table.show(CountedRows(fresh[500:]), keep_cursor=False)
        await pilot.pause()
        assert table.cursor_row == 0 and table.current_number() == fresh[500].number


async def test_marks_keep_list_order_and_go_with_tickets_that_left() -> None:
    app = ListApp()
    rows = big(300)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(TicketTable)
        table.focus()
        table.show(rows, keep_cursor=False)
        await pilot.pause()
        await pilot.press("space", "j", "space")
        await pilot.press("G", "space")
        assert table.marked_numbers() == [300, 298, 1]
        assert [m.count for m in app.messages if isinstance(m, TicketTable.MarksChanged)] == [
            1,
            2,
            3,
        ]
        assert "✓ Dotaz 1" in screen_text(app)
        await pilot.press("g")
        await pilot.pause()
        assert "✓ Dotaz 300" in screen_text(app) and "✓ Dotaz 299" not in screen_text(app)
        table.show(CountedRows([t for t in rows.tickets if t.number != 298]))
        await pilot.pause()
        assert table.marked_numbers() == [300, 1]
        assert isinstance(app.messages[-1], TicketTable.MarksChanged)
        table.clear_marks()
        await pilot.pause()
        assert table.marked == set() and "✓" not in screen_text(app)


async def test_unread_presence_enter_and_click() -> None:
    app = ListApp()
    tickets = [ticket(i, unread=i % 2 == 0) for i in range(40, 0, -1)]
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.query_one(TicketTable)
        table.focus()
        table.show(tickets, keep_cursor=False, presence={39: "petr replying"})
        await pilot.pause()
        assert table.get_row_at(0)[-1].plain == "●"
        assert table.render_line(1).text.rstrip().endswith("●")
        table.mark_read(40)
        await pilot.pause()
        assert table.get_row_at(0)[-1].plain == ""
        assert table.render_line(1).text.rstrip().endswith("—")  # the marker's cell is blank
        assert table.render_line(3).text.rstrip().endswith("●")  # 38: still unread
        assert "[petr replying] Dotaz 39" in table.render_line(2).text
        await pilot.press("enter")
        await pilot.click(TicketTable, offset=(20, 4))  # the fourth row: moves there
        await pilot.pause()
        assert table.cursor_row == 3
        await pilot.click(TicketTable, offset=(20, 4))  # once more: chosen
        await pilot.pause()
        chosen = [m.number for m in app.messages if isinstance(m, TicketTable.Selected)]
        assert chosen == [40, 37]


async def test_mail_text_stays_on_its_line_and_is_never_markup() -> None:
    app = ListApp()
    evil = ticket(
        7,
        subject="[bold]hi[/bold]\nsecond line\x1b[31m red",
        customer_name="[link=http://x.example]Eva[/link]\t",
    )
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(TicketTable)
        table.show([evil, ticket(6)], keep_cursor=False)
        await pilot.pause()
        line = table.render_line(1)
        assert "[bold]hi[/bold] second line red" in line.text
        assert "[link=http://x.…" in line.text
        assert "\x1b" not in line.text and "\n" not in line.text
        assert line.cell_length == table.scrollable_content_region.width
        assert "Dotaz 6" in table.render_line(2).text
