"""Automatic replies: never to machines, lists or ourselves; limited per sender and ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mailbuild import message

from helpdesk.core.loop_guard import (
    LOOP_HEADER,
    AutoReplyHistory,
    AutoReplyLimits,
    Verdict,
    auto_reply_headers,
    is_automatic_sender,
    may_auto_reply,
)
from helpdesk.core.mailparse import parse_message
from helpdesk.core.message import Address, AutoKind, ParsedMessage
from helpdesk.core.rules import raw_headers

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
OURS = ["support@helpdesk.example", "help@helpdesk.example"]


NO_HISTORY = AutoReplyHistory()


def verdict(raw: bytes, history: AutoReplyHistory = NO_HISTORY, **kw: Any) -> Verdict:
    return may_auto_reply(parse_message(raw), OURS, history, NOW, headers=raw_headers(raw), **kw)


def test_a_person_writing_for_the_first_time_gets_one() -> None:
    allowed, reason = verdict(message("p@c.example"))
    assert allowed and reason == "allowed"


@pytest.mark.parametrize(
    ("extra", "sender", "reason"),
    [
        ("Auto-Submitted: auto-replied", None, "automatic (auto-reply)"),
        ("X-Autoreply: yes", None, "automatic (auto-reply)"),
        ("Precedence: bulk", None, "automatic (bulk)"),
        ("Precedence: junk", None, "automatic (bulk)"),
        ("Precedence: list", None, "automatic (list)"),
        ("List-Id: <news.shop.example>", None, "automatic (list)"),
        ("List-Unsubscribe: <mailto:x@shop.example>", None, "automatic (bulk)"),
        ("", "MAILER-DAEMON@mx.example", "automatic (bounce)"),
        ("X-Failed-Recipients: a@b.example", None, "automatic (bounce)"),
        ("", "Support <Support@helpdesk.example>", "one of our own addresses"),
        ("", "help@helpdesk.example", "one of our own addresses"),
        ("", "no-reply@shop.example", "machine address"),
        ("", "noreply+orders@shop.example", "machine address"),
        ("", "do_not_reply@bank.example", "machine address"),
        ("", "bounces+123=c.example@lists.example", "machine address"),
        ("", "news-request@lists.example", "machine address"),
        ("", "owner-news@lists.example", "machine address"),
        (f"{LOOP_HEADER}: team-42", None, f"carries {LOOP_HEADER}"),
        (f"{LOOP_HEADER.lower()}: another-team", None, f"carries {LOOP_HEADER}"),
        ("X-Auto-Response-Suppress: All", None, "asked for no automatic replies"),
        ("X-Auto-Response-Suppress: DR, AutoReply", None, "asked for no automatic replies"),
    ],
)
def test_refused(extra: str, sender: str | None, reason: str) -> None:
    kw = {"sender": sender} if sender else {}
    allowed, why = verdict(message("m@c.example", extra=extra, **kw))
    assert not allowed
    assert reason in why


def test_precedence_and_loop_header_refused_from_headers_alone() -> None:
    # A parsed message that did not flag itself automatic: the headers still decide.
    msg = ParsedMessage("x@c.example", "Hi", Address("Jan", "jan@c.example"))
    for headers, reason in [
        ({"precedence": ("bulk",)}, "bulk mail"),
        ({"auto-submitted": ("auto-generated",)}, "Auto-Submitted"),
        ({"x-helpdesk-loop": ("team-1",)}, LOOP_HEADER),
        ({"list-id": ("<l.example>",)}, "mailing list"),
    ]:
        allowed, why = may_auto_reply(msg, OURS, AutoReplyHistory(), NOW, headers=headers)
        assert not allowed and reason in why
    assert may_auto_reply(
        msg, OURS, AutoReplyHistory(), NOW, headers={"auto-submitted": ("no",)}
    ).allowed
    assert may_auto_reply(msg, OURS, AutoReplyHistory(), NOW, headers={}).allowed


def test_every_automatic_kind_refused() -> None:
    for kind in AutoKind:
        msg = ParsedMessage("x@c.example", "Hi", Address("Jan", "jan@c.example"), auto=kind)
        allowed, _ = may_auto_reply(msg, OURS, AutoReplyHistory(), NOW, headers={})
        assert allowed is (kind is AutoKind.NONE)


def test_no_sender_refused() -> None:
    msg = ParsedMessage("x@c.example", "Hi", None)
    assert may_auto_reply(msg, OURS, AutoReplyHistory(), NOW, headers={}) == (
        False,
        "the message has no sender address",
    )


def test_one_per_ticket() -> None:
    raw = message("t@c.example")
    history = AutoReplyHistory(in_ticket=[NOW - timedelta(days=30)])
    allowed, why = verdict(raw, history)
    assert not allowed and "the ticket already had 1 automatic reply" in why
    two = AutoReplyLimits(per_ticket=2)
    assert verdict(raw, history, limits=two).allowed


def test_three_a_day_per_sender_at_a_fixed_clock() -> None:
    raw = message("s@c.example")
    hour = timedelta(hours=1)
    two = AutoReplyHistory(to_sender=[NOW - 3 * hour, NOW - hour])
    assert verdict(raw, two).allowed
    three = AutoReplyHistory(to_sender=[NOW - 23 * hour, NOW - 3 * hour, NOW - hour])
    allowed, why = verdict(raw, three)
    assert not allowed
    assert why == "jan@customer.example already got 3 automatic replies in the last day (limit 3)"
    # the oldest falls out of the 24-hour window a moment later
    old = AutoReplyHistory(to_sender=[NOW - 24 * hour, NOW - 3 * hour, NOW - hour])
    assert verdict(raw, old).allowed
    # a record stamped later than now (another machine's clock runs ahead) still counts:
    # skipping it would let a second machine send one reply too many
    future = AutoReplyHistory(to_sender=[NOW + hour, NOW - 3 * hour, NOW - hour])
    assert not verdict(raw, future).allowed
    strict = AutoReplyLimits(per_sender_per_day=1, window=timedelta(hours=2))
    allowed, why = verdict(raw, two, limits=strict)
    assert not allowed and "in the last 2 hours (limit 1)" in why


def test_our_headers_mark_the_mail_and_are_header_safe() -> None:
    headers = auto_reply_headers("team-42")
    assert headers == {
        "Auto-Submitted": "auto-replied",
        LOOP_HEADER: "team-42",
        "X-Auto-Response-Suppress": "All",
    }
    assert auto_reply_headers("team 42\r\nBcc: x@evil.example")[LOOP_HEADER] == (
        "team42Bcc:x@evil.example"
    )
    with pytest.raises(ValueError):
        auto_reply_headers("\r\n")


def test_our_own_automatic_mail_would_be_refused_when_it_comes_back() -> None:
    lines = "\n".join(f"{k}: {v}" for k, v in auto_reply_headers("team-42").items())
    raw = message("ours@helpdesk.example", sender="Alias <alias@elsewhere.example>", extra=lines)
    assert not verdict(raw).allowed


@pytest.mark.parametrize(
    ("address", "machine"),
    [
        ("jan@c.example", False),
        ("noreply@c.example", True),
        ("No.Reply@c.example", True),
        ("postmaster@c.example", True),
        ("bouncer-joe@c.example", True),
        ("norbert@c.example", False),
        ("requests@c.example", False),
    ],
)
def test_machine_addresses(address: str, machine: bool) -> None:
    assert is_automatic_sender(address) is machine
