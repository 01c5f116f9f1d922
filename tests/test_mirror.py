"""The tickets' state mirrored onto a real Dovecot mailbox: flags for answered and read mail,
closed tickets' mail to the archive, spam to junk, and back; moves lose and duplicate nothing,
even when the process dies between the server's move and the cache's update."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient
from mailbuild import message
from servers import ImapAccount
from sqlalchemy import select

from helpdesk.cli.doctor import DoctorReport, doctor
from helpdesk.core.config import AccountSettings, ConfigError, parse_config
from helpdesk.core.mirror_config import MirrorSettings
from helpdesk.storage import outbox
from helpdesk.storage.cache_models import CachedMessage, Mailbox, MessageLocation
from helpdesk.storage.locations import load_settings
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.mirror import MailboxMirror, MirrorReport, cursor_key, default_client
from helpdesk.sync.service import SyncReport, SyncService
from helpdesk.sync.team import TeamService

OURS = "support@helpdesk.example"
MIRROR_ALL = '[accounts.support.mirror]\nflags = true\narchive = "Archive"\njunk = "Junk"\n'
message_t = CachedMessage.__table__
location_t = MessageLocation.__table__
mailbox_t = Mailbox.__table__


# -- helpers ------------------------------------------------------------------------------------


@pytest.fixture
def mailbox(imap_account: ImapAccount) -> ImapAccount:
    imap_account.create_folder("Sent")
    return imap_account


@pytest.fixture
def ws(mailbox: ImapAccount, tmp_path: Path) -> Iterator[Workspace]:
    workspace = workspace_for(mailbox, tmp_path, MIRROR_ALL)
    yield workspace
    workspace.close()


def workspace_for(
    acct: ImapAccount,
    tmp_path: Path,
    mirror: str,
    *,
    store: str | None = None,
    folders: str = '["INBOX"]',
) -> Workspace:
    config = acct.write_config(tmp_path, store=store, address=OURS, extra=mirror)
    if folders != '["INBOX"]':
        text = config.read_text(encoding="utf-8").replace(
            'folders = ["INBOX"]', f"folders = {folders}"
        )
        config.write_text(text, encoding="utf-8")
    return open_workspace(load_settings(str(config), env={}))


def customer_mail(
    acct: ImapAccount,
    mid: str,
    at: datetime,
    subject: str = "Objednávka",
    *,
    follows: str | None = None,
) -> int:
    """A customer's mail in INBOX; ``follows``: the Message-ID it answers."""
    raw = message(
        mid,
        subject=subject,
        date=at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        in_reply_to=follows,
        references=f"<{follows}>" if follows else None,
    )
    return acct.append("INBOX", raw, msg_time=at)


def our_reply(acct: ImapAccount, mid: str, to_mid: str, at: datetime) -> int:
    return acct.append(
        "Sent",
        message(
            mid,
            sender=f"Jana via Support <{OURS}>",
            to="jan@customer.example",
            subject="Re: Objednávka",
            in_reply_to=to_mid,
            references=f"<{to_mid}>",
            date=at.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        ),
        msg_time=at,
    )


def sync(ws: Workspace) -> SyncReport:
    service = SyncService(ws)
    try:
        report = service.sync_once()
    finally:
        service.close()
    assert report.ok, report.errors
    return report


def ticket_of(ws: Workspace, mid: str) -> int:
    with ws.cache.engine.connect() as conn:
        return int(
            conn.execute(
                select(message_t.c.ticket).where(message_t.c.message_id == mid)
            ).scalar_one()
        )


def set_status(ws: Workspace, number: int, status: str) -> None:
    team = TeamService(ws)
    result = team.set_field(number, "status", status)
    assert result.ok, result.message
    team.sync()  # the event reaches the cache, as the app's team worker would pull it


def where_cached(ws: Workspace, mid: str) -> dict[str, set[int]]:
    """Folder -> UIDs the cache records for the message."""
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(
            select(mailbox_t.c.name, location_t.c.uid)
            .select_from(
                location_t.join(message_t, message_t.c.id == location_t.c.message).join(
                    mailbox_t, mailbox_t.c.id == location_t.c.mailbox
                )
            )
            .where(message_t.c.message_id == mid)
        )
        found: dict[str, set[int]] = {}
        for folder, uid in rows:
            found.setdefault(folder, set()).add(uid)
        return found


