"""The headless `helpdesk sync` service: a clean stop on SIGTERM (also with IDLE open), and
its workflow jobs, where a failing step is reported and the others still run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mailbuild import message
from servers import ImapAccount
from sqlalchemy import update

from helpdesk.core.config import parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import TeamTicket
from helpdesk.storage.team_store import Registration
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.workflow_jobs import StepResult, WorkflowJobs

T0 = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    return subprocess.Popen(
        [sys.executable, "-m", "helpdesk", "--config", str(config), "sync", "--interval", "1"],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env=env,
    )


def _wait(what: str, check: object, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop_within(proc: subprocess.Popen[bytes], seconds: float) -> tuple[int, float]:
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {seconds} s after SIGTERM") from None
    return code, time.monotonic() - began


def test_sigterm_stops_the_service_cleanly_with_idle_open(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    imap_account.create_folder("Sent")
    imap_account.append("INBOX", message("term1@customer.example", subject="Zastavit službu"))
    config = imap_account.write_config(tmp_path, address="support@helpdesk.example")
    log = tmp_path / "sync.log"
    proc = _start(config, log)
    try:
        ws = open_workspace(load_settings(str(config), env={}))
        try:
            _wait(
                "the first ingest",
                lambda: (
                    [t.subject for t in ws.cache.list_tickets(Queue.ALL, ws.agent)]
                    == ["Zastavit službu"]
                ),
            )
        finally:
            ws.close()
        # The lease holder opens IDLE after its first sync; stop while it waits in it.
        _wait("IDLE", lambda: "push idle" in log.read_text(encoding="utf-8"))
        assert proc.poll() is None, log.read_text(encoding="utf-8")
        code, took = _stop_within(proc, 5.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert took < 5.0
    assert "Traceback" not in text


def test_sigterm_right_after_start_is_clean_too(imap_account: ImapAccount, tmp_path: Path) -> None:
    imap_account.create_folder("Sent")
    for i in range(30):
        imap_account.append("INBOX", message(f"early{i}@customer.example", subject=f"Dotaz {i}"))
    config = imap_account.write_config(tmp_path, address="support@helpdesk.example")
    log = tmp_path / "sync.log"
    proc = _start(config, log)
    try:
        # Stopped while the first sync may still run: it must neither hang nor lose anything.
        _wait("the first sync to begin", lambda: (tmp_path / "cache.sqlite").exists())
        time.sleep(0.3)
        code, _took = _stop_within(proc, 5.0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text(encoding="utf-8")
    assert code == 0, text
    assert "Traceback" not in text


# -- the workflow jobs ---------------------------------------------------------------------------


_CONFIG = """
[agent]
name = "Jana"
email = "jana@helpdesk.example"
[team]
name = "Support"
store = "sqlite:///{root}/team.sqlite"
addresses = ["support@helpdesk.example"]
[cache]
path = "{root}/cache.sqlite"
[accounts.support]
address = "support@helpdesk.example"
[accounts.support.smtp]
host = "127.0.0.1"
port = 9
tls = "none"
[workflow]
escalate_before = "30m"
"""


def test_a_failing_step_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    settings = parse_config(
        _CONFIG.format(root=tmp_path), str(tmp_path / "helpdesk.toml"), default_agent=("x", "x@y.z")
    )
    ws = open_workspace(settings)
    try:
        team = LockTable(ws.team)
        team.join("jana@helpdesk.example", "Jana")
        (reg,) = ws.team.register(
            [Registration("esc@c.example", [], [], None, "Late", "c@c.example", T0)]
        )
        with ws.team.write() as conn:
            conn.execute(
                update(TeamTicket.__table__)
                .where(TeamTicket.__table__.c.number == reg.ticket)
                .values(sla_due=T0 + timedelta(minutes=10))
            )
        jobs = WorkflowJobs(ws)
        ran: list[str] = []

        def broken(_now: datetime) -> StepResult:
            ran.append("broken")
            raise RuntimeError("the snooze table is away\nsecond line")

        def after(now: datetime) -> StepResult:
            ran.append("after")
            return StepResult("after", done=1, detail=f"after at {now:%H:%M}")

        own_steps = list(jobs.steps)
        jobs.steps = [("broken", broken), *own_steps, ("after", after)]
        report = jobs.run(T0)

        assert ran == ["broken", "after"]
        by_name = {s.name: s for s in report.steps}
        assert list(by_name) == [
            "broken",
            "snooze wake-ups",
            "auto-close",
            "escalation",
            "daily summary",
            "after",
        ]
        error = by_name["broken"].error
        assert error is not None and "snooze table is away" in error and "\n" not in error
        assert "Traceback" not in error
        assert not report.ok and report.did_something
        assert by_name["escalation"].error is None and by_name["escalation"].done == 1
        assert by_name["daily summary"].done == 0  # no summary_at: off
        line = report.line()
        assert "\n" not in line and f"#{reg.ticket} (due soon)" in line and "after at 10:00" in line
        # The escalation's notice is queued for the lease holder's sender.
        from helpdesk.storage import outgoing

        queued = outgoing.unsent(ws.cache)
        assert len(queued) == 1 and queued[0].rcpt == ("jana@helpdesk.example",)
        # Run again: nothing new to do, nothing queued twice.
        jobs.steps = own_steps
        again = jobs.run(T0 + timedelta(minutes=1))
        assert again.ok and not again.did_something
        assert len(outgoing.unsent(ws.cache)) == 1
    finally:
        ws.close()
