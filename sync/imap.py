"""Mail in from IMAP: connect, then fetch what is new in each watched folder, in batches.

imapclient is synchronous and not thread-safe: one `ImapFetcher` per thread, always with a
timeout. Progress is stored after every batch, so a kill or a network fault loses nothing and
the next run resumes where this one stopped.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imapclient import IMAPClient

from helpdesk.core.config import AccountSettings, ImapSettings, TlsMode
from helpdesk.storage.cache import Cache, MailboxState
from helpdesk.sync.ingest import Incoming, Ingestor, IngestStats

FETCH_ITEMS = [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"BODY.PEEK[]"]


@dataclass(frozen=True, slots=True)
class FolderProgress:
    account: str
    folder: str
    done: int
    total: int


Progress = Callable[[FolderProgress], None]


def connect(imap: ImapSettings, password: str) -> IMAPClient:
    context: ssl.SSLContext | None = None
    if imap.tls is not TlsMode.NONE:
        context = (
            ssl.create_default_context(cafile=imap.ca_file)
            if imap.ca_file
            else ssl.create_default_context()
        )
    client = IMAPClient(
        imap.host,
        port=imap.port,
        ssl=imap.tls is TlsMode.TLS,
        ssl_context=context,
        timeout=imap.timeout,
    )
    try:
        if imap.tls is TlsMode.STARTTLS:
            client.starttls(context)
        client.login(imap.user, password)
    except BaseException:
        _close(client)
        raise
    return client


def _close(client: IMAPClient) -> None:
    # Closing is best effort: the connection may already be gone.
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ImapFetcher:
    def __init__(
        self, account: AccountSettings, password: str, cache: Cache, ingestor: Ingestor
    ) -> None:
        if account.imap is None:
            raise ValueError(f"account {account.name} has no [imap] section")
        self.account = account
        self.imap: ImapSettings = account.imap
        self.password = password
        self.cache = cache
        self.ingestor = ingestor

    def folders(self) -> list[str]:
        folders = list(self.imap.folders)
        if self.imap.sent_folder and self.imap.sent_folder not in folders:
            folders.append(self.imap.sent_folder)
        return folders

    def sync(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False
    ) -> IngestStats:
        stats = IngestStats()
        client = connect(self.imap, self.password)
        try:
            existing = {f[2] for f in client.list_folders()}
            for folder in self.folders():
                if cancelled():
                    break
                if folder not in existing:
                    if folder == self.imap.sent_folder:
                        continue  # not every server has a Sent folder under this name
                    raise FolderMissing(self.account.name, folder)
                stats.add(self._sync_folder(client, folder, progress, cancelled))
        finally:
            _close(client)
        return stats

    def _sync_folder(
        self,
        client: IMAPClient,
        folder: str,
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> IngestStats:
        box: MailboxState = self.cache.mailbox(self.account.name, folder)
        info = client.select_folder(folder, readonly=True)
        uidvalidity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT", 0)) or None
        if box.uidvalidity is not None and box.uidvalidity != uidvalidity:
            # The server renumbered the folder: fetch it again; dedupe re-pairs every message
            # with the copy already stored, so nothing is duplicated.
            self.cache.reset_mailbox(box.id, uidvalidity)
            box = self.cache.mailbox(self.account.name, folder)
        start = box.uidnext or 1
        stats = IngestStats()
        if uidnext is not None and start >= uidnext:
            self.cache.save_mailbox(
                box.id, uidvalidity=uidvalidity, last_sync=datetime.now(UTC), last_error=None
            )
            return stats
        # `UID n:*` always matches the last message, even below n: filter.
        uids = sorted(u for u in client.search(["UID", f"{start}:*"]) if u >= start)
        total = len(uids)
        done = 0
        for chunk in _chunks(uids, self.imap.batch_size):
            if cancelled():
                break
            fetched: dict[int, dict[bytes, Any]] = client.fetch(chunk, FETCH_ITEMS)
            batch = []
            for uid in chunk:
                data = fetched.get(uid)
                if data is None:
                    continue  # expunged between SEARCH and FETCH
                raw = data.get(b"BODY[]") or b""
                internal = data.get(b"INTERNALDATE")
                if isinstance(internal, datetime) and internal.tzinfo is not None:
                    internal = internal.astimezone(UTC)
                elif isinstance(internal, datetime):
                    internal = internal.replace(tzinfo=UTC)
                flags = " ".join(f.decode(errors="replace") for f in data.get(b"FLAGS", ()))
                batch.append(
                    Incoming(raw=raw, mailbox=box.id, uid=uid, flags=flags, received_at=internal)
                )
            stats.add(self.ingestor.ingest(batch))
            done += len(chunk)
            self.cache.save_mailbox(box.id, uidvalidity=uidvalidity, uidnext=chunk[-1] + 1)
            if progress:
                progress(FolderProgress(self.account.name, folder, done, total))
        final_next = max(uidnext or 0, (uids[-1] + 1) if uids and done == total else 0) or None
        values: dict[str, Any] = {
            "uidvalidity": uidvalidity,
            "last_sync": datetime.now(UTC),
            "last_error": None,
        }
        if done == total and final_next:
            values["uidnext"] = final_next
        self.cache.save_mailbox(box.id, **values)
        return stats


class FolderMissing(Exception):
    def __init__(self, account: str, folder: str) -> None:
        super().__init__(f"account {account}: folder {folder!r} does not exist on the server")
        self.account = account
        self.folder = folder


def server_counts(account: AccountSettings, password: str) -> dict[str, int]:
    """Messages per watched folder on the server, for doctor."""
    assert account.imap is not None
    client = connect(account.imap, password)
    try:
        out: dict[str, int] = {}
        existing = {f[2] for f in client.list_folders()}
        folders = list(account.imap.folders)
        if account.imap.sent_folder:
            folders.append(account.imap.sent_folder)
        for folder in folders:
            if folder in existing:
                out[folder] = int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
        return out
    finally:
        _close(client)
