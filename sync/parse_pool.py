"""Parsing mail on every core while the main thread downloads and stores.

Parsing, not the network, is the slow stage of a first sync (about 1 to 4 ms a message): a
pool of processes parses one batch while the next is downloaded and the previous one stored.
Worth it only for a large download: starting the processes costs a few hundred milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from helpdesk.core.message import ParsedMessage
from helpdesk.storage.blobs import BlobStore
from helpdesk.storage.cache import Cache, PackedRaw, pack_raw
from helpdesk.sync.ingest import Incoming, parse_incoming

# A slice of a batch per worker task: small enough to spread a batch over every worker.
_SLICE = 25


# A worker's blob store, made once per process (it only creates folders on first use).
_stores: dict[Path, BlobStore] = {}


def _prepare_slice(
    batch: Sequence[Incoming], blob_root: Path, limit: int
) -> list[tuple[ParsedMessage, PackedRaw]]:
    """Parse and pack (compress, or write big ones to the blob store): the CPU work of
    storing a message that needs no lock, done here so the main process only writes."""
    blobs = _stores.get(blob_root) or _stores.setdefault(blob_root, BlobStore(blob_root))
    return [(parse_incoming(inc), pack_raw(inc.raw, blobs, limit)) for inc in batch]


class ParsePool:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is not None and getattr(self._executor, "_broken", False):
            # A worker died (killed for memory?): the executor is spent; start a new one.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._executor is None:
            # Not fork: the app and the service have threads (workers, schedulers), and a
            # forked child could inherit a lock some other thread held at that moment.
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor

    def warm(self) -> None:
        """Start the worker processes now, not with the first batch."""
        pool = self._pool()
        for _ in range(self.workers):
            pool.submit(int)

    def submit(
        self, batch: Sequence[Incoming], cache: Cache
    ) -> Future[list[tuple[ParsedMessage, PackedRaw]]]:
        """Parse and pack a batch in the pool, for `cache`; the result is in batch order."""
        root, limit = cache.blobs.root, cache.raw_blob_limit
        slices = [
            self._pool().submit(_prepare_slice, list(batch[i : i + _SLICE]), root, limit)
            for i in range(0, len(batch), _SLICE)
        ]
        done: Future[list[tuple[ParsedMessage, PackedRaw]]] = Future()
        lock = threading.Lock()  # callbacks run in the pool's threads, maybe two at once

        def collect(_: object) -> None:
            with lock:
                if done.done() or not all(f.done() for f in slices):
                    return
                try:
                    done.set_result([m for f in slices for m in f.result()])
                except BaseException as exc:  # a dead worker: the caller sees why
                    done.set_exception(exc)

        for f in slices:
            f.add_done_callback(collect)
        if not slices:
            done.set_result([])
        return done

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
