"""Merging and splitting tickets: in the team store (SQLite and a real PostgreSQL), in caches
that pull the moves (two caches syncing one real Dovecot mailbox), from the CLI and with the
`M` key in the app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mailbuild import message
from servers import ImapAccount
from sqlalchemy import insert, select
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from helpdesk.cli.main import main
from helpdesk.core.config import parse_config
from helpdesk.core.identity import make_message_id
from helpdesk.core.team import Role
from helpdesk.core.threading import ThreadReason
from helpdesk.core.tickets import Queue
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable, Outcome
from helpdesk.storage.merge import apply_moves
from helpdesk.storage.team_models import AutoMail, ReferenceIndex
from helpdesk.storage.team_store import Registration, TeamStore
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import SyncService, make_ingestor
from helpdesk.sync.team import TeamService
from helpdesk.tui.app import make_app
from helpdesk.tui.screens.picker import Confirm, Picker
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.ticket_side import history_text
from helpdesk.tui.widgets.ticket_table import TicketTable

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ADMIN, JANA, PETR = "admin@h.example", "jana@h.example", "petr@h.example"
EVA, KAREL = "eva@customer.example", "karel@customer.example"


@pytest.fixture
def team(store_url: str) -> Iterator[LockTable]:
    lt = LockTable(TeamStore(store_url))
    assert lt.join(ADMIN, "Admin").role is Role.ADMIN
    lt.join(JANA, "Jana")
    lt.join(PETR, "Petr")
    yield lt
    lt.store.close()


def mail(
    mid: str,
    minutes: int,
    *,
    refs: tuple[str, ...] = (),
    customer: str = EVA,
    subject: str = "Where is my order?",
    outgoing: bool = False,
    signed: tuple[int, ...] = (),
    tag: int | None = None,
) -> Registration:
    return Registration(
        mid,
        list(refs),
        list(signed),
        tag,
        subject,
        customer,
        T0 + timedelta(minutes=minutes),
        outgoing,
    )


def register(team: LockTable, *regs: Registration) -> list[int]:
    return [r.ticket for r in team.store.register(list(regs))]


def ids_of(team: LockTable, number: int) -> set[str]:
    return team.ticket_message_ids(number)


def kinds(team: LockTable, number: int) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.old, e.new) for e in team.events_since(0) if e.ticket == number]


# -- the team store -------------------------------------------------------------------------


def test_merge_moves_mail_notes_references_and_pending_replies(team: LockTable) -> None:
    from helpdesk.storage.merge import merge

    a, b = register(
        team,
        mail("a1@c.example", 0, refs=("lost-parent@c.example",)),
        mail("b1@c.example", 30, subject="Invoice"),
    )
    (b2,) = register(team, mail("b2@c.example", 40, refs=("b1@c.example",)))
    assert b2 == b
    assert team.add_note(JANA, a, "called her back", note_id=str(uuid.uuid4())).ok
    assert team.set_field(JANA, a, "tags", "vip,refund").ok
    assert team.set_field(JANA, b, "tags", "invoice").ok
    assert team.set_field(JANA, a, "priority", "3").ok
    with team.store.write() as conn:
        conn.execute(
            insert(AutoMail.__table__),
            [
                {
                    "ticket": a,
                    "recipient": EVA,
                    "template": "ack",
                    "reason": "acknowledge",
                    "reply_to_id": "a1@c.example",
                    "state": state,
                    "created_at": T0,
                }
                for state in ("pending", "queued")
            ],
        )
    before_a, before_b = team.state(a), team.state(b)
    assert before_a is not None and before_b is not None
    assert before_a.waiting_since is not None and before_b.waiting_since is not None

    op = str(uuid.uuid4())
    done = merge(team, JANA, a, b, op_id=op)
    assert done.ok and done.ticket == b, done.message

    assert ids_of(team, a) == set()
    assert ids_of(team, b) == {"a1@c.example", "b1@c.example", "b2@c.example"}
    assert [n.body for n in team.notes(b)] == ["called her back"] and team.notes(a) == []
    with team.store.engine.connect() as conn:
        refs = {r.ref_id: r.ticket for r in conn.execute(select(ReferenceIndex.__table__))}
        auto = sorted(
            conn.execute(select(AutoMail.__table__.c.state, AutoMail.__table__.c.ticket)).all()
        )
    assert refs == {"lost-parent@c.example": b}
    assert auto == [("pending", b), ("queued", a)]  # what left already stays with its ticket
    merged, survivor = team.state(a), team.state(b)
    assert merged is not None and survivor is not None
    assert merged.merged_into == b and merged.status == "closed"
    assert survivor.merged_into is None and survivor.status == before_b.status
    assert survivor.tags == ("invoice", "refund", "vip")
    assert survivor.priority == 3
    assert survivor.waiting_since == before_a.waiting_since  # the earlier one
    assert survivor.sla_due is not None and survivor.sla_due != before_b.sla_due  # urgent now
    assert ("merged", str(a), str(b)) in kinds(team, a)
    assert ("merged", str(a), str(b)) in kinds(team, b)
    # Events stay where they happened: the note is in the merged ticket's history.
    assert "note" in [k for k, _, _ in kinds(team, a)]
    assert "note" not in [k for k, _, _ in kinds(team, b)]

    seen = team.last_seq()
    again = merge(team, JANA, a, b, op_id=op)
    assert again.ok and again.replayed and again.ticket == b
    assert team.last_seq() == seen  # nothing written twice


def test_merge_refusals(team: LockTable) -> None:
    from helpdesk.storage.merge import merge

    a, b, c, other = register(
        team,
        mail("a@c.example", 0),
        mail("b@c.example", 1),
        mail("c@c.example", 2),
        mail("k@c.example", 3, customer=KAREL),
    )
    assert not (out := merge(team, JANA, a, a)).ok and "itself" in out.message
    refused = merge(team, JANA, a, other)
    assert not refused.ok and "different customers" in refused.message
    assert team.state(a).merged_into is None
    assert team.claim(PETR, b).ok
    held = merge(team, JANA, a, b)  # Petr holds the survivor
    assert not held.ok and PETR in held.message
    assert merge(team, ADMIN, a, b).ok  # an admin may
    # `a` is merged now: it cannot be merged again, and merging into it goes to `b`.
    assert "already merged" in merge(team, JANA, a, c).message
    assert team.release(PETR, b).ok
    into_merged = merge(team, JANA, c, a)
    assert into_merged.ok and into_merged.ticket == b
    assert team.state(c).merged_into == b
    assert ids_of(team, b) == {"a@c.example", "b@c.example", "c@c.example"}
    # Different customers with force: done, and a refusal is remembered for its replay.
    op = str(uuid.uuid4())
    assert not merge(team, JANA, other, b, op_id=op).ok
    replay = merge(team, JANA, other, b, op_id=op, force=True)
    assert not replay.ok and replay.replayed
    assert merge(team, JANA, other, b, force=True).ok
    assert team.state(other).merged_into == b


def test_merging_a_survivor_keeps_pointers_one_hop(team: LockTable) -> None:
    from helpdesk.storage.merge import merge

    a, b, c = register(team, mail("a@c.example", 0), mail("b@c.example", 1), mail("c@c.example", 2))
    assert merge(team, JANA, a, b).ok
    assert merge(team, JANA, b, c).ok
    assert team.state(a).merged_into == c
    assert ids_of(team, c) == {"a@c.example", "b@c.example", "c@c.example"}


def test_later_mail_to_the_merged_ticket_lands_in_the_survivor(team: LockTable) -> None:
    from helpdesk.storage.merge import merge

    a, b = register(team, mail("a1@c.example", 0), mail("b1@c.example", 10))
    waiting = T0 + timedelta(minutes=20)
    assert team.set_field(JANA, b, "status", "waiting on customer", at=waiting).ok
    assert merge(team, JANA, a, b).ok
    ours = make_message_id(team.store.secret, a, "helpdesk.example")
    results = team.store.register(
        [
            mail("reply@c.example", 60, refs=("a1@c.example",)),  # answers the merged one's mail
            mail("tagged@c.example", 70, subject=f"Re: [#{a}] order", tag=a),
            mail("signed@c.example", 80, refs=(ours,), signed=(a,)),
            mail("fresh@c.example", 90, customer=KAREL),
        ]
    )
    assert [r.ticket for r in results[:3]] == [b, b, b]
    assert [r.reason for r in results[:3]] == [
        ThreadReason.REFERENCE,
        ThreadReason.SUBJECT_TAG,
        ThreadReason.SIGNED,
    ]
    assert results[3].ticket not in (a, b) and results[3].created
    assert ids_of(team, a) == set()
    # The customer wrote to the survivor: it was waiting on her, now it is open again.
    assert team.state(b).status == "open"


def test_an_open_ticket_merged_into_a_closed_one_reopens_it(team: LockTable) -> None:
    from helpdesk.core.workflow_values import reopen_status
    from helpdesk.storage.merge import merge

    closed, other_closed = register(team, mail("b1@c.example", 10), mail("c1@c.example", 12))
    (ours,) = register(team, mail("b-re@h.example", 20, refs=("b1@c.example",), outgoing=True))
    assert ours == closed
    at = T0 + timedelta(minutes=30)
    assert team.set_field(JANA, closed, "status", "closed", at=at).ok
    assert team.set_field(JANA, other_closed, "status", "closed", at=at).ok
    (fresh,) = register(team, mail("a1@c.example", 40, subject="Still nothing"))
    assert team.state(fresh).status != "closed"

    assert merge(team, JANA, fresh, closed).ok
    survivor = team.state(closed)
    reopened = reopen_status(team.workflow).name
    assert survivor.status == reopened
    assert ("field", "closed", reopened) in kinds(team, closed)
    # Her new mail is what the survivor waits on (registry-wide, not the old value).
    assert survivor.waiting_since == T0 + timedelta(minutes=40)
    assert survivor.sla_due is not None
    # A closed ticket merged into an open one, or into a closed one: no status changes.
    assert merge(team, JANA, other_closed, fresh).ok  # lands in the survivor, now open
    assert team.state(closed).status == reopened
    x, y = register(team, mail("x1@c.example", 50), mail("y1@c.example", 51))
    assert team.set_field(JANA, x, "status", "closed").ok
    assert team.set_field(JANA, y, "status", "closed").ok
    assert merge(team, JANA, x, y).ok
    assert team.state(y).status == "closed"
    assert [k for k in kinds(team, y) if k[0] == "field"] == [("field", "new", "closed")]


def test_merge_recomputes_waiting_from_both_tickets_mail(team: LockTable) -> None:
    from helpdesk.storage.merge import merge

    a, b = register(team, mail("a1@c.example", 0), mail("b1@c.example", 10, subject="Invoice"))
    (ours,) = register(team, mail("b-re@h.example", 20, refs=("b1@c.example",), outgoing=True))
    assert ours == b and team.state(b).waiting_since is None
    assert team.state(a).waiting_since == T0
    assert merge(team, JANA, a, b).ok
    # Our reply at 20 came after all of her mail in the merged conversation: nothing waits.
    assert team.state(b).waiting_since is None


def test_actions_on_a_merged_ticket_are_refused_and_notes_follow(team: LockTable) -> None:
    from helpdesk.storage.merge import merge
    from helpdesk.storage.snooze import snooze
    from helpdesk.storage.spam import mark_spam

    a, b = register(team, mail("a1@c.example", 0), mail("b1@c.example", 10))
    assert team.claim(PETR, a).ok
    assert merge(team, PETR, a, b).ok
    before = team.state(a)
    said = f"#{a} was merged into #{b}"

    # A note written offline before the merge, replayed after it: it lands in the survivor.
    note = str(uuid.uuid4())
    out = team.add_note(JANA, a, "she called: the parcel is at the neighbour's", note_id=note)
    assert out.ok and out.ticket == b and said in out.message
    assert [n.id for n in team.notes(b)] == [note] and team.notes(a) == []
    assert ("note", None, note) in kinds(team, b)
    again = team.add_note(JANA, a, "she called: the parcel is at the neighbour's", note_id=note)
    assert again.ok and again.replayed and len(team.notes(b)) == 1

    # Everything else: refused, the refusal remembered for the replay, nothing changed.
    until = datetime.now(UTC) + timedelta(days=1)
    attempts: list[tuple[str, Callable[[str], Outcome]]] = [
        ("status", lambda op: team.set_field(JANA, a, "status", "open", op_id=op)),
        ("priority", lambda op: team.set_field(JANA, a, "priority", "3", op_id=op)),
        ("claim", lambda op: team.claim(JANA, a, op_id=op)),
        ("release", lambda op: team.release(JANA, a, op_id=op)),
        ("assign", lambda op: team.assign(ADMIN, a, JANA, op_id=op)),
        ("skip", lambda op: team.skip(JANA, a, op_id=op)),
        ("snooze", lambda op: snooze(team, JANA, a, until, op_id=op)),
        ("spam", lambda op: mark_spam(team, JANA, a, op_id=op)),
    ]
    for name, act in attempts:
        op = str(uuid.uuid4())
        first = act(op)
        assert not first.ok and said in first.message and first.holder is None, name
        replay = act(op)
        assert not replay.ok and replay.replayed and said in replay.message, name
        assert replay.holder is None, name  # the merge is the news, not who held it
    assert team.state(a) == before
    assert team.state(b).status == "new" and team.state(b).assignee is None


def test_split_opens_a_ticket_with_one_message(team: LockTable) -> None:
    from helpdesk.storage.merge import split

    (a,) = register(team, mail("q1@c.example", 0))
    register(
        team,
        mail("q2@c.example", 20, refs=("q1@c.example",), subject="Another matter"),
        mail("q3@c.example", 40, refs=("q1@c.example",)),
    )
    op = str(uuid.uuid4())
    done = split(team, JANA, a, "<q2@c.example>", op_id=op, subject="Another matter")
    assert done.ok and done.ticket is not None and done.ticket != a, done.message
    new = done.ticket
    assert ids_of(team, a) == {"q1@c.example", "q3@c.example"}
    assert ids_of(team, new) == {"q2@c.example"}
    state = team.state(new)
    assert state is not None and state.status == team.workflow.initial_status.name
    assert state.waiting_since == T0 + timedelta(minutes=20)
    with team.store.engine.connect() as conn:
        from helpdesk.storage.team_models import TeamTicket

        row = conn.execute(
            select(TeamTicket.__table__).where(TeamTicket.__table__.c.number == new)
        ).one()
    assert (row.subject, row.customer_email) == ("Another matter", EVA)
    assert ("split", str(a), str(new)) in kinds(team, a)
    assert ("split", str(a), str(new)) in kinds(team, new)
    again = split(team, JANA, a, "q2@c.example", op_id=op)
    assert again.replayed and again.ticket == new
    only = split(team, JANA, new, "q2@c.example")
    assert not only.ok and "only message" in only.message
    # A reply to the split message follows it; it is no message of the old ticket.
    (reply,) = register(team, mail("q2-re@c.example", 90, refs=("q2@c.example",)))
    assert reply == new
    elsewhere = split(team, JANA, a, "q2-re@c.example")
    assert not elsewhere.ok and f"not a message of #{a}" in elsewhere.message


# -- caches: two machines on one mailbox -------------------------------------------------------

EVA_FROM = f"Eva Nováková <{EVA}>"


def eva_mail(mid: str, hour: int, subject: str, refs: str | None = None) -> bytes:
    return message(
        mid,
        sender=EVA_FROM,
        subject=subject,
        date=f"Mon, 02 Nov 2026 {hour:02d}:00:00 +0000",
        in_reply_to=refs,
        references=f"<{refs}>" if refs else None,
    )


def machine(acct: ImapAccount, directory: Path, store: str) -> Workspace:
    config = acct.write_config(directory, store=store)
    return open_workspace(load_settings(str(config), env={}))


def sync_mail(ws: Workspace) -> None:
    service = SyncService(ws, holder=str(ws.cache.path))
    try:
        report = service.sync_once()
        assert report.ok, report.errors
    finally:
        service.close()


def message_ids(ws: Workspace, number: int) -> list[str]:
    detail = ws.cache.ticket(number)
    assert detail is not None
    return [m.message_id for m in detail.messages]


def test_a_merge_in_one_cache_moves_the_mail_of_the_other(
    imap_account: ImapAccount, tmp_path: Path
) -> None:
    imap_account.create_folder("Sent")
    for raw in (
        eva_mail("e1@customer.example", 9, "Order 1234 did not come"),
        eva_mail(
            "e1-re@customer.example", 10, "Re: Order 1234 did not come", "e1@customer.example"
        ),
        eva_mail("e2@customer.example", 11, "Invoice for order 1234"),
    ):
        imap_account.append("INBOX", raw)
    store = f"sqlite:///{tmp_path / 'team.sqlite'}"
    laptop = machine(imap_account, tmp_path / "laptop", store)
    office = machine(imap_account, tmp_path / "office", store)
    try:
        sync_mail(laptop)
        sync_mail(office)
        first = laptop.team.lookup(["e1@customer.example"])["e1@customer.example"]
        second = laptop.team.lookup(["e2@customer.example"])["e2@customer.example"]
        assert message_ids(office, first) == ["e1@customer.example", "e1-re@customer.example"]
        office_team = TeamService(office)
        office_team.pull()

        done = TeamService(laptop).merge(first, second)
        assert done.ok and done.ticket == second and not done.queued, done.message
        everything = ["e1@customer.example", "e1-re@customer.example", "e2@customer.example"]
        assert message_ids(laptop, second) == everything  # oldest first

        assert office_team.pull() > 0
        assert message_ids(office, second) == everything
        merged = office.cache.ticket(first)
        assert merged is not None and merged.messages == []
        assert merged.summary.merged_into == second and merged.summary.status == "closed"
        survivor = office.cache.ticket(second)
        assert survivor is not None and survivor.summary.message_count == 3
        history = [(e.kind, e.old, e.new) for e in survivor.history]
        # The merged ticket's history is the survivor's too; the merge is told once.
        assert history.count(("merged", str(first), str(second))) == 1
        assert [k for k, _, _ in history].count("created") == 2
        # ... and says which ticket each event happened on.
        shown = history_text(survivor.history, datetime.now(UTC), second).plain
        assert f"#{first}: " in shown and f"#{second}: " not in shown
        assert office.cache.count_tickets(Queue.OPEN, office.agent) == 1

        # Later mail to the merged ticket, by reference and by its tag, lands in the survivor.
        imap_account.append(
            "INBOX",
            eva_mail("e3@customer.example", 12, "Re: Order 1234", "e1-re@customer.example"),
        )
        imap_account.append(
            "INBOX", eva_mail("e4@customer.example", 13, f"Still waiting [#{first}]")
        )
        sync_mail(office)
        assert message_ids(office, second) == [
            *everything,
            "e3@customer.example",
            "e4@customer.example",
        ]
        sync_mail(laptop)
        assert message_ids(laptop, second) == message_ids(office, second)

        # Split the invoice off again, in the office; the laptop follows.
        new = office_team.split(second, "e2@customer.example")
        assert new.ok and new.ticket not in (None, first, second), new.message
        assert new.ticket is not None
        assert message_ids(office, new.ticket) == ["e2@customer.example"]
        TeamService(laptop).pull()
        assert message_ids(laptop, new.ticket) == ["e2@customer.example"]
        assert "e2@customer.example" not in message_ids(laptop, second)
        split_off = laptop.cache.ticket(new.ticket)
        assert split_off is not None
        assert split_off.summary.subject == "Invoice for order 1234"
        assert split_off.summary.customer_email == EVA
    finally:
        laptop.close()
        office.close()


def test_apply_moves_is_harmless_twice(tmp_path: Path) -> None:
    ws = desk_workspace(tmp_path)
    try:
        a, b, _ = numbers_by_subject(ws)
        events = [
            Moved("merged", a, None, str(a), str(b)),
            Moved("merged", b, None, str(a), str(b)),
        ]
        for _ in range(2):
            with ws.cache.writer.begin() as conn:
                apply_moves(conn, events)
        assert message_ids(ws, b) == ["d1@customer.example", "d2@customer.example"]
        assert ws.cache.ticket(a).summary.message_count == 0
    finally:
        ws.close()


class Moved:
    def __init__(self, kind: str, ticket: int, field: str | None, old: str, new: str) -> None:
        self.kind, self.ticket, self.field, self.old, self.new = kind, ticket, field, old, new


# -- the CLI and the app -------------------------------------------------------------------------

DESK_MAIL = [
    ("d1@customer.example", EVA_FROM, "Order 1234 did not come", 9),
    ("d2@customer.example", EVA_FROM, "Invoice for order 1234", 10),
    ("d3@customer.example", f"Karel Dvořák <{KAREL}>", "Broken chair", 11),
]


def desk_config(tmp_path: Path) -> Path:
    config = tmp_path / "helpdesk.toml"
    config.write_text(
        f'[agent]\nname = "Jana"\nemail = "{JANA}"\n[team]\n'
        f'store = "sqlite:///{tmp_path / "team.sqlite"}"\naddresses = ["support@helpdesk.example"]\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        encoding="utf-8",
    )
    return config


def desk_workspace(tmp_path: Path) -> Workspace:
    settings = parse_config(
        desk_config(tmp_path).read_text(encoding="utf-8"),
        str(tmp_path / "helpdesk.toml"),
        default_agent=("x", "x@example.com"),
    )
    ws = open_workspace(settings)
    raws = [
        message(mid, sender=sender, subject=subject, date=f"Mon, 02 Nov 2026 {h:02d}:00:00 +0000")
        for mid, sender, subject, h in DESK_MAIL
    ]
    import_messages(raws, make_ingestor(ws))
    return ws


def numbers_by_subject(ws: Workspace) -> list[int]:
    """The desk's tickets in DESK_MAIL order."""
    found = ws.team.lookup([mid for mid, *_ in DESK_MAIL])
    return [found[mid] for mid, *_ in DESK_MAIL]


