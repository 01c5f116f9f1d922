"""Auto-close of tickets that wait on the customer too long, with fixed clocks, on SQLite and a
real PostgreSQL team store; exactly once with two services at once; the notice to the
customer sent once through a real SMTP server; and the [tickets] keys' errors."""

from __future__ import annotations

import email
import email.policy
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from mailbuild import message
from servers import ImapAccount, SmtpServer
from sqlalchemy import Connection, select, update

from helpdesk.core.config import ConfigError, parse_config
from helpdesk.core.message import Address
from helpdesk.core.tickets import Queue
from helpdesk.core.workflow import DEFAULT_WORKFLOW, TicketSettings, WorkflowSettings
from helpdesk.storage.auto_close import AUTO_CLOSE_ACTOR, AUTO_CLOSE_REASON, auto_close
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import AutoMail, TeamTicket
from helpdesk.storage.team_store import Registration, TeamStore
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.service import SyncService

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)  # when the agent set the tickets waiting
WEEK = timedelta(days=7)
AGENT = "jana@h.example"
WAITING = "waiting on customer"
WORKFLOW = replace(
    DEFAULT_WORKFLOW,
    tickets=TicketSettings(auto_close_after=WEEK, auto_close_template="closed for now"),
)
_auto = AutoMail.__table__
_ticket = TeamTicket.__table__


@pytest.fixture
def store(store_url: str) -> Iterator[TeamStore]:
    s = TeamStore(store_url, WORKFLOW, our_addresses=["support@h.example"])
    LockTable(s).join(AGENT, "Jana")
    yield s
    s.close()


def reg(mid: str, customer: str, when: datetime, refs: tuple[str, ...] = ()) -> Registration:
    return Registration(
        mid,
        list(refs),
        [],
        None,
        f"about {mid}",
        customer,
        when,
        from_addr=Address("", customer),
    )


def waiting_ticket(store: TeamStore, mid: str, customer: str = "", at: datetime = T1) -> int:
    (r,) = store.register([reg(mid, customer or f"{mid.split('@')[0]}@c.example", T0)])
    assert LockTable(store).set_field(AGENT, r.ticket, "status", WAITING, at=at).ok
    return r.ticket


def status(store: TeamStore, number: int) -> str:
    return store.ticket_states([number])[number].status


def notices(store: TeamStore) -> list[tuple[int, str, str, str]]:
    with store.engine.connect() as conn:
        return [
            (r.ticket, r.recipient, r.reason, r.reply_to_id)
            for r in conn.execute(select(_auto).order_by(_auto.c.id))
        ]


def test_closes_after_the_period_once_with_a_notice(store: TeamStore) -> None:
    n = waiting_ticket(store, "a@c.example")
    third = waiting_ticket(store, "b@c.example")
    assert LockTable(store).set_field(AGENT, third, "status", "waiting on third party").ok

    assert auto_close(store, WORKFLOW, T1 + WEEK - timedelta(minutes=1)) == []
    assert status(store, n) == WAITING
    assert auto_close(store, WORKFLOW, T1 + WEEK) == [n]
    assert status(store, n) == "closed"
    assert status(store, third) == "waiting on third party"  # kind open: the team's move
    assert auto_close(store, WORKFLOW, T1 + 3 * WEEK) == []  # once

    mine = [e for e in LockTable(store).events_since(0) if e.ticket == n]
    assert [(e.actor, e.kind, e.field, e.old, e.new) for e in mine[-3:]] == [
        (AUTO_CLOSE_ACTOR, "field", "status", WAITING, "closed"),
        (AUTO_CLOSE_ACTOR, "auto_closed", None, WAITING, "closed"),
        (AUTO_CLOSE_ACTOR, "auto_reply", AUTO_CLOSE_REASON, None, "closed for now"),
    ]
    assert notices(store) == [(n, "a@c.example", AUTO_CLOSE_REASON, "a@c.example")]
    assert store.ticket_states([n])[n].sla_due is None

    # A late customer reply within the reopen window brings it back, as for any closing.
    store.register(
        [reg("a2@c.example", "a@c.example", T1 + WEEK + timedelta(hours=1), ("a@c.example",))]
    )
    assert status(store, n) == "open"


def test_the_period_runs_from_the_last_status_change(store: TeamStore) -> None:
    n = waiting_ticket(store, "c@c.example")
    table = LockTable(store)
    assert table.set_field(AGENT, n, "status", "open", at=T1 + timedelta(days=3)).ok
    assert table.set_field(AGENT, n, "status", WAITING, at=T1 + timedelta(days=4)).ok
    assert auto_close(store, WORKFLOW, T1 + WEEK + timedelta(days=1)) == []
    assert auto_close(store, WORKFLOW, T1 + timedelta(days=11)) == [n]


