"""The ticket view: older messages folded, quotes and signatures folded (`T`), headers (`H`),
attachments opened and saved (`o`), the side panel (customer's other tickets, history), and
untrusted text staying text in all of them."""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mailbuild import message
from test_app import NOW, OURS, make_workspace
from textual.widgets import Input, OptionList, Static

from helpdesk.core.quoted_text import BlockKind, first_words, split_blocks
from helpdesk.core.tickets import Queue
from helpdesk.storage.customer_tickets import other_tickets
from helpdesk.storage.workspace import Workspace
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.attachment_picker import AttachmentPicker
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.message_view import MessageView
from helpdesk.tui.widgets.ticket_side import TicketSide, TicketSideOverlay

CUSTOMER = "Jan Novák <jan@customer.example>"
PAYLOAD = bytes(range(256)) * 40 + b"end of the file\n"
HOSTILE_NAME = "../../.evil\x1b[31m [b]x[/b] \u202etxt.sh"

FIRST_BODY = "Dobrý den,\nobjednávka 1 nedorazila, prosím o kontrolu.\n"
REPLY_BODY = (
    "Dobrý den, balík je na cestě.\n\n"
    "-- \nJana, podpora\nsupport@helpdesk.example\n\n"
    "Dne 2. 11. 2026 v 09:00 Jan Novák napsal(a):\n"
    "> Dobrý den,\n> objednávka 1 nedorazila, prosím o kontrolu.\n"
)
LAST_BODY = (
    "Stále nic, posílám fotku štítku.\n\n"
    "-- \nJan Novák\ntel. 555 000 111\n\n"
    "Dne 2. 11. 2026 v 10:00 Jana via Support napsal(a):\n"
    "> Dobrý den, balík je na cestě.\n>\n> -- \n> Jana, podpora\n"
)


def with_attachment(
    mid: str, *, in_reply_to: str, filename: str, payload: bytes, body: str, date: str
) -> bytes:
    encoded = base64.encodebytes(payload).decode().replace("\n", "\r\n")
    # RFC 2047 keeps the escape byte and the bidi override in the header as the sender sent them.
    name = "=?utf-8?b?" + base64.b64encode(filename.encode()).decode() + "?="
    head = message(
        mid,
        sender=CUSTOMER,
        subject="Re: Objednávka 1 nedorazila",
        in_reply_to=in_reply_to,
        date=date,
        body="",
        extra='Content-Type: multipart/mixed; boundary="b0"',
    ).split(b"\r\n\r\n", 1)[0]
    # The builder's own single-part Content-Type goes: this one is multipart.
    lines = [
        line
        for line in head.split(b"\r\n")
        if not line.startswith((b"Content-Type: text/plain", b"Content-Transfer-Encoding"))
    ]
    parts = (
        "--b0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + body.replace("\n", "\r\n")
        + "\r\n--b0\r\nContent-Type: application/octet-stream\r\n"
        + "Content-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
        + encoded
        + "--b0--\r\n"
    )
    return b"\r\n".join(lines) + b"\r\n\r\n" + parts.encode()


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    raws = [
        message("a1@c.example", subject="Objednávka 1 nedorazila", body=FIRST_BODY),
        message(
            "r1@helpdesk.example",
            sender=f"Jana via Support <{OURS}>",
            to="jan@customer.example",
            subject="Re: Objednávka 1 nedorazila",
            in_reply_to="a1@c.example",
            body=REPLY_BODY,
            date="Mon, 02 Nov 2026 10:00:00 +0000",
        ),
        with_attachment(
            "a2@c.example",
            in_reply_to="r1@helpdesk.example",
            filename=HOSTILE_NAME,
            payload=PAYLOAD,
            body=LAST_BODY,
            date="Tue, 03 Nov 2026 08:00:00 +0000",
        ),
        message(
            "b1@c.example",
            subject="Faktura 12 [bold]zaplacena[/bold]?",
            date="Sun, 01 Nov 2026 08:00:00 +0000",
        ),
        message(
            "x1@c.example",
            sender="Anna <anna@other.example>",
            subject="Reklamace bot",
            date="Tue, 03 Nov 2026 09:00:00 +0000",
        ),
        message(
            "evil@c.example",
            sender='"[bold red]Evil[/]" <evil@bad.example>',
            subject="[link=http://x]click[/link] \x1b[31mred\x1b]52;c;aGVsbG8=\x07",
            body="[reverse]inverted[/reverse]\n\x1b[2J\x1b[Hcleared?\n",
            date="Tue, 03 Nov 2026 09:30:00 +0000",
        ),
        message(
            "evil2@c.example",
            sender='"[bold red]Evil[/]" <evil@bad.example>',
            subject="second [blink]one[/blink]",
            date="Mon, 02 Nov 2026 09:30:00 +0000",
        ),
    ]
    w = make_workspace(tmp_path, raws)
    yield w
    w.close()