SOLVED_WORKFLOW = """
[[statuses]]
name = "new"
kind = "open"

[[statuses]]
name = "solved"
kind = "closed"
"""


def test_merge_choices_skip_the_teams_closed_statuses_before_the_limit(tmp_path: Path) -> None:
    from helpdesk.storage.cache import ticket_t
    from helpdesk.tui.merge_flow import merge_choices

    config = desk_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8") + SOLVED_WORKFLOW, encoding="utf-8")
    settings = parse_config(
        config.read_text(encoding="utf-8"), str(config), default_agent=("x", "x@example.com")
    )
    ws = open_workspace(settings)
    try:
        mail = [
            ("k@customer.example", f"Karel <{KAREL}>", "Broken chair", 8, 0),
            ("e@customer.example", EVA_FROM, "Order 1234", 9, 0),
        ] + [
            (f"s{i}@customer.example", f"C{i} <c{i}@customer.example>", f"Solved {i}", 10, i)
            for i in range(35)
        ]
        raws = [
            message(
                mid,
                sender=sender,
                subject=subject,
                date=f"Mon, 02 Nov 2026 {h:02d}:{m:02d}:00 +0000",
            )
            for mid, sender, subject, h, m in mail
        ]
        import_messages(raws, make_ingestor(ws))
        found = ws.team.lookup([mid for mid, *_ in mail])
        karel, eva = found["k@customer.example"], found["e@customer.example"]
        solved = [found[mid] for mid, *_ in mail[2:]]
        with ws.cache.writer.begin() as conn:  # the team's closed status, newest activity
            conn.execute(
                ticket_t.update().where(ticket_t.c.number.in_(solved)).values(status="solved")
            )
        offered = [c.value for c in merge_choices(ws, [eva])]
        assert offered == [str(karel)]
    finally:
        ws.close()


