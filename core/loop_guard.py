"""When an automatic reply (acknowledgement, out-of-hours notice, a rule's auto-reply) may go
out, and the headers it carries: RFC 3834 and the limits that stop two machines from mailing
each other forever.

Pure: the caller gathers what was already sent automatically (from the team store) and sends
nothing unless :func:`may_auto_reply` says yes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from .message import AutoKind, ParsedMessage

__all__ = [
    "LOOP_HEADER",
    "AutoReplyHistory",
    "AutoReplyLimits",
    "Verdict",
    "auto_reply_headers",
    "is_automatic_sender",
    "may_auto_reply",
]

# Our own mark on every automatic message, with the team's id: mail carrying it came from a
# helpdesk (ours, or another one answering ours) and is never answered automatically.
LOOP_HEADER = "X-Helpdesk-Loop"

# Local parts that belong to machines, not people (compared without case, "-", "_" and ".").
_MACHINE_LOCAL_PARTS = frozenset(
    {
        "noreply",
        "donotreply",
        "noresponse",
        "mailerdaemon",
        "postmaster",
        "bounce",
        "bounces",
        "listserv",
        "majordomo",
        "mailman",
        "autoreply",
        "autoresponder",
    }
)
# Compared with separators removed: "no-reply+shop", "bounces+abc=example.com", ...
_MACHINE_PREFIXES = ("noreply", "donotreply", "bounce")
_MACHINE_SUFFIXES = ("-request", "-bounces", "-owner")
_SEPARATORS = re.compile(r"[-_.]")
# Outlook's request not to be auto-answered: "All" or a list naming auto-replies or OOF.
_SUPPRESS = frozenset({"all", "autoreply", "oof"})


@dataclass(frozen=True, slots=True)
class AutoReplyLimits:
    per_sender_per_day: int = 3  # automatic replies to one address within `window`
    per_ticket: int = 1  # automatic replies within one ticket, ever
    window: timedelta = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class AutoReplyHistory:
    """When automatic mail already went to this sender and within this ticket."""

    to_sender: Sequence[datetime] = field(default_factory=tuple)
    in_ticket: Sequence[datetime] = field(default_factory=tuple)


class Verdict(NamedTuple):
    allowed: bool
    reason: str


def is_automatic_sender(address: str) -> bool:
    """A no-reply, bounce or list-robot address, by its local part."""
    local = address.rpartition("@")[0].casefold() if "@" in address else address.casefold()
    squashed = _SEPARATORS.sub("", local)
    if squashed in _MACHINE_LOCAL_PARTS:
        return True
    if squashed.startswith(_MACHINE_PREFIXES):
        return True
    return local.startswith("owner-") or local.endswith(_MACHINE_SUFFIXES)


def _values(headers: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v.strip().casefold() for v in headers.get(name.lower(), ())]


def may_auto_reply(
    message: ParsedMessage,
    our_addresses: Iterable[str],
    history: AutoReplyHistory,
    now: datetime,
    limits: AutoReplyLimits = AutoReplyLimits(),
    *,
    headers: Mapping[str, Sequence[str]],
) -> Verdict:
    """Whether an automatic reply to ``message`` may be sent now, and why (not).

    ``headers`` are the message's header fields by lower-case name (``core.rules.raw_headers``)
    for the checks the parsed message does not keep: our loop header, ``Precedence`` and
    ``X-Auto-Response-Suppress``; required, so that no caller can forget them and lose those
    checks. ``now`` and the history's times must be timezone-aware.
    """
    if message.auto is not AutoKind.NONE:
        return Verdict(False, f"the message is automatic ({message.auto.value})")
    sender = message.from_addr.email.casefold() if message.from_addr else ""
    if not sender or "@" not in sender:
        return Verdict(False, "the message has no sender address")
    if sender in {a.casefold() for a in our_addresses}:
        return Verdict(False, f"the sender {sender} is one of our own addresses")
    if is_automatic_sender(sender):
        return Verdict(False, f"the sender {sender} is a machine address")
    found = headers
    if found.get(LOOP_HEADER.lower()):
        return Verdict(False, f"the message carries {LOOP_HEADER}: it came from a helpdesk")
    for value in _values(found, "auto-submitted"):
        if value.split(";", 1)[0].strip() not in ("", "no"):
            return Verdict(False, f"the message is automatic (Auto-Submitted: {value})")
    for value in _values(found, "precedence"):
        if value.split(";", 1)[0].strip() in ("bulk", "list", "junk", "auto_reply"):
            return Verdict(False, f"the message is bulk mail (Precedence: {value})")
    if found.get("list-id") or found.get("list-unsubscribe"):
        return Verdict(False, "the message came through a mailing list")
    for value in _values(found, "x-auto-response-suppress"):
        asked = {part.strip() for part in value.split(",")}
        if asked & _SUPPRESS:
            return Verdict(False, "the sender asked for no automatic replies")
    # Every reply counts, also one stamped "later" by a machine whose clock runs ahead:
    # clocks on a team's laptops disagree, and a skipped entry means a second reply.
    in_ticket = len(history.in_ticket)
    if in_ticket >= limits.per_ticket:
        return Verdict(
            False, f"the ticket already had {in_ticket} automatic reply (limit {limits.per_ticket})"
        )
    since = now - limits.window
    recent = sum(1 for at in history.to_sender if since < at)
    if recent >= limits.per_sender_per_day:
        return Verdict(
            False,
            f"{sender} already got {recent} automatic replies in the last "
            f"{_span(limits.window)} (limit {limits.per_sender_per_day})",
        )
    return Verdict(True, "allowed")


def _span(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return "day" if hours == 24 else f"{hours:g} hours"


_HEADER_SAFE = re.compile(r"[^!-~]")


def auto_reply_headers(team_id: str) -> dict[str, str]:
    """Headers every automatic message of ours carries (RFC 3834 plus our loop mark)."""
    mark = _HEADER_SAFE.sub("", team_id)[:200]
    if not mark:
        raise ValueError("a team id of printable characters is needed for the loop header")
    return {
        "Auto-Submitted": "auto-replied",
        LOOP_HEADER: mark,
        # Exchange and Outlook: do not send out-of-office or other automatic answers to this.
        "X-Auto-Response-Suppress": "All",
    }
