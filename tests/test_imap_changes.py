"""Changes made in another mail client reach the cache, whatever the server offers (QRESYNC,
CONDSTORE or neither); a first sync is newest first and resumes; one process per cache syncs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from imapclient import IMAPClient
from mailbuild import message
from servers import ImapAccount
from sqlalchemy import select
from test_imap_sync import workspace_for

from helpdesk.core.tickets import Queue
from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import MessageLocation
from helpdesk.storage.folder_state import stored_uids
from helpdesk.storage.workspace import Workspace
from helpdesk.sync import imap as imap_sync
from helpdesk.sync.credentials import get_password
from helpdesk.sync.imap import ImapFetcher, ServerFeatures
from helpdesk.sync.ingest import Incoming, parse_incoming
from helpdesk.sync.parse_pool import ParsePool
from helpdesk.sync.service import SyncService, make_ingestor
from helpdesk.sync.uid_search import parse_sequence_set

_location = MessageLocation.__table__

FEATURES = {
    "qresync": ServerFeatures(qresync=True, condstore=True),
    "condstore": ServerFeatures(qresync=False, condstore=True),
    "neither": ServerFeatures(qresync=False, condstore=False),
}


@pytest.fixture
def mailbox(imap_account: ImapAccount) -> ImapAccount:
    imap_account.create_folder("Sent")
    imap_account.create_folder("Archive")
    return imap_account


def fill(acct: ImapAccount, n: int) -> list[int]:
    return [
        acct.append(
            "INBOX",
            message(
                f"m{i}@customer.example",
                subject=f"Dotaz {i}",
                date=f"Mon, 02 Nov 2026 {8 + i // 60:02d}:{i % 60:02d}:00 +0100",
            ),
        )
        for i in range(n)
    ]


def flags_in_cache(ws: Workspace) -> dict[int, set[str]]:
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(select(_location.c.uid, _location.c.flags))
        return {uid: set(flags.split()) for uid, flags in rows}


def full_check_due(ws: Workspace) -> None:
    inbox = ws.cache.mailbox("support", "INBOX")
    ws.cache.save_mailbox(inbox.id, last_full_check=None)


def sync_with(ws: Workspace, features: ServerFeatures) -> None:
    """One sync as SyncService runs it, but as if the server offered only `features`."""
    account = next(iter(ws.settings.accounts.values()))
    fetcher = ImapFetcher(
        account,
        get_password(account, "imap"),
        ws.cache,
        make_ingestor(ws),
    )
    original = ServerFeatures.of

    def pretend(client: IMAPClient) -> ServerFeatures:
        # Enable only what the pretended server has, so Dovecot answers like one.
        if features.qresync:
            original(client)
        elif features.condstore:
            client.enable("CONDSTORE")
        return features

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ServerFeatures, "of", pretend)
        fetcher.sync()


@pytest.mark.parametrize("offer", ["qresync", "condstore", "neither"])
def test_flags_and_deletions_from_another_client_reach_the_cache(
    mailbox: ImapAccount, tmp_path: Path, offer: str
) -> None:
    uids = fill(mailbox, 5)
    ws = workspace_for(mailbox, tmp_path)
    try:
        sync_with(ws, FEATURES[offer])
        assert set(flags_in_cache(ws)) == set(uids)

        mailbox.add_flags("INBOX", [uids[0]], [b"\\Seen", b"\\Flagged"])
        mailbox.add_flags("INBOX", [uids[1]], [b"\\Answered"])
        mailbox.expunge("INBOX", [uids[2]])
        mailbox.move("INBOX", [uids[3]], "Archive")  # not a watched folder
        if offer != "qresync":
            full_check_due(ws)  # the comparison of UID lists runs on a timer
        sync_with(ws, FEATURES[offer])

        cached = flags_in_cache(ws)
        assert set(cached) == {uids[0], uids[1], uids[4]}
        assert {"\\Seen", "\\Flagged"} <= cached[uids[0]]
        assert "\\Answered" in cached[uids[1]]
        assert "\\Seen" not in cached[uids[4]]
        # The server copies are gone, the messages are not: they stay in their tickets.
        ids = set(ws.cache.message_ids())
        assert {f"m{i}@customer.example" for i in range(5)} <= ids
    finally:
        ws.close()


def test_qresync_finds_deletions_without_comparing_uid_lists(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    uids = fill(mailbox, 3)
    ws = workspace_for(mailbox, tmp_path)
    try:
        sync_with(ws, FEATURES["qresync"])
        mailbox.expunge("INBOX", [uids[1]])
        # The comparison just ran: only VANISHED can tell of the deletion.
        sync_with(ws, FEATURES["qresync"])
        assert set(flags_in_cache(ws)) == {uids[0], uids[2]}
        box = ws.cache.mailbox("support", "INBOX")
        assert box.highestmodseq is not None and box.highestmodseq > 0
    finally:
        ws.close()


def test_condstore_alone_waits_for_the_comparison_to_see_deletions(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    uids = fill(mailbox, 3)
    ws = workspace_for(mailbox, tmp_path)
    try:
        sync_with(ws, FEATURES["condstore"])
        mailbox.expunge("INBOX", [uids[1]])
        mailbox.add_flags("INBOX", [uids[0]], [b"\\Seen"])
        sync_with(ws, FEATURES["condstore"])
        cached = flags_in_cache(ws)
        assert "\\Seen" in cached[uids[0]]  # CHANGEDSINCE names the flag change at once
        assert uids[1] in cached  # the deletion waits for the timed comparison
        full_check_due(ws)
        sync_with(ws, FEATURES["condstore"])
        assert uids[1] not in flags_in_cache(ws)
    finally:
        ws.close()


def test_message_moved_between_watched_folders_is_one_message(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    uid = fill(mailbox, 1)[0]
    ws = workspace_for(mailbox, tmp_path)
    try:
        first = SyncService(ws).sync_once()
        assert first.ok and first.stats.new_messages == 1
        mailbox.move("INBOX", [uid], "Sent")  # Sent is watched too
        second = SyncService(ws).sync_once()
        assert second.ok
        assert second.stats.new_messages == 0 and second.stats.duplicates == 1
        with ws.cache.engine.connect() as conn:
            places = conn.execute(select(_location.c.mailbox, _location.c.uid)).all()
        sent = ws.cache.mailbox("support", "Sent")
        assert [p[0] for p in places] == [sent.id]
    finally:
        ws.close()


def test_first_sync_is_newest_first_and_resumes_without_duplicates(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    uids = fill(mailbox, 10)  # the workspace fetches 3 a batch
    ws = workspace_for(mailbox, tmp_path)
    try:
        service = SyncService(ws)
        batches = 0

        def stop_after_two() -> bool:
            return batches >= 2

        def count(_: object) -> None:
            nonlocal batches
            batches += 1

        partial = service.sync_once(progress=count, cancelled=stop_after_two)
        inbox = ws.cache.mailbox("support", "INBOX")
        have = stored_uids(ws.cache, inbox.id)
        assert have == set(uids[-6:])  # the newest six, in two batches
        assert inbox.uidnext is None  # not complete: no mark yet
        assert partial.stats.new_messages == 6

        rest = service.sync_once()
        assert rest.ok and rest.stats.new_messages == 4 and rest.stats.duplicates == 0
        assert stored_uids(ws.cache, inbox.id) == set(uids)
        assert ws.cache.mailbox("support", "INBOX").uidnext == uids[-1] + 1
        # Incremental from here: oldest first with a mark per batch.
        fill_more = mailbox.append("INBOX", message("late@customer.example", subject="Pozdě"))
        again = service.sync_once()
        assert again.stats.new_messages == 1
        assert uids[-1] < fill_more in stored_uids(ws.cache, inbox.id)
    finally:
        ws.close()


def test_a_ticket_keeps_the_subject_of_its_first_message_when_mail_comes_newest_first(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    mailbox.append("INBOX", message("q@customer.example", subject="Reklamace kávovaru"))
    mailbox.append(
        "INBOX",
        message(
            "q2@customer.example",
            subject="Re: Reklamace kávovaru",
            in_reply_to="q@customer.example",
            date="Tue, 03 Nov 2026 09:00:00 +0100",
        ),
    )
    ws = workspace_for(mailbox, tmp_path)
    try:
        assert SyncService(ws).sync_once().ok
        (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
        assert ticket.subject == "Reklamace kávovaru"
        assert ticket.message_count == 2
    finally:
        ws.close()


def test_only_one_process_syncs_a_cache(mailbox: ImapAccount, tmp_path: Path) -> None:
    fill(mailbox, 2)
    ws = workspace_for(mailbox, tmp_path)
    lease_file = ws.cache.path.with_name(ws.cache.path.name + ".synclease")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from helpdesk.storage.sync_lease import SyncLease
                assert SyncLease(Path({str(ws.cache.path)!r}), "helpdesk sync").try_take()
                print("held", flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        service = SyncService(ws, holder="helpdesk app")
        report = service.sync_once()
        assert report.synced_by == f"helpdesk sync (pid {holder.pid})"
        assert report.stats.seen == 0 and not ws.cache.message_ids()
        holder.kill()  # however the holder ends, the lease is free again
        holder.wait(10)
        report = service.sync_once()
        assert report.synced_by is None and report.ok and report.stats.new_messages == 2
        assert lease_file.read_text().startswith("helpdesk app (pid ")
        service.close()
    finally:
        holder.kill()
        ws.close()


def test_parallel_parse_gives_what_parsing_inline_gives(
    mailbox: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = message("big@customer.example", body="Příloha " * 40_000)  # over the blob limit
    batch = [
        Incoming(raw=message(f"p{i}@customer.example", subject=f"Paralelně {i}"), uid=i)
        for i in range(60)
    ] + [Incoming(raw=b"", uid=99, error="refused"), Incoming(raw=big, uid=100)]
    cache = Cache(tmp_path / "pool" / "cache.sqlite", raw_blob_limit=100_000)
    pool = ParsePool(workers=2)
    try:
        prepared = pool.submit(batch, cache).result(timeout=60)
        assert [m for m, _ in prepared] == [parse_incoming(i) for i in batch]
        for inc, (_, packed) in zip(batch, prepared, strict=True):
            if packed.data is not None:
                assert zlib.decompress(packed.data) == inc.raw
            else:  # written to the blob store by the worker
                assert inc is batch[-1] and cache.blobs.read(packed.digest) == big
        assert pool.submit([], cache).result(timeout=5) == []
    finally:
        pool.close()
        cache.close()

    # And through a real sync, the pool taking every batch.
    fill(mailbox, 7)
    monkeypatch.setattr(imap_sync, "PARALLEL_FROM", 1)
    ws = workspace_for(mailbox, tmp_path)
    service = SyncService(ws)
    try:
        report = service.sync_once()
        assert report.ok and report.stats.new_messages == 7
        assert report.stats.download_s > 0 and report.stats.store_s > 0
        assert sorted(ws.cache.message_ids()) == sorted(f"m{i}@customer.example" for i in range(7))
    finally:
        service.close()
        ws.close()


def test_uid_sets_parse_whatever_the_server_sends() -> None:
    assert parse_sequence_set("1:3,7,10:9") == {1, 2, 3, 7, 9, 10}
    assert parse_sequence_set("") == set()
    assert parse_sequence_set("5,x,:4,6:") == {5}
    assert len(parse_sequence_set("1:100000")) == 100_000


async def test_the_app_shows_the_newest_mail_while_a_first_sync_still_runs(
    mailbox: ImapAccount, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpdesk.sync.ingest import Ingestor
    from helpdesk.tui import app as app_module
    from helpdesk.tui.app import HelpdeskApp
    from helpdesk.tui.widgets.ticket_table import TicketTable

    fill(mailbox, 12)  # four batches of three
    real_ingest = Ingestor.ingest

    def slow_ingest(self: Ingestor, *args: object, **kwargs: object) -> object:
        time.sleep(0.4)  # a big mailbox: each batch takes a while
        return real_ingest(self, *args, **kwargs)

    monkeypatch.setattr(Ingestor, "ingest", slow_ingest)
    monkeypatch.setattr(app_module, "PROGRESS_REFRESH", 0.0)
    ws = workspace_for(mailbox, tmp_path)
    service = SyncService(ws)
    app = HelpdeskApp(ws, sync=service, sync_interval=600)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.screen.query_one(TicketTable)
            seen_while_syncing: list[int] = []
            early: set[str] = set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and table.row_count < 12:
                syncing = any(w.group == "imap" and not w.is_finished for w in app.workers)
                if syncing and table.row_count:
                    if not seen_while_syncing:
                        early = {t.subject for t in ws.cache.list_tickets(Queue.ALL, ws.agent)}
                    seen_while_syncing.append(table.row_count)
                await pilot.pause(0.05)
            assert table.row_count == 12
            # Shown batch by batch before the sync ended, newest first.
            assert seen_while_syncing and min(seen_while_syncing) < 12
            assert "Dotaz 11" in early and "Dotaz 0" not in early
    finally:
        service.close()
        ws.close()
