"""The outgoing mail queue in the cache: states, timing, crash semantics, schema 4."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from helpdesk.storage import cache as cache_module
from helpdesk.storage import outgoing as out
from helpdesk.storage.cache import Cache
from helpdesk.storage.outgoing import OutKind, OutState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AGENT = "jana@support.example"
CUSTOMER = "karel@customer.example"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    c.close()


def raw_mail(n: int) -> bytes:
    return (
        f"From: Jana via Support <support@example.com>\r\nTo: {CUSTOMER}\r\n"
        f"Message-ID: <r{n}@support.example>\r\nSubject: Re: [#7] printer\r\n\r\n"
        f"Reply number {n}\r\n"
    ).encode()


def put(
    cache: Cache,
    n: int,
    *,
    delay: float = 10.0,
    now: datetime = T0,
    ticket: int | None = 7,
) -> out.Outgoing:
    return out.queue(
        cache,
        ticket=ticket,
        kind=OutKind.REPLY,
        message_id=f"<r{n}@support.example>",
        raw=raw_mail(n),
        rcpt=[CUSTOMER, "boss@customer.example"],
        author=AGENT,
        send_delay=delay,
        status_after="waiting",
        base_seq=41,
        base_messages=["c1@customer.example"],
        now=now,
    )


def test_queue_keeps_everything_and_reads_back(cache: Cache) -> None:
    q = put(cache, 1)
    assert q.state == OutState.QUEUED and q.attempts == 0
    assert q.message_id == "r1@support.example"  # stored without brackets
    assert q.send_after == T0 + timedelta(seconds=10)
    got = out.get(cache, q.id)
    assert got == q
    assert got is not None and got.raw == raw_mail(1)
    assert got.rcpt == (CUSTOMER, "boss@customer.example")
    assert got.base_messages == ("c1@customer.example",) and got.base_seq == 41
    assert got.created_at.tzinfo is not None
    assert out.by_message_id(cache, "<r1@support.example>") == q
    assert out.by_message_id(cache, "r1@support.example") == q
    assert out.by_message_id(cache, "r2@support.example") is None
    assert out.get(cache, "no-such-id") is None


def test_one_message_id_is_queued_once(cache: Cache) -> None:
    put(cache, 1)
    with pytest.raises(IntegrityError):
        put(cache, 1, now=T0 + timedelta(minutes=1))
    assert out.counts(cache)[OutState.QUEUED] == 1


def test_queue_refuses_nonsense(cache: Cache) -> None:
    base = {
        "ticket": 7,
        "message_id": "x@support.example",
        "raw": b"x",
        "author": AGENT,
        "send_delay": 0,
        "status_after": None,
        "base_seq": 0,
        "base_messages": [],
    }
    with pytest.raises(ValueError, match="kind"):
        out.queue(cache, kind="telegram", rcpt=[CUSTOMER], **base)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="recipient"):
        out.queue(cache, kind=OutKind.REPLY, rcpt=[], **base)  # type: ignore[arg-type]
    assert sum(out.counts(cache).values()) == 0


def test_due_waits_for_the_undo_delay_and_orders_oldest_first(cache: Cache) -> None:
    late = put(cache, 1, delay=60, now=T0)  # due at T0+60
    early = put(cache, 2, delay=5, now=T0 + timedelta(seconds=10))  # due at T0+15
    mid = put(cache, 3, delay=0, now=T0 + timedelta(seconds=30))  # due at T0+30
    assert out.due(cache, T0 + timedelta(seconds=14)) == []
    assert [o.id for o in out.due(cache, T0 + timedelta(seconds=15))] == [early.id]
    assert [o.id for o in out.due(cache, T0 + timedelta(seconds=59))] == [early.id, mid.id]
    everything = out.due(cache, T0 + timedelta(seconds=60))
    assert [o.id for o in everything] == [early.id, mid.id, late.id]
    assert all(o.raw is not None for o in everything)  # the sender needs the bytes
    assert [o.id for o in out.due(cache, T0 + timedelta(hours=1), limit=1)] == [early.id]
    assert out.next_due_at(cache) == T0 + timedelta(seconds=15)


def test_retry_waits_for_next_attempt(cache: Cache) -> None:
    o = put(cache, 1, delay=0)
    assert out.claim_for_sending(cache, o.id)
    retry_at = T0 + timedelta(seconds=30)
    assert out.mark_retry(cache, o.id, "421 try later", retry_at)
    again = out.get(cache, o.id)
    assert again is not None
    assert again.state == OutState.QUEUED and again.attempts == 1
    assert again.last_error == "421 try later" and again.next_attempt == retry_at
    assert out.due(cache, T0 + timedelta(seconds=29)) == []
    assert out.next_due_at(cache) == retry_at
    assert [d.id for d in out.due(cache, retry_at)] == [o.id]
    assert out.claim_for_sending(cache, o.id, now=retry_at)
    assert out.mark_sent(cache, o.id, retry_at + timedelta(seconds=1))
    sent = out.get(cache, o.id)
    assert sent is not None and sent.state == OutState.SENT and sent.attempts == 2
    assert sent.sent_at == retry_at + timedelta(seconds=1) and sent.next_attempt is None


def test_claim_with_now_refuses_a_row_not_due(cache: Cache) -> None:
    o = put(cache, 1, delay=30)
    assert not out.claim_for_sending(cache, o.id, now=T0 + timedelta(seconds=29))
    assert out.claim_for_sending(cache, o.id, now=T0 + timedelta(seconds=30))


def test_undo_wins_over_the_sender_and_the_sender_over_undo(cache: Cache) -> None:
    undone = put(cache, 1)
    assert out.cancel(cache, undone.id)
    assert not out.claim_for_sending(cache, undone.id)  # cancelled meanwhile: not sent
    assert not out.cancel(cache, undone.id)  # twice is nothing
    assert out.due(cache, T0 + timedelta(days=1)) == []

    sending = put(cache, 2)
    assert out.claim_for_sending(cache, sending.id)
    assert not out.claim_for_sending(cache, sending.id)  # one sender only
    assert not out.cancel(cache, sending.id)  # too late to undo
    row = out.get(cache, sending.id)
    assert row is not None and row.state == OutState.SENDING


def test_refused_transitions_change_nothing(cache: Cache) -> None:
    o = put(cache, 1)
    # Nothing but claim, hold, cancel or a postponement applies to a queued row.
    assert not out.mark_sent(cache, o.id, T0)
    assert not out.mark_failed(cache, o.id, "x")
    assert not out.release_hold(cache, o.id, now=T0)
    assert out.get(cache, o.id) == o

    assert out.claim_for_sending(cache, o.id)
    assert out.mark_sent(cache, o.id, T0)
    done = out.get(cache, o.id)
    for refused in (
        out.claim_for_sending(cache, o.id),
        out.cancel(cache, o.id),
        out.hold(cache, o.id, "late news"),
        out.mark_failed(cache, o.id, "x"),
        out.mark_retry(cache, o.id, "x", T0),
        out.mark_sent(cache, o.id, T0 + timedelta(hours=1)),
    ):
        assert refused is False
    assert out.get(cache, o.id) == done
    assert not out.claim_for_sending(cache, "no-such-id")


def test_permanent_failure_keeps_the_reason(cache: Cache) -> None:
    o = put(cache, 1, delay=0)
    assert out.claim_for_sending(cache, o.id)
    assert out.mark_failed(cache, o.id, "550 5.1.1 no such user")
    failed = out.get(cache, o.id)
    assert failed is not None and failed.state == OutState.FAILED
    assert failed.last_error == "550 5.1.1 no such user"
    assert out.due(cache, T0 + timedelta(days=1)) == []
    assert not out.claim_for_sending(cache, o.id)
    # "Try again": due at once, with the reason of the last failure still there to see.
    assert out.release_hold(cache, o.id, now=T0 + timedelta(hours=1))
    again = out.get(cache, o.id)
    assert again is not None and again.state == OutState.QUEUED
    assert again.last_error == "550 5.1.1 no such user"
    assert out.claim_for_sending(cache, o.id) and out.mark_failed(cache, o.id, "550 again")
    assert out.cancel(cache, o.id)  # the agent dismisses it


def test_a_queued_row_can_be_postponed(cache: Cache) -> None:
    o = put(cache, 1, delay=0)
    later = T0 + timedelta(seconds=30)
    assert out.mark_retry(cache, o.id, "waiting for the team store", later)
    row = out.get(cache, o.id)
    assert row is not None and row.state == OutState.QUEUED and row.attempts == 0
    assert out.due(cache, T0 + timedelta(seconds=29)) == []
    assert [d.id for d in out.due(cache, later)] == [o.id]


def test_collision_hold_then_send_anyway(cache: Cache) -> None:
    o = put(cache, 1, delay=0)
    assert out.hold(cache, o.id, "Petr replied at 09:01")
    held = out.get(cache, o.id)
    assert held is not None and held.state == OutState.HELD
    assert held.held_reason == "Petr replied at 09:01"
    assert out.due(cache, T0 + timedelta(days=1)) == []
    assert not out.claim_for_sending(cache, o.id)

    later = T0 + timedelta(minutes=5)
    assert out.release_hold(
        cache, o.id, now=later, base_seq=45, base_messages=["c1@customer.example", "p@x.example"]
    )
    back = out.get(cache, o.id)
    assert back is not None and back.state == OutState.QUEUED and back.held_reason == ""
    assert back.base_seq == 45 and back.base_messages == ("c1@customer.example", "p@x.example")
    assert [d.id for d in out.due(cache, later)] == [o.id]
    assert not out.release_hold(cache, o.id, now=later)  # not held any more


def test_held_message_can_be_discarded(cache: Cache) -> None:
    o = put(cache, 1)
    assert out.hold(cache, o.id, "new customer message")
    assert out.cancel(cache, o.id)
    gone = out.get(cache, o.id)
    assert gone is not None and gone.state == OutState.CANCELLED
    assert out.for_ticket(cache, 7) == []


def test_crash_while_sending_is_never_resent_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    first = Cache(path)
    o = put(first, 1, delay=0)
    other = put(first, 2, delay=0)
    assert out.claim_for_sending(first, o.id)
    first.close()  # the process dies here: SMTP may or may not have taken the message

    again = Cache(path)
    try:
        assert [i.id for i in out.interrupted(again)] == [o.id]
        assert out.interrupted(again)[0].raw == raw_mail(1)
        # Not due: only the sender's check may decide what becomes of it.
        assert [d.id for d in out.due(again, T0 + timedelta(days=1))] == [other.id]
        # Found in the Sent folder: sent. Not found and not known: held for the agent.
        assert out.mark_sent(again, o.id, T0 + timedelta(minutes=1))
        assert out.interrupted(again) == []
        assert out.claim_for_sending(again, other.id)
        assert out.hold(again, other.id, "the server may have it: check before sending")
        assert out.interrupted(again) == []
        held = out.get(again, other.id)
        assert held is not None and held.state == OutState.HELD
        # Later found in Sent after all.
        assert out.mark_sent(again, other.id, T0 + timedelta(minutes=2))
    finally:
        again.close()


def test_concurrent_claims_let_exactly_one_sender_win(cache: Cache) -> None:
    o = put(cache, 1, delay=0)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def claim() -> None:
        barrier.wait()
        results.append(out.claim_for_sending(cache, o.id))

    def undo() -> None:
        barrier.wait()
        results.append(out.cancel(cache, o.id))

    threads = [threading.Thread(target=claim) for _ in range(5)] + [threading.Thread(target=undo)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    final = out.get(cache, o.id)
    assert final is not None and final.state in (OutState.SENDING, OutState.CANCELLED)


def test_for_ticket_and_counts(cache: Cache) -> None:
    queued = put(cache, 1)
    sent = put(cache, 2, delay=0)
    failed = put(cache, 3, delay=0)
    cancelled = put(cache, 4)
    held = put(cache, 5)
    elsewhere = put(cache, 6, ticket=8)
    new_ticket = put(cache, 7, ticket=None)
    assert out.claim_for_sending(cache, sent.id) and out.mark_sent(cache, sent.id, T0)
    assert out.claim_for_sending(cache, failed.id) and out.mark_failed(cache, failed.id, "550")
    assert out.cancel(cache, cancelled.id)
    assert out.hold(cache, held.id, "news")

    listed = out.for_ticket(cache, 7)
    assert {o.id for o in listed} == {queued.id, sent.id, failed.id, held.id}
    assert all(o.raw is None for o in listed)  # light view
    states = {o.id: o.state for o in listed}
    assert states[sent.id] == OutState.SENT and states[failed.id] == OutState.FAILED
    assert [o.id for o in out.for_ticket(cache, 8)] == [elsewhere.id]

    assert out.counts(cache) == {
        OutState.QUEUED: 3,  # queued, elsewhere, new_ticket
        OutState.SENDING: 0,
        OutState.SENT: 1,
        OutState.HELD: 1,
        OutState.FAILED: 1,
        OutState.CANCELLED: 1,
    }
    assert {o.id for o in out.unsent(cache)} == {
        queued.id,
        failed.id,
        held.id,
        elsewhere.id,
        new_ticket.id,
    }
    assert out.set_ticket(cache, new_ticket.id, 9)
    assert not out.set_ticket(cache, new_ticket.id, 10)  # the first number sticks
    assert [o.id for o in out.for_ticket(cache, 9)] == [new_ticket.id]


def test_retry_delay_backs_off_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempts, base in [(0, 30), (1, 30), (2, 60), (3, 120), (4, 300), (5, 600), (6, 1800)]:
        for _ in range(50):
            d = out.retry_delay(attempts, rng)
            assert base * 0.9 <= d <= min(base * 1.1, 1800)
    samples = {round(out.retry_delay(2, rng), 6) for _ in range(20)}
    assert len(samples) > 1  # really jittered
    assert all(out.retry_delay(99, rng) <= 1800 for _ in range(100))
    assert max(out.retry_delay(99, rng) for _ in range(200)) > 1700


def _schema_3_cache(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache made by the code as it was before schema 4, with mail and an outbox op."""
    with monkeypatch.context() as m:
        m.setattr(cache_module, "MIGRATIONS", cache_module.MIGRATIONS[:2])
        m.setattr(
            cache_module,
            "CACHE_TABLES",
            [t for t in cache_module.CACHE_TABLES if t.name not in ("outgoing", "draft")],
        )
        old = Cache(path)
        old.close()
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO ticket (number, subject, customer_name, customer_email, status, "
        "created_at, last_activity, message_count, waiting_on_us, priority, tags) "
        "VALUES (7, 'Tiskárna', 'Karel', 'karel@customer.example', 'open', "
        "'2026-03-01 09:00:00', '2026-03-01 09:00:00', 0, 1, 1, '')"
    )
    db.execute(
        "INSERT INTO outbox (id, kind, ticket, payload, created_at, state, attempts, result) "
        "VALUES ('op-1', 'note', 7, '{}', '2026-03-01 09:00:00', 'pending', 0, '')"
    )
    db.commit()
    db.close()


