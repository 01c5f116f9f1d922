"""In-app news, driven by Pilot: a ticket a colleague gives me and an escalation of my ticket
show as notifications (with the bell when configured); my own actions and events from before
the app started do not."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from local_team import customer_mails, local_workspace
from sqlalchemy import update
from textual.pilot import Pilot

from helpdesk.core.team import Role
from helpdesk.storage.escalation import escalate
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import TeamTicket
from helpdesk.storage.workspace import Workspace
from helpdesk.tui.app import HelpdeskApp, make_app

ME = "jana@helpdesk.example"
LEAD = "petr@helpdesk.example"
_ticket = TeamTicket.__table__


def _workspace(tmp_path: Path, bell: bool) -> Workspace:
    bell_line = f"[app]\nbell = {'true' if bell else 'false'}"
    ws = local_workspace(
        tmp_path, ME, customer_mails(3, mid="n{i}@customer.example"), extra=bell_line
    )
    table = LockTable(ws.team)
    table.join(ME, "Jana")  # the first agent: the admin
    table.join(LEAD, "Petr Novák")
    assert table.set_agent(ME, LEAD, role=Role.LEAD).ok
    return ws


@pytest.fixture(params=[True, False], ids=["bell", "quiet"])
def ws(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    w = _workspace(tmp_path, request.param)
    yield w
    w.close()


async def until(pilot: Pilot[int], cond: Callable[[], bool], tries: int = 300) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def shown(app: HelpdeskApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_assigned_to_me_and_my_escalation_notify_once(ws: Workspace) -> None:
    table = LockTable(ws.team)
    first, second, third = sorted(ws.team.ticket_states(range(1, 10)))
    # Before the app starts: old news, never shown.
    assert table.assign(LEAD, first, ME, at=datetime.now(UTC) - timedelta(minutes=5)).ok
    app = make_app(ws, clock=lambda: datetime.now(UTC))
    rings: list[int] = []
    app.bell = lambda: rings.append(1)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await until(pilot, lambda: "online" in app.team_state)
        assert table.assign(LEAD, second, ME).ok
        assert table.claim(ME, third).ok  # my own action: no news
        with ws.team.write() as conn:
            conn.execute(update(_ticket).values(sla_due=None))  # only the second one is due
            conn.execute(
                update(_ticket)
                .where(_ticket.c.number == second)
                .values(sla_due=datetime.now(UTC) + timedelta(minutes=25, seconds=20))
            )
        done = escalate(ws.team, datetime.now(UTC), before=timedelta(minutes=30))
        assert [e.ticket for e in done.escalated] == [second]
        app.run_team_sync()
        await until(pilot, lambda: len(shown(app)) >= 2)
        await pilot.pause(0.3)
        app.run_team_sync()  # a second pull brings no news twice
        await pilot.pause(0.3)
        assert shown(app) == [
            f"#{second} assigned to you by Petr Novák",
            f"#{second} breaches in 25 min",
        ]
        assert rings == ([1] if ws.settings.app.bell else [])


async def test_untrusted_names_are_shown_literally(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, bell=False)
    try:
        table = LockTable(ws.team)
        table.join("x@helpdesk.example", "[bold red]Boss[/] \x1b[2J")
        first = min(ws.team.ticket_states(range(1, 10)))
        app = make_app(ws, clock=lambda: datetime.now(UTC))
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await until(pilot, lambda: "online" in app.team_state)
            assert table.assign(ME, first, ME).ok  # mine: nothing
            assert table.release(ME, first).ok
            assert table.set_agent(ME, "x@helpdesk.example", role=Role.LEAD).ok
            assert table.assign("x@helpdesk.example", first, ME).ok
            app.run_team_sync()
            await until(pilot, lambda: len(shown(app)) >= 1)
            (text,) = shown(app)
            assert text.startswith(f"#{first} assigned to you by [bold red]Boss[/]")
            assert "\x1b" not in text
    finally:
        ws.close()
