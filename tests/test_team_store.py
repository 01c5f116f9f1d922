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


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'team.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


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
