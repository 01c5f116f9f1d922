"""Push instead of polling: IMAP IDLE (RFC 2177) on each account's inbox.

One connection per account, each in a thread of its own (imapclient is not thread-safe), sits
in IDLE on the first watched folder and calls `on_change(account)` when the server reports new
or removed mail. The watcher never fetches: the caller runs its usual sync, which stays the
only writer of the cache. Other folders (Sent) are left to the caller's periodic poll.

Faults of any kind (reset, server restart, timeout, failed login) are reported through
`on_state` and retried with capped exponential backoff; after a reconnect `on_change` is
called once, because mail may have arrived while nobody was listening.
"""

from __future__ import annotations

import contextlib
import errno
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from imapclient import IMAPClient

from helpdesk.core.config import AccountSettings
from helpdesk.sync.credentials import get_password
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.imap import connect

__all__ = [
    "RENEW_EVERY",
    "IdleUnsupported",
    "IdleWatcher",
    "OnChange",
    "OnState",
    "backoff_delay",
]

# RFC 2177: servers may drop an IDLE after 30 minutes; many NAT boxes forget a silent flow
# sooner. Nine minutes stays well inside both.
RENEW_EVERY = 540.0
CHECK_SLICE = 1.0  # idle_check waits this long at most, so that stop() is noticed quickly
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
BACKOFF_JITTER = 0.25  # up to a quarter shorter, so that many clients do not retry in step
STABLE_AFTER = 30.0  # a connection that lived this long resets the backoff
CLOSE_TIMEOUT = 2.0  # DONE and LOGOUT on the way out must not hold up stop()

# Untagged responses that mean the mailbox changed: new mail, or mail gone or altered.
CHANGE_RESPONSES = frozenset({b"EXISTS", b"RECENT", b"EXPUNGE", b"FETCH"})

OnChange = Callable[[str], None]
OnState = Callable[[str, str, "str | None"], None]


class IdleUnsupported(Exception):
    """The server does not offer IDLE; polling alone has to do."""


def backoff_delay(
    attempt: int,
    *,
    first: float = BACKOFF_FIRST,
    cap: float = BACKOFF_MAX,
    jitter: float = BACKOFF_JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0-based): 1, 2, 4 ... up to
    ``cap``, each shortened by a random part of up to ``jitter``."""
    nominal = min(cap, first * 2 ** min(attempt, 32))
    return nominal * (1.0 - jitter * rand())


def _error_text(exc: BaseException) -> str:
    # The sync's own words for the same faults; one line for a status line.
    return describe_fault(exc).replace("\n", " ").strip()[:300]


def _is_change(response: Any) -> bool:
    return (
        isinstance(response, tuple)
        and len(response) >= 2
        and isinstance(response[1], bytes)
        and response[1].upper() in CHANGE_RESPONSES
    )


def _bye(responses: Iterable[Any]) -> bytes | None:
    for r in responses:
        if isinstance(r, tuple) and r and r[0] == b"BYE":
            return r[1] if len(r) > 1 and isinstance(r[1], bytes) else b""
    return None


def _peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed the TCP connection.

    `IMAPClient.idle_check` treats end of file as "nothing yet", so a dead connection would
    look idle for ever. Peeking at the raw descriptor (a duplicate, because TLS sockets
    refuse MSG_PEEK) tells an empty read (closed) from no data (alive).
    """
    raw = socket.socket(fileno=socket.dup(sock.fileno()))
    try:
        data = raw.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError as exc:
        return exc.errno != errno.EINTR
    finally:
        raw.close()
    return data == b""


