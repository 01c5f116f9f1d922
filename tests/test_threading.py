"""Unit tests of the threading rules and our message identities (core/, no server)."""

from __future__ import annotations

from helpdesk.core.identity import (
    dedupe_key,
    find_subject_tag,
    make_message_id,
    subject_tag,
    verify_message_id,
)
from helpdesk.core.threading import ThreadFacts, ThreadReason, decide

SECRET = b"k" * 32


def facts(**kw: object) -> ThreadFacts:
    base: dict[str, object] = {
        "own_ticket": None,
        "signed_tickets": (),
        "reference_tickets": (),
        "referenced_by": None,
        "tag_ticket": None,
        "sender_is_participant": False,
    }
    base.update(kw)
    return ThreadFacts(**base)  # type: ignore[arg-type]


def test_known_message_keeps_its_first_registration() -> None:
    d = decide(facts(own_ticket=7, signed_tickets=(3,), reference_tickets=(4,)))
    assert (d.ticket, d.reason) == (7, ThreadReason.KNOWN)


def test_signed_reference_beats_plain_references() -> None:
    d = decide(facts(signed_tickets=(3,), reference_tickets=(4,)))
    assert (d.ticket, d.reason) == (3, ThreadReason.SIGNED)


def test_nearest_known_parent_wins() -> None:
    d = decide(facts(reference_tickets=(None, 5, 6)))
    assert (d.ticket, d.reason) == (5, ThreadReason.REFERENCE)


def test_parent_arriving_after_its_reply_joins_it() -> None:
    d = decide(facts(referenced_by=8, tag_ticket=9, sender_is_participant=True))
    assert (d.ticket, d.reason) == (8, ThreadReason.REFERENCED)
    # A known parent of its own still wins over a child's ticket.
    assert decide(facts(reference_tickets=(5,), referenced_by=8)).ticket == 5


def test_subject_tag_needs_a_participant() -> None:
    assert decide(facts(tag_ticket=9, sender_is_participant=False)).ticket is None
    d = decide(facts(tag_ticket=9, sender_is_participant=True))
    assert (d.ticket, d.reason) == (9, ThreadReason.SUBJECT_TAG)


def test_nothing_known_opens_a_new_ticket() -> None:
    d = decide(facts(reference_tickets=(None,)))
    assert (d.ticket, d.reason) == (None, ThreadReason.NEW)


def test_signed_message_id_round_trip_and_forgery() -> None:
    mid = make_message_id(SECRET, 1234, "support.example.com")
    assert verify_message_id(SECRET, mid) == 1234
    forged = mid.replace("hd.1234.", "hd.1235.")
    assert verify_message_id(SECRET, forged) is None
    assert verify_message_id(b"other" * 8, mid) is None
    assert verify_message_id(SECRET, "CAFxyz@mail.example.com") is None


def test_subject_tag() -> None:
    assert subject_tag("#", 42) == "[#42]"
    assert find_subject_tag("#", "Re: Objednávka [#42] dorazila") == 42
    assert find_subject_tag("#", "Re: Objednávka #42") is None
    assert find_subject_tag("HD-", "[HD-7] hi") == 7


def test_dedupe_key_ignores_trace_headers_only() -> None:
    a = b"Received: from a\r\nDelivered-To: support@example.com\r\nSubject: Hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
    b = b"Received: from b\r\n  by c\r\nDelivered-To: info@example.com\r\nSubject: Hi\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n"
    c = b"Subject: Hi\nMessage-ID: <1@x>\n\nother body\n"
    assert dedupe_key(a) == dedupe_key(b)
    assert dedupe_key(a) != dedupe_key(c)
    assert dedupe_key(b"Subject: Hi\nMessage-ID: <1@x>\n\nbody\n") == dedupe_key(a)