def _schema(path: Path, names: tuple[str, ...]) -> list[str]:
    db = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(names))
        rows = db.execute(
            f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND sql IS NOT NULL "
            "ORDER BY name",
            names,
        ).fetchall()
    finally:
        db.close()
    return [r[0] for r in rows]


def test_schema_3_cache_upgrades_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "old.sqlite"
    _schema_3_cache(path, monkeypatch)
    assert _schema(path, ("outgoing", "draft")) == []
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM cache_schema_version").fetchone() == (3,)
    db.close()

    cache = Cache(path)
    try:
        with cache.engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM cache_schema_version")).scalar()
            assert version == len(cache_module.MIGRATIONS) + 1
            # What was there is still there.
            assert conn.execute(text("SELECT subject FROM ticket")).scalar() == "Tiskárna"
            assert conn.execute(text("SELECT id FROM outbox")).scalar() == "op-1"
        o = put(cache, 1, delay=0)
        assert out.claim_for_sending(cache, o.id)
    finally:
        cache.close()
    # The upgraded file has the same tables and indexes as a new one.
    fresh = tmp_path / "fresh.sqlite"
    Cache(fresh).close()
    names = ("outgoing", "draft")
    assert _schema(path, names) == _schema(fresh, names)
    assert len(_schema(fresh, names)) >= 4  # two tables and their indexes


