"""Attachments of stored messages: list them, and save one to a folder, streamed.

Ingest only lists attachments (the ``attachment`` table); their bytes stay in the raw message.
Saving finds the part again by its path with :mod:`helpdesk.core.mime_parts` and decodes it a
chunk at a time, so a 25 MB attachment never sits in memory whole: a raw message kept in the
blob store is unpacked into a private scratch file and memory-mapped.

The name written is never trusted: it is cleaned again (:func:`~helpdesk.core.sanitize.safe_filename`),
created relative to the open target folder with ``O_EXCL`` (a symlink planted under that name
is never followed, an existing file is never replaced: ``name (2).pdf`` instead), mode 0600.
"""

from __future__ import annotations

import io
import mmap
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import NoResultFound

from helpdesk.core.mime_parts import ByteSource, MimeStructureError, decoded_chunks, find_part
from helpdesk.core.sanitize import safe_filename
from helpdesk.storage.cache import Cache, attachment_t, message_t

__all__ = [
    "AttachmentNotFound",
    "StoredAttachment",
    "attachment_of",
    "list_attachments",
    "save_attachment",
    "save_for_viewing",
    "write_unique",
]

FILE_MODE = 0o600
MAX_NAME_BYTES = 200  # below the usual 255-byte limit, with room for " (999)"
MAX_DUPLICATES = 999
_COPY_CHUNK = 1 << 20


class AttachmentNotFound(LookupError):
    """No such attachment, or its part is no longer in the raw message."""


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    message: int  # cache primary key of the message
    part: str  # dotted MIME part path
    filename: str  # already sanitised at ingest
    content_type: str
    size: int  # decoded bytes, as measured at ingest
    inline: bool


def _row(r: object) -> StoredAttachment:
    return StoredAttachment(
        message=r.message,  # type: ignore[attr-defined]
        part=r.part,  # type: ignore[attr-defined]
        filename=r.filename,  # type: ignore[attr-defined]
        content_type=r.content_type,  # type: ignore[attr-defined]
        size=r.size,  # type: ignore[attr-defined]
        inline=bool(r.inline),  # type: ignore[attr-defined]
    )


def list_attachments(cache: Cache, ticket: int) -> list[StoredAttachment]:
    """Every attachment of the ticket's messages, in conversation order."""
    stmt = (
        select(attachment_t)
        .join(message_t, message_t.c.id == attachment_t.c.message)
        .where(message_t.c.ticket == ticket)
        .order_by(
            func.coalesce(message_t.c.sort_date, message_t.c.received_at),
            message_t.c.id,
            attachment_t.c.id,
        )
    )
    with cache.engine.connect() as conn:
        return [_row(r) for r in conn.execute(stmt)]


def attachment_of(cache: Cache, message: int, part: str) -> StoredAttachment:
    stmt = select(attachment_t).where(
        attachment_t.c.message == message, attachment_t.c.part == part
    )
    with cache.engine.connect() as conn:
        row = conn.execute(stmt).first()
    if row is None:
        raise AttachmentNotFound(f"message {message} has no attachment at part {part}")
    return _row(row)


@contextmanager
def raw_source(cache: Cache, message: int) -> Iterator[ByteSource]:
    """The raw message as a buffer: in memory when small, else a memory-mapped private
    scratch copy (removed on exit; unlinked from the start, so a crash leaves nothing)."""
    with cache.open_raw(message) as fh:
        if isinstance(fh, io.BytesIO):
            with fh.getbuffer() as view:
                yield view
            return
        with tempfile.TemporaryFile(dir=cache.blobs.tmp_dir) as spool:
            shutil.copyfileobj(fh, spool, _COPY_CHUNK)
            spool.flush()
            if spool.tell() == 0:
                yield b""
                return
            with mmap.mmap(spool.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                yield mapped


def save_attachment(
    cache: Cache, message: int, part: str, folder: Path, *, name: str | None = None
) -> Path:
    """Save one attachment into ``folder`` (which must exist) under its cleaned name, or
    ``name`` (cleaned too); returns the path written."""
    att = attachment_of(cache, message, part)
    try:
        with raw_source(cache, message) as source:
            try:
                span = find_part(source, part)
            except (KeyError, MimeStructureError):
                raise AttachmentNotFound(f"part {part} is not in message {message}") from None
            return write_unique(folder, name or att.filename, decoded_chunks(source, span))
    except NoResultFound:
        raise AttachmentNotFound(f"message {message} has no raw copy in the cache") from None


def save_for_viewing(cache: Cache, message: int, part: str) -> Path:
    """Save an attachment into a fresh private folder (0700) for the system's viewer; the
    caller opens the returned path and may remove its folder afterwards."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    base = runtime if runtime and os.path.isdir(runtime) else None
    folder = Path(tempfile.mkdtemp(prefix="helpdesk-view-", dir=base))
    return save_attachment(cache, message, part, folder)


# Writing -------------------------------------------------------------------------------------


def _fit(name: str) -> str:
    """``name`` cut to :data:`MAX_NAME_BYTES` of UTF-8, the extension kept."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 20:
        stem, ext = name, ""
    room = MAX_NAME_BYTES - (len(ext.encode()) + 1 if ext else 0)
    cut = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
    if not cut:
        return "attachment"
    return f"{cut}.{ext}" if ext else cut


def _candidates(name: str) -> Iterator[str]:
    yield name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    for n in range(2, MAX_DUPLICATES + 1):
        yield f"{stem} ({n}){suffix}"


def _check_inside(folder: Path, name: str) -> None:
    """Belt and braces: the cleaned name is one plain component of ``folder``."""
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or os.path.basename(name) != name
    ):
        raise ValueError(f"unsafe file name {name!r}")
    real = Path(os.path.realpath(folder))
    if Path(os.path.normpath(real / name)).parent != real:
        raise ValueError(f"file name {name!r} leaves {real}")


def write_unique(
    folder: Path, name: str, chunks: Iterable[bytes], *, fallback: str = "attachment"
) -> Path:
    """Write ``chunks`` to a new file in ``folder`` named after ``name`` (cleaned; a free
    ``name (2).ext`` when taken). The content is written to a hidden temporary file, synced,
    then linked under the final name, which never replaces anything: a crash leaves no half
    file under a real name."""
    clean = _fit(safe_filename(name, fallback))
    _check_inside(folder, clean)
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        tmp = f".helpdesk-{secrets.token_hex(8)}.part"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, FILE_MODE, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)
                for chunk in chunks:
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            final = _link_free_name(dir_fd, tmp, clean, folder)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return folder / final


def _link_free_name(dir_fd: int, tmp: str, clean: str, folder: Path) -> str:
    for candidate in _candidates(clean):
        _check_inside(folder, candidate)
        try:
            os.link(tmp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return candidate
        except FileExistsError:
            continue
        except OSError:
            # A file system without hard links: rename, after checking the name is free
            # (lstat, so that a dangling symlink counts as taken).
            try:
                os.lstat(candidate, dir_fd=dir_fd)
                continue
            except FileNotFoundError:
                os.rename(tmp, candidate, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                return candidate
    raise FileExistsError(f"{MAX_DUPLICATES} files named like {clean!r} already exist")
