"""The ingest pipeline without a mail server: ordering, placeholders, forged dates."""

from __future__ import annotations

from pathlib import Path

from mailbuild import message

from helpdesk.core.config import parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage.workspace import Workspace, open_workspace
from helpdesk.sync.ingest import Incoming
from helpdesk.sync.service import make_ingestor


def workspace(tmp_path: Path) -> Workspace:
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp_path / "team.sqlite"}"\naddresses = ["support@helpdesk.example"]\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        str(tmp_path / "helpdesk.toml"),
        default_agent=("A", "a@helpdesk.example"),
    )
    return open_workspace(settings)


PARENT = message("p@c.example", subject="Reklamace", date="Mon, 02 Nov 2026 09:00:00 +0000")
REPLY = message(
    "r@helpdesk.example",
    sender="Jana via Support <support@helpdesk.example>",
    to="jan@customer.example",
    subject="Re: Reklamace",
    in_reply_to="p@c.example",
    date="Mon, 02 Nov 2026 10:00:00 +0000",
)
# Only In-Reply-To, to the reply: the customer's client kept no References.
FOLLOWUP = message(
    "f@c.example",
    subject="Re: Reklamace",
    in_reply_to="r@helpdesk.example",
    date="Mon, 02 Nov 2026 11:00:00 +0000",
)


def test_a_batch_in_any_order_threads_the_same(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    stats = make_ingestor(ws).ingest([Incoming(FOLLOWUP), Incoming(REPLY), Incoming(PARENT)])
    assert stats.new_tickets == 1 and stats.new_messages == 3
    (ticket,) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    assert ticket.subject == "Reklamace" and ticket.customer_email == "jan@customer.example"
    ws.close()


def test_parent_arriving_in_a_later_batch_joins_its_reply(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    ingest = make_ingestor(ws).ingest
    ingest([Incoming(FOLLOWUP)])
    ingest([Incoming(REPLY)])
    later = ingest([Incoming(PARENT)])
    assert later.new_tickets == 0
    tickets = ws.cache.list_tickets(Queue.ALL, ws.agent)
    assert len(tickets) == 1 and tickets[0].message_count == 3
    detail = ws.cache.ticket(tickets[0].number)
    assert detail is not None
    assert [m.message_id for m in detail.messages] == [
        "p@c.example",
        "r@helpdesk.example",
        "f@c.example",
    ]
    ws.close()


def test_unfetchable_messages_become_distinct_marked_placeholders(tmp_path: Path) -> None:
    ws = workspace(tmp_path)
    box = ws.cache.mailbox("support", "INBOX")
    stats = make_ingestor(ws).ingest(
        [
            Incoming(b"", mailbox=box.id, uid=7, error="NO [SERVERBUG] cannot read"),
            Incoming(b"", mailbox=box.id, uid=8, error="NO [SERVERBUG] cannot read"),
        ]
    )
    assert stats.new_messages == 2 and stats.malformed == 2
    assert ws.cache.location_count(box.id) == 2
    assert ws.cache.counts()["unfetched"] == 2
    (first, _) = ws.cache.list_tickets(Queue.ALL, ws.agent)
    detail = ws.cache.ticket(first.number)
    assert detail is not None and "did not return" in (detail.messages[0].problem or "")
    ws.close()


def test_a_forged_future_date_does_not_top_the_queue(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    ws = workspace(tmp_path)
    forged = message(
        "x@spam.example",
        sender="x@spam.example",
        subject="Vyhráli jste",
        date="Fri, 01 Jan 2100 00:00:00 +0000",
    )
    honest = message("h@c.example", subject="Dotaz", date="Mon, 02 Nov 2026 09:00:00 +0000")
    make_ingestor(ws).ingest(
        [
            Incoming(forged, received_at=datetime(2026, 11, 1, tzinfo=UTC)),
            Incoming(honest, received_at=datetime(2026, 11, 2, 9, 1, tzinfo=UTC)),
        ]
    )
    assert [t.subject for t in ws.cache.list_tickets(Queue.ALL, ws.agent)] == [
        "Dotaz",
        "Vyhráli jste",
    ]
    ws.close()


def test_reading_the_cache_never_opens_the_team_store(tmp_path: Path) -> None:
    settings = parse_config(
        '[team]\nstore = "postgresql://nobody@127.0.0.1:1/none"\n'
        f'[cache]\npath = "{tmp_path / "cache.sqlite"}"\n',
        str(tmp_path / "helpdesk.toml"),
        default_agent=("A", "a@helpdesk.example"),
    )
    ws = open_workspace(settings)  # the team server is unreachable: this must not care
    assert ws.cache.list_tickets(Queue.OPEN, ws.agent) == []
    ws.close()
