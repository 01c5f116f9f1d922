"""Action keys driven by Pilot: status, priority, category, tags, assign, close, reopen, bulk
on marked tickets, undo. Every change is checked in the cache and in the team store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from local_team import customer_mails, local_workspace
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from helpdesk.core.tickets import Queue
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.workspace import Workspace
from helpdesk.tui.actions import Change, TicketValues, plan, read_values, tag_edit
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.picker import Choice, Confirm, Picker, rank_choices
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.status_bar import StatusBar
from helpdesk.tui.widgets.ticket_table import TicketTable

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
ME = "jana@helpdesk.example"
COLLEAGUE = "petr@helpdesk.example"

# The team's own statuses: neither "closed" nor "waiting on customer" exists here.
STATUSES = """
[[statuses]]
name = "fresh"
colour = "$accent"
kind = "open"

[[statuses]]
name = "open"
colour = "#88c0d0"
kind = "open"

[[statuses]]
name = "on hold"
colour = "$warning"
kind = "waiting"

[[statuses]]
name = "solved"
colour = "$success"
kind = "closed"
"""


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = local_workspace(tmp_path, ME, customer_mails(4), extra=STATUSES)
    LockTable(w.team).join(COLLEAGUE, "Petr")
    yield w
    w.close()


async def until(pilot: Pilot[int], cond: Callable[[], bool], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def cache_of(ws: Workspace, number: int) -> TicketValues:
    return read_values(ws, [number])[number]


def team_of(ws: Workspace, number: int) -> TicketValues:
    s = ws.team.ticket_states([number])[number]
    return TicketValues(number, s.status, s.priority, s.category, s.tags, s.assignee)


def both(ws: Workspace, number: int) -> TicketValues:
    """The ticket's values, asserted to be the same in the cache and the team store."""
    cached, team = cache_of(ws, number), team_of(ws, number)
    assert cached == team
    return cached


def settled(app: HelpdeskApp) -> Callable[[], bool]:
    return lambda: not app._acting


async def open_first_ticket(pilot: Pilot[int], app: HelpdeskApp) -> int:
    await until(pilot, lambda: app.screen.query_one(TicketTable).row_count == 4)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, TicketScreen))
    assert isinstance(app.screen, TicketScreen)
    return app.screen.number


def option_texts(picker: Picker) -> list[str]:
    options = picker.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def pick(pilot: Pilot[int], app: HelpdeskApp, key: str, typed: str) -> Picker:
    """Press an action key, type into its picker, press enter; returns the picker."""
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, Picker))
    picker = app.screen
    assert isinstance(picker, Picker)
    picker.query_one(Input).value = typed
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    return picker


# -- pure parts -------------------------------------------------------------------------------


def test_tag_line_forms() -> None:
    assert tag_edit("+a -b").tags == (frozenset({"a"}), frozenset({"b"}), False)
    assert tag_edit("+a,-b").tags == (frozenset({"a"}), frozenset({"b"}), False)
    assert tag_edit("a, b").tags == (frozenset({"a", "b"}), frozenset(), True)
    assert tag_edit("vip customer").tags == (frozenset({"vip customer"}), frozenset(), True)
    assert tag_edit("").tags == (frozenset(), frozenset(), True)  # clears
    with pytest.raises(ValueError):
        tag_edit("a -b")


def test_plan_leaves_tickets_already_at_the_value_alone() -> None:
    before = {
        1: TicketValues(1, "open", 1, None, ("a",), None),
        2: TicketValues(2, "solved", 1, None, ("b",), None),
    }
    steps = plan(Change("status", "solved"), before, [1, 2, 3])
    assert [(s.number, s.old, s.new) for s in steps] == [(1, "open", "solved")]
    tags = plan(tag_edit("+b"), before, [1, 2])
    assert [(s.number, s.old, s.new) for s in tags] == [(1, "a", "a,b")]
    assert tags[0].reversed().new == "a"


