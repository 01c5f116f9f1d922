"""`m` (a new ticket of ours) and forwarding the ticket's own attachments: the compose screen
driven by Pilot, the outgoing rows it queues, and, against a real SMTP server and Dovecot, the
mail that arrives and the ticket it opens; `helpdesk reply --forward --with-attachments`."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from compose_setup import OURS, compose_workspace
from servers import ImapAccount, SmtpServer
from textual.pilot import Pilot
from textual.widgets import Input, SelectionList

from helpdesk.core.tickets import Queue
from helpdesk.storage import drafts, outgoing
from helpdesk.storage.attachments import list_attachments
from helpdesk.storage.locations import load_settings
from helpdesk.storage.outgoing import OutState
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync import mail_out
from helpdesk.sync.mail_out import ReplyError, ReplyRequest, forwarded_parts, queue_reply
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import SyncService, make_ingestor
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.compose import BodyArea, ComposeScreen
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.template_picker import TemplatePicker
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.ticket_table import TicketTable

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
CUSTOMER = "Eva Malá <eva@customer.example>"
# Bytes that no text transform leaves alone: NUL, CR LF, high bytes, a line over 998 octets.
PDF = b"%PDF-1.7\r\n\x00\x01\xff\xfe binary \r\n" + bytes(range(256)) * 8 + b"x" * 1200
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4
OLD_CSV = "id;name\r\n1;Čepice\r\n".encode()
EVIL_NAME = "[bold]x[/bold]\x1b[31m.txt"

TEMPLATES = """
[[templates]]
name = "Returns policy"
subject = "Your return, {{ customer.first_name }}"
body = "Dear {{ customer.first_name }}, here is how returns work."
"""


def customer_mail(
    mid: str,
    files: list[tuple[str, str, bytes]],
    *,
    date: str,
    subject: str = "Reklamace zboží",
    sender: str = CUSTOMER,
    in_reply_to: str | None = None,
) -> bytes:
    """A customer's mail with attachments, built by the standard library."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = OURS
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = f"<{mid}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    msg.set_content("Dobrý den,\nposílám podklady.\n")
    for name, kind, data in files:
        maintype, subtype = kind.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def conversation() -> list[bytes]:
    return [
        customer_mail(
            "a1@customer.example",
            [("seznam.csv", "text/csv", OLD_CSV)],
            date="Mon, 02 Nov 2026 09:00:00 +0000",
        ),
        customer_mail(
            "a2@customer.example",
            [
                ("faktura.pdf", "application/pdf", PDF),
                ("foto.png", "image/png", PNG),
                (EVIL_NAME, "text/plain", b"plain\n"),
            ],
            date="Mon, 02 Nov 2026 10:00:00 +0000",
            subject="Re: Reklamace zboží",
            in_reply_to="a1@customer.example",
        ),
    ]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = compose_workspace(tmp_path, conversation(), templates=TEMPLATES)
    yield w
    w.close()


