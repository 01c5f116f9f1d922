"""Routing rules and automatic replies, end to end: real Dovecot, a real SMTP server and a
team store, run by the sync that registers the mail (DESIGN.md "Automation, exactly once")."""

from __future__ import annotations

import email
import email.policy
import itertools
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount, ReceivedMail, SmtpServer
from sqlalchemy import insert, select

from helpdesk.cli.commands import detail_json
from helpdesk.core.config import ConfigError, parse_config, with_agent
from helpdesk.core.tickets import Queue
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import AutoMail
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.auto_mail import claim_pending, holder_of, next_opening_after
from helpdesk.sync.service import SyncService
from helpdesk.sync.team import TeamService

IN_HOURS = "Mon, 05 Jan 2026 10:00:00 +0000"
OUT_OF_HOURS = "Sun, 04 Jan 2026 03:00:00 +0000"

TEMPLATES = '''
[business_hours]
timezone = "UTC"
mon = ["08:00-17:00"]
tue = ["08:00-17:00"]
wed = ["08:00-17:00"]
thu = ["08:00-17:00"]
fri = ["08:00-17:00"]

[[templates]]
name = "acknowledgement"
body = """
Hello {{ customer.first_name }},

we have your message as ticket {{ ticket.number }} and will answer soon.
"""

[[templates]]
name = "out of hours"
subject = "We are closed now"
body = """
Thank you for your message. We are closed now and answer on the next working day
from 8:00 (UTC): {{ hours.next_opening }}.
"""
'''

ACK = """
[automation]
acknowledge = "acknowledgement"
"""

ACK_AND_HOURS = """
[automation]
acknowledge = "acknowledgement"
out_of_hours = "out of hours"
"""

RULES = """
[[rules]]
name = "Supplier to purchasing"
conditions = [{ field = "from_domain", equals = "dodavatel.example" }]
assign = "nakup@helpdesk.example"
tags = ["supplier"]
stop = true

[[rules]]
name = "Order replies to support"
conditions = [
  { field = "is_reply", equals = true },
  { field = "subject", contains = "Objednávka" },
]
assign = "department:support"
stop = true

[[rules]]
name = "Orders to the warehouse"
conditions = [{ field = "subject", contains = "objednavka" }]
assign = "department:warehouse"
strategy = "least_loaded"
category = "orders"
priority = "high"
note = "Routed to the warehouse."
"""

_ids = itertools.count(1)


def _config(root: Path, account: ImapAccount, smtp: SmtpServer, extra: str, **kw: str) -> Path:
    return account.write_config(root, tls=False, smtp=smtp, extra=TEMPLATES + extra, **kw)


def _open(config: Path) -> Workspace:
    return open_workspace(load_settings(str(config)))


def _round(ws: Workspace) -> None:
    """One sync and one send, as `helpdesk sync` runs them."""
    service = SyncService(ws)
    try:
        report = service.sync_once()
        assert report.ok, report.errors
        sent = service.send_mail()
        assert sent is not None and not sent.failed, sent
        assert not sent.errors, sent.errors
    finally:
        service.close()


def _parsed(mail: ReceivedMail) -> EmailMessage:
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _mail(sender: str, subject: str, *, date: str = IN_HOURS, extra: str = "") -> bytes:
    return message(
        f"m{next(_ids)}-{os.getpid()}@customer.example",
        sender=sender,
        subject=subject,
        date=date,
        extra=extra,
    )


def _ticket_of(ws: Workspace, subject: str) -> int:
    found = [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent) if t.subject == subject]
    assert len(found) == 1, (subject, found)
    return found[0]


