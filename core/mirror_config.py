"""``[accounts.NAME.mirror]``: how the tickets' state shows in the mailbox itself, so that a
colleague reading it in a plain mail client sees a sane mailbox.

Example::

    [accounts.support.mirror]
    flags = true          # answered tickets' mail \\Answered, mail an agent opened \\Seen
    archive = "Archive"   # closed tickets' mail leaves the inbox for this folder
    junk = "Junk"         # spam tickets' mail goes here

Without the table nothing is mirrored. In it, ``flags`` is on unless set false; without
``archive`` (or ``junk``) closed (or spam) tickets' mail stays where it is. Both folders join the
account's fetched ``folders`` when the config is read (after those listed), so a cache made
afresh finds closed and spam tickets' mail; the mirror's first run creates them when missing.
Which folder is the inbox (``home``) is decided among the other folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ImapSettings, _Reader

__all__ = ["DEFAULT_MIRROR", "MIRROR_KEYS", "MirrorSettings", "read_mirror"]

MIRROR_KEYS = ("flags", "archive", "junk")


@dataclass(frozen=True, slots=True)
class MirrorSettings:
    flags: bool = False  # \Answered and \Seen follow replies and agents' reading
    archive: str | None = None  # closed tickets' inbound mail moves here
    junk: str | None = None  # spam tickets' inbound mail moves here

    @property
    def active(self) -> bool:
        return self.flags or self.archive is not None or self.junk is not None

    def home(self, watched: Sequence[str]) -> str | None:
        """The inbox mail returns to when its ticket opens again: the first watched folder
        that is neither the archive nor the junk folder."""
        for folder in watched:
            if folder not in (self.archive, self.junk):
                return folder
        return None


DEFAULT_MIRROR = MirrorSettings()

_FOLDER = 'a folder name like "Archive"'


def _folder(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= 200:
        return value.strip()
    return None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def read_mirror(
    r: _Reader,
    account: str,
    value: object,
    imap: ImapSettings | None,
    *,
    has_imap: bool,
) -> MirrorSettings:
    """The account's mirror table. ``imap`` is the account's IMAP settings, None when its
    table is missing (``has_imap`` False) or wrong (already reported)."""
    path = ("accounts", account, "mirror")
    t: dict[str, Any] | None = r.table(value, path, MIRROR_KEYS, account=account)
    if t is None:
        return DEFAULT_MIRROR
    flags = r.get(t, path, "flags", _bool, "true or false", True)
    archive = r.get(t, path, "archive", _folder, _FOLDER, None)
    junk = r.get(t, path, "junk", _folder, _FOLDER, None)
    if archive is not None and archive == junk:
        r.problem(
            (*path, "junk"),
            "a folder other than the archive",
            junk,
            detail="closed and spam mail would share one folder",
        )
    for key, folder in (("archive", archive), ("junk", junk)):
        if folder is not None and imap is not None and folder == imap.sent_folder:
            r.problem(
                (*path, key),
                "a folder other than the Sent folder",
                folder,
                detail="our own sent mail lives there",
            )
    settings = MirrorSettings(flags=bool(flags), archive=archive, junk=junk)
    if not has_imap:
        if settings.active:
            r.problem(
                path,
                f"an [accounts.{account}.imap] table",
                detail="there is no mailbox to mirror onto",
            )
        return settings
    if imap is not None and settings.home(imap.folders) is None:
        r.problem(
            (*path, "archive" if archive in imap.folders else "junk"),
            "a folder other than every watched folder",
            detail="reopened tickets' mail would have no inbox to return to",
        )
    return settings
