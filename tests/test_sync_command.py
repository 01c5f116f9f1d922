"""`helpdesk auth set` and the headless `helpdesk sync` service against a real Dovecot."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailbuild import message
from servers import ImapAccount
from test_imap_sync import write_config

from helpdesk.core.tickets import Queue
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import open_workspace

TESTS = Path(__file__).resolve().parent


def keyring_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring_file_backend.FileKeyring"
    env["TEST_KEYRING_FILE"] = str(tmp_path / "keyring.json")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def config_without_password_command(acct: ImapAccount, tmp_path: Path) -> Path:
    config = write_config(acct, tmp_path)
    lines = [
        ln
        for ln in config.read_text(encoding="utf-8").splitlines()
        if not ln.startswith("password_command")
    ]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return config


def test_auth_set_then_sync_uses_the_keyring(imap_account: ImapAccount, tmp_path: Path) -> None:
    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("k1@customer.example", subject="Heslo z klíčenky"))
    config = config_without_password_command(imap_account, tmp_path)
    env = keyring_env(tmp_path)
    cmd = [sys.executable, "-m", "helpdesk", "--config", str(config)]

    no_secret = subprocess.run(
        [*cmd, "sync", "--once"], capture_output=True, text=True, env=env, timeout=60
    )
    assert no_secret.returncode == 1
    assert "helpdesk auth set support" in no_secret.stderr

    stored = subprocess.run(
        [*cmd, "auth", "set", "support"],
        input=imap_account.password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert stored.returncode == 0, stored.stderr
    assert imap_account.password not in stored.stdout + stored.stderr
    assert imap_account.password not in config.read_text(encoding="utf-8")

    synced = subprocess.run(
        [*cmd, "sync", "--once"], capture_output=True, text=True, env=env, timeout=60
    )
    assert synced.returncode == 0, synced.stderr
    assert "1 new messages" in synced.stdout


def test_sync_service_runs_until_stopped(imap_account: ImapAccount, tmp_path: Path) -> None:
    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("s1@customer.example", subject="První"))
    config = write_config(imap_account, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    log = (tmp_path / "sync.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpdesk", "--config", str(config), "sync", "--interval", "0.5"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        ws = open_workspace(load_settings(str(config), env={}))

        def subjects() -> list[str]:
            return sorted(t.subject for t in ws.cache.list_tickets(Queue.ALL, ws.agent))

        deadline = time.monotonic() + 30
        while subjects() != ["První"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert subjects() == ["První"]
        imap_account.append("INBOX", message("s2@customer.example", subject="Druhá"))
        deadline = time.monotonic() + 30
        while len(subjects()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert subjects() == ["Druhá", "První"]
        ws.close()
        assert proc.poll() is None, "the service stopped on its own"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        log.close()
    assert code == 0, (tmp_path / "sync.log").read_text()