def number_of(ws: Workspace, subject_start: str) -> int:
    (found,) = [
        t.number
        for t in ws.cache.list_tickets(Queue.ALL, ws.agent)
        if t.subject.startswith(subject_start)
    ]
    return found


def plain(widget: Static) -> str:
    return str(widget.render())


async def wait_until(pilot: Any, cond: Callable[[], object], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


async def open_ticket(pilot: Any, app: HelpdeskApp, number: int) -> TicketScreen:
    await pilot.pause()
    app.open_ticket(number)
    await wait_until(pilot, lambda: isinstance(app.screen, TicketScreen))
    await pilot.pause()
    assert isinstance(app.screen, TicketScreen)
    return app.screen


def shown(widget: Any) -> bool:
    """Displayed, and every container up to the screen displayed too."""
    node = widget
    while node is not None and not isinstance(node, TicketScreen):
        if not node.display:
            return False
        node = node.parent
    return widget.region.height > 0


# -- the pure parts ------------------------------------------------------------------------------


def test_quotes_and_signatures_are_split_off() -> None:
    blocks = split_blocks(LAST_BODY)
    assert [b.kind for b in blocks] == [BlockKind.TEXT, BlockKind.SIGNATURE, BlockKind.QUOTE]
    assert blocks[0].text == "Stále nic, posílám fotku štítku."
    assert blocks[1].lines == 3 and blocks[1].text.startswith("-- \nJan")
    # The attribution belongs to the quote; the blank quoted line too.
    assert blocks[2].text.startswith("Dne 2. 11. 2026") and blocks[2].lines == 5
    assert all(b.folds for b in blocks[1:])
    # Nothing is lost: every non-blank line is in exactly one block.
    kept = [line for b in blocks for line in b.text.split("\n") if line.strip()]
    assert kept == [line for line in LAST_BODY.split("\n") if line.strip()]


def test_inline_answers_keep_their_short_quotes() -> None:
    body = "> Kdy to dorazí?\nZítra.\n> A kolik to stojí?\nNic.\n\nOn Mon, 2 Nov 2026 Jan wrote:\n> a\n> b\n> c\n"
    blocks = split_blocks(body)
    assert [(b.kind, b.folds) for b in blocks] == [
        (BlockKind.QUOTE, False),
        (BlockKind.TEXT, False),
        (BlockKind.QUOTE, False),
        (BlockKind.TEXT, False),
        (BlockKind.QUOTE, True),
    ]
    # A sentence ending in a colon is not an attribution when it names no date or sender.
    blocks = split_blocks("Here is what you asked:\n> a\n> b\n> c\n")
    assert [b.kind for b in blocks] == [BlockKind.TEXT, BlockKind.QUOTE]
    assert first_words("  Hello\n\n  there,  friend\n-- \nsig\n") == "Hello there, friend"
    assert first_words("word " * 40, limit=20).endswith("…")
    assert len(first_words("word " * 40, limit=20)) <= 20


def test_other_tickets_of_the_customer(ws: Workspace) -> None:
    order = number_of(ws, "Objednávka")
    invoice = number_of(ws, "Faktura")
    others = other_tickets(ws.cache, "jan@customer.example", exclude=order)
    assert [t.number for t in others] == [invoice]
    assert [t.number for t in other_tickets(ws.cache, "jan@customer.example", exclude=0)] == [
        order,
        invoice,
    ]  # newest activity first
    assert other_tickets(ws.cache, "", exclude=order) == []
    # The read uses the index on customer_email, not a scan of every ticket.
    with ws.cache.engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT number FROM ticket WHERE customer_email = ? "
            "AND number != ? ORDER BY last_activity DESC LIMIT 50",
            ("jan@customer.example", order),
        ).all()
    assert any("INDEX" in str(row[-1]) and "customer_email" in str(row[-1]) for row in plan)


# -- the screen ------------------------------------------------------------------------------------


