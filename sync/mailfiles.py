"""Mail in from local files: a Maildir or an mbox goes through the same ingest pipeline."""

from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the ingest (and the mail parser) load when mail is imported, not before
    from helpdesk.sync.ingest import Incoming, Ingestor, IngestStats


class NotAMailbox(Exception):
    pass


def _raw_messages(path: Path) -> Iterator[bytes]:
    if path.is_dir():
        if not (path / "cur").is_dir() and not (path / "new").is_dir():
            raise NotAMailbox(f"{path}: a directory but not a Maildir (no cur/ or new/)")
        md = mailbox.Maildir(path, factory=None, create=False)
        # Sorted keys make repeated imports deterministic.
        for key in sorted(md.keys()):
            with md.get_file(key) as f:
                yield f.read()
    elif path.is_file():
        with path.open("rb") as f:
            head = f.read(5)
        if head != b"From ":
            # A lone message file (.eml) is a mailbox of one.
            yield path.read_bytes()
            return
        mb = mailbox.mbox(path, factory=None, create=False)
        for key in mb.iterkeys():
            yield mb.get_bytes(key)
    else:
        raise NotAMailbox(f"{path}: no such file or directory")


def import_path(
    path: Path,
    ingestor: Ingestor,
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> IngestStats:
    from helpdesk.sync.ingest import Incoming, IngestStats

    stats = IngestStats()
    batch: list[Incoming] = []
    for raw in _raw_messages(path):
        batch.append(Incoming(raw=raw))
        if len(batch) >= batch_size:
            stats.add(ingestor.ingest(batch))
            batch = []
            if progress:
                progress(stats.seen)
    if batch:
        stats.add(ingestor.ingest(batch))
        if progress:
            progress(stats.seen)
    return stats


def import_messages(raws: list[bytes], ingestor: Ingestor, *, batch_size: int = 500) -> IngestStats:
    from helpdesk.sync.ingest import Incoming, IngestStats

    stats = IngestStats()
    for i in range(0, len(raws), batch_size):
        stats.add(ingestor.ingest([Incoming(raw=r) for r in raws[i : i + batch_size]]))
    return stats
