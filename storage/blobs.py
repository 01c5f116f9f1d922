"""A content-addressed store of big blobs (raw messages too big for the cache database).

A blob is named by the sha256 of its content and kept gzip-compressed under
``<root>/ab/abcdef...`` (the first two hex digits as a folder, so no folder grows huge).
Writes go to a temporary file in ``<root>/tmp``, are synced to disk, then renamed into place:
a crash leaves at worst a stray temporary file, never a half blob under a real name. The same
content stored twice is one file. Folders are 0700 and files 0600: this is customers' mail.

Callers that record a blob in a database write the blob first and commit the reference
after, so a crash can leave an unreferenced blob (removed by :func:`remove_orphans`) but
never a reference to a blob that is not there.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tempfile
import time
import zlib
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import Engine, select

from helpdesk.storage.blob_models import RawBlob

__all__ = ["BlobCorrupt", "BlobRef", "BlobStore", "blob_dir_for", "remove_orphans"]

DIR_MODE = 0o700
COPY_CHUNK = 1 << 20
# Fast compression: big raw messages are mostly base64 of already compressed files, where a
# higher level gains a few percent for several times the time.
COMPRESS_LEVEL = 1
STALE_SECONDS = 3600.0  # a temp file or unreferenced blob younger than this may be in use
_DIGEST = re.compile(r"^[0-9a-f]{64}$")


_SAMPLE = 64 * 1024


def _strategy_for(data: memoryview) -> int:
    """Huffman coding alone for content that string matching cannot shrink (base64 of
    compressed files: most big mail), at several times the speed; full deflate otherwise
    (long text threads). Judged by a sample from the middle, past the headers and text."""
    middle = len(data) // 2
    sample = bytes(data[middle : middle + _SAMPLE])
    if len(sample) < _SAMPLE:
        return zlib.Z_DEFAULT_STRATEGY
    packed = len(zlib.compress(sample, 1))
    return zlib.Z_HUFFMAN_ONLY if packed > 0.7 * len(sample) else zlib.Z_DEFAULT_STRATEGY


class BlobCorrupt(OSError):
    """A blob's content does not match its name (disk damage, or a file changed by hand)."""


@dataclass(frozen=True, slots=True)
class BlobRef:
    digest: str  # sha256 hex of the content
    size: int  # bytes of content (before compression)


def blob_dir_for(cache_file: Path) -> Path:
    """The blob folder beside a cache file: ``cache.sqlite`` -> ``cache.blobs``. One folder
    per cache, so that removing one cache's orphans never touches another cache's blobs."""
    return cache_file.with_name(f"{cache_file.stem}.blobs")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Folders are made on the first write: opening a store never creates anything."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- names -----------------------------------------------------------------------------------

    def path_of(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise ValueError(f"not a sha256 hex digest: {digest!r}")
        return self.root / digest[:2] / digest

    def has(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    @property
    def tmp_dir(self) -> Path:
        """Where temporary files live, on the same file system as the blobs (also for
        callers that need a private scratch file, such as a spooled message)."""
        path = self.root / "tmp"
        self._make_dir(path)
        return path

    def _make_dir(self, path: Path) -> None:
        for folder in (self.root, path):
            if not folder.is_dir():
                folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                # mkdir's mode is cut by the umask, and parents= ignores it: set it plainly.
                os.chmod(folder, DIR_MODE)

    # -- writing ---------------------------------------------------------------------------------

    def put(self, data: bytes | memoryview) -> BlobRef:
        """Store ``data``; nothing is written when the same content is already there."""
        digest = hashlib.sha256(data).hexdigest()
        ref = BlobRef(digest, len(data))
        if self._refresh(digest):
            return ref
        view = memoryview(data)
        chunks = (view[i : i + COPY_CHUNK] for i in range(0, len(view), COPY_CHUNK))
        tmp, _ = self._write_temp(chunks, strategy=_strategy_for(view))
        self._commit(tmp, digest)
        return ref

    def put_stream(self, stream: IO[bytes]) -> BlobRef:
        """Store what ``stream`` yields, a chunk at a time (the name is known only at the end)."""

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(COPY_CHUNK):
                yield chunk

        tmp, ref = self._write_temp(chunks())
        if self._refresh(ref.digest):
            tmp.unlink(missing_ok=True)
        else:
            self._commit(tmp, ref.digest)
        return ref

    def _refresh(self, digest: str) -> bool:
        """Whether the blob is there; if so its time is renewed, so that an orphan sweep
        running now does not take a blob that is about to be referenced again."""
        try:
            os.utime(self.path_of(digest))
        except FileNotFoundError:
            return False
        return True

    def _write_temp(
        self, chunks: Iterable[bytes | memoryview], *, strategy: int = zlib.Z_DEFAULT_STRATEGY
    ) -> tuple[Path, BlobRef]:
        fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix="blob-", suffix=".part")
        tmp = Path(name)
        hasher = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as raw:
                # The gzip format (wbits 31), so any gzip tool reads a blob.
                packer = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, 31, 8, strategy)
                for chunk in chunks:
                    hasher.update(chunk)
                    size += len(chunk)
                    raw.write(packer.compress(chunk))
                raw.write(packer.flush())
                raw.flush()
                os.fsync(raw.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, BlobRef(hasher.hexdigest(), size)

    def _commit(self, tmp: Path, digest: str) -> None:
        final = self.path_of(digest)
        self._make_dir(final.parent)
        # Another writer may have stored the same content meanwhile: same bytes, so
        # replacing it is harmless.
        os.replace(tmp, final)
        _fsync_dir(final.parent)

    # -- reading ---------------------------------------------------------------------------------

    def open(self, digest: str) -> io.BufferedIOBase:
        """The content as a stream, decompressed as it is read. ``FileNotFoundError`` when
        there is no such blob; a damaged file fails its gzip check while being read."""
        return gzip.GzipFile(self.path_of(digest), "rb")

    def read(self, digest: str) -> bytes:
        """The whole content, checked against its name."""
        with self.open(digest) as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BlobCorrupt(f"blob {digest} does not match its content")
        return data

    # -- housekeeping ----------------------------------------------------------------------------

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if len(folder.name) == 2 and folder.is_dir():
                for item in sorted(folder.iterdir()):
                    if _DIGEST.match(item.name) and item.name.startswith(folder.name):
                        yield item.name

    def sweep(
        self,
        referenced: Collection[str],
        *,
        older_than: float = STALE_SECONDS,
        now: float | None = None,
    ) -> int:
        """Remove blobs not in ``referenced`` and temporary files, when older than
        ``older_than`` seconds (younger ones may belong to a write still under way).
        Returns how many files were removed."""
        cutoff = (time.time() if now is None else now) - older_than
        removed = 0
        candidates = [self.path_of(d) for d in self.digests() if d not in referenced]
        tmp = self.root / "tmp"
        if tmp.is_dir():
            candidates.extend(tmp.iterdir())
        for path in candidates:
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


def remove_orphans(store: BlobStore, engine: Engine, *, older_than: float = STALE_SECONDS) -> int:
    """Remove the blobs of ``store`` that no row of the cache at ``engine`` refers to."""
    table = RawBlob.__table__
    with engine.connect() as conn:
        referenced = set(conn.execute(select(table.c.digest)).scalars())
    return store.sweep(referenced, older_than=older_than)