async def test_older_messages_fold_to_one_line_and_open(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_ticket(pilot, app, number_of(ws, "Objednávka"))
        views = list(screen.query(MessageView))
        assert [v.folded for v in views] == [True, True, False]
        first = views[0]
        assert first.region.height == 1
        line = plain(first.query_one(".header", Static))
        assert "Jan Novák <jan@customer.example>" in line
        assert "2026-11-02" in line and "objednávka 1 nedorazila" in line
        assert not shown(first.query_one(".body", Static))
        # The newest one is open, with its attachment listed under it.
        last = views[-1]
        assert shown(last.query_one(".body", Static))
        assert ".sh" in plain(last.query_one(".attachments", Static))

        await pilot.press("tab")  # the first message
        assert screen.focused is first
        await pilot.press("enter")
        await pilot.pause()
        assert not first.folded and first.region.height > 3
        assert shown(first.query_one(".body", Static))
        await pilot.press("tab", "space")  # space opens a folded one too
        await pilot.pause()
        assert not views[1].folded
        await pilot.press("enter")  # and enter folds it again
        await pilot.pause()
        assert views[1].folded and views[1].region.height == 1


async def test_T_toggles_quotes_and_signatures_and_H_the_headers(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_ticket(pilot, app, number_of(ws, "Objednávka"))
        last = list(screen.query(MessageView))[-1]
        markers = [plain(s) for s in last.query(".fold-marker").results(Static)]
        assert markers == ["… signature, 3 lines", "… 5 quoted lines"]
        quoted = list(last.query(".quoted").results(Static))
        assert [shown(q) for q in quoted] == [False, False]
        assert "tel. 555" in plain(quoted[0])
        assert all(shown(m) for m in last.query(".fold-marker"))

        await pilot.press("T")
        await pilot.pause()
        assert [shown(q) for q in quoted] == [True, True]
        assert not any(shown(m) for m in last.query(".fold-marker"))
        # Folded messages stay folded: T opens quotes, not messages.
        first = screen.query(MessageView).first()
        assert first.region.height == 1
        await pilot.press("T")
        await pilot.pause()
        assert [shown(q) for q in quoted] == [False, False]

        headers = last.query_one(".headers", Static)
        assert not shown(headers)
        await pilot.press("H")
        await pilot.pause()
        assert shown(headers)
        text = plain(headers)
        for name in ("From: ", "To: ", "Cc: ", "Date: ", "Subject: ", "Message-ID: "):
            assert name in text
        assert "Message-ID: <a2@c.example>" in text
        assert "From: Jan Novák <jan@customer.example>" in text
        assert "Date: Tue, 03 Nov 2026 08:00:00 +0000" in text
        await pilot.press("H")
        await pilot.pause()
        assert not shown(headers)


async def test_o_lists_and_saves_a_hostile_name_inside_the_folder(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_ticket(pilot, app, number_of(ws, "Objednávka"))
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, AttachmentPicker))
        picker = app.screen
        assert isinstance(picker, AttachmentPicker)
        options = picker.query_one(OptionList)
        assert options.option_count == 1
        listed = str(options.get_option_at_index(0).prompt)
        assert "\x1b" not in listed and "\u202e" not in listed and "/" not in listed.split("  ")[0]
        assert "Jan Novák" in listed

        await pilot.press("s")
        await pilot.pause()
        folder_input = picker.query_one("#attachment-folder", Input)
        assert folder_input.value == str(home / "Downloads")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(picker.last_result, Path))
        saved = picker.last_result
        assert isinstance(saved, Path)
        downloads = (home / "Downloads").resolve()
        assert saved.resolve().parent == downloads
        assert saved.read_bytes() == PAYLOAD
        assert not saved.name.startswith(".") and saved.name.endswith(".sh")
        assert not any(c in saved.name for c in "/\x1b\u202e")
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        assert sorted(p.name for p in downloads.iterdir()) == [saved.name]
        # Nothing was written where the name pointed.
        assert not (tmp_path / ".evil").exists() and not list(tmp_path.glob("*evil*"))
        status = plain(picker.query_one("#attachment-status", Static))
        assert str(saved) in status

        # Another folder, typed; a second save of the same name never replaces the first.
        elsewhere = tmp_path / "case 42"
        await pilot.press("s")
        await pilot.pause()
        folder_input.value = str(elsewhere)
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: isinstance(picker.last_result, Path) and picker.last_result != saved
        )
        second = picker.last_result
        assert isinstance(second, Path)
        assert second.parent == elsewhere and second.read_bytes() == PAYLOAD
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TicketScreen)


