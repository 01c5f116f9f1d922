"""Snooze end to end, on SQLite and PostgreSQL team stores: the action and its refusals, the
wake-up job exactly once from two services at once, the customer's mail waking a ticket
through a real registration, handle-next (online and offline) passing snoozed tickets by,
replays, the CLI, and the `z` key in the app."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mailbuild import message
from sqlalchemy import select, update
from textual.pilot import Pilot
from textual.widgets import Input

from helpdesk.cli.main import main
from helpdesk.core.config import parse_config
from helpdesk.core.message import AutoKind
from helpdesk.core.snooze_time import WOKE_BY_CUSTOMER, WOKE_BY_TIME
from helpdesk.core.team import EventKind, Role
from helpdesk.core.tickets import EventView, Queue
from helpdesk.storage.cache_models import OutboxOp
from helpdesk.storage.lock_table import Event, LockTable
from helpdesk.storage.outbox import Op, OpKind, OpState
from helpdesk.storage.snooze import snooze, wake_expired
from helpdesk.storage.team_models import TeamTicket
from helpdesk.storage.team_store import Registration, TeamStore
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor
from helpdesk.sync.team import TeamService, _replay
from helpdesk.tui.app import HelpdeskApp, make_app
from helpdesk.tui.screens.picker import Picker
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.ticket_side import describe_event
from helpdesk.tui.widgets.ticket_table import TicketTable

ADMIN, JANA, PETR = "admin@h.example", "jana@h.example", "petr@h.example"
PRAGUE = ZoneInfo("Europe/Prague")
HOURS = """
[business_hours]
timezone = "Europe/Prague"
mon = ["08:30-17:00"]
tue = ["08:30-17:00"]
wed = ["08:30-17:00"]
thu = ["08:30-17:00"]
fri = ["08:30-17:00"]
"""


@pytest.fixture
def team(store_url: str) -> Iterator[LockTable]:
    lt = LockTable(TeamStore(store_url))
    assert lt.join(ADMIN, "Admin").role is Role.ADMIN
    lt.join(JANA, "Jana")
    lt.join(PETR, "Petr")
    yield lt
    lt.store.close()


def register(store: TeamStore, n: int, start: datetime | None = None) -> list[int]:
    start = start or datetime.now(UTC) - timedelta(hours=3)
    regs = [
        Registration(
            f"s{i}@c.example",
            [],
            [],
            None,
            f"ticket {i}",
            f"c{i}@c.example",
            start + timedelta(minutes=i),
        )
        for i in range(n)
    ]
    return [r.ticket for r in store.register(regs)]


def events(team: LockTable, number: int, kind: EventKind) -> list[Event]:
    return [e for e in team.events_since(0) if e.ticket == number and e.kind == kind]


def snoozed_until(team: LockTable, number: int) -> datetime | None:
    state = team.state(number)
    assert state is not None
    return state.snoozed_until


def force_until(store: TeamStore, number: int, until: datetime) -> None:
    """Move a snooze's time, as if the clock had moved on (the action refuses past times)."""
    with store.write() as conn:
        t = TeamTicket.__table__
        conn.execute(update(t).where(t.c.number == number).values(snoozed_until=until))


# -- the action in the team store ----------------------------------------------------------


def test_snooze_sets_clears_and_records(team: LockTable) -> None:
    (n,) = register(team.store, 1)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    op = str(uuid.uuid4())
    done = snooze(team, JANA, n, until, op_id=op)
    assert done.ok and not done.replayed
    assert snoozed_until(team, n) == until
    again = snooze(team, JANA, n, until, op_id=op)  # a replay: the same answer, no new event
    assert again.ok and again.replayed
    (event,) = events(team, n, EventKind.SNOOZED)
    assert (event.actor, event.old) == (JANA, None)
    assert event.new is not None and datetime.fromisoformat(event.new) == until

    later = until + timedelta(days=1)
    assert snooze(team, PETR, n, later).ok  # nobody holds it: anyone may move it
    assert snoozed_until(team, n) == later
    assert snooze(team, JANA, n, None).ok
    assert snoozed_until(team, n) is None
    kinds = [(e.old is not None, e.new is not None) for e in events(team, n, EventKind.SNOOZED)]
    assert kinds == [(False, True), (True, True), (True, False)]
    assert snooze(team, JANA, n, None).message == "not snoozed"  # nothing to take off
    assert len(events(team, n, EventKind.SNOOZED)) == 3


