"""The team store's registry on SQLite and on a real PostgreSQL: same code, same tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from helpdesk.core.threading import ThreadReason
from helpdesk.storage.db import SchemaError
from helpdesk.storage.team_store import Registration, TeamStore

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def reg(mid: str, *refs: str, tag: int | None = None) -> Registration:
    return Registration(mid, list(refs), [], tag, f"subject {mid}", "c@example.com", NOW)


def test_replies_join_and_first_registration_wins(store_url: str) -> None:
    store = TeamStore(store_url)
    first = store.register([reg("a@x"), reg("b@x", "a@x"), reg("c@x")])
    assert [r.created for r in first] == [True, False, True]
    assert first[1].ticket == first[0].ticket
    assert first[1].reason is ThreadReason.REFERENCE
    assert first[2].ticket != first[0].ticket
    # The same id registered again (another cache, a re-fetch) gets the first answer.
    again = store.register([reg("b@x")])
    assert again[0].ticket == first[0].ticket and again[0].reason is ThreadReason.KNOWN
    assert store.counts() == (2, 3)
    store.close()


def test_secret_is_shared_and_stable(store_url: str) -> None:
    a, b = TeamStore(store_url), TeamStore(store_url)
    assert len(a.secret) == 32
    assert a.secret == b.secret
    a.close()
    b.close()


def test_concurrent_registrations_converge(store_url: str) -> None:
    """Two caches register the same mail at once: one ticket per conversation, no orphans."""
    TeamStore(store_url).close()  # create the schema once, before the race
    roots = [f"root{i}@x" for i in range(30)]
    batch = [reg(r) for r in roots] + [reg(f"reply{i}@x", r) for i, r in enumerate(roots)]
    results: dict[int, dict[str, int]] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            store = TeamStore(store_url)
            order = batch if n % 2 == 0 else list(reversed(batch))
            out: dict[str, int] = {}
            for i in range(0, len(order), 7):
                chunk = order[i : i + 7]
                for r, res in zip(chunk, store.register(chunk), strict=True):
                    out[r.message_id] = res.ticket
            results[n] = out
            store.close()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    first = results[0]
    assert all(r == first for r in results.values())
    store = TeamStore(store_url)
    tickets, ids = store.counts()
    assert ids == len(batch)
    # Each reply is in the ticket of its root, unless it was registered before its root (the
    # reversed order): then it opened a ticket and its root joined... no: roots have no refs,
    # so the root opens its own ticket. Either way no ticket is left without messages.
    with store.engine.connect() as conn:
        orphans = conn.execute(
            text(
                "SELECT count(*) FROM team_ticket t WHERE NOT EXISTS (SELECT 1 FROM message_index m WHERE m.ticket = t.number)"
            )
        ).scalar_one()
    assert orphans == 0
    assert tickets == len(set(first.values()))
    store.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'team.sqlite'}"
    TeamStore(url).close()
    store = TeamStore(url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE team_schema_version SET version = 99"))
    store.close()
    with pytest.raises(SchemaError, match="newer"):
        TeamStore(url)


@pytest.mark.parametrize("order", ["in time", "newest first", "sent folder last"])
def test_waiting_since_does_not_depend_on_arrival_order(store_url: str, order: str) -> None:
    """The customer writes at 9:00, we answer at 10:00, the customer writes again at 11:00
    and 12:00: they wait since 11:00, however the messages reach the team store (a first
    sync goes newest first; INBOX and Sent are separate folders, so separate batches)."""

    def at(hour: int, mid: str, *refs: str, ours: bool = False) -> Registration:
        when = NOW.replace(hour=hour)
        return Registration(mid, list(refs), [], None, "Reklamace", "c@example.com", when, ours)

    c1, r1 = at(9, "c1@x"), at(10, "r1@x", "c1@x", ours=True)
    c2, c3 = at(11, "c2@x", "r1@x", "c1@x"), at(12, "c3@x", "c2@x", "r1@x", "c1@x")
    batches = {
        "in time": [[c1], [r1], [c2], [c3]],
        "newest first": [[c3], [c2], [r1], [c1]],
        "sent folder last": [[c1, c2, c3], [r1]],
    }[order]
    store = TeamStore(store_url)
    try:
        tickets = {r.ticket for batch in batches for r in store.register(batch)}
        assert len(tickets) == 1
        (state,) = store.ticket_states(tickets).values()
        assert state.waiting_since == NOW.replace(hour=11)
        # Our answer at 13:00 ends the wait, also when it is registered on its own.
        store.register([at(13, "r2@x", "c3@x", "c1@x", ours=True)])
        (state,) = store.ticket_states(tickets).values()
        assert state.waiting_since is None
        # And a customer message older than that answer does not start a new one.
        store.register([at(12, "c2b@x", "r1@x", "c1@x")])
        (state,) = store.ticket_states(tickets).values()
        assert state.waiting_since is None
    finally:
        store.close()
