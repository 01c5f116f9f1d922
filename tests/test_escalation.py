"""SLA escalation on SQLite and a real PostgreSQL: once per ticket, stage and due time (also
with two services at once), closed/snoozed/merged tickets left alone, the right people told,
and the notice reaching a real SMTP server through the mail-out path."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from servers import SmtpServer
from sqlalchemy import select, update

from helpdesk.core.config import ConfigError, parse_config
from helpdesk.core.team import EventKind, Role
from helpdesk.core.tickets import Queue
from helpdesk.storage.escalation import STALE_BREACH, Escalation, escalate, escalation_op_id
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import TeamEvent, TeamTicket
from helpdesk.storage.team_store import Registration, TeamStore
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mail_out import MailOut
from helpdesk.sync.service import make_ingestor
from helpdesk.sync.workflow_jobs import WorkflowJobs

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
BEFORE = timedelta(minutes=30)
ADMIN, JANA, PETR, LEAD = (
    "admin@h.example",
    "jana@h.example",
    "petr@h.example",
    "lead@h.example",
)
_ticket = TeamTicket.__table__
_event = TeamEvent.__table__


def _team(store: TeamStore) -> LockTable:
    lt = LockTable(store)
    for email in (ADMIN, JANA, PETR, LEAD):
        lt.join(email, email.split("@")[0].title())
    assert lt.set_agent(ADMIN, LEAD, role=Role.LEAD).ok
    assert lt.set_agent(ADMIN, PETR, departments=["sales"]).ok
    return lt


def _open(store: TeamStore, subject: str, *, due: datetime | None, **values: object) -> int:
    (reg,) = store.register(
        [Registration(f"{subject}@c.example", [], [], None, subject, "c@c.example", T0)]
    )
    with store.write() as conn:
        conn.execute(
            update(_ticket).where(_ticket.c.number == reg.ticket).values(sla_due=due, **values)
        )
    return reg.ticket


def _escalations(store: TeamStore) -> list[tuple[int, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(_event.c.ticket, _event.c.field, _event.c.new)
            .where(_event.c.kind == str(EventKind.ESCALATED))
            .order_by(_event.c.seq)
        )
        return [(r.ticket, r.field, r.new) for r in rows]


def test_each_stage_once_and_closed_snoozed_merged_left_alone(store_url: str) -> None:
    store = TeamStore(store_url)
    try:
        team = _team(store)
        soon = _open(store, "soon", due=T0 + timedelta(minutes=20))
        later = _open(store, "later", due=T0 + timedelta(hours=2))
        late = _open(store, "late", due=T0 - timedelta(minutes=10), department="sales")
        _open(store, "closed", due=T0 - timedelta(hours=1), status="closed")
        _open(store, "snoozed", due=T0 - timedelta(hours=1), snoozed_until=T0 + timedelta(hours=1))
        _open(store, "merged", due=T0 - timedelta(hours=1), merged_into=soon)
        woke = _open(store, "woke", due=T0 - timedelta(hours=1), snoozed_until=T0 - timedelta(1))
        _open(store, "no sla", due=None)
        assert team.claim(JANA, soon).ok

        told: list[Escalation] = []
        first = escalate(store, T0, before=BEFORE, notify=told.append)
        assert not first.errors
        got = {(e.ticket, e.stage) for e in first.escalated}
        assert got == {(soon, "due_soon"), (late, "breached"), (woke, "breached")}
        assert [(e.ticket, e.stage) for e in told] == [(e.ticket, e.stage) for e in first.escalated]
        by_ticket = {e.ticket: e for e in told}
        # The assignee and the lead; unassigned: the department's agents and the lead.
        assert by_ticket[soon].recipients == (JANA, LEAD)
        assert by_ticket[late].recipients == (PETR, LEAD)
        assert set(by_ticket[woke].recipients) == {ADMIN, JANA, PETR, LEAD}
        due = (T0 + timedelta(minutes=20)).isoformat()
        assert (soon, "due_soon", due) in _escalations(store)
        assert by_ticket[soon].op_id == escalation_op_id(
            soon, "due_soon", T0 + timedelta(20 / 1440)
        )

        # A minute later: nothing new, nobody told twice.
        assert (
            escalate(store, T0 + timedelta(minutes=1), before=BEFORE, notify=told.append).escalated
            == []
        )
        assert len(told) == 3

        # Past its due time the ticket breaches: its second stage, once.
        after = T0 + timedelta(minutes=21)
        second = escalate(store, after, before=BEFORE, notify=told.append)
        assert [(e.ticket, e.stage) for e in second.escalated] == [(soon, "breached")]
        assert escalate(store, after, before=BEFORE).escalated == []
        # A new due time (the customer wrote again) is a new escalation.
        with store.write() as conn:
            conn.execute(
                update(_ticket)
                .where(_ticket.c.number == later)
                .values(sla_due=after + timedelta(minutes=5))
            )
        third = escalate(store, after, before=BEFORE)
        assert [(e.ticket, e.stage) for e in third.escalated] == [(later, "due_soon")]
        kinds = [e.kind for e in team.events_since(0) if e.ticket == soon]
        assert kinds.count(str(EventKind.ESCALATED)) == 2
    finally:
        store.close()


def test_a_backlog_of_escalated_tickets_does_not_hide_new_breaches(store_url: str) -> None:
    """More old breached tickets than one run looks at (200), all escalated long ago and
    still open: the ones breaching later are escalated all the same."""
    store = TeamStore(store_url)
    try:
        _team(store)
        count = 205
        results = store.register(
            [
                Registration(f"old{i}@c.example", [], [], None, f"old {i}", "c@c.example", T0)
                for i in range(count)
            ]
        )
        old = [r.ticket for r in results]
        with store.write() as conn:
            for i, number in enumerate(old):
                conn.execute(
                    update(_ticket)
                    .where(_ticket.c.number == number)
                    .values(sla_due=T0 - timedelta(hours=20, minutes=count - i))
                )
        first = escalate(store, T0, before=BEFORE)
        second = escalate(store, T0, before=BEFORE)
        assert not first.errors and not second.errors
        assert len(first.escalated) == 200
        assert sorted(e.ticket for e in first.escalated + second.escalated) == sorted(old)
        fresh = _open(store, "fresh", due=T0 - timedelta(minutes=5))
        now = T0 + timedelta(minutes=1)
        third = escalate(store, now, before=BEFORE)
        assert [(e.ticket, e.stage) for e in third.escalated] == [(fresh, "breached")]
        assert escalate(store, now, before=BEFORE).escalated == []
        breached = [t for t, stage, _ in _escalations(store) if stage == "breached"]
        assert sorted(breached) == sorted([*old, fresh])  # each once
    finally:
        store.close()


def test_a_breach_older_than_a_day_is_not_mailed(store_url: str) -> None:
    """The first sync of an old mailbox breaches every open ticket at once, long ago: the
    lists show them, nobody is mailed about each."""
    store = TeamStore(store_url)
    try:
        _team(store)
        stale = _open(store, "stale", due=T0 - STALE_BREACH - timedelta(minutes=1))
        recent = _open(store, "recent", due=T0 - STALE_BREACH + timedelta(minutes=1))
        done = escalate(store, T0, before=BEFORE)
        assert [e.ticket for e in done.escalated] == [recent]
        assert stale not in [t for t, _, _ in _escalations(store)]
    finally:
        store.close()


def test_two_services_at_once_escalate_each_stage_once(store_url: str) -> None:
    setup = TeamStore(store_url)
    _team(setup)
    numbers = [_open(setup, f"t{i}", due=T0 + timedelta(minutes=i * 7 - 20)) for i in range(8)]
    setup.close()
    # Two services: two stores on the same database, two threads, started together.
    stores = [TeamStore(store_url), TeamStore(store_url)]
    told: list[list[Escalation]] = [[], []]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def service(i: int) -> None:
        try:
            barrier.wait()
            for minute in range(3):
                escalate(
                    stores[i], T0 + timedelta(minutes=minute), before=BEFORE, notify=told[i].append
                )
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=service, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors
        everything = [(e.ticket, e.stage) for e in told[0] + told[1]]
        assert len(everything) == len(set(everything))  # nobody told twice
        recorded = [(t, f) for t, f, _ in _escalations(stores[0])]
        assert sorted(recorded) == sorted(everything)
        # Due -20, -13, -6 min: breached; +1 .. +29 min: due soon; and at T0 + 1 min the
        # one due then breaches too.
        expected = {(n, "breached") for n in numbers[:3]}
        expected |= {(n, "due_soon") for n in numbers[3:]}
        expected.add((numbers[3], "breached"))
        assert set(everything) == expected
    finally:
        for s in stores:
            s.close()


def test_a_failing_notice_records_nothing_and_is_retried(tmp_path: Path) -> None:
    store = TeamStore(f"sqlite:///{tmp_path / 'team.sqlite'}")
    try:
        _team(store)
        n = _open(store, "flaky", due=T0 + timedelta(minutes=5))

        def broken(_e: Escalation) -> None:
            raise OSError("the cache disk is full")

        failed = escalate(store, T0, before=BEFORE, notify=broken)
        assert failed.escalated == [] and "disk is full" in failed.errors[0]
        assert _escalations(store) == []
        retried = escalate(store, T0, before=BEFORE, notify=lambda e: None)
        assert [e.ticket for e in retried.escalated] == [n]
    finally:
        store.close()


_CONFIG = """
[agent]
name = "Service"
email = "admin@h.example"
[team]
name = "Support"
store = "{store}"
addresses = ["support@helpdesk.example"]
[cache]
path = "{root}/cache.sqlite"
[accounts.support]
address = "support@helpdesk.example"
[accounts.support.smtp]
host = "{host}"
port = {port}
tls = "none"
user = ""
[workflow]
escalate_before = "30m"
"""


def _workspace(root: Path, store: str, smtp: SmtpServer) -> Workspace:
    text = _CONFIG.format(root=root, store=store, host=smtp.host, port=smtp.port)
    return open_workspace(
        parse_config(text, str(root / "helpdesk.toml"), default_agent=("x", "x@y.z"))
    )


def test_the_notice_reaches_smtp_once_through_mail_out(
    store_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    ws = _workspace(tmp_path, store_url, smtp_server)
    try:
        team = _team(ws.team)
        n = _open(ws.team, "Reklamace [bold]x[/bold]\x1b[31m", due=T0 + timedelta(minutes=25))
        assert team.claim(JANA, n).ok
        jobs = WorkflowJobs(ws)
        out = MailOut(ws, make_ingestor(ws))
        report = jobs.run(T0)
        assert report.ok and report.did_something
        sent = out.process(T0 + timedelta(seconds=1))
        assert sent.errors == [] and len(sent.sent) == 1
        (mail,) = smtp_server.messages
        assert sorted(mail.rcpt_tos) == [JANA, LEAD]
        msg = message_from_bytes(mail.data, policy=default_policy)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert f"#{n} breaches in 25 min" in str(msg["Subject"])
        body = msg.get_body().get_content()  # type: ignore[union-attr]
        assert f"Ticket #{n} breaches in 25 min" in body and "\x1b" not in body
        # Sent once: later runs and a second sender pass find nothing more to do.
        jobs.run(T0 + timedelta(minutes=1))
        out.process(T0 + timedelta(minutes=1))
        assert len(smtp_server.messages) == 1
        # A notice to the team is not registered: it opens no ticket.
        assert ws.cache.list_tickets(Queue.ALL, ws.agent) == []
        assert ws.team.counts()[0] == 1
    finally:
        ws.close()


def test_escalate_before_errors_name_file_key_and_expected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            '[workflow]\nescalate_before = "soonish"\n',
            "/etc/helpdesk.toml",
            default_agent=("x", "x@y.z"),
        )
    assert err.value.key == "workflow.escalate_before"
    assert err.value.line == 2
    assert "30m" in err.value.expected and "/etc/helpdesk.toml:2" in str(err.value)
    off = parse_config('[workflow]\nescalate_before = "off"\n', "f", default_agent=("x", "x@y.z"))
    assert off.jobs.escalate_before is None
    default = parse_config("", "f", default_agent=("x", "x@y.z"))
    assert default.jobs.escalate_before == timedelta(minutes=30)


def test_a_notice_that_comes_back_opens_a_closed_ticket(
    store_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    from helpdesk.core.identity import make_message_id
    from helpdesk.sync.ingest import Incoming

    ws = _workspace(tmp_path, store_url, smtp_server)
    try:
        team = _team(ws.team)
        n = _open(ws.team, "Reklamace", due=T0 + timedelta(minutes=25))
        assert team.claim(JANA, n).ok
        assert WorkflowJobs(ws).run(T0).ok
        assert MailOut(ws, make_ingestor(ws)).process(T0 + timedelta(seconds=1)).errors == []
        (mail,) = smtp_server.messages
        ingestor = make_ingestor(ws)
        # The server files its own Sent copy, or a lead's address delivers it back into the
        # watched mailbox: it becomes a ticket message all the same, in a closed ticket.
        back = ingestor.ingest([Incoming(raw=mail.data, received_at=T0 + timedelta(minutes=1))])
        assert back.new_messages == 1 and back.new_tickets == 1
        (notice,) = back.tickets
        assert notice != n
        closing = ws.settings.workflow.close_status.name
        state = ws.team.ticket_states([notice])[notice]
        assert state.status == closing
        assert state.sla_due is None and state.waiting_since is None
        assert state.assignee is None
        events = [
            (e.kind, e.actor, e.field, e.old, e.new)
            for e in team.events_since(0)
            if e.ticket == notice and e.kind != "created"
        ]
        initial = ws.settings.workflow.initial_status.name
        assert events == [("field", "system", "status", initial, closing)]
        # Nobody has to work on it: not in the Open queue, but kept, and findable.
        assert [t.number for t in ws.cache.list_tickets(Queue.OPEN, ws.agent)] == []
        assert [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)] == [notice]
        kept = ws.cache.ticket(notice)
        assert kept is not None and kept.summary.status == closing and len(kept.messages) == 1
        # The second copy (Sent and a lead's delivery both) is the same message.
        twice = ingestor.ingest([Incoming(raw=mail.data, received_at=T0 + timedelta(minutes=2))])
        assert twice.new_messages == 0 and twice.new_tickets == 0

        # Our signed id for no ticket, marked automatic, under another From: still ours.
        secret = ws.team.secret
        forwarded = (
            f"From: Lead <{LEAD}>\r\nTo: {LEAD}\r\nSubject: Daily summary\r\n"
            f"Message-ID: <{make_message_id(secret, 0, 'helpdesk.example', nonce='f1f1f1f1f1f1')}>\r\n"
            "Auto-Submitted: auto-generated\r\nDate: Tue, 03 Nov 2026 10:05:00 +0000\r\n\r\n"
            "3 open\r\n"
        ).encode()
        # A new ticket an agent writes carries such an id too, but is no automatic mail.
        by_agent = (
            f"From: Support <support@helpdesk.example>\r\nTo: karel@customer.example\r\n"
            "Subject: Your order\r\n"
            f"Message-ID: <{make_message_id(secret, 0, 'helpdesk.example', nonce='f2f2f2f2f2f2')}>\r\n"
            "Date: Tue, 03 Nov 2026 10:06:00 +0000\r\n\r\nHello\r\n"
        ).encode()
        more = ingestor.ingest([Incoming(raw=forwarded), Incoming(raw=by_agent)])
        assert more.new_tickets == 2
        statuses = sorted(s.status for s in ws.team.ticket_states(more.tickets).values())
        assert statuses == sorted([closing, initial])
    finally:
        ws.close()
