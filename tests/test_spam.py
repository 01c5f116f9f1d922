"""Spam with remembered senders, on SQLite and on a real PostgreSQL team store: marking
remembers the customer, their next mail opens a spam ticket that nothing answers, "not spam"
restores the status and forgets; replays change nothing; the CLI and the app's `!` key."""

from __future__ import annotations

import json
import mailbox
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from local_team import customer_mails, local_workspace
from mailbuild import message
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Input

from helpdesk.cli.main import main
from helpdesk.core.automation_config import AutomationSettings
from helpdesk.core.message import Address
from helpdesk.core.team import EventKind, Role
from helpdesk.core.tickets import EventView, Queue
from helpdesk.storage import outbox
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.outbox import OpKind
from helpdesk.storage.spam import mark_spam, not_spam, spam_senders
from helpdesk.storage.team_models import AutoMail
from helpdesk.storage.team_store import SPAM_FILTER_ACTOR, Registration, TeamStore
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.team import TeamService
from helpdesk.tui.actions import read_values
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.picker import Picker
from helpdesk.tui.widgets.ticket_side import describe_event, history_text
from helpdesk.tui.widgets.ticket_table import TicketTable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN, JANA, PETR = "admin@h.example", "jana@h.example", "petr@h.example"
SUPPORT = "support@h.example"
_auto = AutoMail.__table__


@pytest.fixture
def team(store_url: str) -> Iterator[LockTable]:
    # Acknowledgements on: a spam ticket must be the one new ticket that gets none.
    store = TeamStore(
        store_url,
        automation=AutomationSettings(acknowledge="acknowledgement"),
        our_addresses=[SUPPORT],
    )
    lt = LockTable(store)
    assert lt.join(ADMIN, "Admin").role is Role.ADMIN
    lt.join(JANA, "Jana")
    lt.join(PETR, "Petr")
    yield lt
    store.close()


def reg(mid: str, customer: str, minutes: int, name: str = "") -> Registration:
    return Registration(
        f"{mid}@c.example",
        [],
        [],
        None,
        f"subject of {mid}",
        customer,
        T0 + timedelta(minutes=minutes),
        from_addr=Address(name, customer.lower()),
        to=[Address("", SUPPORT)],
    )


def acks(store: TeamStore, number: int) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(_auto.c.id).where(_auto.c.ticket == number)).all())


def events(team: LockTable, number: int) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.actor, e.kind, e.old, e.new) for e in team.events_since(0) if e.ticket == number]


def test_marked_sender_opens_spam_tickets_with_no_reply(team: LockTable) -> None:
    store = team.store
    (first,) = [r.ticket for r in store.register([reg("a1", "Spammer@Offers.example", 0)])]
    assert acks(store, first) == 1  # an ordinary new ticket is acknowledged
    assert team.set_field(JANA, first, "status", "waiting on customer").ok

    out = mark_spam(team, JANA, first)
    assert out.ok
    assert team.state(first).status == "spam"
    assert [s.address for s in spam_senders(store)] == ["spammer@offers.example"]
    assert events(team, first)[-2:] == [
        (JANA, "field", "waiting on customer", "spam"),
        (JANA, "spam_sender", None, "spammer@offers.example"),
    ]

    # One batch: the remembered sender (in another case) and an ordinary customer.
    spam_new, other = (
        r.ticket
        for r in store.register(
            [reg("a2", "spammer@OFFERS.example", 5), reg("b1", "real@c.example", 6)]
        )
    )
    assert team.state(spam_new).status == "spam"
    assert team.state(other).status == "new"
    assert acks(store, spam_new) == 0 and acks(store, other) == 1
    assert (SPAM_FILTER_ACTOR, "field", "new", "spam") in events(team, spam_new)
    assert team.state(spam_new).sla_due is None

    # Not spam: the status before the marking comes back, and the sender is forgotten.
    assert not_spam(team, PETR, first).ok
    assert team.state(first).status == "waiting on customer"
    assert spam_senders(store) == []
    assert events(team, first)[-1] == (PETR, "spam_sender", "spammer@offers.example", None)
    # The ticket opened as spam goes back to the status new tickets get.
    assert not_spam(team, PETR, spam_new).ok
    assert team.state(spam_new).status == "new"
    (later,) = store.register([reg("a3", "spammer@offers.example", 9)])
    assert team.state(later.ticket).status == "new"
    assert acks(store, later.ticket) == 1