def test_not_when_the_customer_wrote_but_older_mail_does_not_count(store: TeamStore) -> None:
    answered = waiting_ticket(store, "d@c.example")
    late_old = waiting_ticket(store, "e@c.example")
    # The customer answers after the ticket was set waiting: it reopens, nothing closes it.
    store.register([reg("d2@c.example", "d@c.example", T1 + timedelta(days=1), ("d@c.example",))])
    # A message the customer sent before the agent set the ticket waiting (arriving late):
    # what the agent already had, so the ticket still waits and is closed in time.
    store.register(
        [reg("e0@c.example", "e@c.example", T0 + timedelta(minutes=5), ("e@c.example",))]
    )
    assert status(store, answered) == "open"
    assert status(store, late_old) == WAITING
    assert auto_close(store, WORKFLOW, T1 + 2 * WEEK) == [late_old]
    assert status(store, answered) == "open"

    # The customer's newer mail while the ticket keeps a waiting status (set by a rule or
    # an agent again before it): the mail is after the status change, so it is not closed.
    again = waiting_ticket(store, "f@c.example")
    with store.write() as conn:
        conn.execute(update(_ticket).where(_ticket.c.number == again).values(status="open"))
    store.register([reg("f2@c.example", "f@c.example", T1 + timedelta(days=2), ("f@c.example",))])
    with store.write() as conn:
        conn.execute(update(_ticket).where(_ticket.c.number == again).values(status=WAITING))
    assert auto_close(store, WORKFLOW, T1 + 2 * WEEK) == []


def test_not_while_snoozed(store: TeamStore) -> None:
    n = waiting_ticket(store, "g@c.example")
    until = T1 + timedelta(days=10)
    with store.write() as conn:
        conn.execute(update(_ticket).where(_ticket.c.number == n).values(snoozed_until=until))
    assert auto_close(store, WORKFLOW, T1 + timedelta(days=8)) == []
    assert auto_close(store, WORKFLOW, until - timedelta(seconds=1)) == []
    assert auto_close(store, WORKFLOW, until) == [n]  # snoozed means until > now


def test_off_without_the_setting_and_no_notice_to_machines(store: TeamStore) -> None:
    n = waiting_ticket(store, "h@c.example")
    robot = waiting_ticket(store, "r@c.example", customer="no-reply@shop.example")
    assert auto_close(store, DEFAULT_WORKFLOW, T1 + 10 * WEEK) == []
    quiet = replace(WORKFLOW, tickets=TicketSettings(auto_close_after=WEEK))
    assert auto_close(store, quiet, T1 + WEEK) == [n, robot]
    assert notices(store) == []  # no template: closed without a word
    robot2 = waiting_ticket(store, "r2@c.example", customer="no-reply@shop.example")
    assert auto_close(store, WORKFLOW, T1 + WEEK) == [robot2]
    assert notices(store) == []  # never to a machine address


def _note_turns(store: TeamStore, before_each: Callable[[], None] | None = None) -> list[int]:
    """Count the team write turns `store` takes (what every colleague's claim waits for),
    running `before_each` first as a colleague's write landing just before the turn."""
    inner = store.write
    turns: list[int] = []

    @contextmanager
    def write(*args: Any, **kwargs: Any) -> Iterator[Connection]:
        if before_each is not None:
            before_each()
        turns.append(1)
        with inner(*args, **kwargs) as conn:
            yield conn

    store.write = write
    return turns


def test_reads_outside_the_write_turn_and_rechecks_inside(store_url: str) -> None:
    quiet = waiting_ticket_in(store_url, "q@c.example")
    checker = TeamStore(store_url, WORKFLOW)
    try:
        turns = _note_turns(checker)
        # Nothing due: the waiting tickets are looked at without taking the write turn.
        assert auto_close(checker, WORKFLOW, T1 + WEEK - timedelta(minutes=1)) == []
        assert turns == []
        table = LockTable(TeamStore(store_url, WORKFLOW))
        busy = waiting_ticket(table.store, "w@c.example")

        def colleague() -> None:
            # Between the read and the turn: set open and waiting again (the clock restarts).
            later = T1 + WEEK - timedelta(hours=1)
            assert table.set_field(AGENT, busy, "status", "open", at=later).ok
            assert table.set_field(AGENT, busy, "status", WAITING, at=later).ok

        turns = _note_turns(checker, colleague)
        assert auto_close(checker, WORKFLOW, T1 + WEEK) == [quiet]
        assert turns == [1]
        assert status(checker, busy) == WAITING and status(checker, quiet) == "closed"
        table.store.close()
    finally:
        checker.close()


