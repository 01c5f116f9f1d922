"""Replying end to end, against a real SMTP server, a real Dovecot and a team store:
the message that arrives, Sent, threading of the answer, outages, crashes and collisions."""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount, ReceivedMail, SmtpServer
from tcp_proxy import TcpProxy

from helpdesk.core.config import with_agent
from helpdesk.core.identity import verify_message_id
from helpdesk.core.tickets import Queue
from helpdesk.core.workflow import StatusKind
from helpdesk.storage import outgoing
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.outgoing import OutState
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mail_out import ReplyError, ReplyRequest, queue_reply, send_anyway
from helpdesk.sync.service import SyncService

CUSTOMER = "Jan Novák <jan@customer.example>"


def _config(
    root: Path,
    account: ImapAccount,
    smtp: SmtpServer,
    *,
    store: str | None = None,
    extra: str = "",
    port: int | None = None,
) -> Path:
    if port is not None:  # through a proxy that the test can cut
        smtp = SmtpServer(
            smtp.host, port, smtp.mode, smtp.user, smtp.password, smtp.ca_file, smtp.messages, None
        )
    return account.write_config(root, tls=False, smtp=smtp, store=store, extra=extra)


def _open(config: Path, agent: tuple[str, str] | None = None) -> Workspace:
    settings = load_settings(str(config))
    if agent is not None:
        settings = with_agent(settings, *agent)
    return open_workspace(settings)


def _ticket_with_mail(account: ImapAccount, ws: Workspace) -> int:
    account.append("INBOX", message("q1@customer.example", sender=CUSTOMER))
    service = SyncService(ws)
    try:
        report = service.sync_once()
    finally:
        service.close()  # gives the sync lease back: the sender may be another process
    assert report.ok, report.errors
    (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    return ticket.number


def _parsed(mail: ReceivedMail) -> EmailMessage:
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _send(ws: Workspace) -> SyncService:
    service = SyncService(ws)
    report = service.send_mail()
    assert report is not None
    return service


def test_reply_arrives_is_filed_in_sent_and_the_answer_threads(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server))
    number = _ticket_with_mail(imap_account, ws)
    attachment = tmp_path / "faktura č. 7.pdf"
    attachment.write_bytes(b"%PDF-1.4 fake\n" * 50)

    out = queue_reply(
        ws,
        ReplyRequest(
            ticket=number,
            body="Dobrý den,\nzásilka dorazí zítra. 📦\n",
            attach=(attachment,),
            status_after="waiting",
        ),
    )
    assert outgoing.get(ws.cache, out.id).state == OutState.QUEUED  # type: ignore[union-attr]
    _send(ws)

    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["jan@customer.example"]
    assert mail.mail_from == "support@helpdesk.example"
    msg = _parsed(mail)
    assert msg["From"].addresses[0].display_name == "Jana Dvořáková via Support"
    assert msg["From"].addresses[0].addr_spec == "support@helpdesk.example"
    assert str(msg["Reply-To"]) == "support@helpdesk.example"
    assert f"[#{number}]" in str(msg["Subject"])
    assert str(msg["Subject"]).startswith("Re: ")
    assert str(msg["In-Reply-To"]) == "<q1@customer.example>"
    assert "<q1@customer.example>" in str(msg["References"])
    assert str(msg["Message-ID"]) == f"<{out.message_id}>"
    assert verify_message_id(ws.team.secret, out.message_id) == number
    body = msg.get_body(("plain",))
    assert body is not None and "zásilka dorazí zítra. 📦" in body.get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "faktura č. 7.pdf"
    assert att.get_content() == attachment.read_bytes()

    # Filed in Sent on the server, once.
    with imap_account.connect() as client:
        client.select_folder("Sent", readonly=True)
        assert len(client.search(["HEADER", "Message-ID", f"<{out.message_id}>"])) == 1

    # It joined its ticket at once, with who wrote it; the customer waits on us no more.
    detail = ws.cache.ticket(number)
    assert detail is not None
    assert [m.outgoing for m in detail.messages] == [False, True]
    table = LockTable(ws.team)
    replied = [e for e in table.events_since(0) if e.kind == "replied"]
    assert [(e.actor, e.ticket, e.new) for e in replied] == [
        ("jana@helpdesk.example", number, out.message_id)
    ]
    state = table.state(number)
    assert state is not None and state.assignee == ws.agent
    kinds = {d.name: d.kind for d in ws.settings.workflow.statuses}
    assert kinds[state.status] == StatusKind.WAITING
    assert state.lock_holder is None  # the reply lock is given back once sent

    # The customer answers the reply: it threads into the same ticket, and the sync of Sent
    # does not make the reply a second message.
    answer = message(
        "q2@customer.example",
        sender=CUSTOMER,
        subject=f"Re: Objednávka 1234 [#{number}]",
        in_reply_to=out.message_id,
        references=f"<q1@customer.example> <{out.message_id}>",
        date=format_datetime(datetime.now(UTC) + timedelta(minutes=1)),
    )
    imap_account.append("INBOX", answer)
    assert SyncService(ws).sync_once().ok  # INBOX and Sent
    assert [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)] == [number]
    detail = ws.cache.ticket(number)
    assert detail is not None
    assert [m.message_id for m in detail.messages] == [
        "q1@customer.example",
        out.message_id,
        "q2@customer.example",
    ]


