"""The server's side of `helpdesk doctor`: every UID of every watched folder, and the comparison
with what the cache stored.

A folder's UIDs are read with `UID SEARCH` over slices of message sequence numbers, so that no
answer line outgrows what the IMAP library accepts (1 MB) however big the folder is. Where the
server has ESEARCH (RFC 4731) the answer comes as ranges (`1:50000`), a few bytes for a folder
nobody deletes from.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from helpdesk.core.config import AccountSettings
from helpdesk.storage.census_queries import StoredFolder
from helpdesk.sync.imap import close_quietly, connect, watched_folders
from helpdesk.sync.uid_search import folder_uids


@dataclass(frozen=True, slots=True)
class FolderCensus:
    folder: str
    uidvalidity: int
    uidnext: int | None
    uids: frozenset[int]


@dataclass(slots=True)
class ServerCensus:
    account: str
    folders: dict[str, FolderCensus] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)  # watched, but not on the server
    esearch: bool = False
    seconds: float = 0.0


def take_census(account: AccountSettings, password: str) -> ServerCensus:
    """UIDVALIDITY, UIDNEXT and every UID of each watched folder, read-only."""
    if account.imap is None:
        raise ValueError(f"account {account.name} has no [imap] section")
    began = time.perf_counter()
    census = ServerCensus(account.name)
    client = connect(account.imap, password)
    try:
        census.esearch = client.has_capability("ESEARCH")
        existing = {f[2] for f in client.list_folders()}
        for folder in watched_folders(account.imap):
            if folder not in existing:
                census.absent.append(folder)
                continue
            info = client.select_folder(folder, readonly=True)
            census.folders[folder] = FolderCensus(
                folder=folder,
                uidvalidity=int(info[b"UIDVALIDITY"]),
                uidnext=int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None,
                uids=folder_uids(client, int(info.get(b"EXISTS", 0)), esearch=census.esearch),
            )
    finally:
        close_quietly(client)
    census.seconds = time.perf_counter() - began
    return census


@dataclass(frozen=True, slots=True)
class FolderCheck:
    """One folder, server against cache.

    `missing`: on the server below the cache's uidnext (so the sync has passed them) but not
    stored: lost. `extra`: stored for this folder, gone from the server (expunged or moved by
    another client, not yet reflected): the message stays in its ticket. `pending`: newer
    than the last sync.
    """

    account: str
    folder: str
    on_server: int
    in_cache: int
    uidvalidity_server: int
    uidvalidity_cache: int | None
    uidnext_cache: int | None
    missing: tuple[int, ...] = ()
    extra: tuple[int, ...] = ()
    pending: int = 0

    @property
    def never_synced(self) -> bool:
        return self.uidnext_cache is None

    @property
    def renumbered(self) -> bool:
        """The server changed UIDVALIDITY since the last sync: its UIDs cannot be compared."""
        return (
            self.uidvalidity_cache is not None and self.uidvalidity_cache != self.uidvalidity_server
        )


def compare_folder(account: str, server: FolderCensus, stored: StoredFolder | None) -> FolderCheck:
    cached = stored.uids if stored is not None else frozenset()
    base = FolderCheck(
        account=account,
        folder=server.folder,
        on_server=len(server.uids),
        in_cache=len(cached),
        uidvalidity_server=server.uidvalidity,
        uidvalidity_cache=stored.uidvalidity if stored else None,
        uidnext_cache=stored.uidnext if stored else None,
    )
    if stored is None or stored.uidnext is None or base.renumbered:
        return replace(base, pending=len(server.uids))
    synced = {u for u in server.uids if u < stored.uidnext}
    return replace(
        base,
        missing=tuple(sorted(synced - cached)),
        extra=tuple(sorted(cached - server.uids)),
        pending=len(server.uids) - len(synced),
    )