def waiting_ticket_in(store_url: str, mid: str) -> int:
    s = TeamStore(store_url, WORKFLOW)
    try:
        LockTable(s).join(AGENT, "Jana")
        return waiting_ticket(s, mid)
    finally:
        s.close()


def test_exactly_once_with_two_services_at_once(store_url: str, store: TeamStore) -> None:
    numbers = [waiting_ticket(store, f"x{i}@c.example") for i in range(12)]
    others = [TeamStore(store_url, WORKFLOW) for _ in range(2)]
    results: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def run(i: int) -> None:
        start.wait()
        results[i] = auto_close(others[i], WORKFLOW, T1 + WEEK)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for s in others:
        s.close()
    assert sorted(results[0] + results[1]) == numbers
    closings = [e for e in LockTable(store).events_since(0) if e.kind == "auto_closed"]
    assert sorted(e.ticket for e in closings if e.ticket is not None) == numbers
    assert sorted(t for t, *_ in notices(store)) == numbers


# -- the notice through real SMTP ---------------------------------------------------------------

SETUP = '''
[[templates]]
name = "acknowledgement"
body = "We have your message as ticket {{ ticket.number }}."

[[templates]]
name = "closed for now"
body = """
Hello,

we closed ticket {{ ticket.number }} as we did not hear back. Just reply to reopen it.
"""

[automation]
acknowledge = "acknowledgement"

[tickets]
auto_close_after = "7d"
auto_close_template = "closed for now"
'''


def _round(ws: Workspace) -> None:
    service = SyncService(ws)
    try:
        assert service.sync_once().ok
        sent = service.send_mail()
        assert sent is not None and not sent.failed and not sent.errors, sent
    finally:
        service.close()


def _parsed(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_notice_goes_out_once_by_smtp(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    config = imap_account.write_config(tmp_path, tls=False, smtp=smtp_server, extra=SETUP)
    ws = open_workspace(load_settings(str(config)))
    try:
        imap_account.append(
            "INBOX",
            message(
                f"q-{os.getpid()}@customer.example",
                sender="Jan Novák <jan@customer.example>",
                subject="Kde je zásilka?",
            ),
        )
        _round(ws)
        (number,) = [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)]
        assert len(smtp_server.messages) == 1  # the acknowledgement
        table = LockTable(ws.team)
        table.join(ws.agent, "Jana")
        assert table.set_field(ws.agent, number, "status", WAITING).ok
        workflow = ws.settings.workflow
        assert workflow.tickets.auto_close_after == WEEK
        later = datetime.now(UTC) + WEEK + timedelta(minutes=1)
        assert auto_close(ws.team, workflow, later) == [number]
        _round(ws)
        _round(ws)
        assert auto_close(ws.team, workflow, later + WEEK) == []
        _round(ws)
        assert len(smtp_server.messages) == 2  # the acknowledgement did not use up the notice
        notice = smtp_server.messages[1]
        assert notice.rcpt_tos == ["jan@customer.example"]
        parsed = _parsed(notice.data)
        assert f"[#{number}]" in str(parsed["Subject"])
        assert str(parsed["Auto-Submitted"]) == "auto-replied"
        body = parsed.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert f"we closed ticket {number} as we did not hear back" in text and "{{" not in text
        assert table.state(number).status == "closed"
    finally:
        ws.close()


# -- the configuration --------------------------------------------------------------------------


def _parse(text: str) -> WorkflowSettings:
    return parse_config(text, "/etc/helpdesk.toml", default_agent=("A", "a@example.com")).workflow


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ('auto_close_after = "soon"', "tickets.auto_close_after", 'like "7d"'),
        ('auto_close_after = "0d"', "tickets.auto_close_after", "above zero"),
        ("auto_close_after = 7", "tickets.auto_close_after", 'like "7d"'),
        ('auto_close_after = "400d"', "tickets.auto_close_after", "at most 366 days"),
        ("auto_close_template = 5", "tickets.auto_close_template", "the name of a template"),
        ('auto_close_template = ""', "tickets.auto_close_template", "the name of a template"),
        ('auto_close_afer = "7d"', "tickets.auto_close_afer", "auto_close_after"),
    ],
)
def test_config_errors_name_the_file_the_key_and_what_is_expected(
    line: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(f"[tickets]\n{line}\n")
    assert info.value.key == key
    assert info.value.line == 2
    assert expected in info.value.expected
    assert "/etc/helpdesk.toml" in str(info.value)


def test_config_values() -> None:
    assert _parse("").tickets.auto_close_after is None
    tickets = _parse('[tickets]\nauto_close_after = "36h"\nauto_close_template = " bye "\n').tickets
    assert tickets.auto_close_after == timedelta(hours=36)
    assert tickets.auto_close_template == "bye"
    assert _parse('[tickets]\nauto_close_after = "7d"\n').tickets.auto_close_after == WEEK
