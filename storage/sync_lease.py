"""Who syncs a cache with the mail server: one process per cache holds the lease.

On the support server ten agents' apps share one cache kept current by `helpdesk sync`: only
the lease holder talks to IMAP, so they cost one IDLE and one fetching connection, not twenty.
The lease is a lock on a file next to the cache: the operating system drops it when its
holder exits, however it exits, so a crashed holder never blocks the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

# The lease belongs to a process, not to an object: file locks are per open file, so two
# services of one process (tests, a restarted worker) would otherwise lock each other out.
_held: dict[Path, int] = {}
_held_lock = threading.Lock()


class SyncLease:
    def __init__(self, cache_path: Path, holder: str) -> None:
        self.path = cache_path.with_name(cache_path.name + ".synclease")
        self.holder = holder

    @property
    def held(self) -> bool:
        return self.path in _held

    def try_take(self) -> bool:
        """Take the lease unless another process holds it; True while this process does."""
        with _held_lock:
            if self.path in _held:
                return True
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{self.holder} (pid {os.getpid()})".encode())
            _held[self.path] = fd
            return True

    def current_holder(self) -> str | None:
        """Who holds the lease now (as they described themselves), or None."""
        if self.held:
            return f"{self.holder} (pid {os.getpid()})"
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return os.read(fd, 200).decode(errors="replace").strip() or "another process"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def release(self) -> None:
        with _held_lock:
            fd = _held.pop(self.path, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the lock
