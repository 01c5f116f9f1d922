"""The agent's whole loop in the real app, in a real terminal (tmux, 80x24), against a real
Dovecot, a real SMTP server and a team store: start, handle next, note, reply with a template
that closes the ticket, handle next again, and the counts change."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from email import message_from_bytes, policy
from pathlib import Path

from mailbuild import message
from servers import ImapAccount, SmtpServer
from test_tmux import _tmux, capture_sock, wait_for_sock

from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.workspace import open_workspace

_EXTRA = """
[reply]
status_after = "closed"
[[templates]]
name = "Thanks"
body = "Dear {{ customer.first_name }}, your parcel left today."
"""


def _wait(cond: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached")


def test_next_note_reply_with_template_next_in_tmux(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    tmux = _tmux()
    imap_account.append("INBOX", message("t1@customer.example", subject="Kde je balík"))
    imap_account.append(
        "INBOX",
        message(
            "t2@customer.example",
            sender="Eva Malá <eva@customer.example>",
            subject="Faktura",
            date="Mon, 02 Nov 2026 10:00:00 +0100",
        ),
    )
    config = imap_account.write_config(tmp_path, tls=False, smtp=smtp_server, extra=_EXTRA)
    exe = Path(sys.executable).parent / "helpdesk"
    session = f"hd-{uuid.uuid4().hex[:8]}"
    tm = [tmux, "-L", session]
    env = ["-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", "-e", f"HOME={tmp_path}"]
    subprocess.run(
        [*tm, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", *env,
         f"{exe} --config {config}; sleep 30"],
        check=True,
    )  # fmt: skip

    def keys(*k: str) -> None:
        subprocess.run([*tm, "send-keys", "-t", session, *k], check=True)

    try:
        screen = wait_for_sock(tm, session, "Kde je bal")  # synced and listed
        wait_for_sock(tm, session, "Faktura")
        assert "Open 2" in screen or "Open 2" in capture_sock(tm, session)

        keys("n")  # the oldest waiting ticket: Jan's
        opened = wait_for_sock(tm, session, "Ticket #")
        assert "Kde je bal" in opened
        keys("N")
        wait_for_sock(tm, session, "Internal note on")  # the editor, not the footer's "Note"
        keys("-l", "Called him, parcel is late")
        wait_for_sock(tm, session, "parcel is late")  # all typed before the key that saves
        keys("C-d")
        wait_for_sock(tm, session, "Called him")

        keys("r")
        wait_for_sock(tm, session, "Bcc")  # the compose screen, not the footer's "Reply"
        time.sleep(0.5)  # the body takes the focus once the screen is mounted
        keys("C-t")
        wait_for_sock(tm, session, "Thanks")
        keys("Enter")
        wait_for_sock(tm, session, "parcel left today")
        keys("C-s")
        _wait(lambda: len(smtp_server.messages) == 1)
        sent = message_from_bytes(smtp_server.messages[0].data, policy=policy.default)
        assert "Dear Jan, your parcel left today." in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]

        keys("n")  # on to the next one: Eva's
        _wait(lambda: "Faktura" in capture_sock(tm, session).splitlines()[0])
        keys("q")
        # The replied ticket was closed with the reply: one ticket open now.
        _wait(lambda: "Open 1" in capture_sock(tm, session), timeout=30)
    finally:
        subprocess.run([*tm, "kill-server"], capture_output=True)

    ws = open_workspace(load_settings(str(config)))
    try:
        table = LockTable(ws.team)
        events = table.events_since(0)
        jan = next(e.ticket for e in events if e.kind == "replied")
        assert jan is not None
        kinds = [e.kind for e in events if e.ticket == jan]
        assert "note" in kinds and "replied" in kinds
        state = table.state(jan)
        assert state is not None and state.status == "closed"
        assert [n.body for n in table.notes(jan)] == ["Called him, parcel is late"]
    finally:
        ws.close()