def test_smtp_down_the_reply_waits_and_goes_once_when_back(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    proxy = TcpProxy(smtp_server.host, smtp_server.port)
    try:
        ws = _open(_config(tmp_path, imap_account, smtp_server, port=proxy.port))
        number = _ticket_with_mail(imap_account, ws)
        proxy.down()
        out = queue_reply(ws, ReplyRequest(ticket=number, body="Zítra.\n"))
        service = SyncService(ws)
        report = service.send_mail()
        assert report is not None and report.retrying == [out.id]
        waiting = outgoing.get(ws.cache, out.id)
        assert waiting is not None and waiting.state == OutState.QUEUED
        assert waiting.last_error and "SMTP" in waiting.last_error
        assert waiting.next_attempt is not None
        assert outgoing.counts(ws.cache).get(OutState.QUEUED) == 1
        assert smtp_server.messages == []

        # Not due yet: nothing is tried before the backoff is over.
        assert outgoing.due(ws.cache, datetime.now(UTC)) == []
        proxy.up()
        later = waiting.next_attempt + timedelta(seconds=1)
        report = service.mail_out.process(later)
        assert report.sent == [out.id]
        assert len(smtp_server.messages) == 1
        # Nothing goes twice.
        report = service.mail_out.process(later + timedelta(hours=1))
        assert report.sent == [] and len(smtp_server.messages) == 1
    finally:
        proxy.close()


def test_a_refusal_fails_the_reply_with_the_servers_words(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server))
    number = _ticket_with_mail(imap_account, ws)
    smtp_server.hooks.append(lambda _mail: "550 5.7.1 Message rejected as spam")
    out = queue_reply(ws, ReplyRequest(ticket=number, body="Hello\n"))
    _send(ws)
    failed = outgoing.get(ws.cache, out.id)
    assert failed is not None and failed.state == OutState.FAILED
    assert "550" in failed.last_error and "rejected as spam" in failed.last_error


_CRASH_SCRIPT = """
import sys
import time
from helpdesk.cli.main import main
sys.exit(main(["--config", sys.argv[1], "reply", sys.argv[2], "--file", sys.argv[3]]))
"""


