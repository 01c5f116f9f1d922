"""What the cache knows of each server folder's messages: their UIDs and flags.

The IMAP sync keeps this in step with the server (flags changed and messages expunged or moved
away in another mail client). Forgetting a location never forgets a message: it stays in its
ticket, whatever happens to the copy on the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import bindparam, select, update

from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import MessageLocation

_location = MessageLocation.__table__
_CHUNK = 500


def stored_uids(
    cache: Cache, mailbox: int, *, below: int | None = None, at_least: int | None = None
) -> set[int]:
    """UIDs of a folder that have a message in the cache, all of them or those in a range."""
    query = select(_location.c.uid).where(_location.c.mailbox == mailbox)
    if below is not None:
        query = query.where(_location.c.uid < below)
    if at_least is not None:
        query = query.where(_location.c.uid >= at_least)
    with cache.engine.connect() as conn:
        return set(conn.scalars(query))


def set_flags(cache: Cache, mailbox: int, flags: Mapping[int, str]) -> int:
    """Record the flags the server reports for UIDs of a folder; returns how many changed."""
    uids = sorted(flags)
    with cache.writer.begin() as conn:
        changed: list[dict[str, object]] = []
        for i in range(0, len(uids), _CHUNK):
            rows = conn.execute(
                select(_location.c.uid, _location.c.flags).where(
                    _location.c.mailbox == mailbox, _location.c.uid.in_(uids[i : i + _CHUNK])
                )
            )
            changed += [{"u": uid, "f": flags[uid]} for uid, old in rows if old != flags[uid]]
        if changed:
            conn.execute(
                update(_location)
                .where(_location.c.mailbox == mailbox, _location.c.uid == bindparam("u"))
                .values(flags=bindparam("f")),
                changed,
            )
    return len(changed)


def forget_uids(cache: Cache, mailbox: int, uids: Iterable[int]) -> int:
    """The server no longer has these UIDs in the folder (expunged, or moved elsewhere)."""
    gone = sorted(set(uids))
    with cache.writer.begin() as conn:
        for i in range(0, len(gone), _CHUNK):
            conn.execute(
                _location.delete().where(
                    _location.c.mailbox == mailbox, _location.c.uid.in_(gone[i : i + _CHUNK])
                )
            )
    return len(gone)


def flag_string(flags: Iterable[bytes | str]) -> str:
    """Flags as stored: space-separated, in a stable order so equal sets compare equal.
    `\\Recent` is left out: it belongs to one IMAP session, not to the message."""
    names = {f.decode(errors="replace") if isinstance(f, bytes) else f for f in flags}
    return " ".join(sorted(n for n in names if n.lower() != "\\recent"))