def test_drop_raw_empties_only_old_finished_messages(cache: Cache) -> None:
    sent = put(cache, 1, delay=0)
    cancelled = put(cache, 2)
    waiting = put(cache, 3, delay=0)
    recent = put(cache, 4, delay=0)
    unfiled = put(cache, 5, delay=0)  # sent, but not yet joined and filed in Sent
    assert out.claim_for_sending(cache, sent.id) and out.mark_sent(cache, sent.id, T0)
    out.mark_finished(cache, sent.id, T0)
    assert out.cancel(cache, cancelled.id)
    assert out.claim_for_sending(cache, recent.id)
    assert out.mark_sent(cache, recent.id, T0 + timedelta(days=40))
    assert out.claim_for_sending(cache, unfiled.id) and out.mark_sent(cache, unfiled.id, T0)
    assert out.drop_raw(cache, T0 + timedelta(days=30)) == 2
    assert out.drop_raw(cache, T0 + timedelta(days=30)) == 0  # already empty
    for o, kept in (
        (sent, False),
        (cancelled, False),
        (waiting, True),
        (recent, True),
        (unfiled, True),
    ):
        row = out.get(cache, o.id)
        assert row is not None and (row.raw == raw_mail(int(o.message_id[1]))) is kept
    got = out.by_message_id(cache, sent.message_id)
    assert got is not None and got.state == OutState.SENT