def test_snooze_refusals(team: LockTable) -> None:
    held, closed, free = register(team.store, 3)
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert team.claim(JANA, held).ok
    refused = snooze(team, PETR, held, soon)
    assert not refused.ok and "held by" in refused.message
    assert snooze(team, JANA, held, soon).ok  # the holder may
    assert team.set_field(ADMIN, closed, "status", "closed").ok
    op = str(uuid.uuid4())
    no = snooze(team, ADMIN, closed, soon, op_id=op)
    assert not no.ok and "closed" in no.message and snoozed_until(team, closed) is None
    replayed = snooze(team, ADMIN, closed, soon, op_id=op)  # the refusal is remembered
    assert not replayed.ok and replayed.replayed and "closed" in replayed.message
    past = snooze(team, ADMIN, free, datetime.now(UTC) - timedelta(minutes=1))
    assert not past.ok and "has passed" in past.message and snoozed_until(team, free) is None
    with pytest.raises(ValueError, match="aware"):
        snooze(team, ADMIN, free, datetime(2030, 1, 1))


def test_event_text_is_in_the_team_zone(tmp_path: Path) -> None:
    text = f'[agent]\nname = "A"\nemail = "{ADMIN}"\n[team]\nstore = "sqlite:///x"\n{HOURS}'
    workflow = parse_config(
        text, str(tmp_path / "helpdesk.toml"), default_agent=("x", "x")
    ).workflow
    store = TeamStore(f"sqlite:///{tmp_path / 'team.sqlite'}", workflow)
    team = LockTable(store)
    team.join(ADMIN, "Admin")
    (n,) = register(store, 1)
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    assert snooze(team, ADMIN, n, until).ok
    (event,) = events(team, n, EventKind.SNOOZED)
    assert event.new == until.astimezone(PRAGUE).isoformat(timespec="seconds")
    view = EventView(
        event.seq, event.actor, event.kind, event.field, event.old, event.new, event.at
    )
    local = until.astimezone(PRAGUE)
    assert describe_event(view) == f"snoozed it until {local:%a} {local.day} {local:%b %H:%M}"
    store.close()


# -- waking up --------------------------------------------------------------------------------