def test_merge_and_split_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = desk_workspace(tmp_path)
    a, b, karel = numbers_by_subject(ws)
    ws.close()
    config = str(desk_config(tmp_path))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--config", config, *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, err = run("merge", str(karel), str(b))
    assert code == 1 and "different customers" in err and out == ""
    assert run("merge", str(a), str(a))[0] == 2
    code, out, err = run("merge", str(a), str(b))
    assert code == 0, err
    assert out.strip() == f"#{a} merged into #{b}"
    code, out, err = run("merge", str(karel), str(a), "--force")  # `a` went into `b`
    assert code == 0 and out.strip() == f"#{karel} merged into #{b}", err

    code, out, err = run("split", str(b), "<d3@customer.example>")
    assert code == 0, err
    new = int(out.strip())
    assert new not in (a, b, karel)
    code, out, err = run("split", str(new), "d3@customer.example")
    assert code == 1 and "only message" in err
    code, out, err = run("split", str(b), "nowhere@customer.example")
    assert code == 1 and "no message" in err

    store = TeamStore(f"sqlite:///{tmp_path / 'team.sqlite'}")
    try:
        assert store.lookup(
            ["d1@customer.example", "d2@customer.example", "d3@customer.example"]
        ) == {
            "d1@customer.example": b,
            "d2@customer.example": b,
            "d3@customer.example": new,
        }
        states = store.ticket_states([a, karel, new])
        assert states[a].merged_into == b and states[karel].merged_into == b
        assert states[new].merged_into is None and states[new].status == "new"
    finally:
        store.close()
    code, out, err = run("show", str(b), "--json")
    assert code == 0, err
    shown = [m["message_id"] for m in json.loads(out)["messages"]]
    assert shown == ["d1@customer.example", "d2@customer.example"]


