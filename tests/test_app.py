"""The app driven by Pilot: the queue, opening a ticket, keys, and untrusted text staying text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from mailbuild import message

from helpdesk.core.config import parse_config
from helpdesk.core.team import PresenceKind
from helpdesk.core.tickets import Queue
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor
from helpdesk.tui.app import make_app
from helpdesk.tui.screens.help import HelpScreen
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.message_view import MessageView
from helpdesk.tui.widgets.status_bar import StatusBar
from helpdesk.tui.widgets.ticket_table import TicketTable

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
OURS = "support@helpdesk.example"


def make_workspace(tmp_path: Path, raws: list[bytes]) -> Workspace:
    text = f"""
[agent]
name = "Jana"
email = "jana@helpdesk.example"
[team]
store = "sqlite:///{tmp_path / "team.sqlite"}"
addresses = ["{OURS}"]
[cache]
path = "{tmp_path / "cache.sqlite"}"
"""
    settings = parse_config(
        text, str(tmp_path / "helpdesk.toml"), default_agent=("x", "x@example.com")
    )
    ws = open_workspace(settings)
    import_messages(raws, make_ingestor(ws))
    return ws


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    raws = [
        message(
            "a1@c.example",
            subject="Objednávka 1 nedorazila",
            date="Mon, 02 Nov 2026 09:00:00 +0000",
        ),
        message(
            "r1@helpdesk.example",
            sender=f"Jana via Support <{OURS}>",
            to="jan@customer.example",
            subject="Re: Objednávka 1 nedorazila",
            in_reply_to="a1@c.example",
            body="Dobrý den, balík je na cestě.\n",
            date="Mon, 02 Nov 2026 10:00:00 +0000",
        ),
        message(
            "b1@c.example",
            sender="Anna <anna@b.example>",
            subject="Faktura 77",
            date="Tue, 03 Nov 2026 08:00:00 +0000",
        ),
        message(
            "evil@c.example",
            sender='"[bold red]Evil[/]" <evil@bad.example>',
            subject="[link=http://x]click[/link] \x1b[31mred\x1b]52;c;aGVsbG8=\x07",
            body="[reverse]inverted[/reverse]\n\x1b[2J\x1b[Hcleared?\n",
            date="Tue, 03 Nov 2026 09:00:00 +0000",
        ),
    ]
    w = make_workspace(tmp_path, raws)
    yield w
    w.close()


def rows(table: TicketTable) -> list[list[str]]:
    return [
        [str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)
    ]


async def test_queue_lists_tickets_newest_first(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(TicketTable)
        shown = rows(table)
        assert len(shown) == 3
        subjects = [r[2] for r in shown]
        assert subjects[1] == "Faktura 77"
        assert subjects[2] == "Objednávka 1 nedorazila"
        assert shown[1][1] == "Anna"
        assert shown[1][3] == "4h"  # age against the fixed clock


async def test_open_ticket_and_back(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("j", "j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.detail.summary.subject == "Objednávka 1 nedorazila"
        views = list(app.screen.query(MessageView))
        assert [v.message.outgoing for v in views] == [False, True]
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("k", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)
        assert app.screen.detail.summary.subject == "Faktura 77"


async def test_help_and_queue_keys(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, QueueScreen)
        await pilot.press("4")  # Closed: nothing is closed yet
        await pilot.pause()
        assert app.screen.query_one(TicketTable).row_count == 0
        await pilot.press("tab")  # All
        await pilot.pause()
        assert app.screen.query_one(TicketTable).row_count == 3


async def test_mail_text_is_never_markup_or_escapes(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(TicketTable)
        top = rows(table)[0]
        assert top[2].startswith("[link=http://x]click[/link]")
        assert "\x1b" not in top[2] and "\x07" not in top[2]
        assert top[1] == "[bold red]Evil[/]"
        await pilot.press("enter")
        await pilot.pause()
        (view,) = app.screen.query(MessageView)
        texts = [str(s.render()) for s in view.query("Static")]
        body = texts[-1]
        assert "[reverse]inverted[/reverse]" in body
        assert "\x1b" not in "".join(texts)


async def test_sync_runs_in_a_worker_and_new_mail_shows(
    imap_account: object, tmp_path: Path
) -> None:
    from servers import ImapAccount
    from test_imap_sync import workspace_for

    from helpdesk.sync.service import SyncService

    assert isinstance(imap_account, ImapAccount)
    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("w1@c.example", subject="První dotaz"))
    ws = workspace_for(imap_account, tmp_path)
    app = make_app(ws, sync=SyncService(ws), clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(TicketTable)
        for _ in range(100):
            await pilot.pause(0.05)
            if table.row_count == 1:
                break
        assert [r[2] for r in rows(table)] == ["První dotaz"]
        imap_account.append("INBOX", message("w2@c.example", subject="Druhý dotaz"))
        await pilot.press("dollar_sign")
        for _ in range(100):
            await pilot.pause(0.05)
            if table.row_count == 2:
                break
        assert sorted(r[2] for r in rows(table)) == ["Druhý dotaz", "První dotaz"]
        assert "synced" in app.sync_state
    ws.close()


async def wait_until(pilot: object, cond: object, tries: int = 200) -> None:
    for _ in range(tries):
        if cond():  # type: ignore[operator]
            return
        await pilot.pause(0.02)  # type: ignore[attr-defined]
    raise AssertionError("condition not reached")


async def test_handle_next_claims_and_opens_then_note(ws: Workspace) -> None:
    from helpdesk.tui.widgets.note_view import NoteView

    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen))
        assert isinstance(app.screen, TicketScreen)
        # The longest-waiting customer comes first (the order we already answered waits on
        # the customer, so it comes last); it is now the agent's.
        assert app.screen.detail.summary.subject == "Faktura 77"
        assert app.screen.detail.summary.assignee == "jana@helpdesk.example"
        number = app.screen.detail.summary.number
        await pilot.press("N")
        await pilot.pause()
        from textual.widgets import TextArea

        await pilot.press(*"Volal")
        app.screen.query_one(TextArea).insert(", chce fakturu.")
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: bool(app.screen.query(NoteView)))
        (note,) = app.screen.query(NoteView)
        assert note.note.body == "Volal, chce fakturu."
        label = str(note.query("Static").first().render())
        assert "INTERNAL NOTE" in label and "team only" in label
        await pilot.press("q")
        await pilot.press("3")  # Mine
        await wait_until(pilot, lambda: app.screen.query_one(TicketTable).row_count == 1)
        assert app.screen.query_one(TicketTable).current_number() == number
        await pilot.press("C")  # release: back to the queue
        await wait_until(pilot, lambda: app.screen.query_one(TicketTable).row_count == 0)


async def test_claim_from_the_queue_and_team_status(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.team_state.startswith("team: online"))
        await pilot.press("c")
        await wait_until(pilot, lambda: ws.cache.count_tickets(Queue.MINE, ws.agent) == 1)
        status = str(app.screen.query_one(StatusBar).render())
        assert "team: online" in status


async def test_colleagues_presence_shows_in_the_queue(ws: Workspace) -> None:
    from helpdesk.storage.lock_table import LockTable

    numbers = [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)]
    team = LockTable(ws.team)
    team.join("petr@helpdesk.example", "Petr")
    team.heartbeat("petr@helpdesk.example", numbers[0], PresenceKind.REPLYING)
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.screen.query_one(TicketTable)
        await wait_until(pilot, lambda: any("[petr replying]" in r[2] for r in rows(table)))
        row = next(r for r in rows(table) if "[petr replying]" in r[2])
        assert row[0] == str(numbers[0])
