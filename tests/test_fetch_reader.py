"""The sync's own UID FETCH reader against a real Dovecot: the same answers as IMAPClient,
whatever the message holds, and the connection still usable afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from imapclient import IMAPClient
from servers import ImapAccount

from helpdesk.sync.fetch_reader import uid_fetch, uid_set
from helpdesk.sync.imap import FETCH_ITEMS, _Ahead

# Bodies chosen to trip a reader that looks for structure inside literals.
AWKWARD = [
    b"From: a@customer.example\r\nSubject: plain\r\n\r\nhello\r\n",
    # Text that looks like the end of a FETCH answer and the start of the next one.
    b"From: b@customer.example\r\nSubject: tricky\r\n\r\n)\r\n* 1 FETCH (UID 99 BODY[] {3}\r\n"
    b"A1 OK done\r\n{12}\r\n",
    # 8-bit text and a line far longer than any the protocol's own lines may be.
    b"From: c@customer.example\r\nSubject: =?utf-8?q?=C5=BElu=C5=A5ou=C4=8Dk=C3=BD?=\r\n\r\n"
    + "příliš žluťoučký kůň".encode()
    + b"\r\n"
    + b"x" * 200_000
    + b"\r\n",
]


def _fill(acct: ImapAccount) -> list[int]:
    uids = [
        acct.append("INBOX", AWKWARD[0], flags=[b"\\Seen"]),
        acct.append("INBOX", AWKWARD[1], flags=[b"\\Flagged", b"$Customer_Kw"]),
        acct.append("INBOX", AWKWARD[2], msg_time=datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ]
    return uids


def test_uid_set_compresses_runs_in_any_order() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10, 3]) == "1:3,5,9:10"
    assert uid_set([7]) == "7"
    assert uid_set([]) == ""


def test_answers_equal_imapclients(imap_account: ImapAccount) -> None:
    uids = _fill(imap_account)
    with imap_account.connect() as client:
        client.normalise_times = False
        client.select_folder("INBOX", readonly=True)
        items = [*FETCH_ITEMS, b"RFC822.SIZE"]
        theirs = client.fetch(uids, items)
        ours = uid_fetch(client, uids, items)
        assert set(ours) == set(uids)
        for uid in uids:
            mine, ref = ours[uid], theirs[uid]
            assert mine[b"BODY[]"] == ref[b"BODY[]"]
            assert set(mine[b"FLAGS"]) == set(ref[b"FLAGS"])
            assert mine[b"INTERNALDATE"] == ref[b"INTERNALDATE"]
            assert mine[b"RFC822.SIZE"] == ref[b"RFC822.SIZE"] == len(ref[b"BODY[]"])
        # The bodies went to the right UIDs, not just the right set of bodies.
        assert [ours[u][b"BODY[]"] for u in uids] == AWKWARD
        # The connection is in step: IMAPClient's next command gets its own answer.
        assert sorted(client.search(["ALL"])) == sorted(uids)


def test_range_and_missing_uids(imap_account: ImapAccount) -> None:
    uids = _fill(imap_account)
    with imap_account.connect() as client:
        client.select_folder("INBOX", readonly=True)
        sizes = uid_fetch(client, f"{uids[0]}:{uids[-1]}", [b"RFC822.SIZE"])
        assert {u: d[b"RFC822.SIZE"] for u, d in sizes.items()} == {
            u: len(raw) for u, raw in zip(uids, AWKWARD, strict=True)
        }
        # A UID that is not there is simply absent, as with IMAPClient.
        assert set(uid_fetch(client, [uids[1], uids[-1] + 50], [b"FLAGS"])) == {uids[1]}


def test_refused_fetch_leaves_the_connection_usable(imap_account: ImapAccount) -> None:
    uids = _fill(imap_account)
    with imap_account.connect() as client:
        client.select_folder("INBOX", readonly=True)
        with pytest.raises(IMAPClient.Error):
            uid_fetch(client, uids, [b"NO-SUCH-ITEM"])
        assert set(uid_fetch(client, uids, [b"FLAGS"])) == set(uids)


def test_ahead_delivers_in_order_and_raises_the_sources_error() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ConnectionResetError("gone")

    got: list[int] = []
    ahead = _Ahead(source())
    with pytest.raises(ConnectionResetError):
        for item in ahead:
            got.append(item)
    ahead.close()
    assert got == [1, 2]


def test_ahead_close_stops_the_thread_and_runs_no_further() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = _Ahead(source(), depth=1)
    first = next(iter(ahead))
    time.sleep(0.3)  # let the thread run as far as it may
    ahead.close()
    assert first == 0
    # One taken, one waiting in the queue, one being offered: never the whole source.
    assert len(produced) <= 3
    assert not any(t.name == "imap-download" and t.is_alive() for t in threading.enumerate())