class IdleWatcher:
    """Watches the inbox of every account with an IMAP server and reports changes.

    `start()` and `stop()` come from the caller; callbacks run in the watcher's threads, so
    the caller hands them over to its own thread if it needs to (`App.call_from_thread`).
    `on_state(account, state, error)` reports "connecting", "idle", "reconnecting in Ns"
    (with the error), "no IDLE on this server: polling only" and "stopped".
    """

    def __init__(
        self,
        accounts: Iterable[AccountSettings],
        on_change: OnChange,
        on_state: OnState | None = None,
        *,
        renew_every: float = RENEW_EVERY,
        check_slice: float = CHECK_SLICE,
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        password: Callable[[AccountSettings], str] = lambda a: get_password(a, "imap"),
    ) -> None:
        self.accounts = [a for a in accounts if a.imap is not None and a.imap.folders]
        self.on_change = on_change
        self.on_state = on_state
        self.renew_every = renew_every
        self.check_slice = check_slice
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.password = password
        self.states: dict[str, str] = {}  # account -> latest state
        self.renewals = 0  # IDLE commands renewed, in all accounts
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def started(self) -> bool:
        return bool(self._threads)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        if self._threads:
            raise RuntimeError("IdleWatcher.start() called twice")
        for account in self.accounts:
            thread = threading.Thread(
                target=self._run, args=(account,), name=f"imap-idle-{account.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask every connection to leave IDLE and log out; wait at most ``timeout`` seconds
        in all (a thread still waiting on a dead server ends on its own: it is a daemon)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- one account -------------------------------------------------------------------------

    def _state(self, account: str, state: str, error: str | None = None) -> None:
        self.states[account] = state
        if self.on_state is not None:
            with contextlib.suppress(Exception):  # a broken callback must not end the watch
                self.on_state(account, state, error)

    def _changed(self, account: str) -> None:
        with contextlib.suppress(Exception):  # e.g. the app is already closing
            self.on_change(account)

    def _run(self, account: AccountSettings) -> None:
        imap = account.imap
        assert imap is not None
        attempt = 0
        first = True
        while not self._stop.is_set():
            self._state(account.name, "connecting")
            client: IMAPClient | None = None
            began: float | None = None
            try:
                client = connect(imap, self.password(account))
                if not client.has_capability("IDLE"):
                    raise IdleUnsupported(account.name)
                # EXAMINE, not SELECT: watching must not clear \Recent or change anything.
                client.select_folder(imap.folders[0], readonly=True)
                client.idle()
                began = time.monotonic()
                self._state(account.name, "idle")
                if not first:
                    self._changed(account.name)  # whatever came while nobody listened
                self._watch(client, account.name)
            except IdleUnsupported:
                self._state(account.name, "no IDLE on this server: polling only")
                self._close(client, in_idle=False)
                return
            except Exception as exc:  # any fault: report, wait, reconnect
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.shutdown()
                if self._stop.is_set():
                    break
                first = False
                if began is not None and time.monotonic() - began >= STABLE_AFTER:
                    attempt = 0
                delay = backoff_delay(attempt, first=self.backoff_first, cap=self.backoff_max)
                attempt += 1
                state = f"reconnecting in {max(1, round(delay))}s"
                self._state(account.name, state, _error_text(exc))
                self._stop.wait(delay)
            else:
                self._close(client, in_idle=True)
        self._state(account.name, "stopped")

    def _watch(self, client: IMAPClient, account: str) -> None:
        renewed = time.monotonic()
        while not self._stop.is_set():
            responses = client.idle_check(timeout=self.check_slice)
            if not responses and _peer_closed(client.socket()):
                raise ConnectionError("the server closed the connection")
            if time.monotonic() - renewed >= self.renew_every:
                # DONE ends this IDLE; what arrived meanwhile comes with its answer.
                _text, late = client.idle_done()
                responses = [*responses, *late]
                client.idle()
                renewed = time.monotonic()
                self.renewals += 1
            bye = _bye(responses)
            if bye is not None:
                raise ConnectionError(f"server said BYE {bye.decode('utf-8', 'replace')}")
            if any(_is_change(r) for r in responses):
                self._changed(account)

    @staticmethod
    def _close(client: IMAPClient | None, *, in_idle: bool) -> None:
        # Polite but quick: DONE and LOGOUT, or just the socket closed.
        if client is None:
            return
        try:
            client.socket().settimeout(CLOSE_TIMEOUT)
            if in_idle:
                client.idle_done()
            client.logout()
        except Exception:
            with contextlib.suppress(Exception):
                client.shutdown()
