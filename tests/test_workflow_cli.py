"""`helpdesk set` and the SLA columns of `helpdesk tickets`, on SQLite and PostgreSQL team
stores: fields checked against the configured workflow, changed in the team store and the
cache, refused with the valid values, and queued in the outbox while the store is away."""

from __future__ import annotations

import json
import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from mailbuild import message
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from helpdesk.cli.main import main
from helpdesk.core.sla import describe_due
from helpdesk.storage import outbox
from helpdesk.storage.locations import load_settings
from helpdesk.storage.team_store import TeamStore, TicketState
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.team import TeamService

AGENT = "jana@helpdesk.example"
STATUSES = """
[[statuses]]
name = "triage"
colour = "$accent"
kind = "open"

[[statuses]]
name = "doing"
colour = "$primary"
kind = "open"

[[statuses]]
name = "done"
colour = "$success"
kind = "closed"
"""


@dataclass
class Desk:
    config: Path
    store_url: str
    numbers: list[int]  # tickets, oldest mail first


def write_config(tmp_path: Path, store: str, extra: str = "") -> Path:
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[agent]\nname = "Jana"\nemail = "{AGENT}"\n[team]\nstore = "{store}"\n'
        f'addresses = ["support@helpdesk.example"]\n[cache]\npath = "{tmp_path / "cache.sqlite"}"\n'
        f"{extra}",
        encoding="utf-8",
    )
    return config


def make_desk(tmp_path: Path, store_url: str, extra: str = "") -> Desk:
    """Three customers' mail: from 2026-11-02 (long breached), from almost a day ago (due
    within the hour: a normal ticket is due in one day, round the clock) and from an hour ago."""
    now = datetime.now(UTC)
    dates = [
        datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        now - timedelta(hours=23, minutes=30),
        now - timedelta(hours=1),
    ]
    md = mailbox.Maildir(tmp_path / "mail", create=True)
    for i, when in enumerate(dates):
        md.add(
            message(
                f"w{i}@customer.example",
                sender=f"Zákazník {i} <c{i}@customer.example>",
                subject=f"Objednávka {i}",
                date=format_datetime(when),
            )
        )
    config = write_config(tmp_path, store_url, extra)
    assert main(["--config", str(config), "import", str(tmp_path / "mail")]) == 0
    ws = open_workspace(load_settings(str(config)))
    try:
        numbers = [
            ws.team.lookup([f"w{i}@customer.example"])[f"w{i}@customer.example"] for i in range(3)
        ]
    finally:
        ws.close()
    return Desk(config, store_url, numbers)


def team_state(url: str, number: int) -> TicketState:
    store = TeamStore(url)
    try:
        return store.ticket_states([number])[number]
    finally:
        store.close()


