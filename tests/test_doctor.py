"""`helpdesk doctor` compares a real Dovecot's UID sets with the cache and the team store."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount
from sqlalchemy import insert, select

from helpdesk.cli.doctor import DoctorReport, _uids, doctor
from helpdesk.core.config import Settings
from helpdesk.storage import census_queries
from helpdesk.storage.cache_models import CachedMessage, MessageLocation, RawMessage
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync import uid_search
from helpdesk.sync.service import SyncService
from helpdesk.sync.uid_search import _esearch_all, folder_uids, parse_sequence_set

OURS = "support@helpdesk.example"
message_t = CachedMessage.__table__
location_t = MessageLocation.__table__
raw_t = RawMessage.__table__


def settings_for(acct: ImapAccount, tmp_path: Path, store: str | None = None) -> Settings:
    return load_settings(str(acct.write_config(tmp_path, store=store, address=OURS)), env={})


def fill(acct: ImapAccount, n: int, prefix: str = "m") -> list[int]:
    return [
        acct.append("INBOX", message(f"{prefix}{i}@customer.example", subject=f"Dotaz {i}"))
        for i in range(n)
    ]


def synced(
    acct: ImapAccount, tmp_path: Path, store: str | None = None
) -> tuple[Settings, Workspace]:
    settings = settings_for(acct, tmp_path, store)
    ws = open_workspace(settings)
    report = SyncService(ws).sync_once()
    assert report.ok, report.errors
    return settings, ws


def run_doctor(settings: Settings) -> tuple[DoctorReport, str]:
    lines: list[str] = []
    report = doctor(settings, lines.append)
    return report, "\n".join(lines)


def kinds(report: DoctorReport) -> set[str]:
    return {d.kind for d in report.duplicates}


# -- pure parts ---------------------------------------------------------------------------------


def test_sequence_sets_and_esearch_answers_parse() -> None:
    assert parse_sequence_set(b"1:3,7,10:9") == {1, 2, 3, 7, 9, 10}
    assert _esearch_all([b'(TAG "A7") UID ALL 4:6,9']) == {4, 5, 6, 9}
    assert _esearch_all([b'(TAG "A7") UID', None]) == set()  # no match: no ALL item
    assert _esearch_all([b'(TAG "ALL") UID COUNT 2 ALL 1,5']) == {1, 5}


def test_uid_lists_are_shown_as_few_ranges() -> None:
    assert _uids([4, 7, 8, 9, 12]) == "4, 7:9, 12"
    assert _uids([*range(1, 101), 200, 300, 400, 500, 600, 700]) == (
        "1:100, 200, 300, 400, 500 and 2 more"
    )


# -- against Dovecot ----------------------------------------------------------------------------


def test_esearch_and_plain_search_read_the_same_uids(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    uids = fill(imap_account, 7)
    imap_account.expunge("INBOX", [uids[2], uids[5]])
    expected = frozenset(uids) - {uids[2], uids[5]}
    monkeypatch.setattr(uid_search, "SEARCH_SLICE", 2)  # several SEARCH commands per folder
    with imap_account.connect() as client:
        assert client.has_capability("ESEARCH")
        exists = int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])
        assert exists == 5
        assert folder_uids(client, exists, esearch=True) == expected
        assert folder_uids(client, exists, esearch=False) == expected
        client.create_folder("Empty")
        client.select_folder("Empty", readonly=True)
        assert folder_uids(client, 0, esearch=True) == frozenset()


def test_clean_sync_proves_nothing_missing(imap_account: ImapAccount, tmp_path: Path) -> None:
    fill(imap_account, 5)
    settings, ws = synced(imap_account, tmp_path)
    ws.close()
    report, text = run_doctor(settings)
    assert not report.problems, text
    assert report.missing == 0 and not report.duplicates
    (folder,) = report.folders
    assert (folder.on_server, folder.in_cache, folder.extra, folder.pending) == (5, 5, (), 0)
    assert "INBOX: all 5 messages are in the cache" in text
    assert "nothing missing, nothing duplicated" in text

    # The command line, as a script would call it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    done = subprocess.run(
        [sys.executable, "-m", "helpdesk", "--config", str(settings.source), "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["ok"] is True and data["missing"] == 0 and data["duplicated"] == 0
    assert data["folders"][0]["on_server"] == 5 and data["folders"][0]["missing"] == []
    assert imap_account.password not in done.stdout + done.stderr


def test_a_message_lost_from_the_cache_is_missing(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    uids = fill(imap_account, 4)
    settings, ws = synced(imap_account, tmp_path)
    lost = uids[1]
    with ws.cache.writer.begin() as conn:
        pk = conn.execute(select(location_t.c.message).where(location_t.c.uid == lost)).scalar_one()
        conn.execute(location_t.delete().where(location_t.c.message == pk))
        conn.execute(raw_t.delete().where(raw_t.c.message == pk))
        conn.execute(message_t.delete().where(message_t.c.id == pk))
    ws.close()
    report, text = run_doctor(settings)
    (folder,) = report.folders
    assert folder.missing == (lost,)
    assert report.missing == 1 and report.problems
    assert (
        f"1 of the 4 messages the sync has passed are missing from the cache: UIDs {lost}" in text
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    cmd = [sys.executable, "-m", "helpdesk", "--config", str(settings.source), "doctor"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "PROBLEM" in done.stdout and f"UIDs {lost}" in done.stdout


def test_mail_expunged_on_the_server_is_extra_not_lost(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    uids = fill(imap_account, 3)
    settings, ws = synced(imap_account, tmp_path)
    ws.close()
    imap_account.expunge("INBOX", [uids[0]])
    report, text = run_doctor(settings)
    (folder,) = report.folders
    assert folder.extra == (uids[0],) and folder.missing == ()
    assert not report.problems, text  # a warning: the message stays in its ticket
    assert any(f.level == "warning" and "stays in its ticket" in f.text for f in report.findings)


def test_mail_newer_than_the_last_sync_is_pending_not_missing(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    fill(imap_account, 2)
    settings, ws = synced(imap_account, tmp_path)
    ws.close()
    fill(imap_account, 3, prefix="late")
    report, text = run_doctor(settings)
    (folder,) = report.folders
    assert folder.pending == 3 and folder.missing == ()
    assert not report.problems, text
    assert "3 of 5 messages not in the cache yet" in text


def test_a_folder_never_synced_is_a_problem(imap_account: ImapAccount, tmp_path: Path) -> None:
    fill(imap_account, 2)
    report, text = run_doctor(settings_for(imap_account, tmp_path))
    assert report.problems
    assert "never synced: 2 of 2 messages not in the cache yet" in text


def test_a_renumbered_folder_cannot_be_proven(imap_account: ImapAccount, tmp_path: Path) -> None:
    fill(imap_account, 2)
    settings, ws = synced(imap_account, tmp_path)
    box = ws.cache.mailbox("support", "INBOX")
    assert box.uidvalidity is not None
    ws.cache.save_mailbox(box.id, uidvalidity=box.uidvalidity + 1)
    ws.close()
    report, text = run_doctor(settings)
    assert report.folders[0].renumbered and report.problems
    assert "renumbered" in text


def test_duplicated_messages_are_reported(imap_account: ImapAccount, tmp_path: Path) -> None:
    fill(imap_account, 3)
    settings, ws = synced(imap_account, tmp_path)
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(select(message_t).order_by(message_t.c.id)).mappings().all()
    first, second = dict(rows[0]), dict(rows[1])
    raw = ws.cache.raw(first["id"])
    with ws.cache.writer.begin() as conn:
        # The same delivery stored a second time under a key that went wrong.
        copy = {**first, "dedupe_key": "0" * 64}
        del copy["id"]
        pk = conn.execute(insert(message_t).returning(message_t.c.id), copy).scalar_one()
        conn.execute(insert(raw_t), {"message": pk, "data": zlib.compress(raw)})
    ws.close()
    report, text = run_doctor(settings)
    assert kinds(report) == {"same delivery"}
    (group,) = report.duplicates
    assert {c.id for c in group.copies} == {first["id"], pk}
    assert report.problems and "copies (same delivery)" in text

    # One Message-ID filed in a second ticket, with other content.
    ws = open_workspace(settings)
    with ws.cache.writer.begin() as conn:
        conn.execute(raw_t.delete().where(raw_t.c.message == pk))
        conn.execute(message_t.delete().where(message_t.c.id == pk))
        other = {**first, "dedupe_key": "1" * 64, "ticket": second["ticket"]}
        del other["id"]
        pk = conn.execute(insert(message_t).returning(message_t.c.id), other).scalar_one()
        conn.execute(insert(raw_t), {"message": pk, "data": zlib.compress(b"Subject: x\r\n\r\n")})
        # And the same content stored under two Message-IDs.
        twin = {**second, "message_id": "twin@customer.example"}
        del twin["id"]
        tk = conn.execute(insert(message_t).returning(message_t.c.id), twin).scalar_one()
        conn.execute(
            insert(raw_t), {"message": tk, "data": zlib.compress(ws.cache.raw(second["id"]))}
        )
    ws.close()
    report, text = run_doctor(settings)
    assert kinds(report) == {"several tickets", "same content"}
    split = next(d for d in report.duplicates if d.kind == "several tickets")
    assert split.tickets == sorted({first["ticket"], second["ticket"]})
    assert report.registry is not None
    assert report.registry.unregistered == ["twin@customer.example"]
    assert [m for m, _, _ in report.registry.misfiled] == [first["message_id"]]


@pytest.mark.parametrize("scan_ratio", [4, 0], ids=["registry-scanned", "ids-looked-up"])
def test_cache_and_registry_disagreements(
    imap_account: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scan_ratio: int
) -> None:
    monkeypatch.setattr(census_queries, "_SCAN_RATIO", scan_ratio)
    fill(imap_account, 3)
    settings, ws = synced(imap_account, tmp_path)
    ws.close()
    # sqlite3 leaves foreign keys off: a registry row can point at a ticket that is gone.
    with sqlite3.connect(tmp_path / "team.sqlite") as db:
        (forgotten,) = db.execute("SELECT message_id FROM message_index LIMIT 1").fetchone()
        db.execute("DELETE FROM message_index WHERE message_id = ?", (forgotten,))
        db.execute(
            "INSERT INTO message_index (message_id, ticket, registered_at) "
            "VALUES ('ghost@customer.example', 9999, '2026-01-01 00:00:00')"
        )
        db.execute("INSERT INTO reference_index VALUES ('gone@customer.example', 8888)")
    db.close()
    report, text = run_doctor(settings)
    reg = report.registry
    assert reg is not None
    assert reg.unregistered == [forgotten]
    assert reg.dangling == [("ghost@customer.example", 9999)]
    assert reg.dangling_refs == [("gone@customer.example", 8888)]
    assert report.missing == 0 and len(report.problems) == 3, text
    assert "1 cached message not registered" in text


def test_a_postgresql_team_store_is_checked_too(
    imap_account: ImapAccount, tmp_path: Path, pg_url: str
) -> None:
    fill(imap_account, 4)
    settings, ws = synced(imap_account, tmp_path, store=pg_url)
    ws.close()
    report, text = run_doctor(settings)
    assert not report.problems, text
    assert report.registry is not None
    assert (report.registry.cached_ids, report.registry.registered) == (4, 4)
    assert report.registry.unregistered == [] and report.registry.dangling == []


def test_password_never_printed_and_folder_errors_reported(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    settings_for(imap_account, tmp_path)
    text = (tmp_path / "helpdesk.toml").read_text(encoding="utf-8")
    (tmp_path / "helpdesk.toml").write_text(
        text.replace('folders = ["INBOX"]', 'folders = ["INBOX", "Orders"]'), encoding="utf-8"
    )
    settings = load_settings(str(tmp_path / "helpdesk.toml"), env={})
    report, out = run_doctor(settings)
    assert any("Orders" in f.area and "does not exist" in f.text for f in report.problems)
    assert not any("Sent" in f.area for f in report.findings)  # an absent Sent folder is fine
    assert imap_account.password not in out