def test_replays_are_no_ops_and_rules_of_the_lock_table_hold(team: LockTable) -> None:
    store = team.store
    a, b = (
        r.ticket for r in store.register([reg("r1", "x@c.example", 0), reg("r2", "y@c.example", 1)])
    )
    op = str(uuid.uuid4())
    assert mark_spam(team, JANA, a, op_id=op).ok
    before = team.last_seq()
    again = mark_spam(team, JANA, a, op_id=op)
    assert again.ok and again.replayed and team.last_seq() == before
    undo = str(uuid.uuid4())
    assert not_spam(team, JANA, a, op_id=undo).ok
    after = team.last_seq()
    assert not_spam(team, JANA, a, op_id=undo).replayed and team.last_seq() == after
    assert team.state(a).status == "new"

    # A ticket someone holds is theirs (and the leads') to mark.
    assert team.claim(JANA, b).ok
    refused = mark_spam(team, PETR, b)
    assert not refused.ok and JANA in refused.message
    assert team.state(b).status == "new" and spam_senders(store) == []
    assert not mark_spam(team, JANA, 9999).ok


def test_our_own_addresses_are_never_remembered(team: LockTable) -> None:
    store = team.store
    ours, agents = (
        r.ticket for r in store.register([reg("o1", "Support@H.example", 0), reg("o2", PETR, 1)])
    )
    assert mark_spam(team, JANA, ours).ok and mark_spam(team, JANA, agents).ok
    assert team.state(ours).status == "spam"
    assert spam_senders(store) == []
    assert not [e for e in team.events_since(0) if e.kind == EventKind.SPAM_SENDER]


def test_history_lines_are_plain_text() -> None:
    evil = "x\x1b[31m@c.example"
    line = describe_event(EventView(1, JANA, "spam_sender", None, None, evil, T0))
    assert "remembered" in line and evil in line  # describe_event keeps it; history_text cleans
    shown = history_text([EventView(1, JANA, "spam_sender", None, None, evil, T0)], T0).plain
    assert "\x1b" not in shown and "remembered x" in shown


# -- the CLI, through the outbox like the app ---------------------------------------------------


def make_config(tmp_path: Path, store: str) -> Path:
    md = mailbox.Maildir(tmp_path / "mail", create=True)
    for i in range(2):
        md.add(
            message(
                f"s{i}@offers.example",
                sender=f"Offer {i} <deals{i}@offers.example>",
                subject=f"Cheap offer {i}",
                date=format_datetime(T0 + timedelta(hours=i)),
            )
        )
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[agent]\nname = "Jana"\nemail = "{JANA}"\n[team]\nstore = "{store}"\n'
        f'addresses = ["{SUPPORT}"]\n[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "import", str(tmp_path / "mail")]) == 0
    return config


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_marks_lists_and_undoes(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, store_url)
    store = TeamStore(store_url)
    try:
        ids = store.lookup(["s0@offers.example", "s1@offers.example"])
        a, b = ids["s0@offers.example"], ids["s1@offers.example"]
        code, out, err = run(capsys, config, "spam", str(a), str(b))
        assert code == 0, err
        assert out.splitlines() == [f"#{a} spam", f"#{b} spam"]
        states = store.ticket_states([a, b])
        assert [states[a].status, states[b].status] == ["spam", "spam"]

        code, out, err = run(capsys, config, "spam", "--list", "--json")
        assert code == 0, err
        listed = json.loads(out)
        assert [(x["address"], x["ticket"], x["marked_by"]) for x in listed] == [
            ("deals0@offers.example", a, JANA),
            ("deals1@offers.example", b, JANA),
        ]
        code, out, err = run(capsys, config, "spam", "--list")
        assert code == 0 and "deals0@offers.example" in out

        code, out, err = run(capsys, config, "spam", str(a), "--undo")
        assert code == 0, err
        assert out.splitlines() == [f"#{a} not spam"]
        assert store.ticket_states([a])[a].status == "new"
        assert [s.address for s in spam_senders(store)] == ["deals1@offers.example"]
        # The cache shows what the team store has.
        ws = open_workspace(load_settings(str(config)))
        try:
            found = {t.number: t.status for t in ws.cache.list_tickets(Queue.ALL, ws.agent)}
            assert found == {a: "new", b: "spam"}
        finally:
            ws.close()

        code, out, err = run(capsys, config, "spam")
        assert code == 2 and "--list" in err
        code, out, err = run(capsys, config, "spam", "4242")
        assert code == 1 and "4242" in err
    finally:
        store.close()