async def until(pilot: Pilot[int], cond: Callable[[], bool], tries: int = 250) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


async def test_merge_key_offers_the_customers_other_ticket_first(tmp_path: Path) -> None:
    ws = desk_workspace(tmp_path)
    a, b, karel = numbers_by_subject(ws)
    app = make_app(ws, clock=lambda: datetime(2026, 11, 3, 12, 0, tzinfo=UTC))
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            table = app.screen.query_one(TicketTable)
            await until(pilot, lambda: table.row_count == 3)
            while table.current_number() != a:
                await pilot.press("j")
            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, Picker))
            picker = app.screen
            assert isinstance(picker, Picker)
            assert [c.value for c in picker.choices] == [str(b), str(karel)]
            options = picker.query_one(OptionList)
            assert str(options.get_option_at_index(0).prompt).startswith(f"#{b} Invoice")
            picker.query_one(Input).value = f"#{karel}"  # a typed number is that ticket
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            assert isinstance(app.screen, Confirm)
            assert "different customers" in app.screen.question
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(app.screen, Confirm))
            assert ws.team.ticket_states([a])[a].merged_into is None

            await pilot.press("M")
            await until(pilot, lambda: isinstance(app.screen, Picker))
            await pilot.press("enter")  # the customer's other ticket
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            assert isinstance(app.screen, Confirm)
            question = app.screen.question
            assert "Order 1234 did not come" in question and "Invoice for order 1234" in question
            assert "different" not in question
            await pilot.press("y")
            await until(pilot, lambda: ws.team.ticket_states([a])[a].merged_into == b)
            await until(pilot, lambda: not app._acting)
            assert message_ids(ws, b) == ["d1@customer.example", "d2@customer.example"]

            app.call_later(app.open_ticket, a)  # the merged one says where its mail went
            await until(pilot, lambda: isinstance(app.screen, TicketScreen))
            meta = str(app.screen.query_one("#ticket-meta").render())
            assert f"merged into #{b}" in meta
            await pilot.press("J")
            await until(
                pilot,
                lambda: isinstance(app.screen, TicketScreen) and app.screen.number == b,
            )
            side = str(app.screen.query_one("#side-history").render())
            assert f"merged #{a} into #{b}" in side

            await pilot.press("S")  # split the invoice off again
            await until(pilot, lambda: isinstance(app.screen, Picker))
            picker = app.screen
            assert isinstance(picker, Picker)
            assert [c.value for c in picker.choices] == [
                "d1@customer.example",
                "d2@customer.example",
            ]
            picker.query_one(Input).value = "invoice"
            await pilot.pause()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, Confirm))
            await pilot.press("y")
            await until(
                pilot,
                lambda: isinstance(app.screen, TicketScreen) and app.screen.number not in (a, b),
            )
            assert isinstance(app.screen, TicketScreen)
            assert message_ids(ws, app.screen.number) == ["d2@customer.example"]
    finally:
        ws.close()


