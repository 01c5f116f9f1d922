"""IMAP IDLE push against the real Dovecot: new mail seen within seconds, renewal, stop, and
recovery from a real network cut (a TCP proxy between watcher and server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount
from tcp_proxy import TcpProxy

from helpdesk.core.config import AccountSettings, ImapSettings, TlsMode
from helpdesk.sync.idle import IdleWatcher, backoff_delay

DELIVERY_LIMIT = 2.0  # seconds from APPEND to on_change, and to a ticket on screen


class Recorder:
    """Collects the watcher's callbacks (they come from its threads)."""

    def __init__(self) -> None:
        self.changes: list[float] = []
        self.states: list[tuple[str, str, str | None]] = []
        self._cond = threading.Condition()

    def on_change(self, account: str) -> None:
        with self._cond:
            self.changes.append(time.monotonic())
            self._cond.notify_all()

    def on_state(self, account: str, state: str, error: str | None) -> None:
        with self._cond:
            self.states.append((account, state, error))
            self._cond.notify_all()

    def wait(self, cond: Callable[[], bool], timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(cond, timeout)

    def change_after(self, t0: float, timeout: float = DELIVERY_LIMIT) -> float:
        """Seconds from ``t0`` to the first change seen after it; fails after ``timeout``."""
        assert self.wait(lambda: any(t >= t0 for t in self.changes), timeout), (
            f"no change reported within {timeout}s; states: {self.states[-5:]}"
        )
        return min(t for t in self.changes if t >= t0) - t0

    def state_count(self, prefix: str) -> int:
        return sum(1 for _a, s, _e in self.states if s.startswith(prefix))


def account_for(acct: ImapAccount, *, port: int | None = None) -> AccountSettings:
    imap = ImapSettings(
        host=acct.host,
        port=port if port is not None else acct.tls_port,
        tls=TlsMode.TLS,
        user=acct.user,
        password_command=f"printf %s {acct.password}",
        ca_file=str(acct.ca_file),
        timeout=10.0,
    )
    return AccountSettings(name="support", address="support@helpdesk.example", imap=imap, smtp=None)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@contextmanager
def watching(
    account: AccountSettings,
    rec: Recorder,
    *,
    renew_every: float = 540.0,
    check_slice: float = 1.0,
    backoff_first: float = 1.0,
) -> Iterator[IdleWatcher]:
    watcher = IdleWatcher(
        [account],
        rec.on_change,
        rec.on_state,
        renew_every=renew_every,
        check_slice=check_slice,
        backoff_first=backoff_first,
    )
    watcher.start()
    try:
        assert rec.wait(lambda: watcher.states.get("support") == "idle", 10), rec.states
        yield watcher
    finally:
        watcher.stop()


def append_one(acct: ImapAccount, n: int) -> float:
    """Deliver one message; return the moment the server confirmed it."""
    acct.append("INBOX", message(f"idle{n}@customer.example", subject=f"Dotaz {n}"))
    return time.monotonic()


def test_new_mail_is_reported_within_two_seconds(imap_account: ImapAccount, rec: Recorder) -> None:
    with watching(account_for(imap_account), rec):
        assert rec.changes == []  # the first connection is not a change
        t0 = time.monotonic()
        append_one(imap_account, 1)
        delay = rec.change_after(t0)
        print(f"APPEND -> on_change: {delay * 1000:.0f} ms")
        assert delay < DELIVERY_LIMIT


def test_idle_is_renewed_and_keeps_working(imap_account: ImapAccount, rec: Recorder) -> None:
    with watching(account_for(imap_account), rec, renew_every=0.7, check_slice=0.2) as watcher:
        for n in range(4):
            t0 = time.monotonic()
            append_one(imap_account, n)
            assert rec.change_after(t0) < DELIVERY_LIMIT
            time.sleep(0.8)  # at least one renewal before the next message
        assert watcher.renewals >= 4
        assert rec.state_count("reconnecting") == 0  # renewals, not reconnects


def test_stop_returns_promptly(imap_account: ImapAccount, rec: Recorder) -> None:
    watcher = IdleWatcher([account_for(imap_account)], rec.on_change, rec.on_state)
    watcher.start()
    assert rec.wait(lambda: watcher.states.get("support") == "idle", 10), rec.states
    t0 = time.monotonic()
    watcher.stop()
    took = time.monotonic() - t0
    assert took < 2.0
    assert not watcher.running
    assert rec.states[-1][1] == "stopped"


def test_network_cut_reconnects_with_backoff_and_sees_new_mail(
    imap_account: ImapAccount, rec: Recorder
) -> None:
    net = TcpProxy(imap_account.host, imap_account.tls_port)
    try:
        with watching(account_for(imap_account, port=net.port), rec, backoff_first=0.3) as watcher:
            net.down()
            # The cut is noticed, and while the link is down each retry waits longer.
            assert rec.wait(lambda: rec.state_count("reconnecting") >= 3, 10), rec.states
            retries = [(s, e) for _a, s, e in rec.states if s.startswith("reconnecting")]
            assert all(e for _s, e in retries), "every retry says why"
            assert "closed" in (retries[0][1] or "")
            changes_before = len(rec.changes)
            net.up()
            assert rec.wait(lambda: watcher.states.get("support") == "idle", 10), rec.states
            # Mail may have come while the link was down: one change after the reconnect.
            assert rec.wait(lambda: len(rec.changes) == changes_before + 1, 2)
            t0 = time.monotonic()
            append_one(imap_account, 1)
            assert rec.change_after(t0) < DELIVERY_LIMIT
    finally:
        net.close()


def test_login_failure_is_reported_and_retried(imap_account: ImapAccount, rec: Recorder) -> None:
    watcher = IdleWatcher(
        [account_for(imap_account)],
        rec.on_change,
        rec.on_state,
        backoff_first=0.2,
        password=lambda _a: "wrong\x1b[31m",
    )
    watcher.start()
    try:
        assert rec.wait(lambda: rec.state_count("reconnecting") >= 2, 15), rec.states
    finally:
        watcher.stop()
    errors = [e or "" for _a, s, e in rec.states if s.startswith("reconnecting")]
    assert errors and all("refused the login" in e for e in errors), errors
    assert not any("\x1b" in e or "wrong" in e for e in errors)  # nor the password
    assert rec.changes == []


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    exact = [backoff_delay(n, rand=lambda: 0.0) for n in range(9)]
    assert exact == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    shortest = [backoff_delay(n, rand=lambda: 1.0) for n in range(9)]
    assert all(0.7 * e <= s < e for s, e in zip(shortest, exact, strict=True))
    assert backoff_delay(10_000) <= 60


def test_accounts_without_imap_are_not_watched(rec: Recorder) -> None:
    mail_only = AccountSettings(name="out", address="out@helpdesk.example", imap=None, smtp=None)
    watcher = IdleWatcher([mail_only], rec.on_change, rec.on_state)
    watcher.start()
    assert not watcher.running
    watcher.stop()
    assert rec.states == []


async def test_app_shows_pushed_mail_without_a_key(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    from test_app import rows
    from test_imap_sync import workspace_for

    from helpdesk.sync.service import SyncService
    from helpdesk.tui.app import HelpdeskApp
    from helpdesk.tui.widgets.ticket_table import TicketTable

    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("p1@customer.example", subject="První dotaz"))
    ws = workspace_for(imap_account, tmp_path)
    # The poll is far away: only the push can bring the second message in time.
    app = HelpdeskApp(ws, sync=SyncService(ws), sync_interval=600)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            table = app.screen.query_one(TicketTable)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (
                table.row_count == 1
                and app.idle_watcher is not None
                and app.idle_watcher.states.get("support") == "idle"
                and "synced" in app.sync_state
            ):
                await pilot.pause(0.05)
            assert table.row_count == 1, app.sync_state
            assert app.idle_watcher is not None
            assert app.idle_watcher.states.get("support") == "idle"

            t0 = time.monotonic()
            imap_account.append("INBOX", message("p2@customer.example", subject="Druhý dotaz"))
            while table.row_count < 2 and time.monotonic() - t0 < 5:
                await pilot.pause(0.02)
            delay = time.monotonic() - t0
            print(f"APPEND -> ticket listed in the app: {delay * 1000:.0f} ms")
            assert sorted(r[2] for r in rows(table)) == ["Druhý dotaz", "První dotaz"]
            assert delay < DELIVERY_LIMIT
            watcher = app.idle_watcher
        assert not watcher.running  # stopped with the app
    finally:
        ws.close()


async def test_app_coalesces_a_burst_of_pushes(imap_account: ImapAccount, tmp_path: Path) -> None:
    """Ten pushes while a sync runs make one more sync afterwards, and cancel nothing."""
    from test_imap_sync import workspace_for
    from textual.message import Message

    from helpdesk.sync.service import SyncService
    from helpdesk.tui.app import HelpdeskApp
    from helpdesk.tui.messages import SyncFinished
    from helpdesk.tui.widgets.ticket_table import TicketTable

    imap_account.create_folder("Sent")
    ws = workspace_for(imap_account, tmp_path)
    app = HelpdeskApp(ws, sync=SyncService(ws), sync_interval=600)
    syncs: list[SyncFinished] = []

    def hook(msg: Message) -> None:
        if isinstance(msg, SyncFinished):
            syncs.append(msg)

    try:
        async with app.run_test(size=(80, 24), message_hook=hook) as pilot:
            table = app.screen.query_one(TicketTable)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not (
                syncs and app.idle_watcher and app.idle_watcher.states.get("support") == "idle"
            ):
                await pilot.pause(0.05)
            assert syncs, app.sync_state
            assert app.idle_watcher is not None
            # Dovecot itself merges close notifications (about every half second), so the
            # burst is played through the app's own callback, with the real watcher stopped.
            app.idle_watcher.stop()
            push = app.idle_watcher.on_change
            burst = 12
            for n in range(burst):
                imap_account.append("INBOX", message(f"b{n}@customer.example", subject=f"B {n}"))
            syncs.clear()
            pushing = threading.Thread(target=lambda: [push("support") for _ in range(10)])
            pushing.start()
            while pushing.is_alive():
                await pilot.pause(0.01)
            deadline = time.monotonic() + 10
            while table.row_count < burst and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause(1.0)  # a sync owed to the burst would have ended by now
            assert table.row_count == burst
            # The first push starts a sync; pushes that come while it runs owe one more
            # (pushes still queued when it starts are merged into it): never ten.
            assert 1 <= len(syncs) <= 2, syncs
            assert [s.new_messages for s in syncs] == [burst, 0][: len(syncs)]  # none cut short
    finally:
        ws.close()


async def test_app_without_accounts_starts_no_watcher(tmp_path: Path) -> None:
    from test_app import make_workspace

    from helpdesk.tui.app import make_app

    ws = make_workspace(tmp_path, [])
    app = make_app(ws)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause(0.1)
            assert app.idle_watcher is None
    finally:
        ws.close()


def test_sync_service_syncs_on_push(imap_account: ImapAccount, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    from test_imap_sync import write_config

    from helpdesk.core.tickets import Queue
    from helpdesk.storage.locations import load_settings
    from helpdesk.storage.workspace import open_workspace

    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("c1@customer.example", subject="První"))
    config = write_config(imap_account, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    log_path = tmp_path / "sync.log"
    log = log_path.open("w")
    # The poll is five minutes away: only the push can bring the second message in time.
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpdesk", "--config", str(config), "sync", "--interval", "300"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    ws = open_workspace(load_settings(str(config), env={}))
    try:

        def subjects() -> list[str]:
            return sorted(t.subject for t in ws.cache.list_tickets(Queue.ALL, ws.agent))

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            subjects() == ["První"] and "push idle" in log_path.read_text()
        ):
            time.sleep(0.1)
        assert subjects() == ["První"], log_path.read_text()
        assert "push idle" in log_path.read_text()
        t0 = time.monotonic()
        imap_account.append("INBOX", message("c2@customer.example", subject="Druhá"))
        while len(subjects()) < 2 and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        delay = time.monotonic() - t0
        print(f"APPEND -> ticket in the service's cache: {delay * 1000:.0f} ms")
        assert subjects() == ["Druhá", "První"]
        assert delay < DELIVERY_LIMIT
    finally:
        ws.close()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log.close()
    assert code == 0, log_path.read_text()
    assert "push stopped" in log_path.read_text()
