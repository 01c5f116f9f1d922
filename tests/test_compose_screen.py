"""The compose screen driven by Pilot: prefill, templates at the cursor, refusals, queueing,
drafts that survive, held replies, undo, presence, and untrusted text staying text.

Queueing is local (the outgoing table of the cache); one test sends for real through the
app's mail-out worker to a real SMTP server and Dovecot."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from compose_setup import compose_workspace
from mailbuild import message
from servers import ImapAccount, SmtpServer
from textual.pilot import Pilot
from textual.widgets import Input, Static

from helpdesk.core.team import PresenceKind
from helpdesk.core.tickets import Queue
from helpdesk.storage import drafts, outgoing
from helpdesk.storage.drafts import DraftRecord
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.outgoing import OutState
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mail_out import ReplyRequest, queue_reply
from helpdesk.sync.service import SyncService
from helpdesk.sync.team import TeamService
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.compose import BodyArea, ComposeScreen, offset_location
from helpdesk.tui.screens.compose_dialogs import edit_externally
from helpdesk.tui.screens.picker import Confirm
from helpdesk.tui.screens.template_picker import TemplatePicker
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.address_suggester import customer_matches
from helpdesk.tui.widgets.outgoing_view import OutgoingView

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
PETR = "petr@helpdesk.example"
EVIL_NAME = "[bold red]Evil[/] \x1b[31mred\x1b]52;c;aGVsbG8=\x07"
EVIL_SUBJECT = "[link=http://x.example]click[/link] \x1b[2Jcleared"

TEMPLATES = """
[[templates]]
name = "Order status"
language = "en"
body = "Hello {{ customer.first_name }}, your order {{ order.number }} is on its way."
[[templates]]
name = "Thanks"
body = "Thank you, {{ customer.first_name }}."
"""


def make_ws(root: Path, raws: list[bytes], *, delay: int = 30) -> Workspace:
    return compose_workspace(root, raws, templates=TEMPLATES, delay=delay)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    raws = [
        message(
            "q1@customer.example",
            subject="Objednávka nedorazila",
            body="Dobrý den,\nkde je moje zásilka?\n",
            date="Mon, 02 Nov 2026 09:00:00 +0000",
        ),
        message(
            "evil@bad.example",
            sender=f'"{EVIL_NAME}" <evil@bad.example>',
            subject=EVIL_SUBJECT,
            date="Mon, 02 Nov 2026 08:00:00 +0000",
        ),
    ]
    w = make_ws(tmp_path, raws)
    yield w
    w.close()


def ticket_of(ws: Workspace, email_addr: str) -> int:
    return next(
        t.number
        for t in ws.cache.list_tickets(Queue.ALL, ws.agent)
        if t.customer_email == email_addr
    )


async def wait_for(pilot: Pilot[Any], check: Any, what: str, tries: int = 200) -> None:
    for _ in range(tries):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def open_compose(
    app: HelpdeskApp, pilot: Pilot[Any], number: int, key: str = "r"
) -> ComposeScreen:
    app.open_ticket(number)
    await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "the compose screen")
    await pilot.pause()
    assert isinstance(app.screen, ComposeScreen)
    return app.screen


def body_of(screen: ComposeScreen) -> BodyArea:
    return screen.query_one(BodyArea)


async def test_r_opens_compose_to_the_customer_with_quote_and_signature(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        assert screen.query_one("#compose-to", Input).value == "Jan Novák <jan@customer.example>"
        assert screen.query_one("#compose-cc", Input).value == ""
        text = body_of(screen).text
        lines = text.split("\n")
        # The answer's line first (bottom quote), then the signature with its variable filled.
        assert lines[0] == ""
        assert "-- " in lines
        assert "Support team" in text
        assert "> kde je moje zásilka?" in lines
        assert lines.index("-- ") < lines.index("> kde je moje zásilka?")
        assert body_of(screen).cursor_location == (0, 0)
        title = str(screen.query_one("#compose-title", Static).render())
        assert f"[#{number}]" in title and "Re: " in title


async def test_template_goes_in_at_the_cursor_and_a_missing_variable_blocks_sending(
    ws: Workspace,
) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        await pilot.press(*"Hi/ ", "backspace", "backspace", *"! ")  # "/" is text here
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatePicker), "the picker")
        await pilot.press(*"ordst")  # fuzzy: "Order status"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen, "back in compose")
        body = body_of(screen)
        first = body.text.split("\n")[0]
        assert first == "Hi! Hello Jan, your order {{ order.number }} is on its way."
        # The unfilled variable is selected (typing replaces it) and highlighted.
        start = first.index("{{")
        end = first.index("}}") + 2
        assert body.selection.start == (0, start) and body.selection.end == (0, end)
        line = body.get_line(0)
        styled = [(s.start, s.end) for s in line.spans if s.style]
        assert (start, end) in styled
        assert "order.number" in screen.problem

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        assert "{{ order.number }}" in screen.problem and "not sent" in screen.problem
        assert outgoing.for_ticket(ws.cache, number) == []

        # Typed over the selection: nothing is missing any more, and it queues.
        await pilot.press(*"778899")
        await wait_for(pilot, lambda: screen.problem == "", "the problem to clear")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        (out,) = outgoing.for_ticket(ws.cache, number)
        full = outgoing.get(ws.cache, out.id)
        assert full is not None and full.raw is not None
        assert "your order 778899 is on its way" in _body(full.raw)


def _body(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    part = msg.get_body(("plain",))  # type: ignore[attr-defined]
    return str(part.get_content()).replace("\r\n", "\n")


async def test_ctrl_s_queues_the_reply_shows_it_and_n_moves_on(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        await pilot.press(*"Zásilka je na cestě.")
        select = screen.query_one("#compose-status")
        # The configured default ("waiting": the workflow's first status of that kind).
        waiting = ws.settings.reply.status_after
        assert waiting and getattr(select, "value", None) == waiting
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        (out,) = outgoing.for_ticket(ws.cache, number)
        assert out.state == OutState.QUEUED
        assert out.rcpt == ("jan@customer.example",)
        # Stored as the workflow's status of that kind.
        assert out.status_after is not None and out.status_after.startswith("waiting")
        assert out.author == "jana@helpdesk.example"
        full = outgoing.get(ws.cache, out.id)
        assert full is not None and full.raw is not None
        assert _body(full.raw).startswith("Zásilka je na cestě.\n")
        assert "> kde je moje zásilka?" in _body(full.raw)
        # Shown in the conversation with its state, and counted in the status line.
        await pilot.pause()
        views = list(app.screen.query(OutgoingView))
        assert [v.out.id for v in views] == [out.id]
        assert "queued" in str(views[0].query_one(".state", Static).render())
        assert "1 queued" in app.status_text()
        # The draft stays until the reply is sent (undo brings it back), tied to the reply.
        (kept,) = drafts.for_ticket(ws.cache, number, author=ws.agent)
        assert kept.id == out.draft_id

        await pilot.press("n")  # handle next: the other, unassigned ticket
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, TicketScreen) and app.screen.number != number,
            "the next ticket",
        )


async def test_draft_survives_leaving_with_keep_and_reopens(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        await pilot.press(*"Half a thought")
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        await wait_for(pilot, lambda: drafts.for_ticket(ws.cache, number), "the saved draft")
        (saved,) = drafts.for_ticket(ws.cache, number, author=ws.agent)
        assert saved.body.startswith("Half a thought\n")
        assert saved.kind == "reply" and saved.to == "Jan Novák <jan@customer.example>"
        assert saved.base_messages  # what the agent had seen when the draft began
        assert saved.id in {d.id for d in drafts.unpushed(ws.cache)}

        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose again")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, ComposeScreen) and again is not screen
        assert body_of(again).text == saved.body
        assert again.draft.id == saved.id

        # Discarding forgets it here (and marks it for the team store).
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        await wait_for(pilot, lambda: not drafts.for_ticket(ws.cache, number), "the discard")
        assert [d.deleted for d in drafts.unpushed(ws.cache)] == [True]


async def test_autosave_keeps_the_text_while_typing(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(app, pilot, number)
        await pilot.press(*"typed, never left")
        await wait_for(
            pilot,
            lambda: any(
                d.body.startswith("typed, never left") for d in drafts.for_ticket(ws.cache, number)
            ),
            "the autosave",
            tries=300,
        )


async def test_undo_takes_the_reply_back_within_the_delay(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_compose(app, pilot, number)
        await pilot.press(*"Oops, wrong text")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        (out,) = outgoing.for_ticket(ws.cache, number)
        assert out.send_after > datetime.now(UTC) + timedelta(seconds=20)
        await pilot.press("u")
        await pilot.pause()
        row = outgoing.get(ws.cache, out.id)
        assert row is not None and row.state == OutState.CANCELLED
        assert not app.screen.query(OutgoingView)
        assert "queued" not in app.status_text()
        # The text comes back with the next `r`.
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose again")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        assert body_of(app.screen).text.startswith("Oops, wrong text")


async def test_undo_is_refused_once_the_delay_is_over(tmp_path: Path) -> None:
    w = make_ws(tmp_path, [message("q9@customer.example")], delay=0)
    try:
        (t,) = w.cache.list_tickets(Queue.ALL, w.agent)
        app = make_app(w, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_compose(app, pilot, t.number)
            await pilot.press(*"Sent at once")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
            await pilot.press("u")
            await pilot.pause()
            (out,) = outgoing.for_ticket(w.cache, t.number)
            assert out.state == OutState.QUEUED  # due now: no longer the agent's to take back
    finally:
        w.close()


async def test_held_reply_shows_why_and_can_be_edited_or_discarded(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    out = queue_reply(ws, ReplyRequest(ticket=number, body="First answer\n"))
    reason = "held: the ticket changed since you began (a new message from Jan Novák)."
    assert outgoing.hold(ws.cache, out.id, reason)
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_ticket(number)
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        await pilot.pause()
        (view,) = app.screen.query(OutgoingView)
        assert view.has_class("-held")
        shown = " ".join(str(s.render()) for s in view.query(Static))
        assert "a new message from Jan Novák" in shown
        assert "send anyway" in shown and "discard" in shown
        assert "1 held" in app.status_text()

        view.focus()
        await pilot.press("e")  # edit: back into the editor, the reply taken off the queue
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose")
        await pilot.pause()
        assert isinstance(app.screen, ComposeScreen)
        assert body_of(app.screen).text.startswith("First answer")
        row = outgoing.get(ws.cache, out.id)
        assert row is not None and row.state == OutState.CANCELLED

    second = queue_reply(ws, ReplyRequest(ticket=number, body="Second answer\n"))
    outgoing.hold(ws.cache, second.id, reason)
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_ticket(number)
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        await pilot.pause()
        app.screen.query_one(OutgoingView).focus()
        await pilot.press("d")
        await pilot.pause()
        row = outgoing.get(ws.cache, second.id)
        assert row is not None and row.state == OutState.CANCELLED
        assert not app.screen.query(OutgoingView)


async def test_untrusted_name_and_subject_are_shown_literally(ws: Workspace) -> None:
    number = ticket_of(ws, "evil@bad.example")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        title = screen.query_one("#compose-title", Static).render()
        plain = str(title)
        assert "[link=http://x.example]click[/link]" in plain
        assert "\x1b" not in plain and "\x07" not in plain
        to = screen.query_one("#compose-to", Input).value
        assert "[bold red]Evil[/]" in to and "\x1b" not in to
        assert "\x1b" not in body_of(screen).text


async def test_colleagues_shared_draft_is_offered_and_taken_over(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    theirs = DraftRecord(
        id="petr-draft",
        ticket=number,
        kind="reply",
        author=PETR,
        to="Jan Novák <jan@customer.example>",
        body="Petr's half-written answer\n",
        updated_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    drafts.push(ws.team, [theirs])
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_ticket(number)
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket screen")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, Confirm), "the offer")
        offer = app.screen
        assert isinstance(offer, Confirm)
        assert offer.question.startswith(f"petr left a draft on #{number}")
        (screen,) = [s for s in app.screen_stack if isinstance(s, ComposeScreen)]
        await pilot.press("y")
        await wait_for(pilot, lambda: app.screen is screen, "back in compose")
        assert body_of(screen).text == "Petr's half-written answer\n"
        assert screen.draft.id == "petr-draft" and screen.draft.author == ws.agent


async def test_presence_replying_and_a_colleague_shown(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    LockTable(ws.team).heartbeat(PETR, number, PresenceKind.VIEWING, ttl=600)
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compose(app, pilot, number)
        presence = screen.query_one("#compose-presence", Static)
        await wait_for(pilot, lambda: "petr viewing" in str(presence.render()), "petr shown")

        def replying() -> bool:
            return any(
                p.agent == ws.agent and p.ticket == number and str(p.kind) == "replying"
                for p in LockTable(ws.team).presence()
            )

        await wait_for(pilot, replying, "presence 'replying' in the team store")


async def test_customer_completion_from_the_cache(ws: Workspace) -> None:
    assert customer_matches(ws.cache, "jan") == ["Jan Novák <jan@customer.example>"]
    assert customer_matches(ws.cache, "JAN@cust") == ["Jan Novák <jan@customer.example>"]
    assert customer_matches(ws.cache, "%") == []  # a LIKE wildcard is a plain character


def test_offset_location_counts_rows_and_columns() -> None:
    text = "ab\ncde\n\nf"
    assert offset_location(text, 0) == (0, 0)
    assert offset_location(text, 4) == (1, 1)
    assert offset_location(text, 8) == (3, 0)


def test_external_editor_round_trip(tmp_path: Path) -> None:
    script = tmp_path / "fake-editor"
    script.write_text('#!/bin/sh\nprintf "edited\\n" >> "$1"\n', encoding="utf-8")
    script.chmod(0o755)
    assert edit_externally("Hello\n", [str(script)]) == "Hello\nedited\n"
    failing = tmp_path / "failing-editor"
    failing.write_text("#!/bin/sh\nexit 3\n", encoding="utf-8")
    failing.chmod(0o755)
    assert edit_externally("Hello\n", [str(failing)]) is None


async def test_reply_really_sent_by_the_mail_out_worker(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = imap_account.write_config(tmp_path, tls=False, smtp=smtp_server)
    ws = open_workspace(load_settings(str(config)))
    try:
        imap_account.append("INBOX", message("s1@customer.example"))
        service = SyncService(ws)
        assert service.sync_once().ok
        (t,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
        app = make_app(ws, sync=service, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_compose(app, pilot, t.number)
            screen = app.screen
            assert isinstance(screen, ComposeScreen)
            await pilot.press(*"Odesláno z aplikace.")
            await pilot.press("ctrl+s")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, TicketScreen),
                f"the ticket ({screen.problem})",
                tries=500,
            )
            await wait_for(pilot, lambda: len(smtp_server.messages) == 1, "SMTP", tries=500)
            await wait_for(
                pilot,
                lambda: outgoing.for_ticket(ws.cache, t.number)[0].state == OutState.SENT,
                "the sent state",
            )
            assert "Odesláno z aplikace." in _body(smtp_server.messages[0].data)
            # The draft of a sent reply is done.
            await wait_for(pilot, lambda: not drafts.for_ticket(ws.cache, t.number), "discard")
    finally:
        ws.close()


def test_team_sync_pushes_drafts_and_their_discard(ws: Workspace) -> None:
    number = ticket_of(ws, "jan@customer.example")
    mine = DraftRecord(id="jana-draft", ticket=number, kind="reply", author=ws.agent, body="x\n")
    drafts.save(ws.cache, mine, datetime.now(UTC))
    team = TeamService(ws)
    team.sync()
    assert [d.id for d in drafts.shared_for_ticket(ws.team, number)] == ["jana-draft"]
    assert drafts.unpushed(ws.cache) == []
    drafts.discard(ws.cache, "jana-draft")
    team.sync()
    assert drafts.shared_for_ticket(ws.team, number) == []