# -- a merge pulled while an ingest is under way --------------------------------------------------


def test_mail_registered_just_before_a_merge_was_pulled_follows_the_merge(
    tmp_path: Path,
) -> None:
    ws = desk_workspace(tmp_path)
    try:
        a, b, _ = numbers_by_subject(ws)
        team = TeamService(ws)
        real_states = ws.team.ticket_states

        def merge_pulled_meanwhile(numbers: object) -> object:
            # The ingest has its answer (ticket a) and a's state; now, before it writes the
            # cache, another agent's merge of a into b reaches this cache.
            del ws.team.ticket_states  # once: the pull below reads states too
            states = real_states(numbers)
            done = team.merge(a, b)
            assert done.ok and done.ticket == b, done.message
            team.pull()
            assert message_ids(ws, b) == ["d1@customer.example", "d2@customer.example"]
            return states

        ws.team.ticket_states = merge_pulled_meanwhile
        reply = message(
            "d1-re@customer.example",
            sender=EVA_FROM,
            subject="Re: Order 1234 did not come",
            in_reply_to="d1@customer.example",
            references="<d1@customer.example>",
            date="Mon, 02 Nov 2026 12:00:00 +0000",
        )
        stats = import_messages([reply], make_ingestor(ws))
        assert stats.new_messages == 1 and stats.tickets == {b}
        assert message_ids(ws, b) == [
            "d1@customer.example",
            "d2@customer.example",
            "d1-re@customer.example",
        ]
        merged = ws.cache.ticket(a)
        assert merged is not None and merged.messages == []
        # The state read before the merge did not undo it in this cache.
        assert merged.summary.merged_into == b
        assert ws.team.lookup(["d1-re@customer.example"]) == {"d1-re@customer.example": b}
    finally:
        ws.close()