def test_rules_route_the_issue_examples_and_the_history_says_which_rule(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, RULES))
    table = LockTable(ws.team)
    table.join(ws.agent, "Jana")  # the first agent: the team's admin
    for email_, departments in (
        ("petr@helpdesk.example", ["warehouse"]),
        ("eva@helpdesk.example", ["warehouse"]),
        ("pavel@helpdesk.example", ["support"]),
        ("nakup@helpdesk.example", ["purchasing"]),
    ):
        table.join(email_, email_.split("@")[0])
        assert table.set_agent(ws.agent, email_, departments=departments).ok
    # Petr already holds an open ticket: least loaded gives the new order to Eva.
    imap_account.append("INBOX", _mail("Old <old@customer.example>", "Older question"))
    _round(ws)
    held = _ticket_of(ws, "Older question")
    assert table.assign(ws.agent, held, "petr@helpdesk.example").ok

    imap_account.append("INBOX", _mail("Jan Novák <jan@customer.example>", "Objednávka 1234"))
    imap_account.append("INBOX", _mail("Eva Malá <eva@customer.example>", "Re: Objednávka 1200"))
    imap_account.append(
        "INBOX", _mail("Sklad <sklad@dodavatel.example>", "Objednávka 99: dodací list")
    )
    _round(ws)
    TeamService(ws).pull()

    order = table.state(_ticket_of(ws, "Objednávka 1234"))
    reply = table.state(_ticket_of(ws, "Re: Objednávka 1200"))
    supplier = table.state(_ticket_of(ws, "Objednávka 99: dodací list"))
    assert order is not None and reply is not None and supplier is not None
    assert (order.department, order.assignee) == ("warehouse", "eva@helpdesk.example")
    assert (order.category, order.priority) == ("orders", 2)
    assert (reply.department, reply.assignee) == ("support", "pavel@helpdesk.example")
    assert supplier.assignee == "nakup@helpdesk.example"
    assert supplier.tags == ("supplier",) and supplier.department is None

    detail = ws.cache.ticket(order.number)
    assert detail is not None
    history = detail_json(detail)["history"]
    by_rules = [(e["kind"], e["field"], e["new"]) for e in history if e["actor"] == "rules"]
    assert ("rule", None, "Orders to the warehouse") in by_rules
    assert ("field", "department", "warehouse") in by_rules
    assert ("field", "category", "orders") in by_rules
    assert ("assigned", None, "eva@helpdesk.example") in by_rules
    assert [n.body for n in detail.notes] == ["Routed to the warehouse."]
    # The supplier's rule stopped the list: the warehouse rule never touched its ticket.
    supplier_detail = ws.cache.ticket(supplier.number)
    assert supplier_detail is not None
    rules_run = [e.new for e in supplier_detail.history if e.kind == "rule"]
    assert rules_run == ["Supplier to purchasing"]
    assert smtp_server.messages == []  # no [automation]: nothing was sent


def test_acknowledgement_goes_once_with_the_ticket_number_and_is_no_answer(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK))
    imap_account.append("INBOX", _mail("Jan Novák <jan@customer.example>", "Kde je zásilka?"))
    _round(ws)
    number = _ticket_of(ws, "Kde je zásilka?")

    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["jan@customer.example"]
    msg = _parsed(mail)
    assert f"[#{number}]" in str(msg["Subject"])
    assert str(msg["Auto-Submitted"]) == "auto-replied"
    assert msg["X-Helpdesk-Loop"]
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"as ticket {number}" in text and "Hello Jan," in text and "{{" not in text

    # Further runs (and the acknowledgement coming back from Sent) send nothing more.
    _round(ws)
    _round(ws)
    assert len(smtp_server.messages) == 1
    # An acknowledgement is no answer: the customer still waits, no first response.
    state = LockTable(ws.team).state(number)
    assert state is not None and state.waiting_since is not None
    events = LockTable(ws.team).events_since(0)
    assert not [e for e in events if e.kind == "replied"]
    assert [(e.kind, e.field, e.new) for e in events if e.actor == "rules"] == [
        ("auto_reply", "acknowledge", "acknowledgement")
    ]


