"""Mail in from IMAP: connect, then fetch what is new in each watched folder, in batches.

imapclient is synchronous and not thread-safe: one `ImapFetcher` per thread, always with a
timeout. Progress is stored after every batch, so a kill or a network fault loses nothing and
the next run resumes where this one stopped.
"""

from __future__ import annotations

import contextlib
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response

from helpdesk.core.config import AccountSettings, ImapSettings, TlsMode
from helpdesk.core.message import ParsedMessage
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.cache import Cache, FolderMark, MailboxState, PackedRaw
from helpdesk.storage.folder_state import flag_string, forget_uids, set_flags, stored_uids
from helpdesk.sync.fetch_reader import uid_fetch
from helpdesk.sync.ingest import Incoming, Ingestor, IngestStats
from helpdesk.sync.parse_pool import ParsePool
from helpdesk.sync.uid_search import folder_uids, parse_ranges, within

# The size is known from the query that cut the batches; asking again costs server work.
FETCH_ITEMS = [b"FLAGS", b"INTERNALDATE", b"BODY.PEEK[]"]
MAX_BATCH_BYTES = 20 * 1024 * 1024
# UIDs whose sizes are asked in one command: IMAPClient takes only lists of UIDs, and a
# server limits a command line (Dovecot: 64 kB), so about 16 kB a command.
SIZE_QUERY = 2000
PARALLEL_FROM = 400  # new messages from which parsing in a process pool pays for itself


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
        close_quietly(client)
        raise
    return client


def close_quietly(client: IMAPClient) -> None:
    # Closing is best effort: the connection may already be gone.
    try:
        client.logout()
    except Exception:
        with contextlib.suppress(Exception):
            client.shutdown()


def watched_folders(imap: ImapSettings) -> list[str]:
    """The folders whose mail becomes tickets (the mailbox mirror's archive and junk folders
    among them, see `core.config`), and the Sent folder, each once."""
    folders = list(imap.folders)
    if imap.sent_folder and imap.sent_folder not in folders:
        folders.append(imap.sent_folder)
    return folders


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True, slots=True)
class ServerFeatures:
    """What the server offers for finding changes; decided once per connection."""

    qresync: bool
    condstore: bool
    esearch: bool = False

    @classmethod
    def of(cls, client: IMAPClient) -> ServerFeatures:
        # Announced only after login (PITFALLS.md): ask now, not at the greeting.
        caps = {c.upper() for c in client.capabilities()}
        qresync = b"QRESYNC" in caps
        if qresync:
            # Without ENABLE the server may not answer VANISHED; refused -> fall back.
            qresync = _enable(client, b"QRESYNC")
        condstore = qresync
        if not condstore and b"CONDSTORE" in caps:
            # Enabled, SELECT reports HIGHESTMODSEQ, the mark that says "nothing changed".
            condstore = _enable(client, b"CONDSTORE")
        return cls(qresync=qresync, condstore=condstore, esearch=b"ESEARCH" in caps)


def _enable(client: IMAPClient, capability: bytes) -> bool:
    try:
        return capability in {c.upper() for c in client.enable(capability.decode())}
    except IMAPClient.Error:
        return False  # no ENABLE on this server: do without