def the_ticket(ws: Workspace) -> int:
    (t,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    return t.number


def parsed(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def attachments_of(raw: bytes) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for a in parsed(raw).iter_attachments():
        data = a.get_payload(decode=True)
        assert isinstance(data, bytes)
        found[str(a.get_filename())] = (a.get_content_type(), data)
    return found


def body_text(raw: bytes) -> str:
    part = parsed(raw).get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


async def wait_for(pilot: Pilot[Any], check: Any, what: str, tries: int = 250) -> None:
    for _ in range(tries):
        if check():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def new_compose(app: HelpdeskApp, pilot: Pilot[Any]) -> ComposeScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
    await pilot.press("m")
    await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "the compose screen")
    await pilot.pause()
    assert isinstance(app.screen, ComposeScreen)
    return app.screen


async def type_into(pilot: Pilot[Any], screen: ComposeScreen, selector: str, text: str) -> None:
    screen.query_one(selector).focus()
    await pilot.press(*text)


# -- m: a new ticket of ours ------------------------------------------------------------------


async def test_m_queues_a_new_mail_with_subject_to_and_body(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await new_compose(app, pilot)
        assert screen.number is None and screen.kind == "new"
        assert app.focused is screen.query_one("#compose-to", Input)
        body = screen.query_one(BodyArea)
        assert "Support team" in body.text  # the signature, its variable filled

        await pilot.press("ctrl+s")  # nothing typed yet: refused, and said why
        await pilot.pause()
        assert app.screen is screen and "To:" in screen.problem
        await type_into(pilot, screen, "#compose-to", "Petr Nový <petr@customer.example>")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and "subject" in screen.problem.lower()
        assert outgoing.unsent(ws.cache) == []

        await type_into(pilot, screen, "#compose-subject", "Vaše vrácení")
        body.focus()
        body.move_cursor((0, 0))
        await pilot.press(*"Dobrý den, posíláme štítek.")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "back on the queue")

    (out,) = outgoing.unsent(ws.cache)
    assert out.kind == "new" and out.ticket is None and out.state == OutState.QUEUED
    assert out.rcpt == ("petr@customer.example",)
    full = outgoing.get(ws.cache, out.id)
    assert full is not None and full.raw is not None
    msg = parsed(full.raw)
    assert str(msg["Subject"]) == "Vaše vrácení"
    assert msg["To"].addresses[0].display_name == "Petr Nový"
    text = body_text(full.raw)
    assert text.startswith("Dobrý den, posíláme štítek.\n")
    assert "Support team" in text
    # The draft is kept for undo, with no ticket number, tied to the queued mail.
    (kept,) = drafts.for_ticket(ws.cache, None, author=ws.agent)
    assert kept.id == out.draft_id and kept.kind == "new" and kept.subject == "Vaše vrácení"


async def test_template_subject_fills_an_empty_subject_and_the_draft_reopens(
    ws: Workspace,
) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await new_compose(app, pilot)
        await type_into(pilot, screen, "#compose-to", "Petr Nový <petr@customer.example>")
        screen.query_one(BodyArea).focus()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatePicker), "the picker")
        await pilot.press(*"retur", "enter")
        await wait_for(pilot, lambda: app.screen is screen, "back in compose")
        subject = screen.query_one("#compose-subject", Input)
        # Filled from the first addressee: a new ticket knows its customer by the To line.
        assert subject.value == "Your return, Petr"
        assert screen.query_one(BodyArea).text.startswith("Dear Petr, here is how returns work.")
        assert screen.problem == ""

        # A subject typed by the agent is never replaced by the next template's.
        subject.value = "Mine"
        screen.query_one(BodyArea).focus()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, TemplatePicker), "the picker")
        await pilot.press(*"retur", "enter")
        await wait_for(pilot, lambda: app.screen is screen, "back in compose")
        assert subject.value == "Mine"

        # Kept on leaving; `m` brings it back, even from the ticket screen.
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
        await wait_for(pilot, lambda: drafts.for_ticket(ws.cache, None), "the saved draft")
        app.open_ticket(the_ticket(ws))
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose again")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, ComposeScreen) and again is not screen and again.number is None
        assert again.query_one("#compose-subject", Input).value == "Mine"
        assert again.query_one("#compose-to", Input).value == "Petr Nový <petr@customer.example>"


async def test_palette_offers_reply_forward_and_new_mail(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, QueueScreen), "the queue")
        on_queue = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "New ticket: write to a customer" in on_queue
        assert "Reply" not in on_queue  # no ticket open: nothing to reply to
        app.open_ticket(the_ticket(ws))
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        on_ticket = {c.title: c for c in app.get_system_commands(app.screen)}
        for title, key in (("Reply", "r"), ("Reply to all", "R"), ("Forward", "f")):
            assert f"(key: {key})" in on_ticket[title].help
        on_ticket["Forward"].callback()
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose")
        assert isinstance(app.screen, ComposeScreen) and app.screen.kind == "forward"


# -- forwarding the ticket's own attachments --------------------------------------------------