def test_fuzzy_rank_of_choices() -> None:
    choices = [Choice("x", "Orders > Delivery"), Choice("y", "Complaints > Damaged goods")]
    assert [c.value for c in rank_choices("dmg", choices)] == ["y"]
    assert [c.value for c in rank_choices("ord del", choices)] == ["x"]
    assert rank_choices("", choices) == choices
    assert rank_choices("zzz", choices) == []


# -- one ticket, from the ticket screen --------------------------------------------------------


async def test_a_status_that_is_not_configured_is_never_offered(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        number = await open_first_ticket(pilot, app)
        before = both(ws, number)
        picker = await pick(pilot, app, "s", "closed")
        # Only the team's statuses, in their order, and spam (always defined).
        picker.query_one(Input).value = ""
        await pilot.pause()
        offered = [t.split("  ")[0].lstrip("● ") for t in option_texts(picker)]
        assert offered == ["fresh", "open", "on hold", "solved", "spam"]
        assert app.screen is picker  # "closed" is no status here: nothing was chosen
        assert both(ws, number) == before
        picker.query_one(Input).value = "waiting on customer"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is picker
        assert "nothing matches" in str(picker.query_one("#picker-error").render())
        picker.query_one(Input).value = "hold"
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: cache_of(ws, number).status == "on hold")
        await until(pilot, settled(app))
        assert both(ws, number).status == "on hold"
        assert isinstance(app.screen, TicketScreen)


async def test_each_action_on_one_ticket(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        number = await open_first_ticket(pilot, app)

        await pick(pilot, app, "p", "urg")
        await until(pilot, lambda: cache_of(ws, number).priority == 3)
        await until(pilot, settled(app))
        assert both(ws, number).priority == 3

        await pick(pilot, app, "y", " Orders>Delivery ")  # a new one, normalised
        await until(pilot, lambda: cache_of(ws, number).category == "Orders > Delivery")
        await until(pilot, settled(app))
        assert both(ws, number).category == "Orders > Delivery"

        await pick(pilot, app, "t", "+damaged +vip")
        await until(pilot, lambda: cache_of(ws, number).tags == ("damaged", "vip"))
        await until(pilot, settled(app))
        picker = await pick(pilot, app, "t", "-vip")
        assert picker.initial == "damaged, vip"  # the editor starts from the current tags
        await until(pilot, lambda: cache_of(ws, number).tags == ("damaged",))
        await until(pilot, settled(app))
        assert both(ws, number).tags == ("damaged",)

        await pilot.press("x")  # close: the team's closed status
        await until(pilot, lambda: cache_of(ws, number).status == "solved")
        await until(pilot, settled(app))
        assert both(ws, number).status == "solved"

        await pilot.press("X")  # reopen
        await until(pilot, lambda: cache_of(ws, number).status == "open")
        await until(pilot, settled(app))
        assert both(ws, number).status == "open"

        # The ticket screen's header follows.
        meta = str(app.screen.query_one("#ticket-meta").render())
        assert "open" in meta


async def test_category_picker_offers_categories_seen_in_the_cache(ws: Workspace) -> None:
    numbers = [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)]
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.team.set_field(numbers[1], "category", "Complaints > Damaged goods")
        number = await open_first_ticket(pilot, app)
        picker = await pick(pilot, app, "y", "dmg")  # fuzzy: picks the known one
        await until(pilot, lambda: cache_of(ws, number).category == "Complaints > Damaged goods")
        await until(pilot, settled(app))
        assert both(ws, number).category == "Complaints > Damaged goods"
        assert picker.choices == [
            Choice("Complaints > Damaged goods", "Complaints > Damaged goods")
        ]


