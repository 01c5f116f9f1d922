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
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.cache import Cache, FolderMark, MailboxState
from helpdesk.sync.ingest import Incoming, Ingestor, IngestStats

FETCH_ITEMS = [b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"BODY.PEEK[]"]
MAX_BATCH_BYTES = 20 * 1024 * 1024
# UIDs whose sizes are asked in one command: IMAPClient takes only lists of UIDs, and a
# server limits a command line (Dovecot: 64 kB), so about 16 kB a command.
SIZE_QUERY = 2000


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
    # Aware datetimes: INTERNALDATE otherwise comes back in the machine's local time.
    client.normalise_times = False
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


def watched_folders(imap: ImapSettings) -> list[str]:
    """The folders whose mail becomes tickets, and the Sent folder, each once."""
    folders = list(imap.folders)
    if imap.sent_folder and imap.sent_folder not in folders:
        folders.append(imap.sent_folder)
    return folders


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
        return watched_folders(self.imap)

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
        try:
            stats = self._fetch_new(client, box, folder, progress, cancelled)
        except Exception as exc:
            self.cache.save_mailbox(
                box.id, last_error=safe_text(f"{type(exc).__name__}: {exc}")[:500]
            )
            raise
        self.cache.save_mailbox(box.id, last_sync=datetime.now(UTC), last_error=None)
        return stats

    def _fetch_new(
        self,
        client: IMAPClient,
        box: MailboxState,
        folder: str,
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> IngestStats:
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
            return stats
        # `UID n:*` always matches the last message, even below n: filter.
        uids = sorted(u for u in client.search(["UID", f"{start}:*"]) if u >= start)
        total, done = len(uids), 0
        for chunk in self._batches(client, uids):
            if cancelled():
                return stats
            batch = self._fetch_batch(client, box.id, chunk)
            mark = FolderMark(box.id, uidvalidity, chunk[-1] + 1)
            stats.add(self.ingestor.ingest(batch, mark=mark))
            done += len(chunk)
            if progress:
                progress(FolderProgress(self.account.name, folder, done, total))
        if uidnext is not None:
            self.cache.mark(FolderMark(box.id, uidvalidity, uidnext))
        return stats

    def _batches(self, client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
        """UIDs in fetch batches of at most `batch_size` messages and about MAX_BATCH_BYTES, so
        that memory stays flat whatever the mail (one big message goes alone)."""
        for group in _chunks(uids, SIZE_QUERY):
            sizes = client.fetch(group, [b"RFC822.SIZE"])
            batch: list[int] = []
            weight = 0
            for uid in group:
                size = int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))
                if batch and (
                    len(batch) >= self.imap.batch_size or weight + size > MAX_BATCH_BYTES
                ):
                    yield batch
                    batch, weight = [], 0
                batch.append(uid)
                weight += size
            if batch:
                yield batch

    def _fetch_batch(self, client: IMAPClient, mailbox: int, chunk: list[int]) -> list[Incoming]:
        try:
            fetched: dict[int, dict[bytes, Any]] = client.fetch(chunk, FETCH_ITEMS)
        except IMAPClient.AbortError:
            raise  # the connection is gone: the next sync resumes from the last mark
        except IMAPClient.Error as exc:
            if len(chunk) == 1:
                return [Incoming(raw=b"", mailbox=mailbox, uid=chunk[0], error=str(exc))]
            # The server refused the batch: take it one message at a time, so that one
            # message it will not serve cannot stop the folder.
            return [inc for uid in chunk for inc in self._fetch_batch(client, mailbox, [uid])]
        batch = []
        for uid in chunk:
            data = fetched.get(uid)
            if data is None:
                continue  # expunged between SEARCH and FETCH
            internal = data.get(b"INTERNALDATE")
            if isinstance(internal, datetime):
                internal = (
                    internal.astimezone(UTC) if internal.tzinfo else internal.replace(tzinfo=UTC)
                )
            flags = " ".join(f.decode(errors="replace") for f in data.get(b"FLAGS", ()))
            raw = data.get(b"BODY[]")
            batch.append(
                Incoming(
                    raw=raw or b"",
                    mailbox=mailbox,
                    uid=uid,
                    flags=flags,
                    received_at=internal if isinstance(internal, datetime) else None,
                    error=None if raw is not None else "the FETCH answer held no message body",
                )
            )
        return batch


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
        for folder in watched_folders(account.imap):
            if folder in existing:
                out[folder] = int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
        return out
    finally:
        _close(client)
