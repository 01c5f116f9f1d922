"""Every message of the real-world corpus goes through the whole pipeline and is kept.

Through the file import, and through a real Dovecot: every message the server holds becomes a
message in the cache, with its raw bytes, however malformed.
"""

from __future__ import annotations

from pathlib import Path

from servers import ImapAccount
from test_imap_sync import workspace_for
from test_mail_corpus import _corpus_files

from helpdesk.core.config import parse_config
from helpdesk.core.mailparse import parse_message
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import SyncService, make_ingestor

FILES = _corpus_files()


def _body(raw: bytes) -> bytes:
    raw = raw.replace(b"\r\n", b"\n")
    return raw.partition(b"\n\n")[2]


def test_corpus_is_present() -> None:
    assert len(FILES) > 300, "the shared mail corpus was not found beside the repository"


def test_every_corpus_message_is_imported_and_kept_raw(tmp_path: Path) -> None:
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp_path / "team.sqlite"}"\n[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        str(tmp_path / "helpdesk.toml"),
        default_agent=("A", "a@helpdesk.example"),
    )
    ws = open_workspace(settings)
    raws = [p.read_bytes() for p in FILES]
    stats = import_messages(raws, make_ingestor(ws), batch_size=50)
    assert stats.seen == len(raws)
    counts = ws.cache.counts()
    # Identical files in the corpus are one message; everything else is its own message.
    assert stats.new_messages + stats.duplicates == len(raws)
    assert counts["messages"] == stats.new_messages == counts["raw"]
    assert counts["malformed"] > 0  # the corpus is messy on purpose: some are marked
    with ws.cache.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT id, message_id FROM message")).all()
    stored = {ws.cache.raw(pk): mid for pk, mid in rows}
    # The raw copy is the exact bytes received.
    assert set(stored) <= set(raws)
    # A file not stored is another delivery of a stored message: same Message-ID, same body,
    # different trace headers or line endings (the corpus holds such pairs).
    by_id: dict[str, list[bytes]] = {}
    for raw, mid in stored.items():
        by_id.setdefault(mid, []).append(_body(raw))
    for raw in raws:
        if raw not in stored:
            assert _body(raw) in by_id[parse_message(raw).message_id]
    ws.close()


def test_corpus_through_dovecot_nothing_lost(imap_account: ImapAccount, tmp_path: Path) -> None:
    imap_account.create_folder("Sent")
    appended = 0
    refused: list[str] = []
    with imap_account.connect() as client:
        for path in FILES:
            try:
                client.append("INBOX", path.read_bytes())
                appended += 1
            except Exception as exc:  # the server's judgement, recorded and checked below
                refused.append(f"{path.name}: {exc}")
    assert appended >= len(FILES) - 5, refused
    ws = workspace_for(imap_account, tmp_path)
    report = SyncService(ws).sync_once()
    assert report.ok, report.errors
    assert report.stats.seen == appended
    box = ws.cache.mailbox("support", "INBOX")
    assert ws.cache.location_count(box.id) == appended  # every server message is in the cache
    ws.close()
