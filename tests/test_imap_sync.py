"""Mail appended to a real Dovecot becomes tickets: threading, dedupe, malformed mail, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount

from helpdesk.core.tickets import Queue
from helpdesk.storage.locations import load_settings
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.service import SyncService

OURS = "support@helpdesk.example"

MALFORMED = (
    b"From: broken@customer.example\r\n"
    b"Subject: =?utf-8?B?bm90IGJhc2U2NC?= broken\r\n"
    b'Content-Type: multipart/mixed; boundary="nope"\r\n'
    b"\r\n"
    b"--wrong\r\nContent-Type: text/plain\r\n\r\nthe part that never closes\r\n"
)


def write_config(
    acct: ImapAccount, tmp_path: Path, *, tls: bool = True, store: str | None = None
) -> Path:
    return acct.write_config(tmp_path, tls=tls, store=store, address=OURS, batch_size=3)


def workspace_for(
    acct: ImapAccount, tmp_path: Path, *, tls: bool = True, store: str | None = None
) -> Workspace:
    return open_workspace(
        load_settings(str(write_config(acct, tmp_path, tls=tls, store=store)), env={})
    )


@pytest.fixture
def mailbox(imap_account: ImapAccount) -> ImapAccount:
    imap_account.create_folder("Sent")
    return imap_account


def test_imap_mail_becomes_threaded_tickets(mailbox: ImapAccount, tmp_path: Path) -> None:
    a = message("a1@customer.example", subject="Objednávka 1234 nedorazila")
    reply = message(
        "r1@helpdesk.example",
        sender=f"Jana via Support <{OURS}>",
        to="jan@customer.example",
        subject="Re: Objednávka 1234 nedorazila",
        in_reply_to="a1@customer.example",
        references="<a1@customer.example>",
        date="Mon, 02 Nov 2026 10:00:00 +0100",
    )
    followup = message(
        "a2@customer.example",
        subject="Re: Objednávka 1234 nedorazila",
        references="<a1@customer.example> <r1@helpdesk.example>",
        in_reply_to="r1@helpdesk.example",
        date="Mon, 02 Nov 2026 11:00:00 +0100",
    )
    other = message("b1@other.example", sender="Anna <anna@other.example>", subject="Faktura")
    mailbox.append("INBOX", a)
    # The same message delivered a second time (To + Cc to two of our addresses).
    mailbox.append("INBOX", b"Received: from mx2.helpdesk.example\r\n" + a)
    mailbox.append("Sent", reply)
    mailbox.append("INBOX", followup)
    mailbox.append("INBOX", other)
    mailbox.append("INBOX", MALFORMED)

    ws = workspace_for(mailbox, tmp_path)
    report = SyncService(ws).sync_once()
    assert report.ok, report.errors
    assert report.stats.seen == 6
    assert report.stats.duplicates == 1
    assert report.stats.new_messages == 5
    assert report.stats.new_tickets == 3

    tickets = {t.subject: t for t in ws.cache.list_tickets(Queue.ALL, ws.agent)}
    order = tickets["Objednávka 1234 nedorazila"]
    assert order.message_count == 3
    assert order.customer_email == "jan@customer.example"
    assert order.waiting_on_us  # the customer wrote last
    detail = ws.cache.ticket(order.number)
    assert detail is not None
    assert [m.message_id for m in detail.messages] == [
        "a1@customer.example",
        "r1@helpdesk.example",
        "a2@customer.example",
    ]
    assert [m.outgoing for m in detail.messages] == [False, True, False]

    broken = [t for t in tickets.values() if t.customer_email == "broken@customer.example"]
    assert len(broken) == 1
    bdetail = ws.cache.ticket(broken[0].number)
    assert bdetail is not None
    (bmsg,) = bdetail.messages
    assert bmsg.problem  # stored and marked, not dropped
    assert bmsg.message_id.endswith("@synthesised.helpdesk.invalid")
    assert ws.cache.raw(bmsg.id) == MALFORMED

    # A second run fetches nothing old.
    again = SyncService(ws).sync_once()
    assert again.ok and again.stats.seen == 0

    # New mail is fetched alone and joins its ticket.
    mailbox.append(
        "INBOX",
        message(
            "a3@customer.example",
            subject="Re: Objednávka",
            in_reply_to="a2@customer.example",
            date="Tue, 03 Nov 2026 08:00:00 +0100",
        ),
    )
    third = SyncService(ws).sync_once()
    assert third.stats.seen == 1 and third.stats.new_tickets == 0
    assert ws.cache.ticket(order.number).summary.message_count == 4  # type: ignore[union-attr]
    ws.close()


def test_subject_tag_joins_only_for_participants(mailbox: ImapAccount, tmp_path: Path) -> None:
    mailbox.append("INBOX", message("t1@customer.example", subject="Reklamace"))
    ws = workspace_for(mailbox, tmp_path, tls=False)
    service = SyncService(ws)
    assert service.sync_once().ok
    (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    tag = f"[#{ticket.number}]"
    # No references at all: only the tag can thread these.
    mailbox.append("INBOX", message("t2@customer.example", subject=f"Re: Reklamace {tag}"))
    mailbox.append(
        "INBOX",
        message(
            "x1@intruder.example", sender="Mallory <m@intruder.example>", subject=f"Reklamace {tag}"
        ),
    )
    report = service.sync_once()
    assert report.ok and report.stats.new_messages == 2
    assert ws.cache.ticket(ticket.number).summary.message_count == 2  # type: ignore[union-attr]
    intruder = [
        t
        for t in ws.cache.list_tickets(Queue.ALL, ws.agent)
        if t.customer_email == "m@intruder.example"
    ]
    assert len(intruder) == 1 and intruder[0].number != ticket.number
    ws.close()


def test_wrong_password_is_reported_not_raised(mailbox: ImapAccount, tmp_path: Path) -> None:
    import secrets

    wrong = secrets.token_hex(8)
    object.__setattr__(mailbox, "password", wrong)
    ws = workspace_for(mailbox, tmp_path)
    report = SyncService(ws).sync_once()
    assert not report.ok
    assert "support" in report.errors
    assert wrong not in report.errors["support"]  # never echo a secret
    ws.close()


def test_two_caches_on_one_postgres_team_store_agree(
    mailbox: ImapAccount, tmp_path: Path, pg_url: str
) -> None:
    """Two machines sync the same mailbox into their own caches: same tickets, same numbers."""
    for i in range(6):
        mailbox.append("INBOX", message(f"m{i}@customer.example", subject=f"Dotaz {i}"))
        mailbox.append(
            "INBOX",
            message(
                f"m{i}r@customer.example",
                subject=f"Re: Dotaz {i}",
                in_reply_to=f"m{i}@customer.example",
            ),
        )
    laptop = workspace_for(mailbox, tmp_path / "laptop", store=pg_url)
    server = workspace_for(mailbox, tmp_path / "server", store=pg_url)
    assert SyncService(laptop).sync_once().ok
    assert SyncService(server).sync_once().ok

    def shape(ws: Workspace) -> dict[int, list[str]]:
        out = {}
        for t in ws.cache.list_tickets(Queue.ALL, ws.agent):
            detail = ws.cache.ticket(t.number)
            assert detail is not None
            out[t.number] = [m.message_id for m in detail.messages]
        return out

    assert shape(laptop) == shape(server)
    assert len(shape(laptop)) == 6
    assert laptop.team.counts() == (6, 12)
    laptop.close()
    server.close()


def test_uidvalidity_change_duplicates_nothing(mailbox: ImapAccount, tmp_path: Path) -> None:
    mailbox.create_folder("Orders")
    raws = [message(f"o{i}@customer.example", subject=f"Objednávka {i}") for i in range(4)]
    for raw in raws:
        mailbox.append("Orders", raw)
    config = write_config(mailbox, tmp_path)
    text = config.read_text(encoding="utf-8").replace(
        'folders = ["INBOX"]', 'folders = ["INBOX", "Orders"]'
    )
    config.write_text(text, encoding="utf-8")
    ws = open_workspace(load_settings(str(config), env={}))
    assert SyncService(ws).sync_once().stats.new_messages == 4
    old = ws.cache.mailbox("support", "Orders").uidvalidity
    # Another client deletes and recreates the folder: the server renumbers everything.
    with mailbox.connect() as client:
        client.delete_folder("Orders")
        client.create_folder("Orders")
    for raw in raws:
        mailbox.append("Orders", raw)
    report = SyncService(ws).sync_once()
    assert report.ok, report.errors
    assert ws.cache.mailbox("support", "Orders").uidvalidity != old
    assert report.stats.new_messages == 0 and report.stats.duplicates == 4
    assert ws.cache.counts()["messages"] == 4
    assert ws.cache.location_count(ws.cache.mailbox("support", "Orders").id) == 4
    ws.close()


def test_sync_once_and_doctor_commands(mailbox: ImapAccount, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    for i in range(3):
        mailbox.append("INBOX", message(f"d{i}@customer.example", subject=f"Faktura {i}"))
    config = write_config(mailbox, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "helpdesk", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    before = run("doctor")
    assert before.returncode == 1
    assert "3 of 3 messages not in the cache yet" in before.stdout
    synced = run("sync", "--once")
    assert synced.returncode == 0, synced.stderr
    assert "3 new messages, 3 new tickets" in synced.stdout
    after = run("doctor")
    assert after.returncode == 0, after.stdout
    assert "INBOX: all 3 messages are in the cache" in after.stdout
    assert mailbox.password not in after.stdout + after.stderr + synced.stdout + synced.stderr


def test_sigkill_mid_sync_loses_and_duplicates_nothing(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    n = 60
    with mailbox.connect() as client:
        for i in range(n):
            client.append(
                "INBOX",
                message(f"k{i}@customer.example", subject=f"Zpráva {i}", body="x " * 2000 + "\n"),
            )
    config = write_config(mailbox, tmp_path)
    text = config.read_text(encoding="utf-8").replace("batch_size = 3", "batch_size = 1")
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    cmd = [sys.executable, "-m", "helpdesk", "--config", str(config), "sync", "--once"]
    ws = open_workspace(load_settings(str(config), env={}))
    for _ in range(3):  # kill it three times, each time part-way through
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start = ws.cache.counts()["messages"]
        deadline = time.monotonic() + 30
        while (
            ws.cache.counts()["messages"] < start + 5
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert 0 < ws.cache.counts()["messages"] < n  # it really was killed mid-way
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    counts = ws.cache.counts()
    assert counts["messages"] == n and counts["locations"] == n and counts["raw"] == n
    assert ws.team.counts() == (n, n)
    assert ws.cache.count_tickets(Queue.ALL, ws.agent) == n
    ws.close()
