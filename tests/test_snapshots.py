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

from helpdesk.cli.demo import create_demo_workspace
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.tui.app import make_app

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


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


def test_help_over_queue(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW),
        press=["question_mark"],
        terminal_size=(100, 30),
        run_before=settled,
    )