def run(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def listing(capsys: pytest.CaptureFixture[str], desk: Desk) -> dict[int, dict[str, object]]:
    code, out, err = run(capsys, desk.config, "tickets", "--queue", "all", "--json")
    assert code == 0, err
    return {int(t["number"]): t for t in json.loads(out)}


def test_set_changes_the_team_store_and_the_cache(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = make_desk(tmp_path, store_url)
    n = desk.numbers[0]
    code, out, err = run(
        capsys,
        desk.config,
        "set",
        str(n),
        "tags=+reklamace,+vip",
        "status=waiting",
        "priority=High",
        "category= Orders >Delivery ",
        "department=sales",
    )
    assert code == 0, err
    assert out.splitlines() == [
        f"#{n} status = waiting on customer",
        f"#{n} priority = high",
        f"#{n} category = Orders > Delivery",
        f"#{n} tags = reklamace,vip",
        f"#{n} department = sales",
    ]
    state = team_state(store_url, n)
    assert (state.status, state.priority, state.category, state.tags, state.department) == (
        "waiting on customer",
        2,
        "Orders > Delivery",
        ("reklamace", "vip"),
        "sales",
    )
    assert state.sla_due is None  # waiting on the customer: the clock pauses
    row = listing(capsys, desk)[n]
    assert (row["status"], row["priority"], row["tags"], row["department"]) == (
        "waiting on customer",
        2,
        ["reklamace", "vip"],
        "sales",
    )
    assert (row["sla_due"], row["sla_state"]) == (None, "ok")

    code, out, err = run(capsys, desk.config, "set", str(n), "tags=-vip,+doklad", "status=open")
    assert code == 0, err
    state = team_state(store_url, n)
    assert state.tags == ("doklad", "reklamace") and state.status == "open"
    assert state.sla_due is not None  # open again: the first response is still owed
    assert listing(capsys, desk)[n]["tags"] == ["doklad", "reklamace"]
    code, out, err = run(capsys, desk.config, "set", str(n), "tags=", "category=")
    assert code == 0, err
    state = team_state(store_url, n)
    assert state.tags == () and state.category is None


def test_tickets_show_the_due_time_and_its_state(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = make_desk(tmp_path, store_url)
    old, soon, fresh = desk.numbers
    rows = listing(capsys, desk)
    for number, expected in ((old, "breached"), (soon, "due_soon"), (fresh, "ok")):
        due = team_state(store_url, number).sla_due
        assert due is not None
        assert rows[number]["sla_due"] == due.isoformat()
        assert rows[number]["sla_state"] == expected
    code, out, err = run(capsys, desk.config, "tickets", "--queue", "all")
    assert code == 0, err
    lines = {int(line.split()[0][1:]): line for line in out.splitlines()}
    assert "breached " in lines[old] and " ago" in lines[old]
    assert "due in " in lines[soon] and "due in " in lines[fresh]
    now = datetime.now(UTC)
    fresh_due = team_state(store_url, fresh).sla_due
    assert fresh_due is not None
    # "due in 22h 59m" and the like: the wording of core.sla, a minute of slack for the run.
    assert any(describe_due(fresh_due, now - timedelta(minutes=m)) in lines[fresh] for m in (0, 1))


def test_unknown_values_are_refused_naming_the_valid_ones(
    tmp_path: Path, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    desk = make_desk(tmp_path, store_url, STATUSES)
    n = desk.numbers[0]
    assert team_state(store_url, n).status == "triage"  # the configured first status
    code, out, err = run(capsys, desk.config, "set", str(n), "priority=high", "status=waiting")
    assert code == 2 and out == ""
    assert err == (
        'helpdesk: unknown status \'waiting\'; the statuses are "triage", "doing", "done", '
        '"spam" (or a kind: open, waiting, closed)\n'
    )
    code, _, err = run(capsys, desk.config, "set", str(n), "priority=asap")
    assert code == 2
    assert err == (
        "helpdesk: unknown priority 'asap'; the priorities are low, normal, high, urgent (or 0-3)\n"
    )
    code, _, err = run(capsys, desk.config, "set", str(n), "colour=red")
    assert code == 2 and "FIELD one of status, priority, category, tags, department" in err
    code, _, err = run(capsys, desk.config, "set", str(n), "tags=a,-b")
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, desk.config, "set", "9999", "status=doing")
    assert code == 1 and "no ticket #9999" in err
    # Nothing was changed, nothing was queued.
    state = team_state(store_url, n)
    assert (state.status, state.priority) == ("triage", 1)
    ws = open_workspace(load_settings(str(desk.config)))
    try:
        with ws.cache.engine.connect() as conn:
            assert outbox.count_pending(conn) == 0 and outbox.conflicts(conn) == []
    finally:
        ws.close()
    # The configured names are the valid ones, in any case; a kind picks its first status.
    code, out, err = run(capsys, desk.config, "set", str(n), "status=DOING")
    assert code == 0, err
    assert team_state(store_url, n).status == "doing"
    code, out, err = run(capsys, desk.config, "set", str(n), "status=closed")
    assert code == 0, err
    assert team_state(store_url, n).status == "done"


@pytest.fixture
def laptop(tmp_path: Path, pg_url: str) -> Iterator[tuple[Desk, TcpProxy]]:
    """A desk whose team store (PostgreSQL) is reached through a link the test can cut."""
    url = make_url(pg_url)
    net = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    through = url.set(port=net.port).render_as_string(hide_password=False)
    desk = make_desk(tmp_path, through)
    desk.store_url = pg_url  # the test itself looks at the store directly
    yield desk, net
    net.close()


def test_set_works_offline_through_the_outbox(
    laptop: tuple[Desk, TcpProxy], capsys: pytest.CaptureFixture[str]
) -> None:
    desk, net = laptop
    n = desk.numbers[0]
    net.down()
    code, out, err = run(capsys, desk.config, "set", str(n), "status=closed", "tags=+vlak")
    assert code == 0, err
    assert out.splitlines() == [
        f"#{n} status = closed (offline: saved, sent when the team answers)",
        f"#{n} tags = vlak (offline: saved, sent when the team answers)",
    ]
    row = listing(capsys, desk)[n]
    assert (row["status"], row["tags"]) == ("closed", ["vlak"])  # the cache shows it at once
    assert team_state(desk.store_url, n).status == "new"  # the team has not heard yet
    ws = open_workspace(load_settings(str(desk.config)))
    try:
        with ws.cache.engine.connect() as conn:
            assert [(op.kind, op.payload) for op in outbox.pending(conn)] == [
                ("set", {"field": "status", "value": "closed"}),
                ("set", {"field": "tags", "value": "vlak"}),
            ]
        net.up()
        report = TeamService(ws).sync()
        assert report.online and report.pending == 0
    finally:
        ws.close()
    state = team_state(desk.store_url, n)
    assert (state.status, state.tags, state.sla_due) == ("closed", ("vlak",), None)
    row = listing(capsys, desk)[n]
    assert (row["status"], row["tags"], row["sla_due"]) == ("closed", ["vlak"], None)