async def test_forward_lists_the_tickets_attachments_and_sends_the_ticked_ones(
    ws: Workspace,
) -> None:
    number = the_ticket(ws)
    stored = list_attachments(ws.cache, number)
    assert [a.filename for a in stored][:3] == ["seznam.csv", "faktura.pdf", "foto.png"]
    app = make_app(ws, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_ticket(number)
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket")
        await pilot.press("f")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeScreen), "compose")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        listing = screen.query_one("#compose-forward", SelectionList)
        # The forwarded (newest) mail's attachments are ticked; the older one is not.
        assert sorted(listing.selected) == [1, 2, 3]
        prompts = [str(listing.get_option_at_index(i).prompt) for i in range(4)]
        assert "seznam.csv" in prompts[0] and "faktura.pdf" in prompts[1]
        assert all("\x1b" not in p for p in prompts)  # a file name from mail stays text
        listing.deselect(2)  # foto.png stays behind
        listing.deselect(3)
        listing.select(0)  # the older list goes along
        await type_into(pilot, screen, "#compose-to", "sklad@supplier.example")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, TicketScreen), "the ticket again")

    (out,) = outgoing.for_ticket(ws.cache, number)
    assert out.kind == "forward" and out.rcpt == ("sklad@supplier.example",)
    full = outgoing.get(ws.cache, out.id)
    assert full is not None and full.raw is not None
    assert attachments_of(full.raw) == {
        "seznam.csv": ("text/csv", OLD_CSV),
        "faktura.pdf": ("application/pdf", PDF),
    }
    # The draft remembers the choice by message and part, for undo and "edit".
    record = drafts.load(ws.cache, out.draft_id or "")
    assert record is not None
    assert sorted(a.filename for a in record.attachments if a.part) == [
        "faktura.pdf",
        "seznam.csv",
    ]


def test_forward_parts_keep_to_the_ticket_and_the_size_limit(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    number = the_ticket(ws)
    parts = forwarded_parts(ws, number)
    assert len(parts) == 3
    fwd = ReplyRequest(ticket=number, body="FYI\n", kind="forward", to=("x@supplier.example",))
    import_messages(
        [
            customer_mail(
                "o1@other.example",
                [("cizí.pdf", "application/pdf", b"%PDF other")],
                date="Tue, 03 Nov 2026 08:00:00 +0000",
                subject="Jiná věc",
                sender="Ota Cizí <ota@other.example>",
            )
        ],
        make_ingestor(ws),
    )
    other = next(t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent) if t.number != number)
    (foreign,) = forwarded_parts(ws, other)
    with pytest.raises(ReplyError, match="is not part of ticket"):
        queue_reply(ws, ReplyRequest(**{**_fields(fwd), "forward_parts": (foreign,)}))
    monkeypatch.setattr(mail_out, "ATTACHMENT_LIMIT", len(PDF))
    with pytest.raises(ReplyError, match="MiB"):
        queue_reply(ws, ReplyRequest(**{**_fields(fwd), "forward_parts": parts}))
    assert outgoing.unsent(ws.cache) == []


def _fields(req: ReplyRequest) -> dict[str, Any]:
    return {name: getattr(req, name) for name in ReplyRequest.__dataclass_fields__}


# -- against the real servers -----------------------------------------------------------------


def _synced(account: ImapAccount, ws: Workspace) -> int:
    for raw in conversation():
        account.append("INBOX", raw)
    service = SyncService(ws)
    try:
        assert service.sync_once().ok
    finally:
        service.close()
    return the_ticket(ws)


