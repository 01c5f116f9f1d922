"""Faults end a sync with a clear, one-line reason and lose nothing: the next sync resumes."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

from mailbuild import message
from servers import ImapAccount, free_port
from test_imap_sync import workspace_for, write_config

from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.service import SyncService


def test_wrong_password_says_so(imap_account: ImapAccount, tmp_path: Path) -> None:
    object.__setattr__(imap_account, "password", "not-the-password")
    ws = workspace_for(imap_account, tmp_path)
    try:
        report = SyncService(ws).sync_once()
        assert report.errors["support"].startswith("the server refused the login")
        assert "not-the-password" not in report.errors["support"]
    finally:
        ws.close()


def test_a_server_that_is_not_there_says_so(imap_account: ImapAccount, tmp_path: Path) -> None:
    object.__setattr__(imap_account, "tls_port", free_port())  # nobody listens there
    ws = workspace_for(imap_account, tmp_path)
    try:
        report = SyncService(ws).sync_once()
        assert "refused the connection" in report.errors["support"]
    finally:
        ws.close()


def test_a_full_disk_stops_the_sync_clearly_and_the_next_one_resumes(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("first@customer.example"))
    config = write_config(imap_account, tmp_path)
    helpdesk = [sys.executable, "-m", "helpdesk", "--config", str(config)]
    env = {**os.environ, "HELPDESK_CONFIG": str(config)}
    first = subprocess.run([*helpdesk, "sync", "--once"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr

    body = "Dobrý den, posílám podrobnosti k reklamaci.\n" * 2000  # about 90 kB a message
    ids = [f"big{i}@customer.example" for i in range(12)]
    for mid in ids:
        imap_account.append("INBOX", message(mid, body=body))
    limit = max(f.stat().st_size for f in tmp_path.glob("cache.sqlite*")) + 64 * 1024

    def small_disk() -> None:
        # Writing past the limit fails with EFBIG, as on a full disk (not a signal).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(
        [*helpdesk, "sync", "--once"],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=small_disk,
    )
    assert full.returncode == 1
    assert "Traceback" not in full.stderr
    assert "cache could not be written" in full.stderr or "disk is full" in full.stderr

    again = subprocess.run([*helpdesk, "sync", "--once"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    ws = open_workspace(load_settings(str(config), env={}))
    try:
        stored = ws.cache.message_ids()
        assert sorted(stored) == sorted(["first@customer.example", *ids])  # once each
    finally:
        ws.close()