def test_a_crash_between_smtp_acceptance_and_recording_never_sends_twice(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = _config(tmp_path, imap_account, smtp_server)
    ws = _open(config)
    number = _ticket_with_mail(imap_account, ws)
    body = tmp_path / "body.txt"
    body.write_text("Dobrý den,\nposíláme znovu.\n", encoding="utf-8")

    child: list[subprocess.Popen[bytes]] = []

    def kill_sender(mail: ReceivedMail) -> None:
        # The server has the message; the sender dies before it hears "250".
        smtp_server.messages.append(mail)
        os.kill(child[0].pid, signal.SIGKILL)
        child[0].wait()
        return None

    smtp_server.hooks.append(lambda mail: (kill_sender(mail), "421 4.3.0 gone")[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child.append(
        subprocess.Popen(
            [sys.executable, "-c", _CRASH_SCRIPT, str(config), str(number), str(body)], env=env
        )
    )
    assert child[0].wait(timeout=60) == -signal.SIGKILL
    smtp_server.hooks.clear()
    assert len(smtp_server.messages) == 1

    ws = _open(config)
    (left,) = outgoing.interrupted(ws.cache)
    service = SyncService(ws)
    report = service.send_mail()
    assert report is not None and report.held == [left.id]
    held = outgoing.get(ws.cache, left.id)
    assert held is not None and held.state == OutState.HELD
    assert "may have reached the customer" in held.held_reason
    service.mail_out.process(datetime.now(UTC) + timedelta(days=1))
    assert len(smtp_server.messages) == 1  # never sent again on its own


def test_two_agents_reply_at_once_one_is_held_with_why(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    store = f"sqlite:///{tmp_path / 'team.sqlite'}"
    jana = _open(_config(tmp_path / "jana", imap_account, smtp_server, store=store))
    petr = _open(
        _config(tmp_path / "petr", imap_account, smtp_server, store=store),
        agent=("Petr Svoboda", "petr@helpdesk.example"),
    )
    number = _ticket_with_mail(imap_account, jana)
    assert SyncService(petr).sync_once().ok

    first = queue_reply(jana, ReplyRequest(ticket=number, body="Jana's answer\n"))
    second = queue_reply(petr, ReplyRequest(ticket=number, body="Petr's answer\n"))
    _send(jana)
    _send(petr)

    assert [_parsed(m)["Message-ID"] for m in smtp_server.messages] == [f"<{first.message_id}>"]
    held = outgoing.get(petr.cache, second.id)
    assert held is not None and held.state == OutState.HELD
    assert "jana@helpdesk.example" in held.held_reason


def test_a_new_customer_message_holds_the_reply_until_the_agent_decides(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server))
    number = _ticket_with_mail(imap_account, ws)
    out = queue_reply(ws, ReplyRequest(ticket=number, body="Answer to the first mail\n"))

    imap_account.append(
        "INBOX",
        message(
            "q2@customer.example",
            sender=CUSTOMER,
            subject="Re: Objednávka 1234",
            in_reply_to="q1@customer.example",
            body="Ještě jedna věc: změnil jsem adresu.\n",
        ),
    )
    assert SyncService(ws).sync_once().ok
    _send(ws)
    held = outgoing.get(ws.cache, out.id)
    assert held is not None and held.state == OutState.HELD
    assert "a new message from Jan Novák" in held.held_reason
    assert smtp_server.messages == []

    send_anyway(ws, out.id)
    _send(ws)
    sent = outgoing.get(ws.cache, out.id)
    assert sent is not None and sent.state == OutState.SENT
    assert len(smtp_server.messages) == 1


def test_send_delay_gives_time_to_undo(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, extra="[reply]\nsend_delay = 20\n"))
    number = _ticket_with_mail(imap_account, ws)
    out = queue_reply(ws, ReplyRequest(ticket=number, body="Oops, wrong ticket\n"))
    _send(ws)
    assert smtp_server.messages == []  # still inside the delay
    assert outgoing.cancel(ws.cache, out.id)
    service = SyncService(ws)
    service.mail_out.process(datetime.now(UTC) + timedelta(minutes=5))
    assert smtp_server.messages == []
    gone = outgoing.get(ws.cache, out.id)
    assert gone is not None and gone.state == OutState.CANCELLED


def test_an_unfilled_template_variable_blocks_the_reply(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    extra = (
        "[reply]\n"
        'order_pattern = "order\\\\s*#?(\\\\d{6,})"\n'
        "[[templates]]\n"
        'name = "Shipped"\n'
        'body = "Dear {{ customer.first_name }}, order {{ order.number }} left today."\n'
    )
    config = _config(tmp_path, imap_account, smtp_server, extra=extra)
    ws = _open(config)
    number = _ticket_with_mail(imap_account, ws)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "helpdesk",
            "--config",
            str(config),
            "reply",
            str(number),
            "--template",
            "Shipped",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "order.number" in result.stderr
    assert "customer.first_name" not in result.stderr  # that one was filled ("Jan")
    assert sum(outgoing.counts(ws.cache).values()) == 0
    assert smtp_server.messages == []
    with pytest.raises(ReplyError, match=r"order\.number"):
        queue_reply(ws, ReplyRequest(ticket=number, body="Order {{ order.number }}\n"))


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "helpdesk", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_forward_and_a_new_ticket_of_ours_from_the_command_line(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = _config(tmp_path, imap_account, smtp_server, extra="[reply]\nsent_by_server = true\n")
    ws = _open(config)
    number = _ticket_with_mail(imap_account, ws)
    note = tmp_path / "note.txt"
    note.write_text("Prosím o kontrolu zásilky.\n", encoding="utf-8")

    done = _cli(
        config,
        "reply",
        str(number),
        "--forward",
        "--to",
        "sklad@supplier.example",
        "--file",
        str(note),
    )
    assert done.returncode == 0, done.stderr
    (fwd,) = smtp_server.messages
    assert fwd.rcpt_tos == ["sklad@supplier.example"]
    msg = _parsed(fwd)
    assert str(msg["Subject"]).startswith("Fwd: ") and f"[#{number}]" in str(msg["Subject"])
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Prosím o kontrolu" in text and "> kde je moje objednávka?" in text
    # The ticket remembers it; the server files sent mail itself here, so no copy is added.
    ws = _open(config)
    detail = ws.cache.ticket(number)
    assert detail is not None and detail.messages[-1].to == ["sklad@supplier.example"]
    assert "Sent" not in _folders(imap_account) or imap_account.uids("Sent") == []

    body = tmp_path / "body.txt"
    body.write_text("Dobrý den,\nváš reklamační protokol je v příloze.\n", encoding="utf-8")
    done = _cli(
        config,
        "mail",
        "--to",
        "Eva Malá <eva@customer.example>",
        "--subject",
        "Reklamace",
        "--file",
        str(body),
    )
    assert done.returncode == 0, done.stderr
    assert len(smtp_server.messages) == 2
    ws = _open(config)
    tickets = {t.subject: t for t in ws.cache.list_tickets(Queue.ALL, ws.agent)}
    new = tickets["Reklamace"]
    assert new.number != number and new.customer_email == "eva@customer.example"
    sent_id = str(_parsed(smtp_server.messages[1])["Message-ID"]).strip("<>")
    assert outgoing.unsent(ws.cache) == []
    row = outgoing.by_message_id(ws.cache, sent_id)
    assert row is not None and row.ticket == new.number and row.state == OutState.SENT

    # Her answer joins the new ticket by the id of our mail.
    imap_account.append(
        "INBOX",
        message(
            "e1@customer.example",
            sender="Eva Malá <eva@customer.example>",
            subject="Re: Reklamace",
            in_reply_to=sent_id,
            date=format_datetime(datetime.now(UTC) + timedelta(minutes=1)),
        ),
    )
    assert SyncService(ws).sync_once().ok
    detail = ws.cache.ticket(new.number)
    assert (
        detail is not None and [m.message_id for m in detail.messages][-1] == "e1@customer.example"
    )


def _folders(account: ImapAccount) -> set[str]:
    with account.connect() as client:
        return {name for _flags, _sep, name in client.list_folders()}


def test_a_server_that_answers_too_late_never_gets_the_reply_twice(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = _config(tmp_path, imap_account, smtp_server)
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[accounts.support.smtp]\n", "[accounts.support.smtp]\ntimeout = 1\n"
        ),
        encoding="utf-8",
    )
    ws = _open(config)
    number = _ticket_with_mail(imap_account, ws)

    scanned = threading.Event()

    def slow(mail: ReceivedMail) -> None:
        time.sleep(1.5)  # content scanning, say: the client gives up waiting for "250"
        scanned.set()

    smtp_server.hooks.append(slow)  # type: ignore[arg-type]
    out = queue_reply(ws, ReplyRequest(ticket=number, body="Hello\n"))
    service = _send(ws)
    held = outgoing.get(ws.cache, out.id)
    assert held is not None and held.state == OutState.HELD
    assert "may have reached the customer" in held.held_reason
    assert scanned.wait(10)
    smtp_server.hooks.clear()
    service.mail_out.process(datetime.now(UTC) + timedelta(days=1))
    assert len(smtp_server.messages) == 1  # the server had it; it is not sent again
    state = LockTable(ws.team).state(number)
    assert state is not None and state.lock_holder is None  # nor is the ticket locked


def test_a_sent_reply_whose_recording_was_cut_short_is_finished_later(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server))
    number = _ticket_with_mail(imap_account, ws)
    out = queue_reply(ws, ReplyRequest(ticket=number, body="Hello\n", status_after="closed"))
    # As if the process stopped right after the server said "250".
    assert outgoing.claim_for_sending(ws.cache, out.id)
    assert outgoing.mark_sent(ws.cache, out.id, datetime.now(UTC))
    assert outgoing.unfinished(ws.cache)
    _send(ws)
    _send(ws)  # finishing again changes nothing
    assert outgoing.unfinished(ws.cache) == []
    detail = ws.cache.ticket(number)
    assert detail is not None and [m.outgoing for m in detail.messages] == [False, True]
    table = LockTable(ws.team)
    assert [e.new for e in table.events_since(0) if e.kind == "replied"] == [out.message_id]
    state = table.state(number)
    assert state is not None and state.status == "closed"
    with imap_account.connect() as client:
        client.select_folder("Sent", readonly=True)
        assert len(client.search(["HEADER", "Message-ID", f"<{out.message_id}>"])) == 1
    assert smtp_server.messages == []  # finishing never sends


def test_names_with_commas_quoted_text_own_replies_and_bad_statuses(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server))
    imap_account.append(
        "INBOX",
        message(
            "q1@customer.example",
            sender='"Novák, Jan" <jan@customer.example>',
            extra='Cc: "Malá, Eva" <eva@customer.example>',
        ),
    )
    assert SyncService(ws).sync_once().ok
    (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    body = "We will check.\n\n> my form shows {{ user.name }} instead of my name\n"
    first = queue_reply(ws, ReplyRequest(ticket=ticket.number, body=body, kind="reply_all"))
    second = queue_reply(ws, ReplyRequest(ticket=ticket.number, body="One more thing.\n"))
    with pytest.raises(ReplyError, match="no status 'clsoed'"):
        queue_reply(ws, ReplyRequest(ticket=ticket.number, body="x\n", status_after="clsoed"))
    _send(ws)
    assert [outgoing.get(ws.cache, o.id).state for o in (first, second)] == [  # type: ignore[union-attr]
        OutState.SENT,
        OutState.SENT,
    ]
    msg = _parsed(smtp_server.messages[0])
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [
        ("Novák, Jan", "jan@customer.example")
    ]
    assert [(a.display_name, a.addr_spec) for a in msg["Cc"].addresses] == [
        ("Malá, Eva", "eva@customer.example")
    ]
    assert sorted(smtp_server.messages[0].rcpt_tos) == [
        "eva@customer.example",
        "jan@customer.example",
    ]