def test_mail_to_a_ticket_this_cache_knows_as_merged_joins_the_survivor(tmp_path: Path) -> None:
    from sqlalchemy import update

    from helpdesk.storage.cache import ticket_t
    from helpdesk.sync.ingest import merged_in_cache

    ws = desk_workspace(tmp_path)
    try:
        a, b, c = numbers_by_subject(ws)
        # A chain the cache holds (b merged into c later): mail for a ends in c.
        with ws.cache.writer.begin() as conn:
            conn.execute(update(ticket_t).where(ticket_t.c.number == a).values(merged_into=b))
            conn.execute(update(ticket_t).where(ticket_t.c.number == b).values(merged_into=c))
        with ws.cache.engine.connect() as conn:
            assert merged_in_cache(conn, [a, b, c, 0]) == {a: c, b: c}
        reply = message(
            "d1-late@customer.example",
            sender=EVA_FROM,
            subject="Re: Order 1234 did not come",
            in_reply_to="d1@customer.example",
            references="<d1@customer.example>",
            date="Mon, 02 Nov 2026 13:00:00 +0000",
        )
        stats = import_messages([reply], make_ingestor(ws))
        assert stats.tickets == {c}
        assert "d1-late@customer.example" in message_ids(ws, c)
        assert "d1-late@customer.example" not in message_ids(ws, a)
    finally:
        ws.close()
