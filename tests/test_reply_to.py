"""Answers go where the customer asked: Reply-To over From (a web form's mail comes from a
robot), in the queued message and in the editor alike; and what the mail-out keeps of them."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

from compose_setup import OURS, compose_workspace
from mailbuild import message

from helpdesk.core.tickets import Queue
from helpdesk.storage import outgoing
from helpdesk.storage.reply_context import answer_addresses, reply_context
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.mail_out import KEEP_SENT_BYTES, TIDY_EVERY, MailOut, ReplyRequest, queue_reply
from helpdesk.sync.service import make_ingestor
from helpdesk.tui.screens.compose import default_addresses

FORM = message(
    "form-1@shop.example",
    sender="Web shop <no-reply@shop.example>",
    to=OURS,
    subject="Contact form: broken lid",
    extra=(
        "Reply-To: =?utf-8?q?Kl=C3=A1ra_Nov=C3=A1?= <klara@customer.example>\n"
        "Cc: Sales <sales@shop.example>"
    ),
)
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
PLAIN = message("plain-1@customer.example", to=f"{OURS}, Petr <petr@customer.example>")


def _ticket(ws: Workspace, subject_start: str) -> int:
    (ticket,) = [
        t for t in ws.cache.list_tickets(Queue.ALL, ws.agent) if t.subject.startswith(subject_start)
    ]
    return ticket.number


def test_a_reply_goes_to_reply_to_and_reply_all_leaves_the_robot_out(tmp_path: Path) -> None:
    ws = compose_workspace(tmp_path, [FORM])
    number = _ticket(ws, "Contact form")
    (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    # The customer is the person, not the form's robot: their other tickets, spam memory
    # and acknowledgements go by it.
    assert (ticket.customer_name, ticket.customer_email) == ("Klára Nová", "klara@customer.example")
    ctx = reply_context(ws.cache, number)
    assert ctx is not None and ctx.parent is not None
    assert ctx.parent.reply_to == ("Klára Nová <klara@customer.example>",)

    to, cc = answer_addresses(ctx, {OURS}, reply_all=False)
    assert to == ("Klára Nová <klara@customer.example>",) and cc == ()
    to, cc = answer_addresses(ctx, {OURS}, reply_all=True)
    assert to == ("Klára Nová <klara@customer.example>",)
    assert cc == ("Sales <sales@shop.example>",)  # not no-reply@, not us
    assert default_addresses(ws, ctx, "reply") == ("Klára Nová <klara@customer.example>", "")

    out = queue_reply(ws, ReplyRequest(ticket=number, body="We will send a new lid."))
    sent = email.message_from_bytes(out.raw or b"", policy=email.policy.default)
    assert sent["To"].addresses[0].addr_spec == "klara@customer.example"
    assert out.rcpt == ("klara@customer.example",)
    ws.close()


def test_without_reply_to_the_customer_and_the_others_on_the_mail(tmp_path: Path) -> None:
    ws = compose_workspace(tmp_path, [PLAIN])
    number = _ticket(ws, "Objednávka")
    ctx = reply_context(ws.cache, number)
    assert ctx is not None
    to, cc = answer_addresses(ctx, {OURS}, reply_all=True)
    assert to == ("Jan Novák <jan@customer.example>",)
    assert cc == ("Petr <petr@customer.example>",)
    assert answer_addresses(ctx, {OURS}, reply_all=False)[1] == ()
    ws.close()


def test_a_reply_to_naming_us_is_not_where_answers_go(tmp_path: Path) -> None:
    raw = message("loop-1@customer.example", extra=f"Reply-To: {OURS}")
    ws = compose_workspace(tmp_path, [raw])
    ctx = reply_context(ws.cache, _ticket(ws, "Objednávka"))
    assert ctx is not None
    assert answer_addresses(ctx, {OURS}, reply_all=False)[0] == (
        "Jan Novák <jan@customer.example>",
    )
    ws.close()


def test_mail_out_drops_the_bytes_of_replies_sent_long_ago(tmp_path: Path) -> None:
    ws = compose_workspace(tmp_path, [PLAIN], delay=0)
    number = _ticket(ws, "Objednávka")
    old = queue_reply(ws, ReplyRequest(ticket=number, body="Sent long ago."))
    assert outgoing.claim_for_sending(ws.cache, old.id)
    outgoing.mark_sent(ws.cache, old.id, T0)
    outgoing.mark_finished(ws.cache, old.id, T0)
    mail_out = MailOut(ws, make_ingestor(ws))
    mail_out.process(now=T0 + KEEP_SENT_BYTES - timedelta(minutes=1))
    kept = outgoing.get(ws.cache, old.id)
    assert kept is not None and kept.raw
    mail_out.process(now=T0 + KEEP_SENT_BYTES + TIDY_EVERY)
    dropped = outgoing.get(ws.cache, old.id)
    assert dropped is not None and dropped.raw == b"" and dropped.state == "sent"
    ws.close()
