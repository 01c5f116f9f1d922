"""The lock table on SQLite and on a real PostgreSQL: claims, permissions, handle next,
notes, last-writer-wins fields, presence, idempotent replays and the schema migration."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from helpdesk.core.team import PresenceKind, Role
from helpdesk.storage import team_store
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_store import Registration, TeamStore

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADMIN, JANA, PETR, LEAD = "admin@h.example", "jana@h.example", "petr@h.example", "lead@h.example"


def tickets(store: TeamStore, n: int, start: datetime = T0) -> list[int]:
    regs = [
        Registration(
            f"t{i}@c.example",
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


@pytest.fixture
def team(store_url: str) -> LockTable:
    lt = LockTable(TeamStore(store_url))
    assert lt.join(ADMIN, "Admin").role is Role.ADMIN  # the first agent runs the team
    for email in (JANA, PETR, LEAD):
        assert lt.join(email, email.split("@")[0]).role is Role.AGENT
    assert lt.set_agent(ADMIN, LEAD, role=Role.LEAD).ok
    return lt


def test_claim_is_exclusive_and_replay_is_a_no_op(team: LockTable) -> None:
    (n,) = tickets(team.store, 1)
    op = str(uuid.uuid4())
    assert team.claim(JANA, n, op_id=op).ok
    lost = team.claim(PETR, n)
    assert not lost.ok and lost.holder == JANA and JANA in lost.message
    again = team.claim(JANA, n, op_id=op)
    assert again.ok and again.replayed
    assert [e.kind for e in team.events_since(0) if e.ticket == n] == ["created", "claimed"]


def test_release_assign_steal_follow_roles(team: LockTable) -> None:
    a, b = tickets(team.store, 2)
    assert team.claim(JANA, a).ok
    assert not team.release(PETR, a).ok  # not theirs
    assert not team.assign(PETR, a, PETR).ok  # agents cannot take others' tickets
    assert not team.steal(PETR, a).ok
    assert team.assign(JANA, a, PETR).ok  # hand over one's own
    assert team.state(a).assignee == PETR  # type: ignore[union-attr]
    stolen = team.steal(LEAD, a)
    assert stolen.ok and team.state(a).assignee == LEAD  # type: ignore[union-attr]
    assert team.release(LEAD, a).ok and team.state(a).assignee is None  # type: ignore[union-attr]
    assert team.claim(PETR, b).ok and team.release(LEAD, b).ok  # leads may release anything
    kinds = [(e.kind, e.actor, e.old, e.new) for e in team.events_since(0) if e.ticket == a]
    assert ("assigned", JANA, JANA, PETR) in kinds and ("stolen", LEAD, PETR, LEAD) in kinds


def test_bulk_reassign_marks_away(team: LockTable) -> None:
    nums = tickets(team.store, 4)
    for n in nums[:3]:
        assert team.claim(JANA, n).ok
    assert not team.reassign_all(PETR, JANA, PETR).ok  # only leads move others' work
    done = team.reassign_all(LEAD, JANA, PETR)
    assert done.ok and "3 tickets" in done.message
    assert all(team.state(n).assignee == PETR for n in nums[:3])  # type: ignore[union-attr]
    assert team.agent(JANA).away  # type: ignore[union-attr]
    assert not team.assign(LEAD, nums[3], JANA).ok  # nobody is given work while away
    loads = {a.agent.email: a.holding for a in team.agents()}
    assert loads[PETR] == 3 and loads[JANA] == 0


def test_handle_next_order_presence_and_skip(team: LockTable) -> None:
    old, urgent, newer, viewed = tickets(team.store, 4)
    assert team.set_field(LEAD, urgent, "priority", "3").ok
    team.heartbeat(PETR, viewed)  # Petr is looking at it: not offered to others
    assert team.handle_next(JANA).ticket == urgent  # priority first
    assert team.handle_next(JANA).ticket == old  # then the longest waiting
    assert team.skip(JANA, old, "needs the warehouse").ok  # skipping gives it back
    assert team.state(old).assignee is None  # type: ignore[union-attr]
    assert team.handle_next(JANA).ticket == newer  # the skipped one is not offered again
    assert not team.handle_next(JANA).ok  # `viewed` is being viewed, `old` was skipped
    assert team.handle_next(PETR).ticket == old  # others still get the skipped ticket
    assert team.handle_next(PETR).ticket == viewed  # one's own presence does not hide it


def test_notes_are_append_only_and_idempotent(team: LockTable) -> None:
    (n,) = tickets(team.store, 1)
    nid = str(uuid.uuid4())
    assert team.add_note(JANA, n, "Zákazník volal, chce vrátit peníze.", note_id=nid).ok
    assert team.add_note(JANA, n, "Zákazník volal, chce vrátit peníze.", note_id=nid).replayed
    assert team.add_note(PETR, n, "OK, vyřídím.", note_id=str(uuid.uuid4())).ok
    assert [(x.author, x.body) for x in team.notes(n)] == [
        (JANA, "Zákazník volal, chce vrátit peníze."),
        (PETR, "OK, vyřídím."),
    ]


def test_fields_last_writer_wins_with_both_in_the_log(team: LockTable) -> None:
    (n,) = tickets(team.store, 1)
    now = datetime.now(UTC)
    assert team.set_field(PETR, n, "category", "Orders", at=now).ok
    # An edit made earlier, offline, arrives later: it loses, and the log keeps it.
    late = team.set_field(
        JANA, n, "category", "Complaints", at=now - timedelta(hours=1), op_id=str(uuid.uuid4())
    )
    assert not late.ok and "Orders" in late.message
    assert team.state(n).category == "Orders"  # type: ignore[union-attr]
    fields = [(e.kind, e.actor, e.new) for e in team.events_since(0) if e.field == "category"]
    assert fields == [("field", PETR, "Orders"), ("field_overridden", JANA, "Complaints")]
    assert team.set_field(JANA, n, "category", "Complaints", at=now + timedelta(seconds=1)).ok
    assert team.state(n).category == "Complaints"  # type: ignore[union-attr]
    assert not team.set_field(JANA, n, "assignee", PETR).ok  # not an editable field


def test_presence_expires_on_its_own(team: LockTable) -> None:
    (n,) = tickets(team.store, 1)
    team.heartbeat(JANA, n, PresenceKind.REPLYING, ttl=1)
    assert [(p.agent, p.kind) for p in team.presence()] == [(JANA, PresenceKind.REPLYING)]
    time.sleep(1.3)
    assert team.presence() == []  # a killed client leaves no stale "replying"


def _next_worker(url: str, agent: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    lt = LockTable(TeamStore(url))
    lt.join(agent, agent)
    got = []
    while True:
        res = lt.handle_next(agent)
        if not res.ok:
            break
        got.append(res.ticket)
    out.put(got)


def test_twenty_processes_handle_next_claim_each_ticket_once(
    team: LockTable, store_url: str
) -> None:
    n = 1000
    tickets(team.store, n)
    team.store.engine.dispose()  # children must not share the parent's connections
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_next_worker, args=(store_url, f"a{i}@h.example", out))
        for i in range(20)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    claimed = Counter(t for r in results for t in r)
    assert len(claimed) == n and set(claimed.values()) == {1}
    assert sum(1 for r in results if r) > 1  # the work was really shared


def test_migration_from_schema_1(store_url: str) -> None:
    engine = create_engine(store_url)
    ts = "TIMESTAMP WITH TIME ZONE" if engine.dialect.name == "postgresql" else "DATETIME"
    serial = "SERIAL" if engine.dialect.name == "postgresql" else "INTEGER"
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE team_schema_version (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO team_schema_version VALUES (1)"))
        conn.execute(
            text("CREATE TABLE team_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        )
        conn.execute(
            text(
                f"CREATE TABLE team_ticket (number {serial} PRIMARY KEY, subject VARCHAR NOT NULL, "
                f"customer_email VARCHAR NOT NULL, status VARCHAR NOT NULL, assignee VARCHAR, created_at {ts} NOT NULL)"
            )
        )
        conn.execute(
            text(
                "CREATE TABLE message_index (message_id VARCHAR PRIMARY KEY, "
                f"ticket INTEGER NOT NULL REFERENCES team_ticket(number), registered_at {ts} NOT NULL)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO team_ticket (subject, customer_email, status, created_at) VALUES ('old', 'c@x', 'open', :t)"
            ),
            {"t": T0},
        )
    engine.dispose()
    lt = LockTable(TeamStore(store_url))
    with lt.store.engine.connect() as conn:
        version = conn.execute(text("SELECT version FROM team_schema_version")).scalar_one()
    assert version == len(team_store.MIGRATIONS) + 1  # upgraded to the latest
    state = lt.state(1)
    assert state is not None and state.priority == 1 and state.tags == () and state.status == "open"
    lt.join(JANA, "Jana")
    assert lt.claim(JANA, 1).ok and lt.add_note(JANA, 1, "po migraci", note_id="n1").ok
    # Schema 3: registrations keep when each message was sent (waiting-since).
    (got,) = lt.store.register([Registration("new@x", [], [], None, "Nové", "c@x", T0)])
    with lt.store.engine.connect() as conn:
        sent = conn.execute(text("SELECT sent_at FROM message_index WHERE message_id = 'new@x'"))
        assert sent.scalar_one() is not None
    assert lt.state(got.ticket).waiting_since == T0  # type: ignore[union-attr]


def _open_store(url: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        store = TeamStore(url)
        store.register([Registration(f"{uuid.uuid4()}@c.example", [], [], None, "s", "c@x", T0)])
        out.put("ok")
    except BaseException as exc:  # reported to the parent
        out.put(f"{type(exc).__name__}: {exc}")


def test_many_clients_starting_at_once_on_a_new_database(store_url: str) -> None:
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_open_store, args=(store_url, out)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == ["ok"] * 6
    assert TeamStore(store_url).counts() == (6, 6)


def test_reply_lock_is_exclusive_renewable_and_expires(team: LockTable) -> None:
    a, b = tickets(team.store, 2)
    assert team.take_reply_lock(JANA, a, ttl=1).ok  # takes the unassigned ticket too
    assert team.state(a).assignee == JANA and team.state(a).lock_holder == JANA  # type: ignore[union-attr]
    assert team.take_reply_lock(JANA, a, ttl=1).ok  # renewing
    held = team.take_reply_lock(PETR, a)
    assert not held.ok and held.holder == JANA
    assert team.steal(LEAD, a).ok  # a new holder starts without the old one's lock
    assert team.state(a).lock_holder is None  # type: ignore[union-attr]
    assert team.take_reply_lock(LEAD, a, ttl=1).ok
    time.sleep(1.2)
    # Expired: the holder may take it again at once; the ticket stays with its assignee.
    assert team.take_reply_lock(LEAD, a).ok
    team.drop_reply_lock(LEAD, a)
    assert team.state(a).lock_holder is None  # type: ignore[union-attr]
    assert not team.take_reply_lock(JANA, a).ok  # the lead holds the ticket
    assert team.take_reply_lock(PETR, b).ok


def test_two_agents_claim_the_same_ticket_at_once(team: LockTable, store_url: str) -> None:
    import threading

    (n,) = tickets(team.store, 1)
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}
    holders: dict[str, str | None] = {}

    def go(agent: str) -> None:
        lt = LockTable(TeamStore(store_url))
        barrier.wait()
        out = lt.claim(agent, n)
        results[agent] = out.ok
        holders[agent] = out.holder

    threads = [threading.Thread(target=go, args=(a,)) for a in (JANA, PETR)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [False, True]
    winner = next(a for a, ok in results.items() if ok)
    loser = next(a for a, ok in results.items() if not ok)
    assert holders[loser] == winner  # the loser is told who has it


def test_edits_follow_holders_and_values_are_checked(team: LockTable) -> None:
    a, b = tickets(team.store, 2)
    assert team.claim(JANA, a).ok
    denied = team.set_field(PETR, a, "status", "closed")
    assert not denied.ok and JANA in denied.message  # not his ticket
    assert team.set_field(LEAD, a, "status", "waiting").ok  # leads may
    assert not team.set_field(JANA, a, "status", "banana").ok
    assert not team.set_field(JANA, a, "priority", "9").ok
    assert team.set_field(JANA, a, "tags", "vip, reklamace,vip").ok
    assert team.state(a).tags == ("reklamace", "vip")  # type: ignore[union-attr]
    assert team.set_field(PETR, b, "priority", "2").ok  # nobody holds b
    future = datetime.now(UTC) + timedelta(days=1)
    assert team.set_field(PETR, b, "priority", "3", at=future).ok
    # A clock a day ahead does not win against an edit made a moment later.
    assert team.set_field(PETR, b, "priority", "1").ok
    assert team.state(b).priority == 1  # type: ignore[union-attr]


def test_skip_checks_the_agent_and_frees_the_reply_lock(team: LockTable) -> None:
    (n,) = tickets(team.store, 1)
    assert not team.skip("nobody@evil.example", n).ok
    assert team.take_reply_lock(JANA, n).ok
    assert team.skip(JANA, n, "needs the warehouse", op_id="skip-1").ok
    assert team.skip(JANA, n, op_id="skip-1").replayed
    assert team.take_reply_lock(PETR, n).ok  # the lock went with the ticket
    kinds = [(e.kind, e.new) for e in team.events_since(0) if e.ticket == n]
    assert ("released", "skipped: needs the warehouse") in kinds


def test_only_leads_change_departments_and_others(team: LockTable) -> None:
    assert not team.set_agent(JANA, JANA, departments=["sklad"]).ok
    assert not team.set_agent(JANA, PETR, away=True).ok
    assert team.set_agent(JANA, JANA, away=True).ok  # one's own away flag
    assert team.set_agent(LEAD, JANA, departments=["sklad"], away=False).ok
    jana = team.agent(JANA)
    assert jana is not None and jana.departments == ("sklad",) and not jana.away
    assert not team.set_agent(LEAD, PETR, role=Role.ADMIN).ok  # roles: admins only


def test_handle_next_by_department(team: LockTable) -> None:
    sklad, b2b, unrouted = tickets(team.store, 3)
    assert team.set_field(LEAD, sklad, "department", "sklad").ok
    assert team.set_field(LEAD, b2b, "department", "b2b").ok
    assert team.set_agent(LEAD, JANA, departments=["sklad"]).ok
    got = [team.handle_next(JANA, departments_only=True).ticket for _ in range(3)]
    assert got == [sklad, unrouted, None]  # never the other department's ticket
    assert team.handle_next(JANA).ticket == b2b  # without the policy, anything waiting


def test_a_replay_gives_the_first_answer_again(team: LockTable) -> None:
    a, b = tickets(team.store, 2)
    assert team.claim(JANA, a).ok
    refused = team.claim(PETR, a, op_id="op-claim")
    assert not refused.ok and refused.holder == JANA
    assert team.release(JANA, a).ok
    # The client died before it heard the answer; its replay must not now win the ticket.
    again = team.claim(PETR, a, op_id="op-claim")
    assert again.replayed and not again.ok and again.holder == JANA
    assert team.state(a).assignee is None  # type: ignore[union-attr]
    now = datetime.now(UTC)
    assert team.set_field(JANA, b, "category", "Orders", at=now).ok
    lost = team.set_field(PETR, b, "category", "Other", at=now - timedelta(hours=1), op_id="op-set")
    assert not lost.ok
    assert not team.set_field(
        PETR, b, "category", "Other", at=now - timedelta(hours=1), op_id="op-set"
    ).ok
    assert [e.kind for e in team.events_since(0) if e.op_id == "op-claim"] == ["refused"]


def test_handle_next_stores_what_every_other_write_stores(team: LockTable) -> None:
    """On SQLite handle-next runs on the driver directly: its rows must be the same as those
    written through Core (the same time format, so that comparisons and ordering hold)."""
    first, second = tickets(team.store, 2)
    assert team.claim(JANA, first).ok  # through Core
    started = datetime.now(UTC)
    assert team.handle_next(PETR, op_id="op-next-1").ticket == second  # the fast path
    claimed = [e for e in team.events_since(0) if e.kind == "claimed"]
    assert [(e.ticket, e.actor) for e in claimed] == [(first, JANA), (second, PETR)]
    assert claimed[1].at >= started - timedelta(seconds=1) and claimed[1].at.tzinfo is not None
    with team.store.engine.connect() as conn:
        shapes = conn.execute(
            text(
                "SELECT typeof(at), length(at), typeof(recorded_at) FROM team_event WHERE kind = 'claimed' ORDER BY seq"
            )
            if conn.dialect.name == "sqlite"
            else text("SELECT 'x', 1, 'x' FROM team_event WHERE kind = 'claimed'")
        ).all()
    assert len(shapes) == 2 and shapes[0] == shapes[1]
    # A replay of the same operation gets the same answer, not a second claim.
    again = team.handle_next(PETR, op_id="op-next-1")
    assert again.ok and again.replayed and again.ticket == second
    assert team.state(second).assignee == PETR  # type: ignore[union-attr]