def test_cli_set_status_spam_remembers_and_forgets_the_sender(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, store_url)
    store = TeamStore(store_url)
    try:
        ids = store.lookup(["s0@offers.example", "s1@offers.example"])
        a, b = ids["s0@offers.example"], ids["s1@offers.example"]
        for n in (a, b):
            code, out, err = run(capsys, config, "set", str(n), "status=spam")
            assert code == 0, err
            assert out.splitlines() == [f"#{n} status = spam"]
        states = store.ticket_states([a, b])
        assert [states[a].status, states[b].status] == ["spam", "spam"]
        assert [s.address for s in spam_senders(store)] == [
            "deals0@offers.example",
            "deals1@offers.example",
        ]

        # Away from spam: the sender is forgotten, and the status asked for is the one set.
        code, out, err = run(capsys, config, "set", str(a), "status=open", "priority=high")
        assert code == 0, err
        assert store.ticket_states([a])[a].status == "open"
        code, out, err = run(capsys, config, "set", str(b), "status=new")
        assert code == 0, err
        assert store.ticket_states([b])[b].status == "new"
        assert spam_senders(store) == []
        statuses = [
            (e.old, e.new)
            for e in LockTable(store).events_since(0)
            if e.ticket == b and e.field == "status"
        ]
        assert statuses == [("new", "spam"), ("spam", "new")]  # "new" restored: set once
        # The next mail of a forgotten sender is an ordinary ticket.
        (again,) = store.register([reg("s2", "deals0@offers.example", 90)])
        assert store.ticket_states([again.ticket])[again.ticket].status == "new"
    finally:
        store.close()


# -- the app: `!`, the status picker, and undo ------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    offers = customer_mails(
        3,
        mid="p{i}@offers.example",
        sender="Offer {i} <deals{i}@offers.example>",
        subject="Offer {i}",
    )
    w = local_workspace(tmp_path, JANA, offers, ours=SUPPORT)
    yield w
    w.close()


async def until(pilot: Pilot[int], cond: Callable[[], bool], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def team_status(ws: Workspace, number: int) -> str:
    return ws.team.ticket_states([number])[number].status


def cached_status(ws: Workspace, number: int) -> str:
    return read_values(ws, [number])[number].status


def settled(app: HelpdeskApp) -> Callable[[], bool]:
    return lambda: not app._acting


async def test_bang_marks_spam_and_ctrl_z_takes_it_back(ws: Workspace) -> None:
    app = make_app(ws, clock=lambda: datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    async with app.run_test(size=(100, 24)) as pilot:
        table = app.screen.query_one(TicketTable)
        await until(pilot, lambda: table.row_count == 3)
        number = table.current_number()
        assert number is not None
        sender = ws.team.ticket_states([number])[number]
        await pilot.press("exclamation_mark")
        await until(pilot, lambda: team_status(ws, number) == "spam")
        await until(pilot, settled(app))
        assert cached_status(ws, number) == "spam"
        remembered = [s.address for s in spam_senders(ws.team)]
        assert len(remembered) == 1 and remembered[0].startswith("deals")
        assert sender.status == "new"

        await pilot.press("ctrl+z")
        await until(pilot, lambda: team_status(ws, number) == "new")
        await until(pilot, settled(app))
        assert spam_senders(ws.team) == []
        await until(pilot, lambda: cached_status(ws, number) == "new")

        # Spam chosen in the status picker is the same action: the sender is remembered.
        await until(pilot, lambda: table.row_count == 3)
        number = table.current_number()
        assert number is not None
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, Picker))
        assert isinstance(app.screen, Picker)
        app.screen.query_one(Input).value = "spam"
        await pilot.pause()
        await pilot.press("enter")
        await until(pilot, lambda: team_status(ws, number) == "spam")
        await until(pilot, settled(app))
        assert len(spam_senders(ws.team)) == 1


def test_offline_marks_show_at_once_and_replay_later(ws: Workspace) -> None:
    """The outbox applies spam and "not spam" to the cache before the team store hears."""
    (number, *_) = [t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent)]
    svc = TeamService(ws)
    with ws.cache.writer.begin() as conn:
        outbox.record(conn, str(uuid.uuid4()), OpKind.SPAM, number, {"undo": False}, JANA)
    assert cached_status(ws, number) == "spam" and team_status(ws, number) == "new"
    assert svc.push() == 1 and svc.pending() == 0
    assert team_status(ws, number) == "spam" and len(spam_senders(ws.team)) == 1
    # Undone while offline: the cache goes back to the status its history had before.
    with ws.cache.writer.begin() as conn:
        outbox.record(conn, str(uuid.uuid4()), OpKind.SPAM, number, {"undo": True}, JANA)
    assert cached_status(ws, number) == "new" and team_status(ws, number) == "spam"
    assert svc.push() == 1
    assert team_status(ws, number) == "new" and spam_senders(ws.team) == []
