"""The search screen driven by Pilot on a filled cache: hits as you type, highlighted matches,
Enter opens the right ticket, paging, stale answers dropped, mail text kept literal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from mailbuild import message
from rich.segment import Segment
from textual.pilot import Pilot

from helpdesk.core.config import parse_config
from helpdesk.core.search_text import Marked
from helpdesk.core.tickets import Queue
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.search import (
    PAGE,
    SearchResults,
    SearchScreen,
    _Page,
    marked_text,
)
from helpdesk.tui.screens.ticket import TicketScreen

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
OURS = "support@helpdesk.example"


def make_ws(tmp_path: Path, raws: list[bytes], extra_config: str = "") -> Workspace:
    text = f"""
[agent]
name = "Jana"
email = "jana@helpdesk.example"
[team]
store = "sqlite:///{tmp_path / "team.sqlite"}"
addresses = ["{OURS}"]
[cache]
path = "{tmp_path / "cache.sqlite"}"
{extra_config}
"""
    config = tmp_path / "helpdesk.toml"
    config.write_text(text, encoding="utf-8")  # errors point into it: tests read it back
    settings = parse_config(text, str(config), default_agent=("x", "x@example.com"))
    ws = open_workspace(settings)
    import_messages(raws, make_ingestor(ws))
    return ws


def app_of(ws: Workspace) -> HelpdeskApp:
    # User themes from a folder beside the test's config: never the real user's.
    assert ws.settings.source is not None
    return make_app(ws, clock=lambda: NOW, user_themes=Path(ws.settings.source).parent / "themes")


def mail(
    n: int, subject: str, body: str, sender: str = "Jan Novák <jan@customer.example>"
) -> bytes:
    return message(
        f"m{n}@customer.example",
        sender=sender,
        subject=subject,
        body=body,
        date=f"Mon, 02 Nov 2026 {n % 24:02d}:00:00 +0000",
    )


EVIL_SUBJECT = "[bold]x[/] tiskárna \x1b[31mred\x1b]52;c;aGVsbG8=\x07"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    raws = [
        mail(1, "Tiskárna netiskne", "Dobrý den,\ntiskárna v kanceláři hlásí chybu.\n"),
        mail(2, "Faktura 77", "Prosím o opravu faktury, tiskárna ji vytiskla dvakrát.\n"),
        mail(3, "Objednávka 12", "Kde je moje objednávka?\n", "Anna <anna@b.example>"),
        mail(4, EVIL_SUBJECT, "[reverse]inverted[/reverse] text\n", "Eva <eva@c.example>"),
    ]
    w = make_ws(tmp_path, raws)
    yield w
    w.close()


def number_of(ws: Workspace, subject_start: str) -> int:
    (number,) = [
        t.number
        for t in ws.cache.list_tickets(Queue.ALL, ws.agent)
        if t.subject.startswith(subject_start)
    ]
    return number


async def wait_until(pilot: Pilot[Any], cond: Callable[[], bool], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def search_screen(pilot: Pilot[Any]) -> SearchScreen:
    screen = pilot.app.screen
    assert isinstance(screen, SearchScreen)
    return screen


def results_lines(screen: SearchScreen) -> list[list[Segment]]:
    results = screen.query_one(SearchResults)
    return [list(results.render_line(y)) for y in range(results.size.height)]


def highlighted_pieces(screen: SearchScreen) -> list[str]:
    """The text drawn in the match style (bold and reverse), as the terminal gets it."""
    out = []
    for line in results_lines(screen):
        for seg in line:
            if seg.style is not None and seg.style.reverse and seg.style.bold and seg.text.strip():
                out.append(seg.text)
    return out


async def type_search(pilot: Pilot[Any], text: str) -> SearchScreen:
    await pilot.press("slash")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, SearchScreen))
    await pilot.press(*text)
    screen = search_screen(pilot)
    await wait_until(pilot, lambda: screen.query_text == text and not screen.loading)
    await pilot.pause()
    return screen


async def test_typing_shows_highlighted_hits(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await type_search(pilot, "tiskarna")
        found = {h.ticket for h in screen.hits}
        expected = {number_of(ws, s) for s in ("Tiskárna", "Faktura", "[bold]x[/]")}
        assert found == expected
        assert screen.query_one(SearchResults).option_count == 3
        # Accents fold in the query, but the highlight shows the text as written.
        pieces = highlighted_pieces(screen)
        assert pieces and all(p.lower() == "tiskárna" for p in pieces)
        assert "Tiskárna" in pieces  # the subject's, not only the snippets'
        status = str(screen.query_one("#search-status").render())
        assert status.startswith("3 tickets")


async def test_results_follow_typing_and_clearing(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await type_search(pilot, "faktur")
        assert [h.ticket for h in screen.hits] == [number_of(ws, "Faktura")]
        await pilot.press(*"xyz")
        await wait_until(pilot, lambda: screen.query_text == "fakturxyz" and not screen.loading)
        assert screen.hits == []
        assert "No ticket matches" in str(screen.query_one("#search-status").render())
        for _ in "fakturxyz":
            await pilot.press("backspace")
        await wait_until(pilot, lambda: screen.query_text == "")
        assert screen.query_one(SearchResults).option_count == 0


async def test_enter_opens_the_ticket_and_escape_goes_back(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await type_search(pilot, "tiskarna")
        second = screen.hits[1].ticket
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen))
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.number == second
        # Back from the ticket is back to the results, as they were.
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        assert search_screen(pilot).query_one(SearchResults).highlighted == 1
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))


async def test_enter_right_after_typing_opens_the_typed_query(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("slash")
        await wait_until(pilot, lambda: isinstance(app.screen, SearchScreen))
        # No pause: Enter comes before the debounce has run the query.
        await pilot.press(*"objednavka", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen))
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.number == number_of(ws, "Objednávka")


async def test_slash_from_a_ticket_returns_to_the_open_search(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await type_search(pilot, "faktur")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen))
        depth = len(app.screen_stack)
        await pilot.press("slash")
        await wait_until(pilot, lambda: app.screen is screen)
        assert len(app.screen_stack) == depth - 1
        assert screen.query_one("#search-input").has_focus


async def test_stale_answers_are_dropped(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await type_search(pilot, "faktur")
        stale = SearchScreen.PageReady(_Page(screen.generation - 1, 0, screen.hits * 2, {}))
        # Two queries in a row: only the second one's answer may be shown.
        screen._start("tiskarna")
        screen._start("objednavka")
        screen.post_message(stale)
        await wait_until(pilot, lambda: not screen.loading)
        await pilot.pause(0.2)
        assert [h.ticket for h in screen.hits] == [number_of(ws, "Objednávka")]
        assert screen.query_one(SearchResults).option_count == 1


async def test_mail_text_in_results_stays_literal(ws: Workspace) -> None:
    app = app_of(ws)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await type_search(pilot, "inverted")
        assert [h.ticket for h in screen.hits] == [number_of(ws, "[bold]x[/]")]
        drawn = ["".join(s.text for s in line) for line in results_lines(screen)]
        text = "\n".join(drawn)
        assert "[bold]x[/] tiskárna" in text
        assert "[reverse]inverted[/reverse]" in text
        assert not any(c in text for c in "\x1b\x07\x9b")
        # The markup-looking words are not styled: only the match is.
        assert highlighted_pieces(screen) == ["inverted"]


def test_marked_text_cleans_each_piece_and_keeps_offsets() -> None:
    raw = "a\x1b[31mb [bold]hit[/] \u202eend"
    start = raw.index("hit")
    text = marked_text(Marked(raw, ((start, start + 3),)))
    assert "\x1b" not in text.plain and "\u202e" not in text.plain
    assert "[bold]hit[/]" in text.plain
    (span,) = text.spans
    assert text.plain[span.start : span.end] == "hit"


async def test_paging_as_the_cursor_goes_down(tmp_path: Path) -> None:
    count = PAGE * 2 + 7
    raws = [mail(n, f"Reklamace {n}", f"Reklamace zboží číslo {n}.\n") for n in range(count)]
    w = make_ws(tmp_path, raws)
    try:
        app = app_of(w)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await type_search(pilot, "reklamace")
            assert len(screen.hits) == PAGE and screen.more
            await pilot.press(*["pagedown"] * 5)
            await wait_until(pilot, lambda: len(screen.hits) == 2 * PAGE and not screen.loading)
            await pilot.press(*["pagedown"] * 5)
            await wait_until(pilot, lambda: len(screen.hits) == count and not screen.loading)
            assert not screen.more
            tickets = [h.ticket for h in screen.hits]
            assert len(set(tickets)) == count
            assert set(tickets) == {t.number for t in w.cache.list_tickets(Queue.ALL, w.agent)}
            assert screen.query_one(SearchResults).option_count == count
    finally:
        w.close()
