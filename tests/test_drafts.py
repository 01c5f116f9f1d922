"""Drafts: saved in the cache while the agent types, shared through the team store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from helpdesk.storage import drafts
from helpdesk.storage import team_store as team_store_module
from helpdesk.storage.cache import Cache
from helpdesk.storage.drafts import DraftAttachment, DraftRecord
from helpdesk.storage.team_store import TeamStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JANA = "jana@support.example"
PETR = "petr@support.example"


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    c.close()


@pytest.fixture
def store(store_url: str) -> Iterator[TeamStore]:
    s = TeamStore(store_url)
    yield s
    s.close()


def draft(
    draft_id: str = "d1", *, ticket: int | None = 7, author: str = JANA, **kw: object
) -> DraftRecord:
    values: dict[str, object] = {
        "to": "Karel Dvořák <karel@customer.example>, ",
        "cc": "",
        "bcc": "archive@support.example",
        "subject": "Re: [#7] Tiskárna nejde",
        "body": "Dobrý den,\n\nzkuste prosím ovladač 2.1.\n\n> puvodni zprava\n",
        "attachments": (
            DraftAttachment("driver.zip", path="/home/jana/driver.zip"),
            DraftAttachment("photo.jpg", message_id="c1@customer.example", message_pk=12, part="2"),
        ),
        "base_seq": 41,
        "base_messages": ("c1@customer.example",),
        "template": "printer-driver",
    }
    values.update(kw)
    return DraftRecord(id=draft_id, ticket=ticket, kind="reply", author=author, **values)  # type: ignore[arg-type]


def same_content(a: DraftRecord, b: DraftRecord) -> bool:
    return replace(a, updated_at=None, deleted=False) == replace(b, updated_at=None, deleted=False)


# -- the cache -------------------------------------------------------------------------------


def test_save_and_load_round_trip(cache: Cache) -> None:
    d = draft()
    assert drafts.save(cache, d, T0)
    got = drafts.load(cache, "d1")
    assert got is not None and same_content(got, d)
    assert got.updated_at == T0 and not got.deleted
    assert got.attachments[1].message_id == "c1@customer.example"
    assert drafts.load(cache, "nope") is None


def test_save_replaces_the_previous_version(cache: Cache) -> None:
    drafts.save(cache, draft(body="first"), T0)
    drafts.save(cache, draft(body="second", attachments=()), T0 + timedelta(seconds=5))
    got = drafts.load(cache, "d1")
    assert got is not None
    assert got.body == "second" and got.attachments == ()
    assert got.updated_at == T0 + timedelta(seconds=5)
    assert len(drafts.for_ticket(cache, 7)) == 1


def test_for_ticket_newest_first_by_author_and_new_tickets(cache: Cache) -> None:
    drafts.save(cache, draft("a"), T0)
    drafts.save(cache, draft("b", author=PETR), T0 + timedelta(minutes=2))
    drafts.save(cache, draft("c"), T0 + timedelta(minutes=1))
    drafts.save(cache, draft("other", ticket=8), T0 + timedelta(minutes=3))
    drafts.save(cache, draft("new", ticket=None), T0 + timedelta(minutes=4))
    assert [d.id for d in drafts.for_ticket(cache, 7)] == ["b", "c", "a"]
    assert [d.id for d in drafts.for_ticket(cache, 7, JANA)] == ["c", "a"]
    assert [d.id for d in drafts.for_ticket(cache, None)] == ["new"]
    assert drafts.for_ticket(cache, 9) == []


def test_discard_hides_the_draft_and_an_autosave_cannot_revive_it(cache: Cache) -> None:
    drafts.save(cache, draft(), T0)
    assert drafts.discard(cache, "d1", T0 + timedelta(seconds=10))
    assert drafts.load(cache, "d1") is None
    assert drafts.for_ticket(cache, 7) == []
    assert not drafts.discard(cache, "d1")  # already gone
    assert not drafts.discard(cache, "never-saved")
    # The editor's timer fires once more after the discard.
    assert not drafts.save(cache, draft(body="late"), T0 + timedelta(seconds=11))
    assert drafts.load(cache, "d1") is None


def test_unpushed_and_mark_pushed(cache: Cache) -> None:
    drafts.save(cache, draft("a"), T0)
    drafts.save(cache, draft("b"), T0 + timedelta(seconds=1))
    assert [d.id for d in drafts.unpushed(cache)] == ["a", "b"]
    for d in drafts.unpushed(cache):
        assert d.updated_at is not None
        drafts.mark_pushed(cache, d.id, d.updated_at)
    assert drafts.unpushed(cache) == []

    # A save made while a push was on its way stays to push.
    pushed = drafts.unpushed(cache)
    drafts.save(cache, draft("a", body="v2"), T0 + timedelta(seconds=5))
    in_flight = drafts.unpushed(cache)
    drafts.save(cache, draft("a", body="v3"), T0 + timedelta(seconds=9))
    assert pushed == [] and in_flight[0].updated_at is not None
    drafts.mark_pushed(cache, "a", in_flight[0].updated_at)
    left = drafts.unpushed(cache)
    assert [(d.id, d.body) for d in left] == [("a", "v3")]

    # A discard is a change to push, and then a tombstone to sweep.
    drafts.discard(cache, "b", T0 + timedelta(seconds=20))
    tomb = [d for d in drafts.unpushed(cache) if d.id == "b"]
    assert len(tomb) == 1 and tomb[0].deleted
    assert drafts.purge(cache, T0 + timedelta(days=1)) == 0  # not pushed yet: kept
    drafts.mark_pushed(cache, "b", T0 + timedelta(seconds=20))
    assert drafts.purge(cache, T0 + timedelta(seconds=20)) == 0  # not old enough
    assert drafts.purge(cache, T0 + timedelta(days=1)) == 1
    assert [d.id for d in drafts.unpushed(cache)] == ["a"]


# -- the team store (SQLite and PostgreSQL) ----------------------------------------------------


def test_push_shares_drafts_with_colleagues(cache: Cache, store: TeamStore) -> None:
    drafts.save(cache, draft("a"), T0)
    drafts.save(cache, draft("b", ticket=8), T0 + timedelta(seconds=1))
    drafts.save(cache, draft("c", author=PETR), T0 + timedelta(seconds=2))
    drafts.push(store, drafts.unpushed(cache))
    shared = drafts.shared_for_ticket(store, 7)
    assert [d.id for d in shared] == ["c", "a"]
    local = drafts.load(cache, "a")
    assert local is not None and same_content(shared[1], local)
    assert shared[1].updated_at == T0  # the time survives the round trip on both engines
    assert [d.id for d in drafts.shared_for_ticket(store, 8)] == ["b"]
    assert drafts.shared_for_ticket(store, 99) == []
    drafts.push(store, [])  # nothing to do is fine


def test_push_last_writer_wins(store: TeamStore) -> None:
    newer = draft(body="newer", updated_at=T0 + timedelta(minutes=5))
    older = draft(body="older", updated_at=T0)
    drafts.push(store, [newer])
    drafts.push(store, [older])  # a laptop back online with a stale copy
    assert [d.body for d in drafts.shared_for_ticket(store, 7)] == ["newer"]
    drafts.push(store, [draft(body="newest", updated_at=T0 + timedelta(minutes=6))])
    assert [d.body for d in drafts.shared_for_ticket(store, 7)] == ["newest"]
    # Two copies of one draft in one batch: the newer is kept.
    drafts.push(
        store,
        [
            draft(body="b2", updated_at=T0 + timedelta(minutes=8)),
            draft(body="b1", updated_at=T0 + timedelta(minutes=7)),
        ],
    )
    assert [d.body for d in drafts.shared_for_ticket(store, 7)] == ["b2"]


def test_deletion_is_a_tombstone_that_stale_copies_cannot_undo(store: TeamStore) -> None:
    drafts.push(store, [draft(updated_at=T0)])
    drafts.push(store, [draft(updated_at=T0 + timedelta(minutes=1), deleted=True)])
    assert drafts.shared_for_ticket(store, 7) == []
    drafts.push(store, [draft(updated_at=T0 + timedelta(seconds=30))])  # older than the discard
    assert drafts.shared_for_ticket(store, 7) == []
    tomb = drafts.shared(store, "d1")
    assert tomb is not None and tomb.deleted
    # A copy of the same moment as the discard does not bring it back either.
    drafts.push(store, [draft("e", updated_at=T0)])
    drafts.push(store, [draft("e", updated_at=T0, deleted=True)])
    drafts.push(store, [draft("e", updated_at=T0, body="same moment")])
    assert drafts.shared_for_ticket(store, 7) == []


def test_push_refuses_a_draft_never_saved(store: TeamStore) -> None:
    with pytest.raises(ValueError, match="never saved"):
        drafts.push(store, [draft()])


def test_two_caches_converge_through_the_store(tmp_path: Path, store: TeamStore) -> None:
    jana, petr = Cache(tmp_path / "jana.sqlite"), Cache(tmp_path / "petr.sqlite")
    try:
        drafts.save(jana, draft("j", body="Jana's text"), T0)
        drafts.save(petr, draft("p", author=PETR, body="Petr's text"), T0 + timedelta(seconds=3))
        for c in (petr, jana):
            batch = drafts.unpushed(c)
            drafts.push(store, batch)
            for d in batch:
                assert d.updated_at is not None
                drafts.mark_pushed(c, d.id, d.updated_at)
        assert [d.body for d in drafts.shared_for_ticket(store, 7)] == [
            "Petr's text",
            "Jana's text",
        ]
        # Jana sends hers: the draft goes, locally and then for the team.
        drafts.discard(jana, "j", T0 + timedelta(minutes=1))
        drafts.push(store, drafts.unpushed(jana))
        assert [d.id for d in drafts.shared_for_ticket(store, 7)] == ["p"]
    finally:
        jana.close()
        petr.close()


def test_team_schema_3_upgrades_in_place(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(team_store_module, "MIGRATIONS", team_store_module.MIGRATIONS[:2])
        m.setattr(
            team_store_module,
            "TEAM_TABLES",
            # Tables that later schema steps add did not exist at schema 3.
            [t for t in team_store_module.TEAM_TABLES if t.name not in ("team_draft", "auto_mail")],
        )
        old = TeamStore(store_url)
        old.close()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            assert not inspect(conn).has_table("team_draft")
            assert conn.execute(text("SELECT version FROM team_schema_version")).scalar() == 3
    finally:
        engine.dispose()

    store = TeamStore(store_url)
    try:
        with store.engine.connect() as conn:
            version = conn.execute(text("SELECT version FROM team_schema_version")).scalar()
            assert version == len(team_store_module.MIGRATIONS) + 1
            indexes = {i["name"] for i in inspect(conn).get_indexes("team_draft")}
        assert "ix_team_draft_ticket" in indexes
        drafts.push(store, [draft(updated_at=T0)])
        assert [d.id for d in drafts.shared_for_ticket(store, 7)] == ["d1"]
    finally:
        store.close()