async def test_open_uses_the_system_handler_in_a_worker(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real program standing in for xdg-open: it copies what it was asked to open.
    got = tmp_path / "opened.bin"
    opener = tmp_path / "fake-open"
    opener.write_text(f'#!/bin/sh\ncp -- "$1" {got}\n')
    opener.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    number = number_of(ws, "Objednávka")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_ticket(pilot, app, number)
        picker = AttachmentPicker(ws.cache, number, screen.detail.messages, opener=[str(opener)])
        app.push_screen(picker)
        await pilot.pause()
        await pilot.press("enter")
        await wait_until(pilot, lambda: picker.last_result is not None)
        assert isinstance(picker.last_result, Path), picker.last_result
        assert got.read_bytes() == PAYLOAD
        assert picker.last_result.parent.parent == tmp_path  # a private folder for viewing

        # No handler at all: the agent is told so, and nothing is written.
        empty = tmp_path / "empty-bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        bare = AttachmentPicker(ws.cache, number)
        await pilot.press("escape")
        app.push_screen(bare)
        await pilot.pause()
        before = set(os.listdir(tmp_path))
        await pilot.press("enter")
        await wait_until(pilot, lambda: bare.last_result is not None)
        assert isinstance(bare.last_result, str)
        assert "No program to open files" in bare.last_result
        assert "No program to open files" in plain(bare.query_one("#attachment-status", Static))
        assert set(os.listdir(tmp_path)) == before


async def test_side_panel_beside_the_conversation_at_120_columns(ws: Workspace) -> None:
    order = number_of(ws, "Objednávka")
    invoice = number_of(ws, "Faktura")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_ticket(pilot, app, order)
        side = screen.query_one(TicketSide)
        assert shown(side)
        options = side.query_one("#side-others", OptionList)
        assert options.option_count == 1
        line = str(options.get_option_at_index(0).prompt)
        assert line.startswith(f"#{invoice} ")
        assert "Faktura 12 [bold]zaplacena[/bold]?" in line  # literal, not bold
        assert "new" in line and "2d" in line
        # The history names the agent who claimed the ticket.
        await pilot.press("c")
        history = side.query_one("#side-history", Static)
        await wait_until(pilot, lambda: "jana claimed it" in plain(history))
        assert "opened the ticket" in plain(history)
        # `i` hides it on a wide screen, and shows it again.
        await pilot.press("i")
        await pilot.pause()
        assert not shown(side)
        await pilot.press("i")
        await pilot.pause()
        assert shown(side)
        # Enter on another ticket opens it.
        options.focus()
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, TicketScreen) and app.screen.number == invoice,
        )


async def test_side_panel_is_an_overlay_below_120_columns(ws: Workspace) -> None:
    order = number_of(ws, "Objednávka")
    invoice = number_of(ws, "Faktura")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_ticket(pilot, app, order)
        assert not shown(screen.query_one(TicketSide))
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketSideOverlay))
        overlay = app.screen
        options = overlay.query_one("#side-others", OptionList)
        assert str(options.get_option_at_index(0).prompt).startswith(f"#{invoice} ")
        await pilot.press("i")
        await wait_until(pilot, lambda: app.screen is screen)
        await pilot.press("i")
        await wait_until(pilot, lambda: isinstance(app.screen, TicketSideOverlay))
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, TicketScreen) and app.screen.number == invoice,
        )


async def test_markup_and_escapes_stay_literal_everywhere(ws: Workspace) -> None:
    evil = number_of(ws, "[link=")
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_ticket(pilot, app, evil)
        title = plain(screen.query_one("#ticket-title", Static))
        assert "[link=http://x]click[/link]" in title
        (view,) = screen.query(MessageView)
        texts = [plain(s) for s in view.query(Static).results(Static)]
        joined = "".join(texts)
        assert "[bold red]Evil[/]" in texts[0]
        assert "[reverse]inverted[/reverse]" in joined
        assert not any(c in joined + title for c in "\x1b\x07\x9b")
        # The body is shown as text: no span of it was styled from its brackets.
        body = view.query(".body").first(Static).render()
        assert "[reverse]" in str(body)
        assert not getattr(body, "spans", [])
        # Folded, the summary line is literal too; headers as well.
        await pilot.press("H")
        await pilot.pause()
        headers = plain(view.query_one(".headers", Static))
        assert "Subject: [link=http://x]click[/link]" in headers
        view.folded = True
        await pilot.pause()
        summary = plain(view.query_one(".header", Static))
        assert "[bold red]Evil[/]" in summary and "[reverse]inverted[/reverse]" in summary
        side = screen.query_one(TicketSide)
        other = str(side.query_one("#side-others", OptionList).get_option_at_index(0).prompt)
        assert "second [blink]one[/blink]" in other
        assert "[bold red]Evil[/]" in plain(side.query_one("#side-others-title", Static))
