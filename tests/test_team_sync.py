"""Team work through the outbox: two caches on one team store, offline replay, conflicts,
exactly-once after a crash. The outage is real: a TCP proxy to PostgreSQL is cut."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mailbuild import message
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from helpdesk.core.config import parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage import outbox
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor
from helpdesk.sync.team import TeamService, _replay

JANA, PETR = "jana@helpdesk.example", "petr@helpdesk.example"
MAIL = [
    message(f"m{i}@c.example", subject=f"Dotaz {i}", date=f"Mon, 02 Nov 2026 0{i}:00:00 +0000")
    for i in range(1, 4)
]


def workspace(tmp_path: Path, name: str, email: str, store: str) -> Workspace:
    d = tmp_path / name
    d.mkdir()
    settings = parse_config(
        f'[agent]\nname = "{name}"\nemail = "{email}"\n[team]\nstore = "{store}"\n'
        f'addresses = ["support@helpdesk.example"]\n[cache]\npath = "{d / "cache.sqlite"}"\n',
        str(d / "helpdesk.toml"),
        default_agent=("x", "x@x.example"),
    )
    ws = open_workspace(settings)
    import_messages(MAIL, make_ingestor(ws))
    return ws


def numbers(ws: Workspace) -> list[int]:
    return sorted(t.number for t in ws.cache.list_tickets(Queue.ALL, ws.agent))


def test_two_caches_converge_through_the_event_log(tmp_path: Path, store_url: str) -> None:
    a = workspace(tmp_path, "jana", JANA, store_url)
    b = workspace(tmp_path, "petr", PETR, store_url)
    ja, pe = TeamService(a), TeamService(b)
    one, two, _ = numbers(a)
    assert ja.claim(one).ok
    assert ja.add_note(one, "Volala, chce vrátit peníze.").ok
    assert ja.set_field(one, "priority", "3").ok
    lost = pe.claim(one)
    assert not lost.ok and JANA in lost.message and lost.holder == JANA
    # The refused claim showed in Petr's cache for a moment: the team's truth is back.
    assert b.cache.ticket(one).summary.assignee == JANA  # type: ignore[union-attr]
    assert b.cache.count_tickets(Queue.MINE, PETR) == 0
    started = time.monotonic()
    pe.sync()
    assert time.monotonic() - started < 2  # a colleague's change is seen within seconds
    detail = b.cache.ticket(one)
    assert detail is not None
    assert detail.summary.assignee == JANA
    assert [(n.author, n.body, n.pending) for n in detail.notes] == [
        (JANA, "Volala, chce vrátit peníze.", False)
    ]
    # Petr's refused claim is in the audit trail too.
    assert [e.kind for e in detail.history] == ["created", "claimed", "note", "field", "refused"]
    assert detail.history[-1].actor == PETR and JANA in detail.history[-1].describe()
    assert pe.handle_next().ticket == two  # the claimed one is skipped
    assert [t.number for t in b.cache.list_tickets(Queue.MINE, PETR)] == [two]
    a.close()
    b.close()


@dataclass
class TwoSites:
    """Jana on a laptop reaching PostgreSQL through a link the test can cut; Petr in the office."""

    laptop: Workspace
    office: Workspace
    ja: TeamService
    pe: TeamService
    net: TcpProxy


@pytest.fixture
def sites(tmp_path: Path, pg_url: str) -> Iterator[TwoSites]:
    url = make_url(pg_url)
    net = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    laptop_url = url.set(port=net.port).render_as_string(hide_password=False)
    laptop = workspace(tmp_path, "jana", JANA, laptop_url)
    office = workspace(tmp_path, "petr", PETR, pg_url)
    both = TwoSites(laptop, office, TeamService(laptop), TeamService(office), net)
    both.ja.sync()
    both.pe.sync()
    yield both
    laptop.close()
    office.close()
    net.close()


def test_offline_work_replays_with_the_rules(sites: TwoSites) -> None:
    laptop, office, ja, pe, net = sites.laptop, sites.office, sites.ja, sites.pe, sites.net
    one, two, three = numbers(laptop)

    net.down()  # the train enters a tunnel
    offline = ja.claim(one)
    assert offline.ok and offline.queued
    assert ja.add_note(one, "Poznámka z vlaku").queued
    assert ja.set_field(one, "category", "Complaints").queued  # older than Petr's edit below
    assert ja.claim(two).queued
    assert ja.handle_next().queued  # tentative: picked from the cache
    assert ja.sync().online is False and ja.pending() == 5
    mine = [t.number for t in laptop.cache.list_tickets(Queue.MINE, JANA)]
    assert sorted(mine) == [one, two, three]  # the app keeps working on the cache

    assert pe.claim(two).ok  # meanwhile, in the office
    assert pe.set_field(one, "category", "Orders").ok

    net.up()
    report = ja.sync()
    assert report.online and report.pending == 0
    conflicts = ja.conflicts()
    assert [(c.kind, c.ticket) for c in conflicts] == [
        ("set", one),
        ("claim", two),
    ]  # in outbox order
    assert PETR in conflicts[1].result  # the loser is told who holds it
    assert laptop.cache.ticket(two).summary.assignee == PETR  # type: ignore[union-attr]
    assert laptop.cache.ticket(one).summary.assignee == JANA  # type: ignore[union-attr]
    # The tentative handle-next claim held: nobody else had taken that ticket.
    assert LockTable(office.team).state(three).assignee == JANA  # type: ignore[union-attr]
    assert sorted(t.number for t in laptop.cache.list_tickets(Queue.MINE, JANA)) == [one, three]
    state = LockTable(office.team).state(one)
    assert state is not None and state.category == "Orders"  # the later edit won
    kinds = [
        (e.kind, e.new) for e in LockTable(office.team).events_since(0) if e.field == "category"
    ]
    assert kinds == [("field", "Orders"), ("field_overridden", "Complaints")]  # both kept
    notes = laptop.cache.ticket(one).notes  # type: ignore[union-attr]
    assert [(n.body, n.pending) for n in notes] == [("Poznámka z vlaku", False)]


def test_crash_between_apply_and_acknowledge_applies_once(tmp_path: Path, store_url: str) -> None:
    ws = workspace(tmp_path, "jana", JANA, store_url)
    svc = TeamService(ws)
    svc.sync()
    (one, *_) = numbers(ws)
    # Record two operations as the app would, then "crash" after the team store applied them
    # but before the cache heard back.
    with ws.cache.writer.begin() as conn:
        outbox.record(conn, "op-note", outbox.OpKind.NOTE, one, {"body": "jednou"}, JANA)
        outbox.record(conn, "op-claim", outbox.OpKind.CLAIM, one, {}, JANA)
    table = LockTable(ws.team)
    with ws.cache.engine.connect() as conn:
        ops = outbox.pending(conn)
    for op in ops:
        assert _replay(table, agent=JANA, op=op).ok
    # Restart: the replay finds both already applied.
    assert TeamService(ws).push() == 2
    assert [n.body for n in table.notes(one)] == ["jednou"]
    assert [e.kind for e in table.events_since(0) if e.ticket == one] == [
        "created",
        "note",
        "claimed",
    ]
    assert svc.pending() == 0
    ws.close()


def test_a_colleagues_change_wakes_the_watcher(tmp_path: Path, store_url: str) -> None:
    import threading

    a = workspace(tmp_path, "jana", JANA, store_url)
    b = workspace(tmp_path, "petr", PETR, store_url)
    ja, pe = TeamService(a), TeamService(b)
    pe.sync()
    assert not pe.wait_for_change(0.3)  # nothing happens: it times out
    woke: list[float] = []

    def watch() -> None:
        start = time.monotonic()
        if pe.wait_for_change(10):
            woke.append(time.monotonic() - start)

    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.3)
    (one, *_) = numbers(a)
    claimed_at = time.monotonic()
    assert ja.claim(one).ok
    t.join(timeout=15)
    assert woke, "the watcher never woke"
    assert time.monotonic() - claimed_at < 2
    pe.sync()
    assert b.cache.ticket(one).summary.assignee == JANA  # type: ignore[union-attr]
    a.close()
    b.close()


PUSH_SCRIPT = """
import sys
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService
ws = open_workspace(load_settings(sys.argv[1], env={}))
TeamService(ws).push()
"""


def test_sigkill_mid_replay_applies_every_operation_once(tmp_path: Path, store_url: str) -> None:
    import os
    import signal
    import subprocess
    import sys

    ws = workspace(tmp_path, "jana", JANA, store_url)
    TeamService(ws).sync()
    (one, *_) = numbers(ws)
    n = 300
    # Work done offline: queued in the outbox, as the app records it.
    with ws.cache.writer.begin() as conn:
        for i in range(n):
            outbox.record(
                conn, f"op-{i:04d}", outbox.OpKind.NOTE, one, {"body": f"poznámka {i}"}, JANA
            )
    config = str(tmp_path / "jana" / "helpdesk.toml")
    (tmp_path / "jana" / "helpdesk.toml").write_text(
        f'[agent]\nname = "jana"\nemail = "{JANA}"\n[team]\nstore = "{store_url}"\n'
        f'[cache]\npath = "{tmp_path / "jana" / "cache.sqlite"}"\n',
        encoding="utf-8",
    )
    table = LockTable(ws.team)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    proc = subprocess.Popen([sys.executable, "-c", PUSH_SCRIPT, config], env=env)
    deadline = time.monotonic() + 60
    while len(table.notes(one)) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < len(table.notes(one)) < n  # killed part-way
    assert TeamService(ws).push() > 0  # the restart replays the rest
    bodies = [x.body for x in table.notes(one)]
    assert len(bodies) == n and len(set(bodies)) == n  # every operation exactly once
    assert sum(1 for e in table.events_since(0) if e.kind == "note") == n
    assert TeamService(ws).pending() == 0
    ws.close()


def test_an_operation_the_store_cannot_take_does_not_block_the_rest(
    tmp_path: Path, pg_url: str
) -> None:
    ws = workspace(tmp_path, "jana", JANA, pg_url)
    svc = TeamService(ws)
    svc.sync()
    (one, *_) = numbers(ws)
    with ws.cache.writer.begin() as conn:
        # A NUL byte: PostgreSQL refuses the text (the service strips it; an old client may not).
        outbox.record(conn, "op-bad", outbox.OpKind.NOTE, one, {"body": "a\x00b"}, JANA)
        outbox.record(conn, "op-good", outbox.OpKind.NOTE, one, {"body": "dobrá"}, JANA)
    svc.sync()
    assert svc.online is True and svc.pending() == 0
    (bad,) = svc.conflicts()
    assert bad.id == "op-bad" and bad.result
    assert [n.body for n in LockTable(ws.team).notes(one)] == ["dobrá"]
    assert [n.body for n in ws.cache.ticket(one).notes] == ["dobrá"]  # type: ignore[union-attr]
    assert svc.add_note(one, "x\x00y\x1b[31m").ok  # cleaned before it is queued
    assert LockTable(ws.team).notes(one)[-1].body == "xy"
    ws.close()


def test_the_watcher_outlives_an_outage(sites: TwoSites) -> None:
    office, ja, pe, net = sites.office, sites.ja, sites.pe, sites.net
    assert not ja.wait_for_change(0.2)
    net.down()
    assert not ja.wait_for_change(0.2)  # an outage is a quiet "no change", never an error
    net.up()
    (one, *_) = numbers(office)
    ja.wait_for_change(0.3)  # the first wait after the outage makes a new listener
    assert pe.claim(one).ok
    assert ja.wait_for_change(5)  # and it hears the colleague again


def test_hand_over_selected_tickets_only(tmp_path: Path, store_url: str) -> None:
    ws = workspace(tmp_path, "jana", JANA, store_url)
    svc = TeamService(ws)
    one, two, three = numbers(ws)
    for n in (one, two, three):
        assert svc.claim(n).ok
    LockTable(ws.team).join(PETR, "petr")
    assert svc.reassign_all(JANA, PETR, numbers=[two], mark_away=False).ok
    table = LockTable(ws.team)
    assert [table.state(n).assignee for n in (one, two, three)] == [JANA, PETR, JANA]  # type: ignore[union-attr]
    assert not table.agent(JANA).away  # type: ignore[union-attr]
    assert sorted(t.number for t in ws.cache.list_tickets(Queue.MINE, JANA)) == [one, three]
    ws.close()


HEARTBEAT_SCRIPT = """
import sys, time
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_store import TeamStore
lt = LockTable(TeamStore(sys.argv[1]))
lt.join("petr@helpdesk.example", "Petr")
while True:
    lt.heartbeat("petr@helpdesk.example", int(sys.argv[2]), ttl=2)
    time.sleep(0.5)
"""


def test_presence_of_a_killed_client_disappears_within_its_ttl(
    tmp_path: Path, store_url: str
) -> None:
    import os
    import signal
    import subprocess
    import sys

    ws = workspace(tmp_path, "jana", JANA, store_url)
    (one, *_) = numbers(ws)
    table = LockTable(ws.team)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    proc = subprocess.Popen([sys.executable, "-c", HEARTBEAT_SCRIPT, store_url, str(one)], env=env)
    try:
        deadline = time.monotonic() + 30
        while not table.presence() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [(p.ticket, p.agent) for p in table.presence()] == [(one, PETR)]
        time.sleep(2.5)
        assert table.presence()  # renewed while the client lives
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed = time.monotonic()
    while table.presence() and time.monotonic() - killed < 10:
        time.sleep(0.1)
    assert table.presence() == []
    assert time.monotonic() - killed < 2.5  # within the TTL (2 s) and a poll
    ws.close()