async def test_assign_via_the_picker(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query_one(TicketTable).row_count == 4)
        number = app.screen.query_one(TicketTable).current_number()
        assert number is not None
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, Picker))
        picker = app.screen
        assert isinstance(picker, Picker)
        texts = option_texts(picker)
        assert texts[0].startswith("me (")  # "me" first
        assert any(COLLEAGUE in t for t in texts)
        await pilot.press(*"petr", "enter")
        await until(pilot, lambda: cache_of(ws, number).assignee == COLLEAGUE)
        await until(pilot, settled(app))
        assert both(ws, number).assignee == COLLEAGUE
        # Handed to the colleague, not taken: none of it is the agent's own.
        assert ws.cache.count_tickets(Queue.MINE, ws.agent) == 0


# -- many tickets, and undo --------------------------------------------------------------------


async def test_bulk_close_of_three_marked_asks_once(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.screen.query_one(TicketTable)
        await until(pilot, lambda: table.row_count == 4)
        await pilot.press("space", "space", "space")  # marks and moves on
        marked = table.marked_numbers()
        assert len(marked) == 3
        assert table.current_number() not in marked
        assert "3 marked" in str(app.screen.query_one(StatusBar).render())
        assert "✓" in str(table.get_row_at(0)[2])

        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert isinstance(app.screen, Confirm)
        assert app.screen.question == "Close 3 tickets?"
        await pilot.press("n")  # changed her mind: nothing happens, the marks stay
        await until(pilot, lambda: isinstance(app.screen, QueueScreen))
        assert all(both(ws, n).status == "fresh" for n in marked)
        assert table.marked_numbers() == marked

        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, lambda: all(cache_of(ws, n).status == "solved" for n in marked))
        await until(pilot, settled(app))
        assert [both(ws, n).status for n in marked] == ["solved"] * 3
        unmarked = next(
            t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent) if t.number not in marked
        )
        assert both(ws, unmarked).status == "fresh"
        await until(pilot, lambda: not table.marked)
        assert "marked" not in str(app.screen.query_one(StatusBar).render())


async def test_undo_of_a_close(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        number = await open_first_ticket(pilot, app)
        await pick(pilot, app, "s", "on hold")
        await until(pilot, lambda: cache_of(ws, number).status == "on hold")
        await until(pilot, settled(app))
        await pilot.press("x")
        await until(pilot, lambda: cache_of(ws, number).status == "solved")
        await until(pilot, settled(app))
        assert team_of(ws, number).status == "solved"
        await pilot.press("ctrl+z")
        await until(pilot, lambda: cache_of(ws, number).status == "on hold")
        await until(pilot, settled(app))
        assert both(ws, number).status == "on hold"  # the value before the close
        # Undone once: a second ctrl+z has nothing left to take back.
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert both(ws, number).status == "on hold"


async def test_undo_ends_after_its_window(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    app.actions.undo_seconds = 0.0
    async with app.run_test(size=(80, 24)) as pilot:
        number = await open_first_ticket(pilot, app)
        await pilot.press("x")
        await until(pilot, lambda: cache_of(ws, number).status == "solved")
        await until(pilot, settled(app))
        await pilot.pause(0.05)
        await pilot.press("ctrl+z")
        await pilot.pause(0.2)
        assert both(ws, number).status == "solved"


async def test_undo_of_an_assign(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        number = await open_first_ticket(pilot, app)
        await pick(pilot, app, "a", "me")
        await until(pilot, lambda: cache_of(ws, number).assignee == ME)
        await until(pilot, settled(app))
        assert both(ws, number).assignee == ME
        await pilot.press("ctrl+z")
        await until(pilot, lambda: cache_of(ws, number).assignee is None)
        await until(pilot, settled(app))
        assert both(ws, number).assignee is None


async def test_every_action_is_in_the_palette(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query_one(TicketTable).row_count == 4)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in (
            "Set status",
            "Set priority",
            "Set category",
            "Edit tags",
            "Assign to…",
            "Close ticket",
            "Reopen ticket",
            "Undo the last ticket change",
        ):
            assert title in titles