def test_out_of_hours_reply_at_a_fixed_clock(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK_AND_HOURS))
    imap_account.append("INBOX", _mail("Ada <ada@customer.example>", "Night", date=OUT_OF_HOURS))
    imap_account.append("INBOX", _mail("Bob <bob@customer.example>", "Day", date=IN_HOURS))
    _round(ws)
    night, day = _ticket_of(ws, "Night"), _ticket_of(ws, "Day")
    by_rcpt = {m.rcpt_tos[0]: _parsed(m) for m in smtp_server.messages}
    assert sorted(by_rcpt) == ["ada@customer.example", "bob@customer.example"]
    assert str(by_rcpt["ada@customer.example"]["Subject"]) == f"We are closed now [#{night}]"
    closed = by_rcpt["ada@customer.example"].get_body(("plain",))
    assert closed is not None and "next working day" in closed.get_content()
    # When the answer will come: the next opening after the reply was decided.
    promised = re.search(r"\(UTC\): (\d{4}-\d\d-\d\d \d\d:\d\d)\.", closed.get_content())
    assert promised is not None
    when = datetime.strptime(promised.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert when >= datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    assert when.weekday() < 5 and time(8) <= when.time() < time(17)
    assert f"[#{day}]" in str(by_rcpt["bob@customer.example"]["Subject"])
    assert "closed" not in str(by_rcpt["bob@customer.example"]["Subject"])


def test_the_next_opening_follows_the_business_hours(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK_AND_HOURS))
    sunday_night = datetime(2026, 1, 4, 3, 0, tzinfo=UTC)
    assert next_opening_after(ws, sunday_night) == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    friday_evening = datetime(2026, 1, 9, 17, 30, tzinfo=UTC)
    assert next_opening_after(ws, friday_evening) == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    open_now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert next_opening_after(ws, open_now) == open_now
    ws.close()


def test_no_automatic_reply_to_an_auto_reply_a_bounce_or_a_list(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK))
    imap_account.append(
        "INBOX",
        _mail("Ada <ada@customer.example>", "Out of office", extra="Auto-Submitted: auto-replied"),
    )
    imap_account.append(
        "INBOX",
        _mail(
            "Mail Delivery System <mailer-daemon@mx.customer.example>",
            "Undelivered Mail Returned to Sender",
        ),
    )
    imap_account.append(
        "INBOX",
        _mail(
            "Bob <bob@lists.example.org>",
            "Weekly digest",
            extra="List-Id: <news.lists.example.org>",
        ),
    )
    imap_account.append(
        "INBOX", _mail("Carl <carl@customer.example>", "Sale", extra="Precedence: bulk")
    )
    imap_account.append("INBOX", _mail("Dana <dana@customer.example>", "A real question"))
    _round(ws)
    assert len(ws.cache.list_tickets(Queue.ALL, ws.agent)) == 5
    assert [m.rcpt_tos for m in smtp_server.messages] == [["dana@customer.example"]]


def test_an_out_of_office_loop_ends_at_the_senders_limit(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """The worst responder: each of our mails gets a fresh message back, without any mark
    of automatic mail, thread ids or our tag. Three acknowledgements a day, then silence."""
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK))
    responses = itertools.count(1)

    def respond(mail: ReceivedMail) -> str | None:
        if "away@customer.example" in mail.rcpt_tos:
            n = next(responses)
            imap_account.append("INBOX", _mail("Away <away@customer.example>", f"I am away ({n})"))
        return None  # accepted

    smtp_server.hooks.append(respond)
    imap_account.append("INBOX", _mail("Away <away@customer.example>", "Question"))
    for _ in range(8):
        _round(ws)
    smtp_server.hooks.clear()
    acks = [m for m in smtp_server.messages if m.rcpt_tos == ["away@customer.example"]]
    assert len(acks) == 3
    assert len(ws.cache.list_tickets(Queue.ALL, ws.agent)) == 4  # the question, 3 responses


_SYNC = """
import sys
from helpdesk.cli.main import main
sys.exit(main(["--config", sys.argv[1], "sync", "--once"]))
"""