def test_a_forward_carries_stored_attachments_byte_for_byte(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = imap_account.write_config(tmp_path, tls=False, smtp=smtp_server)
    ws = open_workspace(load_settings(str(config)))
    try:
        number = _synced(imap_account, ws)
        out = queue_reply(
            ws,
            ReplyRequest(
                ticket=number,
                body="Prosím o posouzení.\n",
                kind="forward",
                to=("Sklad <sklad@supplier.example>",),
                forward_parts=forwarded_parts(ws, number),
            ),
        )
        service = SyncService(ws)
        try:
            report = service.send_mail()
        finally:
            service.close()
        assert report is not None and report.sent == [out.id], report
        (mail,) = smtp_server.messages
        assert mail.rcpt_tos == ["sklad@supplier.example"]
        got = attachments_of(mail.data)
        assert got["faktura.pdf"] == ("application/pdf", PDF)
        assert got["foto.png"] == ("image/png", PNG)
        assert "seznam.csv" not in got  # the older mail's attachment was not asked for
        assert len(got) == 3
        assert "Prosím o posouzení." in body_text(mail.data)
    finally:
        ws.close()


def test_cli_forward_with_attachments(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = imap_account.write_config(tmp_path, tls=False, smtp=smtp_server)
    ws = open_workspace(load_settings(str(config)))
    try:
        number = _synced(imap_account, ws)
    finally:
        ws.close()
    note = tmp_path / "note.txt"
    note.write_text("Posílám podklady zákazníka.\n", encoding="utf-8")

    def helpdesk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "helpdesk", "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    refused = helpdesk("reply", str(number), "--with-attachments", "--file", str(note))
    assert refused.returncode == 1 and "--forward" in refused.stderr
    assert smtp_server.messages == []

    base = ("reply", str(number), "--forward", "--to", "sklad@supplier.example")
    done = helpdesk(*base, "--with-attachments", "--file", str(note))
    assert done.returncode == 0, done.stderr
    plain = helpdesk(*base, "--file", str(note))
    assert plain.returncode == 0, plain.stderr
    with_files, without = smtp_server.messages
    got = attachments_of(with_files.data)
    assert got["faktura.pdf"] == ("application/pdf", PDF)
    assert got["foto.png"] == ("image/png", PNG)
    assert "seznam.csv" not in got
    assert attachments_of(without.data) == {}


async def test_m_sends_and_the_new_ticket_shows_in_the_queue(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = imap_account.write_config(
        tmp_path, tls=False, smtp=smtp_server, extra="[reply]\nsend_delay = 0\n"
    )
    ws = open_workspace(load_settings(str(config)))
    try:
        service = SyncService(ws)
        assert service.sync_once().ok
        app = make_app(ws, sync=service, clock=lambda: NOW)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await new_compose(app, pilot)
            await type_into(pilot, screen, "#compose-to", "Ota Nový <ota@customer.example>")
            await type_into(pilot, screen, "#compose-subject", "Nabídka servisu")
            screen.query_one(BodyArea).focus()
            screen.query_one(BodyArea).move_cursor((0, 0))
            await pilot.press(*"Dobrý den, nabízíme servis.")
            await pilot.press("ctrl+s")
            await wait_for(
                pilot,
                lambda: isinstance(app.screen, QueueScreen),
                f"the queue ({screen.problem})",
            )
            await wait_for(pilot, lambda: len(smtp_server.messages) == 1, "SMTP", tries=500)
            (mail,) = smtp_server.messages
            assert mail.rcpt_tos == ["ota@customer.example"]
            assert str(parsed(mail.data)["Subject"]) == "Nabídka servisu"

            def sent_row() -> bool:
                rows = [o for o in outgoing.counts(ws.cache).items() if o[1]]
                return rows == [(OutState.SENT, 1)]

            await wait_for(pilot, sent_row, "the sent state", tries=500)
            tickets = {t.subject: t for t in ws.cache.list_tickets(Queue.ALL, ws.agent)}
            new = tickets["Nabídka servisu"]
            assert new.customer_email == "ota@customer.example"
            sent_id = str(parsed(mail.data)["Message-ID"]).strip("<>")
            row = outgoing.by_message_id(ws.cache, sent_id)
            assert row is not None and row.ticket == new.number
            # The queue of all tickets lists it; its draft is done.
            await pilot.press("5")
            table = app.screen.query_one(TicketTable)
            await wait_for(
                pilot,
                lambda: new.number in [t.number for t in table.tickets_in(0, table.row_count)],
                "the row",
            )
            await wait_for(pilot, lambda: not drafts.for_ticket(ws.cache, None), "discard")
    finally:
        ws.close()
