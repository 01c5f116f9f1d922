"""Snapshots of settled screens on the demo workspace: fixed clock, fixed size, pinned versions.

Update only after looking at the report: `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

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


def test_queue_screen(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(make_app(demo_ws, clock=lambda: NOW), terminal_size=(80, 24))


def test_ticket_screen(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW), press=["j", "j", "enter"], terminal_size=(80, 24)
    )


def test_help_over_queue(snap_compare: Any, demo_ws: Workspace) -> None:
    assert snap_compare(
        make_app(demo_ws, clock=lambda: NOW), press=["question_mark"], terminal_size=(100, 30)
    )
