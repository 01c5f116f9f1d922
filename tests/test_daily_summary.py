"""The daily summary: its figures from a team store (SQLite and PostgreSQL), its local time
in the team's zone, once a day for the whole team, and its mail to the leads over SMTP."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from servers import SmtpServer
from sqlalchemy import select, update

from helpdesk.core.config import ConfigError, parse_config
from helpdesk.core.notices import DailyFigures, summary_mail
from helpdesk.core.team import EventKind, Role
from helpdesk.storage.daily_summary import send_daily_summary, summary_day
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.team_models import TeamEvent, TeamTicket
from helpdesk.storage.team_store import Registration, TeamStore
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.mail_out import MailOut
from helpdesk.sync.service import make_ingestor
from helpdesk.sync.workflow_jobs import WorkflowJobs

NOW = datetime(2026, 11, 3, 7, 5, tzinfo=UTC)  # 08:05 in Prague (winter time)
PRAGUE = ZoneInfo("Europe/Prague")
ADMIN, JANA, PETR, LEAD = "admin@h.example", "jana@h.example", "petr@h.example", "lead@h.example"
_ticket = TeamTicket.__table__
_event = TeamEvent.__table__


def _team(store: TeamStore) -> LockTable:
    lt = LockTable(store)
    for email in (ADMIN, JANA, PETR, LEAD):
        lt.join(email, email.split("@")[0].title())
    assert lt.set_agent(ADMIN, LEAD, role=Role.LEAD).ok
    return lt


def _ticket_at(store: TeamStore, name: str, created: datetime, **values: object) -> int:
    (reg,) = store.register(
        [Registration(f"{name}@c.example", [], [], None, name, "c@c.example", created)]
    )
    if values:
        with store.write() as conn:
            conn.execute(update(_ticket).where(_ticket.c.number == reg.ticket).values(**values))
    return reg.ticket


def _busy_day(store: TeamStore) -> LockTable:
    """Two days of work: figures below count what fell in the last 24 hours."""
    team = _team(store)
    old = NOW - timedelta(days=2)
    a = _ticket_at(store, "old-open", old, sla_due=NOW - timedelta(hours=1))  # breached
    b = _ticket_at(store, "old-closed-today", old)
    c = _ticket_at(store, "new-waiting", NOW - timedelta(hours=3))
    d = _ticket_at(store, "new-open", NOW - timedelta(hours=1), sla_due=NOW + timedelta(hours=2))
    _ticket_at(store, "old-closed-long-ago", old, status="closed")
    _ticket_at(store, "new-spam", NOW - timedelta(hours=2), status="spam")
    _ticket_at(store, "merged", NOW - timedelta(hours=2), merged_into=a)
    assert team.claim(JANA, a).ok and team.claim(JANA, c).ok and team.claim(PETR, b).ok
    assert team.set_field(PETR, b, "status", "closed", at=NOW - timedelta(hours=5)).ok
    assert team.set_field(JANA, c, "status", "waiting on customer", at=NOW).ok
    assert d
    return team


def test_figures_once_a_day_for_the_leads(store_url: str) -> None:
    text = '[business_hours]\ntimezone = "Europe/Prague"\n[workflow]\nsummary_at = "08:00"\n'
    settings = parse_config(text, "helpdesk.toml", default_agent=("x", "x@y.z"))
    assert settings.jobs.summary_at == time(8, 0)
    store = TeamStore(store_url, settings.workflow)
    try:
        _busy_day(store)
        sent: list[tuple[DailyFigures, tuple[str, ...]]] = []

        def send(f: DailyFigures, leads: tuple[str, ...]) -> None:
            sent.append((f, leads))

        # 07:55 in Prague: not yet.
        early = NOW - timedelta(minutes=10)
        assert send_daily_summary(store, early, summary_at=time(8), send=send) is None
        figures = send_daily_summary(store, NOW, summary_at=time(8), send=send)
        assert figures is not None and sent == [(figures, (LEAD,))]
        assert figures.day == NOW.astimezone(PRAGUE).date()
        assert figures.new == 4  # waiting, open, spam, merged: opened in the last 24 hours
        assert figures.closed == 1  # closed by Petr 5 hours ago (spam was never "closed" by anyone)
        assert figures.open == 3  # old-open, new-waiting, new-open
        assert figures.breached == 1
        assert figures.waiting == 1
        assert figures.per_agent == ((JANA, 2),)
        assert figures.unassigned == 1
        # Once a day: later runs that day do nothing.
        assert (
            send_daily_summary(store, NOW + timedelta(hours=3), summary_at=time(8), send=send)
            is None
        )
        tomorrow = NOW + timedelta(days=1)
        assert send_daily_summary(store, tomorrow, summary_at=time(8), send=send) is not None
        with store.engine.connect() as conn:
            days = (
                conn.execute(
                    select(_event.c.new)
                    .where(_event.c.kind == str(EventKind.SUMMARY))
                    .order_by(_event.c.seq)
                )
                .scalars()
                .all()
            )
        assert days == ["2026-11-03", "2026-11-04"]
        assert len(sent) == 2
    finally:
        store.close()


def test_two_services_send_one_summary(store_url: str) -> None:
    setup = TeamStore(store_url)
    _team(setup)
    setup.close()
    stores = [TeamStore(store_url), TeamStore(store_url)]
    sent: list[int] = []
    barrier = threading.Barrier(2)

    def service(i: int) -> None:
        barrier.wait()
        for _ in range(3):
            send_daily_summary(
                stores[i], NOW, summary_at=time(7), send=lambda _f, _leads: sent.append(i)
            )

    threads = [threading.Thread(target=service, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert len(sent) == 1
    finally:
        for s in stores:
            s.close()


def test_summary_day_follows_the_local_clock() -> None:
    assert summary_day(time(8), PRAGUE, NOW) == NOW.date()
    assert summary_day(time(8), PRAGUE, NOW - timedelta(minutes=6)) is None
    # Just after local midnight the new day's summary waits for its time.
    late = datetime(2026, 11, 3, 23, 30, tzinfo=UTC)  # 00:30 on the 4th in Prague
    assert summary_day(time(8), PRAGUE, late) is None
    assert summary_day(time(0), PRAGUE, late) == late.astimezone(PRAGUE).date()


def test_summary_text_is_plain_and_one_line_per_agent() -> None:
    figures = DailyFigures(
        day=NOW.date(),
        new=4,
        closed=1,
        open=3,
        breached=1,
        waiting=1,
        per_agent=(("jana@h.example", 2), ("evil\x1b[2J\nline@h.example", 1)),
        unassigned=0,
    )
    subject, body = summary_mail(figures, "Support")
    assert subject == "[Support] Daily summary 2026-11-03: 3 open, 1 breached"
    assert "New tickets:           4" in body and "SLA breached:          1" in body
    assert "\x1b" not in body and "evil" in body
    agent_lines = [ln for ln in body.splitlines() if ln.startswith("  ")]
    assert len(agent_lines) == 2


def test_summary_at_errors_name_file_key_and_expected() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            '[workflow]\nsummary_at = "8 am"\n', "/etc/h.toml", default_agent=("x", "x@y.z")
        )
    assert err.value.key == "workflow.summary_at" and err.value.line == 2
    assert "08:00" in err.value.expected
    assert parse_config("", "f", default_agent=("x", "x@y.z")).jobs.summary_at is None


def test_the_summary_mail_reaches_the_leads_over_smtp(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    text = f"""
[agent]
name = "Service"
email = "{ADMIN}"
[team]
name = "Support"
store = "sqlite:///{tmp_path}/team.sqlite"
addresses = ["support@helpdesk.example"]
[cache]
path = "{tmp_path}/cache.sqlite"
[accounts.support]
address = "support@helpdesk.example"
[accounts.support.smtp]
host = "{smtp_server.host}"
port = {smtp_server.port}
tls = "none"
user = ""
[business_hours]
timezone = "Europe/Prague"
[workflow]
summary_at = "08:00"
escalate_before = "off"
"""
    ws = open_workspace(
        parse_config(text, str(tmp_path / "helpdesk.toml"), default_agent=("x", "x@y.z"))
    )
    try:
        _busy_day(ws.team)
        jobs = WorkflowJobs(ws)
        report = jobs.run(NOW)
        assert report.ok and report.did_something and "daily summary" in report.line()
        out = MailOut(ws, make_ingestor(ws))
        assert len(out.process(NOW + timedelta(seconds=1)).sent) == 1
        jobs.run(NOW + timedelta(minutes=1))
        out.process(NOW + timedelta(minutes=1))
        (mail,) = smtp_server.messages
        assert mail.rcpt_tos == [LEAD]
        msg = message_from_bytes(mail.data, policy=default_policy)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert str(msg["Subject"]).startswith("[Support] Daily summary 2026-11-03")
        body = msg.get_body().get_content()  # type: ignore[union-attr]
        assert "Open now:              3" in body and "jana@h.example" in body
    finally:
        ws.close()