def test_wake_expired_exactly_once_from_two_services(team: LockTable, store_url: str) -> None:
    nums = register(team.store, 12)
    now = datetime.now(UTC).replace(microsecond=0)
    due, later = nums[:8], nums[8:]
    for i, n in enumerate(nums):
        assert snooze(team, JANA, n, now + timedelta(hours=1, minutes=i)).ok
    assert wake_expired(team.store, now) == []  # nothing due yet
    when = now + timedelta(hours=1, minutes=len(due) - 1)  # the eighth is due at exactly `when`

    other = TeamStore(store_url)  # a second service, with its own connections
    results: list[list[int]] = []
    start = threading.Barrier(2)

    def service(store: TeamStore) -> None:
        start.wait()
        results.append(wake_expired(store, when))

    threads = [threading.Thread(target=service, args=(s,)) for s in (team.store, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    other.close()
    assert len(results) == 2
    assert sorted(results[0] + results[1]) == due  # each woken, by one of them
    for n in due:
        (woke,) = events(team, n, EventKind.WOKE)
        assert (woke.actor, woke.new) == ("system", WOKE_BY_TIME)
        assert woke.old is not None and datetime.fromisoformat(woke.old) > now
        assert snoozed_until(team, n) is None
    for n in later:
        assert events(team, n, EventKind.WOKE) == [] and snoozed_until(team, n) is not None
    assert wake_expired(team.store, when) == []  # nothing left to do


def reply(mid: str, parent: str, sent: datetime, *, outgoing: bool = False) -> Registration:
    return Registration(
        mid, [parent], [], None, "Re: ticket", "c0@c.example", sent, outgoing=outgoing
    )


def test_the_customer_writing_wakes_the_ticket(team: LockTable) -> None:
    first, other = register(team.store, 2)
    until = datetime.now(UTC) + timedelta(days=2)
    assert snooze(team, JANA, first, until).ok
    assert snooze(team, JANA, other, until).ok
    now = datetime.now(UTC)

    # Our own reply, and an old customer message registered late, wake nothing.
    team.store.register([reply("ours@h.example", "s0@c.example", now, outgoing=True)])
    old = reply("old@c.example", "s0@c.example", now - timedelta(hours=2))
    (late,) = team.store.register([old])
    assert late.ticket == first
    assert snoozed_until(team, first) is not None
    assert events(team, first, EventKind.WOKE) == []

    (got,) = team.store.register([reply("new@c.example", "s0@c.example", now)])
    assert got.ticket == first and not got.created
    assert snoozed_until(team, first) is None
    (woke,) = events(team, first, EventKind.WOKE)
    assert woke.new == WOKE_BY_CUSTOMER
    assert woke.old is not None
    assert datetime.fromisoformat(woke.old) == until.replace(microsecond=0)
    assert snoozed_until(team, other) is not None  # only the ticket written to
    # A second message finds it awake: no second event.
    team.store.register([reply("again@c.example", "s0@c.example", now)])
    assert len(events(team, first, EventKind.WOKE)) == 1


def machine_reply(mid: str, parent: str, sent: datetime, auto: AutoKind) -> Registration:
    return Registration(
        mid, [parent], [], None, "Automatic reply", "robot@c.example", sent, auto=auto
    )


def test_automatic_mail_neither_wakes_nor_reopens_but_a_bounce_does(team: LockTable) -> None:
    asleep, waiting = register(team.store, 2)
    until = datetime.now(UTC) + timedelta(days=2)
    assert snooze(team, JANA, asleep, until).ok
    set_at = datetime.now(UTC) - timedelta(hours=1)
    assert team.set_field(JANA, waiting, "status", "waiting on customer", at=set_at).ok
    now = datetime.now(UTC)

    for i, kind in enumerate((AutoKind.AUTO_REPLY, AutoKind.LIST, AutoKind.BULK)):
        got = team.store.register(
            [
                machine_reply(f"ooo{i}@c.example", "s0@c.example", now, kind),
                machine_reply(f"ooo{i}@c.example.org", "s1@c.example", now, kind),
            ]
        )
        assert [r.ticket for r in got] == [asleep, waiting]  # kept in their tickets
    assert snoozed_until(team, asleep) is not None
    assert events(team, asleep, EventKind.WOKE) == []
    assert team.state(waiting).status == "waiting on customer"

    # A bounce: our answer did not arrive, the agent must see it now.
    team.store.register(
        [
            machine_reply("bounce0@c.example", "s0@c.example", now, AutoKind.BOUNCE),
            machine_reply("bounce1@c.example", "s1@c.example", now, AutoKind.BOUNCE),
        ]
    )
    assert snoozed_until(team, asleep) is None
    assert [e.new for e in events(team, asleep, EventKind.WOKE)] == [WOKE_BY_CUSTOMER]
    assert team.state(waiting).status == "open"


def test_woken_by_the_customer_reads_in_the_team_zone(tmp_path: Path) -> None:
    text = f'[agent]\nname = "A"\nemail = "{ADMIN}"\n[team]\nstore = "sqlite:///x"\n{HOURS}'
    workflow = parse_config(
        text, str(tmp_path / "helpdesk.toml"), default_agent=("x", "x")
    ).workflow
    store = TeamStore(f"sqlite:///{tmp_path / 'team.sqlite'}", workflow)
    team = LockTable(store)
    team.join(ADMIN, "Admin")
    (n,) = register(store, 1)
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=2)
    assert snooze(team, ADMIN, n, until).ok
    store.register([reply("woke@c.example", "s0@c.example", datetime.now(UTC))])
    (woke,) = events(team, n, EventKind.WOKE)
    (snoozed,) = events(team, n, EventKind.SNOOZED)
    assert woke.old == snoozed.new == until.astimezone(PRAGUE).isoformat(timespec="seconds")
    store.close()


def test_handle_next_passes_snoozed_tickets_by(team: LockTable) -> None:
    oldest, newer = register(team.store, 2)
    assert snooze(team, JANA, oldest, datetime.now(UTC) + timedelta(hours=1)).ok
    assert team.handle_next(PETR).ticket == newer  # the oldest sleeps
    assert not team.handle_next(PETR).ok
    # Its time has come, before the wake-up job ran: served all the same.
    force_until(team.store, oldest, datetime.now(UTC) - timedelta(seconds=1))
    assert team.handle_next(PETR).ticket == oldest


# -- through the outbox: the cache, replays, offline handle-next ------------------------------


def workspace(tmp_path: Path, store: str, extra: str = "") -> Workspace:
    settings = parse_config(
        f'[agent]\nname = "Jana"\nemail = "{JANA}"\n[team]\nstore = "{store}"\n'
        f'addresses = ["support@helpdesk.example"]\n[cache]\npath = "{tmp_path / "cache.sqlite"}"\n'
        f"{extra}",
        str(tmp_path / "helpdesk.toml"),
        default_agent=("x", "x@x.example"),
    )
    ws = open_workspace(settings)
    mail = [
        message(
            f"m{i}@c.example",
            sender=f"Customer {i} <c{i}@c.example>",
            subject=f"Question {i}",
            date=f"Mon, 02 Nov 2026 0{i}:00:00 +0000",
        )
        for i in range(1, 4)
    ]
    import_messages(mail, make_ingestor(ws))
    return ws


def numbers(ws: Workspace, queue: Queue = Queue.ALL) -> list[int]:
    return sorted(t.number for t in ws.cache.list_tickets(queue, ws.agent))


def test_service_snooze_shows_in_the_cache_and_replays_once(tmp_path: Path, store_url: str) -> None:
    ws = workspace(tmp_path, store_url)
    try:
        svc = TeamService(ws)
        first, second, third = numbers(ws)
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=3)
        result = svc.snooze(first, until)
        assert result.ok and not result.queued
        assert ws.team.ticket_states([first])[first].snoozed_until == until
        assert numbers(ws, Queue.SNOOZED) == [first]
        assert first not in numbers(ws, Queue.OPEN) and first not in numbers(ws, Queue.UNASSIGNED)
        summary = next(t for t in ws.cache.list_tickets(Queue.SNOOZED, ws.agent))
        assert summary.snoozed_until == until

        # The same operation replayed (a crash before its acknowledgement): applied once.
        (op,) = snooze_ops(ws)
        assert op.state == OpState.DONE
        lock = LockTable(ws.team)
        assert _replay(lock, agent=JANA, op=op).replayed
        snoozes = [e for e in lock.events_since(0) if e.kind == EventKind.SNOOZED]
        assert len(snoozes) == 1

        # Offline handle-next takes the cache's word: the snoozed ticket is passed by.
        assert svc._local_next() == second
        assert svc.claim(second).ok and svc.claim(third).ok
        assert svc._local_next() is None

        # Refused by the team store: the cache gets the team's truth back.
        assert svc.set_field(third, "status", "closed").ok
        refused = svc.snooze(third, until)
        assert not refused.ok and "closed" in refused.message
        assert third not in numbers(ws, Queue.SNOOZED)

        assert svc.snooze(first, None).ok
        assert numbers(ws, Queue.SNOOZED) == []
        assert first in numbers(ws, Queue.OPEN)
    finally:
        ws.close()