def test_three_syncing_processes_acknowledge_each_new_ticket_once(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    store = f"sqlite:///{tmp_path / 'team.sqlite'}"
    configs = [
        _config(tmp_path / f"p{i}", imap_account, smtp_server, ACK + RULES, store=store)
        for i in range(3)
    ]
    subjects = [f"Objednávka {i}" for i in range(12)]
    for i, subject in enumerate(subjects):
        imap_account.append("INBOX", _mail(f"C{i} <c{i}@customer.example>", subject))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SYNC, str(c)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for c in configs
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (out, err)

    rcpts = sorted(m.rcpt_tos[0] for m in smtp_server.messages)
    assert rcpts == sorted(f"c{i}@customer.example" for i in range(12))
    ws = _open(configs[0])
    numbers = {_ticket_of(ws, s) for s in subjects}
    tags = {str(_parsed(m)["Subject"]).split("[#")[1].split("]")[0] for m in smtp_server.messages}
    assert tags == {str(n) for n in numbers}
    # Each ticket routed once: one "rule" event per ticket, whoever registered it.
    rule_events = [e for e in LockTable(ws.team).events_since(0) if e.kind == "rule"]
    assert sorted(e.ticket for e in rule_events) == sorted(numbers)


def test_automation_config_errors_name_the_key() -> None:
    text = '[automation]\nacknowledge = 3\nper_ticket = -1\nsend = "x"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "helpdesk.toml", default_agent=("A", "a@example.com"))
    shown = str(caught.value)
    assert "helpdesk.toml:2: automation.acknowledge: expected a template name" in shown
    assert "helpdesk.toml:3: automation.per_ticket: expected a whole number" in shown
    assert "helpdesk.toml:4: automation.send: unknown key" in shown


def test_with_agent_keeps_automation() -> None:
    settings = parse_config(
        '[automation]\nacknowledge = "ack"\n[automation.acknowledge_by_address]\n'
        '"Sales@Example.com" = "sales ack"\n',
        "t",
        default_agent=("A", "a@example.com"),
    )
    other = with_agent(settings, "B", "b@example.com")
    assert other.automation.acknowledgement_for(["sales@example.com"]) == "sales ack"
    assert other.automation.acknowledgement_for(["help@example.com"]) == "ack"


def test_postgres_agent_role_routes_what_it_registers_but_cannot_sign_as_rules(
    pg_url: str,
) -> None:
    from test_pg_roles import JANA, PETR, Team, refused

    from helpdesk.core.message import Address
    from helpdesk.storage.team_store import Registration, TeamStore

    settings = parse_config(
        TEMPLATES
        + ACK
        + '[[rules]]\nname = "Orders to Petr"\n'
        + 'conditions = [{ field = "subject", contains = "objednavka" }]\n'
        + f'assign = "{PETR}"\nnote = "Petr has the orders."\n',
        "t",
        default_agent=("A", "a@example.com"),
    )
    team = Team(pg_url)
    try:
        store = TeamStore(team.url(JANA), rules=settings.rules, automation=settings.automation)
        try:
            (done,) = store.register(
                [
                    Registration(
                        "pg-order@customer.example",
                        [],
                        [],
                        None,
                        "Objednávka 5",
                        "jan@customer.example",
                        datetime_in_hours(),
                        from_addr=Address("Jan", "jan@customer.example"),
                        to=(Address("", "support@helpdesk.example"),),
                        headers={},
                    )
                ]
            )
        finally:
            store.close()
        assert done.created
        state = team.admin.state(done.ticket)
        assert state is not None and state.assignee == PETR
        assert [n.body for n in team.admin.notes(done.ticket)] == ["Petr has the orders."]
        kinds = [e.kind for e in team.admin.events_since(0) if e.actor == "rules"]
        assert kinds.count("rule") == 1 and "auto_reply" in kinds and "note" in kinds
        # Outside a registration, an agent cannot write in the rules' name.
        refused(
            team,
            JANA,
            "INSERT INTO team_event (ticket, actor, kind, at, recorded_at) "
            "VALUES (:n, 'rules', 'rule', now(), now())",
            n=done.ticket,
        )
    finally:
        team.close()


def datetime_in_hours() -> datetime:
    return datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_old_mail_met_on_a_first_sync_gets_no_automatic_reply(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK))
    long_ago = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)  # when the server got it
    imap_account.append(
        "INBOX", _mail("Old <old@customer.example>", "Question from 2024"), msg_time=long_ago
    )
    imap_account.append("INBOX", _mail("New <new@customer.example>", "Question from today"))
    _round(ws)
    _ticket_of(ws, "Question from 2024")  # a ticket all the same
    assert [m.rcpt_tos for m in smtp_server.messages] == [["new@customer.example"]]


