"""Snapshots of settled screens on the demo workspace: fixed clock, fixed size, pinned versions.

Update only after looking at the report: `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from helpdesk.cli.demo import create_demo_workspace
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.tui.app import make_app

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor would be drawn or not by how long the machine took to get there:
    in snapshots it stays on."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda _self: None)
    monkeypatch.setattr(TextArea, "_toggle_cursor_blink_visible", lambda _self: None)


@pytest.fixture
def demo_ws(tmp_path: Path) -> Iterator[Workspace]:
    config = create_demo_workspace(tmp_path / "demo", now=NOW)
    ws = open_workspace(load_settings(str(config), env={}))
    yield ws
    ws.close()


async def settled(pilot: Pilot[Any]) -> None:
    """The team store has answered once, so the status line no longer depends on timing."""
    for _ in range(200):
        if pilot.app.team_state.startswith("team: online"):  # type: ignore[attr-defined]
            break
        await pilot.pause(0.02)
    await pilot.pause()


def test_queue_screen(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW), terminal_size=(80, 24), run_before=settled
    )


def test_ticket_screen(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW),
        press=["j", "j", "enter"],
        terminal_size=(80, 24),
        run_before=settled,
    )


def test_ticket_screen_wide_with_side_panel(snap_compare: Any, demo_ws: Workspace) -> None:
    """120x40: older messages folded, the newest open, the side panel with the customer's
    other tickets and the history (a customer with three tickets, a mail with a PDF)."""
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW),
        press=["j"] * 11 + ["enter"],
        terminal_size=(120, 40),
        run_before=settled,
    )


def test_help_over_queue(snap_compare: Any, demo_ws: Workspace, tmp_path: Path) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        press=["question_mark"],
        terminal_size=(100, 30),
        run_before=settled,
    )


def test_help_over_queue_80x24(snap_compare: Any, demo_ws: Workspace, tmp_path: Path) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        press=["question_mark"],
        terminal_size=(80, 24),
        run_before=settled,
    )


def test_search_results(snap_compare: Any, demo_ws: Workspace, tmp_path: Path) -> None:
    from helpdesk.tui.screens.search import SearchResults, SearchScreen

    async def searched(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("slash", *"objednavka")
        for _ in range(250):
            screen = pilot.app.screen
            # The answer to the whole word, not to a prefix typed on the way.
            done = isinstance(screen, SearchScreen) and not screen.loading
            if done and screen.query_text == "objednavka":
                break
            await pilot.pause(0.02)
        await pilot.press("down")  # the cursor on the second hit
        results = pilot.app.screen.query_one(SearchResults)
        for _ in range(250):
            if results.highlighted == 1:
                break
            await pilot.pause(0.02)
        await pilot.pause()

    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        terminal_size=(80, 24),
        run_before=searched,
    )


@pytest.mark.parametrize("theme", ["helpdesk-dark", "helpdesk-light", "helpdesk-high-contrast"])
def test_queue_in_theme(snap_compare: Any, demo_ws: Workspace, tmp_path: Path, theme: str) -> None:
    async def themed(pilot: Pilot[Any]) -> None:
        pilot.app.theme = theme
        await settled(pilot)

    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        terminal_size=(80, 24),
        run_before=themed,
    )


def test_queue_wide_with_sidebar(snap_compare: Any, demo_ws: Workspace, tmp_path: Path) -> None:
    """120x40: the queues in a sidebar with their counts, every column of the list."""
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        terminal_size=(120, 40),
        run_before=settled,
    )


def test_queue_filter_with_a_mistake(snap_compare: Any, demo_ws: Workspace, tmp_path: Path) -> None:
    """80x24: a filter applied, then a typo in the filter line, shown under it."""

    async def filtered(pilot: Pilot[Any]) -> None:
        await settled(pilot)
        await pilot.press("backslash", *"from:@email.example", "enter")
        await pilot.press("backslash", "end", *" stat:open")
        await pilot.pause()

    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW, user_themes=tmp_path / "themes"),
        terminal_size=(80, 24),
        run_before=filtered,
    )


def test_compose_screen(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW),
        press=["j", "j", "enter", "r"],
        terminal_size=(80, 24),
        run_before=settled,
    )