def flags(acct: ImapAccount, folder: str, uid: int) -> set[bytes]:
    """The message's flags, less \\Recent (which belongs to one IMAP session)."""
    return acct.flags(folder, uid) - {b"\\Recent"}


def on_server(acct: ImapAccount, folder: str, mid: str) -> list[int]:
    with acct.connect() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        return sorted(client.search(["HEADER", "Message-ID", mid]))


def clean_doctor(ws: Workspace) -> DoctorReport:
    report = doctor(ws.settings)
    assert not report.problems, [f.line() for f in report.problems]
    assert report.missing == 0
    assert report.duplicates == []
    assert not [f for f in report.folders if f.extra], "the cache names copies the server lost"
    return report


def message_count(ws: Workspace) -> int:
    return ws.cache.counts()["messages"]


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


# -- configuration ------------------------------------------------------------------------------

BASE = """
[accounts.support]
address = "support@helpdesk.example"
[accounts.support.imap]
host = "imap.example.com"
user = "support"
folders = ["INBOX"]
"""


def account(text: str) -> AccountSettings:
    return parse_config(
        BASE + text, "helpdesk.toml", default_agent=("A", "a@example.com")
    ).accounts["support"]


def test_mirror_settings_are_read_per_account() -> None:
    assert account("").mirror == MirrorSettings()
    assert not account("").mirror.active
    got = account('[accounts.support.mirror]\narchive = "Archive"\njunk = "Spam"\n').mirror
    assert got == MirrorSettings(flags=True, archive="Archive", junk="Spam")
    assert account("[accounts.support.mirror]\nflags = false\n").mirror.active is False
    assert got.home(["Archive", "INBOX"]) == "INBOX"


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ('flags = "yes"', "accounts.support.mirror.flags", "true or false"),
        ("archive = 3", "accounts.support.mirror.archive", "a folder name"),
        (
            'archive = "X"\njunk = "X"',
            "accounts.support.mirror.junk",
            "a folder other than the archive",
        ),
        ('junk = "Sent"', "accounts.support.mirror.junk", "a folder other than the Sent folder"),
        (
            'archive = "INBOX"',
            "accounts.support.mirror.archive",
            "a folder other than every watched",
        ),
        ('trash = "Trash"', "accounts.support.mirror.trash", "one of: flags, archive, junk"),
    ],
)
def test_bad_mirror_values_name_file_key_and_expectation(
    text: str, key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        account(f"[accounts.support.mirror]\n{text}\n")
    problem = caught.value.problems[0]
    assert problem.key == key
    assert problem.expected.startswith(expected)
    assert str(caught.value).startswith("helpdesk.toml:")
    assert problem.line is not None and problem.line > BASE.count("\n")


def test_a_mirror_needs_an_imap_account() -> None:
    text = (
        '[accounts.out]\naddress = "out@example.com"\n[accounts.out.smtp]\nhost = "smtp.example.com"\n'
        "[accounts.out.mirror]\nflags = true\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "h.toml", default_agent=("A", "a@example.com"))
    assert caught.value.key == "accounts.out.mirror"
    assert "imap" in caught.value.expected


# -- flags --------------------------------------------------------------------------------------


def test_a_reply_flags_the_answered_mail_and_only_that(mailbox: ImapAccount, ws: Workspace) -> None:
    asked = customer_mail(mailbox, "q1@customer.example", T0)
    our_reply(mailbox, "r1@helpdesk.example", "q1@customer.example", T0 + timedelta(hours=1))
    later = customer_mail(
        mailbox,
        "q2@customer.example",
        T0 + timedelta(hours=2),
        "Re: Objednávka",
        follows="q1@customer.example",  # Sent is read after INBOX: r1 is not known yet
    )
    report = sync(ws)
    assert ticket_of(ws, "q1@customer.example") == ticket_of(ws, "q2@customer.example")
    assert report.mirror is not None and report.mirror.flagged == 1
    assert b"\\Answered" in flags(mailbox, "INBOX", asked)
    # The customer wrote again after the answer: that mail is not answered yet.
    assert b"\\Answered" not in flags(mailbox, "INBOX", later)
    assert b"\\Seen" not in flags(mailbox, "INBOX", asked)  # nobody opened the ticket


def test_a_replied_event_flags_answered_too(mailbox: ImapAccount, ws: Workspace) -> None:
    uid = customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    assert flags(mailbox, "INBOX", uid) == set()
    number = ticket_of(ws, "q1@customer.example")
    LockTable(ws.team).record_reply(ws.agent, number, "sent-elsewhere@helpdesk.example")
    TeamService(ws).sync()
    sync(ws)
    assert b"\\Answered" in flags(mailbox, "INBOX", uid)
    # The cache knows the flags it set: the next sync finds no change made elsewhere.
    assert sync(ws).stats.flags_changed == 0


def test_an_opened_ticket_marks_its_mail_seen(mailbox: ImapAccount, ws: Workspace) -> None:
    first = customer_mail(mailbox, "q1@customer.example", T0)
    other = customer_mail(mailbox, "x1@customer.example", T0, subject="Jiná věc")
    sync(ws)
    ws.cache.mark_seen(ticket_of(ws, "q1@customer.example"), ws.agent, datetime.now(UTC))
    report = sync(ws)
    assert report.mirror is not None and report.mirror.flagged == 1
    assert b"\\Seen" in flags(mailbox, "INBOX", first)
    assert b"\\Seen" not in flags(mailbox, "INBOX", other)


def test_with_flags_off_the_server_is_left_alone(mailbox: ImapAccount, tmp_path: Path) -> None:
    uid = customer_mail(mailbox, "q1@customer.example", T0)
    our_reply(mailbox, "r1@helpdesk.example", "q1@customer.example", T0 + timedelta(hours=1))
    ws = workspace_for(mailbox, tmp_path, "[accounts.support.mirror]\nflags = false\n")
    try:
        sync(ws)
        ws.cache.mark_seen(ticket_of(ws, "q1@customer.example"), ws.agent, datetime.now(UTC))
        set_status(ws, ticket_of(ws, "q1@customer.example"), "closed")
        report = sync(ws)
        assert report.mirror is None  # nothing to mirror: not even a look at the cache
        assert flags(mailbox, "INBOX", uid) == set()
        assert mailbox.uids("INBOX") == [uid]
        with mailbox.connect() as client:
            assert not client.folder_exists("Archive")
    finally:
        ws.close()


def test_nothing_changed_means_no_connection(mailbox: ImapAccount, ws: Workspace) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    quiet = MailboxMirror(ws).run()
    assert quiet.ok and not quiet.connected and quiet.tickets == 0
    # On demand, every ticket is compared again (and still nothing needs doing).
    full = MailboxMirror(ws).run(full=True)
    assert full.tickets == 1 and not full.connected


# -- moves --------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_close_archives_and_reopen_brings_back(
    mailbox: ImapAccount, tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_url") if store == "postgresql" else None
    ws = workspace_for(mailbox, tmp_path, MIRROR_ALL, store=url)
    try:
        customer_mail(mailbox, "q1@customer.example", T0)
        customer_mail(
            mailbox,
            "q2@customer.example",
            T0 + timedelta(minutes=5),
            "Re: Objednávka",
            follows="q1@customer.example",
        )
        customer_mail(mailbox, "keep@customer.example", T0, subject="Jiná věc")
        our_reply(mailbox, "r1@helpdesk.example", "q1@customer.example", T0 + timedelta(hours=1))
        first = sync(ws)
        # The first run makes the folders it moves mail to: the sync watches them.
        assert first.mirror is not None
        assert first.mirror.created == ["support: Archive", "support: Junk"]
        number = ticket_of(ws, "q1@customer.example")
        assert ticket_of(ws, "q2@customer.example") == number
        messages = message_count(ws)

        set_status(ws, number, "closed")
        report = sync(ws)
        assert report.mirror is not None
        assert report.mirror.created == []
        assert report.mirror.moved == {"Archive": 2}
        for mid in ("q1@customer.example", "q2@customer.example"):
            assert on_server(mailbox, "INBOX", mid) == []
            assert len(on_server(mailbox, "Archive", mid)) == 1
            assert set(where_cached(ws, mid)) == {"Archive"}
            assert where_cached(ws, mid)["Archive"] == set(on_server(mailbox, "Archive", mid))
        # Our own reply stays in Sent; the other ticket's mail stays in the inbox.
        assert len(on_server(mailbox, "Sent", "r1@helpdesk.example")) == 1
        assert len(on_server(mailbox, "INBOX", "keep@customer.example")) == 1
        # Flags travel with the message.
        q1_archived = on_server(mailbox, "Archive", "q1@customer.example")[0]
        assert b"\\Answered" in flags(mailbox, "Archive", q1_archived)

        again = sync(ws)
        assert again.stats.vanished == 0 and again.stats.new_messages == 0
        assert message_count(ws) == messages
        clean_doctor(ws)

        set_status(ws, number, "open")
        back = sync(ws)
        assert back.mirror is not None and back.mirror.moved == {"INBOX": 2}
        for mid in ("q1@customer.example", "q2@customer.example"):
            assert on_server(mailbox, "Archive", mid) == []
            uids = on_server(mailbox, "INBOX", mid)
            assert len(uids) == 1 and where_cached(ws, mid) == {"INBOX": set(uids)}
        after = sync(ws)
        assert after.stats.new_messages == 0 and after.stats.duplicates == 0
        assert message_count(ws) == messages
        clean_doctor(ws)
    finally:
        ws.close()


def test_spam_goes_to_junk_and_back(mailbox: ImapAccount, ws: Workspace) -> None:
    customer_mail(mailbox, "buy@spam.example", T0, subject="Levné hodinky")
    sync(ws)
    number = ticket_of(ws, "buy@spam.example")
    set_status(ws, number, "spam")
    report = sync(ws)
    assert report.mirror is not None and report.mirror.moved == {"Junk": 1}
    assert on_server(mailbox, "INBOX", "buy@spam.example") == []
    junk = on_server(mailbox, "Junk", "buy@spam.example")
    assert where_cached(ws, "buy@spam.example") == {"Junk": set(junk)}
    # Not in Archive: spam is not merely closed.
    assert on_server(mailbox, "Archive", "buy@spam.example") == []
    clean_doctor(ws)

    set_status(ws, number, "open")
    sync(ws)
    assert on_server(mailbox, "Junk", "buy@spam.example") == []
    inbox = on_server(mailbox, "INBOX", "buy@spam.example")
    assert len(inbox) == 1 and where_cached(ws, "buy@spam.example") == {"INBOX": set(inbox)}
    assert sync(ws).stats.new_messages == 0
    clean_doctor(ws)


def test_many_tickets_move_in_one_command(mailbox: ImapAccount, ws: Workspace) -> None:
    mids = [f"bulk{i}@customer.example" for i in range(6)]
    for i, mid in enumerate(mids):
        customer_mail(mailbox, mid, T0 + timedelta(minutes=i), subject=f"Dotaz {i}")
    sync(ws)
    for mid in mids:
        set_status(ws, ticket_of(ws, mid), "closed")
    moves: list[list[int]] = []

    def counting(account: AccountSettings) -> IMAPClient:
        client = default_client(account)
        real = client.move

        def move(messages: list[int], folder: str) -> Any:
            moves.append(list(messages))
            return real(messages, folder)

        client.move = move
        return client

    report = MailboxMirror(ws).run(counting)
    assert report.ok, report.errors
    assert len(moves) == 1 and len(moves[0]) == len(mids)
    assert report.moved == {"Archive": len(mids)}
    assert mailbox.uids("INBOX") == []
    sync(ws)
    clean_doctor(ws)


# -- faults and crashes -------------------------------------------------------------------------


def test_a_server_fault_is_reported_and_retried(mailbox: ImapAccount, ws: Workspace) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    set_status(ws, ticket_of(ws, "q1@customer.example"), "closed")

    def unreachable(_account: AccountSettings) -> IMAPClient:
        raise ConnectionRefusedError(111, "Connection refused")

    def cursor() -> str:
        with ws.cache.engine.connect() as conn:
            return outbox.meta_get(conn, cursor_key("support"))

    before = cursor()
    failed = MailboxMirror(ws).run(unreachable)
    assert set(failed.errors) == {"support"}
    assert "refused the connection" in failed.errors["support"]
    assert "Traceback" not in failed.errors["support"]
    assert cursor() == before != ""  # the change waits for the next run
    assert len(on_server(mailbox, "INBOX", "q1@customer.example")) == 1

    retried = MailboxMirror(ws).run()
    assert retried.ok and retried.moved == {"Archive": 1}


def test_an_uncreatable_folder_is_reported_clearly(mailbox: ImapAccount, tmp_path: Path) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    # Dovecot refuses mailbox names that begin with "~" (a home-relative path).
    ws = workspace_for(mailbox, tmp_path, '[accounts.support.mirror]\narchive = "~bad"\n')
    try:
        # The first run makes the folder, so the admin hears at once (and every run after).
        for _ in range(2):
            report = SyncService(ws).sync_once()
            assert "support (mailbox mirror)" in report.errors
            assert "could not be created" in report.errors["support (mailbox mirror)"]
        set_status(ws, ticket_of(ws, "q1@customer.example"), "closed")
        report = SyncService(ws).sync_once()
        assert "could not be created" in report.errors["support (mailbox mirror)"]
        assert len(on_server(mailbox, "INBOX", "q1@customer.example")) == 1
    finally:
        ws.close()


def test_a_crash_between_move_and_cache_update_converges(
    mailbox: ImapAccount, ws: Workspace
) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    number = ticket_of(ws, "q1@customer.example")
    messages = message_count(ws)
    # The team closes the ticket; the mirror moves the mail and dies before the cache hears.
    set_status(ws, number, "closed")
    (uid,) = on_server(mailbox, "INBOX", "q1@customer.example")
    mailbox.move("INBOX", [uid], "Archive")

    report = sync(ws)
    assert report.stats.vanished == 1  # the stale location is dropped, the message stays
    # The archive is watched: its copy is paired with the message, not stored again.
    assert report.stats.new_messages == 0 and report.stats.duplicates == 1
    assert message_count(ws) == messages
    archived = on_server(mailbox, "Archive", "q1@customer.example")
    assert where_cached(ws, "q1@customer.example") == {"Archive": set(archived)}
    clean_doctor(ws)

    # Opened again: the mail comes home.
    set_status(ws, number, "open")
    back = sync(ws)
    assert back.mirror is not None and back.mirror.moved == {"INBOX": 1}
    inbox = on_server(mailbox, "INBOX", "q1@customer.example")
    assert on_server(mailbox, "Archive", "q1@customer.example") == []
    assert len(inbox) == 1 and where_cached(ws, "q1@customer.example") == {"INBOX": set(inbox)}
    assert sync(ws).stats.new_messages == 0 and message_count(ws) == messages
    clean_doctor(ws)


def test_a_crash_into_a_watched_folder_is_paired_by_the_sync(
    mailbox: ImapAccount, tmp_path: Path
) -> None:
    mailbox.create_folder("Junk")
    ws = workspace_for(mailbox, tmp_path, MIRROR_ALL, folders='["INBOX", "Junk"]')
    try:
        customer_mail(mailbox, "buy@spam.example", T0, subject="Levné hodinky")
        sync(ws)
        number = ticket_of(ws, "buy@spam.example")
        messages = message_count(ws)
        set_status(ws, number, "spam")
        (uid,) = on_server(mailbox, "INBOX", "buy@spam.example")
        mailbox.move("INBOX", [uid], "Junk")  # the mirror's move, its cache update lost

        report = sync(ws)
        assert report.stats.new_messages == 0 and report.stats.duplicates == 1
        assert message_count(ws) == messages
        junk = on_server(mailbox, "Junk", "buy@spam.example")
        assert where_cached(ws, "buy@spam.example") == {"Junk": set(junk)}
        clean_doctor(ws)

        set_status(ws, number, "open")
        sync(ws)
        inbox = on_server(mailbox, "INBOX", "buy@spam.example")
        assert len(inbox) == 1 and on_server(mailbox, "Junk", "buy@spam.example") == []
        assert where_cached(ws, "buy@spam.example") == {"INBOX": set(inbox)}
        clean_doctor(ws)
    finally:
        ws.close()


def test_report_summary_names_folders_safely() -> None:
    report = MirrorReport(tickets=2, flagged=1, moved={"Arch\x1b[31mive": 2})
    assert "\x1b" not in report.summary()
    assert "2 tickets compared" in report.summary()


# -- the archive and junk folders are watched ---------------------------------------------------


def test_mirror_folders_are_fetched_like_the_watched_ones() -> None:
    from helpdesk.sync.imap import watched_folders

    imap = account(MIRROR_ALL).imap
    assert imap is not None
    assert watched_folders(imap) == ["INBOX", "Archive", "Junk", "Sent"]
    # Listed already: once; without a mirror table: nothing more.
    listed = parse_config(
        BASE.replace('["INBOX"]', '["INBOX", "Junk"]') + MIRROR_ALL,
        "helpdesk.toml",
        default_agent=("A", "a@example.com"),
    ).accounts["support"]
    assert listed.imap is not None
    assert watched_folders(listed.imap) == ["INBOX", "Junk", "Archive", "Sent"]
    assert listed.mirror.home(listed.imap.folders) == "INBOX"
    plain = account("").imap
    assert plain is not None and watched_folders(plain) == ["INBOX", "Sent"]


def test_a_fresh_cache_finds_closed_tickets_mail_in_the_archive(
    mailbox: ImapAccount, ws: Workspace, tmp_path: Path
) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    customer_mail(
        mailbox,
        "q2@customer.example",
        T0 + timedelta(minutes=5),
        "Re: Objednávka",
        follows="q1@customer.example",
    )
    our_reply(mailbox, "r1@helpdesk.example", "q1@customer.example", T0 + timedelta(hours=1))
    sync(ws)
    number = ticket_of(ws, "q1@customer.example")
    set_status(ws, number, "closed")
    assert sync(ws).mirror.moved == {"Archive": 2}
    assert mailbox.uids("INBOX") == []

    # A new laptop (or `cache rebuild`): same team store, empty cache.
    laptop = workspace_for(
        mailbox, tmp_path / "laptop", MIRROR_ALL, store=f"sqlite:///{tmp_path / 'team.sqlite'}"
    )
    try:
        first = sync(laptop)
        assert first.stats.new_messages == 3 and first.stats.duplicates == 0
        assert first.mirror is not None and first.mirror.moved == {}
        detail = laptop.cache.ticket(number)
        assert detail is not None and detail.summary.status == "closed"
        assert sorted(m.message_id for m in detail.messages) == [
            "q1@customer.example",
            "q2@customer.example",
            "r1@helpdesk.example",
        ]
        for mid in ("q1@customer.example", "q2@customer.example"):
            assert where_cached(laptop, mid) == {"Archive": set(on_server(mailbox, "Archive", mid))}
        again = sync(laptop)
        assert again.stats.new_messages == 0 and message_count(laptop) == 3
        report = clean_doctor(laptop)
        checked = {f.folder for f in report.folders}
        assert {"INBOX", "Archive", "Junk", "Sent"} <= checked
    finally:
        laptop.close()


def test_mail_filed_in_junk_by_the_server_stays_until_the_team_decides(
    mailbox: ImapAccount, ws: Workspace
) -> None:
    sync(ws)  # the first run makes Junk, as the server's own filter might have
    raw = message(
        "pills@spam.example",
        subject="Levné hodinky",
        date=T0.strftime("%a, %d %b %Y %H:%M:%S +0000"),
    )
    (uid,) = [mailbox.append("Junk", raw, msg_time=T0)]
    report = sync(ws)
    number = ticket_of(ws, "pills@spam.example")  # every message becomes a ticket message
    assert report.mirror is not None and report.mirror.moved == {}
    assert on_server(mailbox, "Junk", "pills@spam.example") == [uid]
    assert where_cached(ws, "pills@spam.example") == {"Junk": {uid}}
    clean_doctor(ws)

    # Spam indeed: it is where it belongs. Not spam after all: it comes to the inbox.
    set_status(ws, number, "spam")
    assert sync(ws).mirror.moved == {}
    set_status(ws, number, "open")
    assert sync(ws).mirror.moved == {"INBOX": 1}
    assert on_server(mailbox, "Junk", "pills@spam.example") == []
    assert len(on_server(mailbox, "INBOX", "pills@spam.example")) == 1
    clean_doctor(ws)


# -- what a run could not do waits for the next ---------------------------------------------------


def test_a_renumbered_folder_is_left_for_the_next_run(mailbox: ImapAccount, ws: Workspace) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    number = ticket_of(ws, "q1@customer.example")
    set_status(ws, number, "closed")
    # The cache's UIDs of the inbox no longer name the server's messages (as after the
    # server renumbered the folder between the sync and the mirror).
    box = ws.cache.mailbox("support", "INBOX")
    assert box.uidvalidity is not None
    with ws.cache.writer.begin() as conn:
        conn.execute(
            mailbox_t.update()
            .where(mailbox_t.c.id == box.id)
            .values(uidvalidity=box.uidvalidity + 1)
        )
    skipped = MailboxMirror(ws).run()
    assert skipped.ok and skipped.moved == {}
    assert skipped.skipped == {"support: INBOX": 1}
    assert "left for the next run: 1 in support: INBOX" in skipped.summary()
    assert len(on_server(mailbox, "INBOX", "q1@customer.example")) == 1

    # The sync pairs the inbox again; nothing else changed, yet the ticket is taken again.
    report = sync(ws)
    assert report.mirror is not None and report.mirror.moved == {"Archive": 1}
    assert report.mirror.skipped == {}
    assert on_server(mailbox, "INBOX", "q1@customer.example") == []
    assert MailboxMirror(ws).run().tickets == 0  # done: not taken a third time
    clean_doctor(ws)


def test_mail_imported_from_files_is_never_searched_for(
    mailbox: ImapAccount, ws: Workspace
) -> None:
    from helpdesk.sync.mailfiles import import_messages
    from helpdesk.sync.service import make_ingestor

    sync(ws)  # the first run, which makes the folders
    import_messages(
        [
            message(
                "old@customer.example", subject="Stará věc", date="Mon, 02 Nov 2026 08:00:00 +0000"
            )
        ],
        make_ingestor(ws),
    )
    number = ticket_of(ws, "old@customer.example")
    set_status(ws, number, "closed")
    set_status(ws, number, "open")
    asked: list[str] = []

    def recording(account: AccountSettings) -> IMAPClient:
        asked.append(account.name)
        return default_client(account)

    report = MailboxMirror(ws).run(recording)
    assert report.ok and report.tickets == 1
    assert asked == [] and not report.connected


def test_a_copy_the_cache_lost_track_of_is_found_by_its_message_id(
    mailbox: ImapAccount, ws: Workspace
) -> None:
    customer_mail(mailbox, "q1@customer.example", T0)
    sync(ws)
    number = ticket_of(ws, "q1@customer.example")
    set_status(ws, number, "closed")
    sync(ws)
    (archived,) = on_server(mailbox, "Archive", "q1@customer.example")
    # The cache knows the message only from another account's mailbox now.
    with ws.cache.writer.begin() as conn:
        pk = conn.execute(
            select(message_t.c.id).where(message_t.c.message_id == "q1@customer.example")
        ).scalar_one()
        conn.execute(location_t.delete().where(location_t.c.message == pk))
    other = ws.cache.mailbox("other", "Shared")
    with ws.cache.begin_write() as conn:
        ws.cache.add_locations(conn, [{"message": pk, "mailbox": other.id, "uid": 7, "flags": ""}])

    set_status(ws, number, "open")
    report = MailboxMirror(ws).run()
    assert report.ok and report.moved == {"INBOX": 1}
    assert on_server(mailbox, "Archive", "q1@customer.example") == []
    inbox = on_server(mailbox, "INBOX", "q1@customer.example")
    assert archived not in inbox and len(inbox) == 1
    assert where_cached(ws, "q1@customer.example") == {"INBOX": set(inbox), "Shared": {7}}