def test_a_machine_without_the_template_leaves_the_reply_to_one_that_has_it(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    store = f"sqlite:///{tmp_path / 'team.sqlite'}"
    service = _open(_config(tmp_path / "service", imap_account, smtp_server, ACK, store=store))
    # An agent's machine whose config has neither the template nor [automation].
    agent = _open(
        imap_account.write_config(tmp_path / "agent", tls=False, smtp=smtp_server, store=store)
    )
    imap_account.append("INBOX", _mail("Jan <jan@customer.example>", "Kde je zásilka?"))
    syncing = SyncService(service)
    try:
        assert syncing.sync_once().ok  # registered: the acknowledgement waits in the team store
    finally:
        syncing.close()
    agents = SyncService(agent)
    try:
        report = agents.send_mail()  # claims nothing it cannot write
    finally:
        agents.close()
    assert report is not None and not report.failed and smtp_server.messages == []
    _round(service)
    (mail,) = smtp_server.messages
    assert mail.rcpt_tos == ["jan@customer.example"]


def test_a_cache_claims_automatic_mail_under_an_id_of_its_own(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    """Not its host and path: two containers made from one image share both."""
    config = _config(tmp_path / "a", imap_account, smtp_server, ACK)
    ws = _open(config)
    first = holder_of(ws)
    assert holder_of(ws) == first and str(ws.cache.path) not in first
    ws.close()
    again = _open(config)
    assert holder_of(again) == first  # kept in the cache: a restart keeps its claims
    again.close()
    other = _open(_config(tmp_path / "b", imap_account, smtp_server, ACK))
    assert holder_of(other) != first
    other.close()


def test_a_cache_without_the_template_leaves_the_row_to_another(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK))
    now = datetime.now(UTC)
    row = {
        "ticket": 1,
        "recipient": "ada@customer.example",
        "reason": "acknowledge",
        "reply_to_id": "m1@customer.example",
        "state": "pending",
        "created_at": now,
    }
    with ws.team.write() as conn:
        conn.execute(
            insert(AutoMail.__table__),
            [{**row, "template": "only on the service"}, {**row, "template": "acknowledgement"}],
        )
    claimed = claim_pending(ws, holder_of(ws))
    assert [r.template for r in claimed] == ["acknowledgement"]
    with ws.team.engine.connect() as conn:
        left = conn.execute(
            select(AutoMail.__table__.c.state).where(
                AutoMail.__table__.c.template == "only on the service"
            )
        ).scalar_one()
    assert left == "pending"
    ws.close()


ACK_BY_LANGUAGE = """
[automation]
acknowledge = "acknowledgement"

[automation.acknowledge_by_language]
cs = "potvrzení"

[[templates]]
name = "potvrzení"
language = "cs"
subject = "Potvrzení přijetí"
body = "Dobrý den, vaši zprávu evidujeme pod číslem {{ ticket.number }}."
"""


def test_the_acknowledgement_in_the_customers_language(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = _open(_config(tmp_path, imap_account, smtp_server, ACK_BY_LANGUAGE))
    imap_account.append("INBOX", _mail("Jan <jan@customer.example>", "Objednávka"))  # Czech body
    english = message(
        f"en-{os.getpid()}@customer.example",
        sender="Ann <ann@customer.example>",
        subject="My order",
        body="Hello, I have not received my order yet. Could you please check? Thanks\n",
        date=IN_HOURS,
    )
    imap_account.append("INBOX", english)
    _round(ws)
    by_rcpt = {m.rcpt_tos[0]: _parsed(m) for m in smtp_server.messages}
    czech = _ticket_of(ws, "Objednávka")
    assert str(by_rcpt["jan@customer.example"]["Subject"]) == f"Potvrzení přijetí [#{czech}]"
    body = by_rcpt["ann@customer.example"].get_body(("plain",))
    assert body is not None and "will answer soon" in body.get_content()
    ws.close()


def test_a_language_that_is_not_a_code_is_a_config_error() -> None:
    text = '[automation.acknowledge_by_language]\nczech = "potvrzení"\nen = 3\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, "helpdesk.toml", default_agent=("A", "a@example.com"))
    shown = str(info.value)
    assert "automation.acknowledge_by_language.czech: expected a language code" in shown
    assert "automation.acknowledge_by_language.en: expected a template name" in shown