class ImapFetcher:
    def __init__(
        self,
        account: AccountSettings,
        password: str,
        cache: Cache,
        ingestor: Ingestor,
        *,
        parse_pool: ParsePool | None = None,
    ) -> None:
        if account.imap is None:
            raise ValueError(f"account {account.name} has no [imap] section")
        self.account = account
        self.imap: ImapSettings = account.imap
        self.password = password
        self.cache = cache
        self.ingestor = ingestor
        self.parse_pool = parse_pool

    def folders(self) -> list[str]:
        return watched_folders(self.imap)

    def sync(
        self, progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False
    ) -> IngestStats:
        stats = IngestStats()
        client = connect(self.imap, self.password)
        try:
            features = ServerFeatures.of(client)
            existing = {f[2] for f in client.list_folders()}
            for folder in self.folders():
                if cancelled():
                    break
                if folder not in existing:
                    mirror = self.account.mirror
                    if folder in (self.imap.sent_folder, mirror.archive, mirror.junk):
                        # Not every server has a Sent folder under this name; the mirror
                        # makes its archive and junk folders when it first runs.
                        continue
                    raise FolderMissing(self.account.name, folder)
                stats.add(self._sync_folder(client, features, folder, progress, cancelled))
        finally:
            close_quietly(client)
        return stats

    def _sync_folder(
        self,
        client: IMAPClient,
        features: ServerFeatures,
        folder: str,
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> IngestStats:
        box: MailboxState = self.cache.mailbox(self.account.name, folder)
        try:
            info = client.select_folder(folder, readonly=True)
            uidvalidity = int(info[b"UIDVALIDITY"])
            if box.uidvalidity is not None and box.uidvalidity != uidvalidity:
                # The server renumbered the folder: fetch it again; dedupe re-pairs every
                # message with the copy already stored, so nothing is duplicated.
                self.cache.reset_mailbox(box.id, uidvalidity)
                box = self.cache.mailbox(self.account.name, folder)
            # Changes to known mail first: they are cheap, and a flag or a deletion made in
            # another client should not wait behind a long first download.
            # A first sync stopped half way left messages whose flags or presence may have
            # changed since, below any mod-sequence we could ask about: compare them all
            # once the folder is complete.
            resuming = box.uidnext is None and bool(stored_uids(self.cache, box.id))
            stats = self._sync_changes(client, features, box, folder, info)
            stats.add(self._fetch_new(client, box, folder, info, progress, cancelled))
            if resuming and not cancelled():
                done_box = self.cache.mailbox(self.account.name, folder)
                if done_box.uidnext is not None:
                    stats.add(
                        self._sync_changes(
                            client, features, done_box, folder, info, force_full=True
                        )
                    )
        except Exception as exc:
            self.cache.save_mailbox(
                box.id, last_error=safe_text(f"{type(exc).__name__}: {exc}")[:500]
            )
            raise
        done: dict[str, Any] = {"last_sync": datetime.now(UTC), "last_error": None}
        modseq = info.get(b"HIGHESTMODSEQ")
        if features.condstore and isinstance(modseq, int) and not cancelled():
            # Only once every change up to it is stored: a kill before this line means
            # the next sync asks again from the older value, which is harmless.
            done["highestmodseq"] = modseq
        self.cache.save_mailbox(box.id, **done)
        return stats

    def _sync_changes(
        self,
        client: IMAPClient,
        features: ServerFeatures,
        box: MailboxState,
        folder: str,
        info: dict[bytes, Any],
        *,
        force_full: bool = False,
    ) -> IngestStats:
        """Flags changed and messages gone since the last sync, among the UIDs already stored.

        QRESYNC names both (CHANGEDSINCE + VANISHED); CONDSTORE names changed flags, and a
        comparison of UID lists finds deletions; a server with neither gets both from the
        comparison. The comparison is costly, so it runs every `full_check` seconds, or when
        nothing else can be trusted (`force_full`, or no mod-sequence stored yet).
        """
        stats = IngestStats()
        known_below = box.uidnext or 1
        now = datetime.now(UTC)
        if known_below <= 1:
            # Nothing stored yet: this sync fetches the whole folder, which is as good as
            # a comparison of UID lists.
            self.cache.save_mailbox(box.id, last_full_check=now)
            return stats
        span = f"1:{known_below - 1}"
        modseq = info.get(b"HIGHESTMODSEQ")
        # A folder without mod-sequences (NOMODSEQ) is treated as a server without CONDSTORE.
        has_modseq = features.condstore and isinstance(modseq, int)
        since = box.highestmodseq if has_modseq else None
        full = (
            force_full
            or (has_modseq and since is None)
            or box.last_full_check is None
            or (now - box.last_full_check).total_seconds() >= self.imap.full_check
        )
        if not full and (since is None or modseq == since):
            return stats  # nothing changed (CONDSTORE), or nothing to learn until the timer
        flags: dict[int, str] = {}
        vanished: set[int] = set()
        if full:
            exists = int(info.get(b"EXISTS", 0))
            on_server = folder_uids(client, exists, esearch=features.esearch)
            missing = stored_uids(self.cache, box.id, below=known_below) - on_server
            vanished = _confirm_gone(client, missing)
            fetched, _ = _uid_fetch(client, span, [b"FLAGS"], [])
            self.cache.save_mailbox(box.id, last_full_check=now)
        else:
            fetched, gone = _uid_fetch(
                client,
                span,
                [b"FLAGS"],
                [f"CHANGEDSINCE {since}", *(["VANISHED"] if features.qresync else [])],
            )
            if gone:
                vanished = within(gone, stored_uids(self.cache, box.id, below=known_below))
        flags = {uid: flag_string(d.get(b"FLAGS", ())) for uid, d in fetched.items()}
        stats.flags_changed = set_flags(self.cache, box.id, flags)
        stats.vanished = forget_uids(self.cache, box.id, vanished) if vanished else 0
        return stats

    def _fetch_new(
        self,
        client: IMAPClient,
        box: MailboxState,
        folder: str,
        info: dict[bytes, Any],
        progress: Progress | None,
        cancelled: Callable[[], bool],
    ) -> IngestStats:
        uidvalidity = int(info[b"UIDVALIDITY"])
        uidnext = int(info.get(b"UIDNEXT", 0)) or None
        start = box.uidnext or 1
        stats = IngestStats()
        if uidnext is not None and start >= uidnext:
            if box.uidnext is None:
                # Empty, so read completely: mail moved in later (the mailbox mirror) is
                # then newer than a sync, not in a folder never synced.
                self.cache.mark(FolderMark(box.id, uidvalidity, uidnext))
            return stats
        # `UID n:*` always matches the last message, even below n: filter.
        on_server = [u for u in client.search(["UID", f"{start}:*"]) if u >= start]
        # A first sync stopped half way stored some of these already (newest first).
        stored = stored_uids(self.cache, box.id, at_least=start)
        todo = sorted(set(on_server) - stored, reverse=start == 1)
        first_sync = start == 1
        total, done = len(todo), 0
        pending: _Pending | None = None
        pool = self.parse_pool if self.parse_pool and total >= PARALLEL_FROM else None
        if pool is not None:
            pool.warm()  # its processes start while the first batch downloads
        downloads = _ahead(self._downloads(client, box.id, todo, pool, cancelled))
        try:
            for chunk, batch, seconds, preparing in downloads:
                if cancelled():
                    break  # a batch that came meanwhile is fetched again next time
                stats.download_s += seconds
                # Newest first means the folder is only known complete at the end; until
                # then the stored locations say what is there (see `todo`).
                mark = None if first_sync else FolderMark(box.id, uidvalidity, chunk[-1] + 1)
                job = _Pending(batch, mark, preparing)
                if pending is not None:  # stored while the next batches download and parse
                    stats.add(pending.store(self.ingestor))
                pending = job
                done += len(chunk)
                if progress:
                    progress(FolderProgress(self.account.name, folder, done, total))
        finally:
            # Joins the download thread: nobody else may use the connection before.
            downloads.close()
            if pending is not None:
                stats.add(pending.store(self.ingestor))
        if uidnext is not None and not cancelled():
            self.cache.mark(FolderMark(box.id, uidvalidity, uidnext))
        return stats

    def _downloads(
        self,
        client: IMAPClient,
        mailbox: int,
        todo: list[int],
        pool: ParsePool | None,
        cancelled: Callable[[], bool],
    ) -> Iterator[_Downloaded]:
        """Each batch as it arrives, already handed to the parse pool (runs in its own
        thread, see `_Ahead`: the only user of `client` until it is closed)."""
        for chunk in self._batches(client, todo):
            if cancelled():
                return
            t0 = time.perf_counter()
            batch = self._fetch_batch(client, mailbox, chunk)
            seconds = time.perf_counter() - t0
            yield chunk, batch, seconds, pool.submit(batch, self.cache) if pool else None

    def _batches(self, client: IMAPClient, uids: list[int]) -> Iterator[list[int]]:
        """UIDs in fetch batches of at most `batch_size` messages and about MAX_BATCH_BYTES, so
        that memory stays flat whatever the mail (one big message goes alone)."""
        for group in _chunks(uids, SIZE_QUERY):
            sizes = uid_fetch(client, group, [b"RFC822.SIZE"])
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
            fetched = uid_fetch(client, chunk, FETCH_ITEMS)
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
            raw = data.get(b"BODY[]")
            batch.append(
                Incoming(
                    raw=raw or b"",
                    mailbox=mailbox,
                    uid=uid,
                    flags=flag_string(data.get(b"FLAGS", ())),
                    received_at=internal if isinstance(internal, datetime) else None,
                    error=None if raw is not None else "the FETCH answer held no message body",
                )
            )
        return batch


_Downloaded = tuple[
    list[int], list[Incoming], float, "Future[list[tuple[ParsedMessage, PackedRaw]]] | None"
]
_T = TypeVar("_T")
_DONE = object()


class _Ahead(Generic[_T]):
    """Runs an iterator in a thread, at most `depth` items ahead of the reader.

    The socket reads of the next batch then overlap the storing of the previous one: the
    thread waits on the network without the GIL, and SQLite writes release it too. The
    iterator's exception is raised in the reader; `close` stops the thread and waits for it,
    so that the connection it used is free again when `close` returns.
    """

    def __init__(self, source: Iterator[_T], depth: int = 1) -> None:
        self._source = source
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="imap-download", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the reader, raised there
            self._error = exc
        finally:
            self._put(_DONE)

    def __iter__(self) -> Iterator[_T]:
        while True:
            item = self._queue.get()
            if item is _DONE:
                self._thread.join()
                if self._error is not None:
                    raise self._error
                return
            yield item  # type: ignore[misc]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


def _ahead(source: Iterator[_T]) -> _Ahead[_T]:
    return _Ahead(source)


@dataclass(slots=True)
class _Pending:
    """A downloaded batch, maybe being parsed in the pool, waiting to be stored."""

    batch: list[Incoming]
    mark: FolderMark | None
    preparing: Future[list[tuple[ParsedMessage, PackedRaw]]] | None

    def store(self, ingestor: Ingestor) -> IngestStats:
        t0 = time.perf_counter()
        prepared: list[tuple[ParsedMessage, PackedRaw]] | None = None
        if self.preparing is not None:
            try:
                prepared = self.preparing.result()
            except Exception:  # a pool worker died (out of memory?): do it here instead
                prepared = None
        waited = time.perf_counter() - t0
        if prepared is None:
            return ingestor.ingest(self.batch, mark=self.mark)
        stats = ingestor.ingest(
            self.batch,
            mark=self.mark,
            parsed=[m for m, _ in prepared],
            packed=[p for _, p in prepared],
        )
        stats.parse_s += waited  # the part of the pool's work the download did not hide
        return stats


def _confirm_gone(client: IMAPClient, candidates: set[int]) -> set[int]:
    """The candidates the server really no longer has. A UID list read in slices of message
    numbers can miss one that another client's expunge shifted across a slice edge; asking
    for the UIDs themselves cannot."""
    gone = set(candidates)
    for chunk in _chunks(sorted(candidates), SIZE_QUERY):
        gone -= set(client.fetch(chunk, [b"UID"]))
    return gone


def _uid_fetch(
    client: IMAPClient, span: str, items: list[bytes], modifiers: list[str]
) -> tuple[dict[int, dict[bytes, Any]], list[tuple[int, int]]]:
    """UID FETCH over a range, with CONDSTORE/QRESYNC modifiers; returns (answers, vanished).

    IMAPClient's `fetch` takes only lists of numbers (a range string fails in its result
    filter) and drops the VANISHED responses of QRESYNC, so this sends the command itself.
    """
    imap = client._imap
    imap.untagged_responses.pop("VANISHED", None)
    args: list[str | bytes] = ["FETCH", span, "(" + " ".join(i.decode() for i in items) + ")"]
    if modifiers:
        args.append("(" + " ".join(modifiers) + ")")
    tag = imap._command("UID", *args)
    typ, data = imap._command_complete("FETCH", tag)
    if typ != "OK":
        raise IMAPClient.Error(f"UID FETCH failed: {safe_text(repr(data))[:200]}")
    typ, data = imap._untagged_response(typ, data, "FETCH")
    answers = parse_fetch_response(data, client.normalise_times, True)
    vanished: list[tuple[int, int]] = []
    for line in imap.untagged_responses.pop("VANISHED", None) or []:
        text = line.decode("ascii", "replace") if isinstance(line, bytes) else str(line)
        vanished += parse_ranges(text.replace("(EARLIER)", "").strip())
    return {uid: dict(d) for uid, d in answers.items() if isinstance(uid, int)}, vanished


class FolderMissing(Exception):
    def __init__(self, account: str, folder: str) -> None:
        super().__init__(f"account {account}: folder {folder!r} does not exist on the server")
        self.account = account
        self.folder = folder