def snooze_ops(ws: Workspace) -> list[Op]:
    t = OutboxOp.__table__
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(select(t).where(t.c.kind == OpKind.SNOOZE).order_by(t.c.pos))
        return [Op.from_row(r) for r in rows]


# -- the CLI ----------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_snooze_and_clear(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = workspace(tmp_path, store_url, HOURS)
    first = numbers(ws)[0]
    ws.close()
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[agent]\nname = "Jana"\nemail = "{JANA}"\n[team]\nstore = "{store_url}"\n'
        f'addresses = ["support@helpdesk.example"]\n[cache]\npath = "{tmp_path / "cache.sqlite"}"\n'
        f"{HOURS}",
        encoding="utf-8",
    )
    code, out, err = run(capsys, config, "snooze", str(first), "tomorrow", "14:00")
    assert code == 0, err
    store = TeamStore(store_url)
    try:
        until = store.ticket_states([first])[first].snoozed_until
    finally:
        store.close()
    assert until is not None
    local = until.astimezone(PRAGUE)
    assert (local.hour, local.minute) == (14, 0)
    assert local.date() == (datetime.now(PRAGUE) + timedelta(days=1)).date()
    assert out.strip() == f"#{first} snoozed until {local:%a} {local.day} {local:%b} 14:00 " + (
        "(Europe/Prague)"
    )

    code, out, err = run(capsys, config, "tickets", "--queue", "snoozed", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["number"] == first
    assert datetime.fromisoformat(row["snoozed_until"]) == until
    code, out, err = run(capsys, config, "tickets", "--queue", "open", "--json")
    assert first not in [r["number"] for r in json.loads(out)]

    code, out, err = run(capsys, config, "snooze", str(first), "yesterday")
    assert code == 2 and "not a time: 'yesterday'; expected a time like 2h" in err
    code, out, err = run(capsys, config, "snooze", str(first))
    assert code == 2 and "UNTIL or --clear" in err
    code, out, err = run(capsys, config, "snooze", "999", "2h")
    assert code == 1 and "no ticket #999" in err

    code, out, err = run(capsys, config, "snooze", str(first), "--clear", "--json")
    assert code == 0, err
    assert json.loads(out)["snoozed_until"] is None
    code, out, err = run(capsys, config, "tickets", "--queue", "snoozed", "--json")
    assert json.loads(out) == []

    code, out, err = run(capsys, config, "set", str(first), "status=closed")
    assert code == 0, err
    code, out, err = run(capsys, config, "snooze", str(first), "2h")
    assert code == 1 and "closed" in err


# -- the app ----------------------------------------------------------------------------------


async def until_true(pilot: Pilot[int], cond: Callable[[], bool], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def cache_until(ws: Workspace, number: int) -> datetime | None:
    (summary,) = [t for t in ws.cache.list_tickets(Queue.ALL, ws.agent) if t.number == number]
    return summary.snoozed_until


def team_until(ws: Workspace, number: int) -> datetime | None:
    return ws.team.ticket_states([number])[number].snoozed_until


async def test_z_snoozes_with_a_preset_and_undo_wakes(tmp_path: Path) -> None:
    ws = workspace(tmp_path, f"sqlite:///{tmp_path / 'team.sqlite'}", HOURS)
    app: HelpdeskApp = make_app(ws)
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            table = app.screen.query_one(TicketTable)
            await until_true(pilot, lambda: table.row_count == 3)
            number = table.current_number()
            assert number is not None
            await pilot.press("z")
            await until_true(pilot, lambda: isinstance(app.screen, Picker))
            picker = app.screen
            assert isinstance(picker, Picker)
            assert [c.label for c in picker.choices] == [
                "In 1 hour",
                "Tomorrow morning",
                "Next Monday",
            ]
            # A typed time the parser refuses: the error shows in place, nothing changes.
            picker.query_one(Input).value = "yesterday"
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is picker
            assert "not a time" in str(picker.query_one("#picker-error").render())
            picker.query_one(Input).value = "tomorrow morning"
            await pilot.pause()
            await pilot.press("enter")
            await until_true(pilot, lambda: cache_until(ws, number) is not None)
            await until_true(pilot, lambda: not app._acting)
            wake = team_until(ws, number)
            assert wake is not None and wake == cache_until(ws, number)
            local = wake.astimezone(PRAGUE)
            assert (local.hour, local.minute) == (8, 30) and local.weekday() < 5
            assert wake > datetime.now(UTC)
            # Out of Open, into Snoozed, which the queue bar now shows.
            assert number not in numbers(ws, Queue.OPEN)
            assert numbers(ws, Queue.SNOOZED) == [number]
            await until_true(pilot, lambda: table.row_count == 2)
            assert number not in [t.number for t in table.tickets_in(0, table.row_count)]
            queue = app.screen
            assert isinstance(queue, QueueScreen)
            queue.switch_to("snoozed")
            await until_true(pilot, lambda: table.row_count == 1)
            assert table.current_number() == number
            # The SLA column tells when it wakes instead: "z" and the time left.
            cells = [str(c).strip() for c in table.get_row_at(0)]
            assert any(c.startswith("z") and c[1:-1].isdigit() for c in cells), cells
            queue.switch_to("open")
            await until_true(pilot, lambda: table.row_count == 2)

            await pilot.press("ctrl+z")
            await until_true(pilot, lambda: cache_until(ws, number) is None)
            await until_true(pilot, lambda: not app._acting)
            assert team_until(ws, number) is None
            assert number in numbers(ws, Queue.OPEN)
            kinds = [
                (e.old is None, e.new is None)
                for e in LockTable(ws.team).events_since(0)
                if e.ticket == number and e.kind == EventKind.SNOOZED
            ]
            assert kinds == [(True, False), (False, True)]  # snoozed, then taken off
    finally:
        ws.close()


async def test_the_ticket_view_tells_the_snooze(tmp_path: Path) -> None:
    ws = workspace(tmp_path, f"sqlite:///{tmp_path / 'team.sqlite'}", HOURS)
    app: HelpdeskApp = make_app(ws)
    try:
        async with app.run_test(size=(140, 30)) as pilot:
            table = app.screen.query_one(TicketTable)
            await until_true(pilot, lambda: table.row_count == 3)
            await pilot.press("enter")
            await until_true(pilot, lambda: isinstance(app.screen, TicketScreen))
            screen = app.screen
            assert isinstance(screen, TicketScreen)
            number = screen.number
            await pilot.press("z")
            await until_true(pilot, lambda: isinstance(app.screen, Picker))
            app.screen.query_one(Input).value = "3d"
            await pilot.pause()
            await pilot.press("enter")
            await until_true(pilot, lambda: cache_until(ws, number) is not None)
            await until_true(pilot, lambda: not app._acting)
            await until_true(
                pilot, lambda: "snoozed it until" in str(screen.query_one("#side-history").render())
            )
            # The customer writes: the ticket wakes, and the history says why.
            now = datetime.now(UTC)
            import_messages(
                [
                    message(
                        "later@c.example",
                        sender="Customer 1 <c1@c.example>",
                        subject="Re: Question 1",
                        in_reply_to=f"m{_index_of(ws, number)}@c.example",
                        date=now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
                    )
                ],
                make_ingestor(ws),
            )
            assert team_until(ws, number) is None
            app.team.pull()
            assert cache_until(ws, number) is None
            woke = [
                e
                for e in LockTable(ws.team).events_since(0)
                if e.ticket == number and e.kind == EventKind.WOKE
            ]
            assert [e.new for e in woke] == [WOKE_BY_CUSTOMER]
    finally:
        ws.close()


def _index_of(ws: Workspace, number: int) -> int:
    for i in range(1, 4):
        if ws.team.lookup([f"m{i}@c.example"]).get(f"m{i}@c.example") == number:
            return i
    raise AssertionError(f"no message of #{number}")
