"""Which ticket a message joins: the rules of DESIGN.md "Tickets and threading", without I/O.

The caller gathers the facts (from the cache and the team store) and this module decides, so
the order of the rules lives in one place and is unit-tested.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ThreadReason(StrEnum):
    KNOWN = "message already registered"
    SIGNED = "reply to our signed Message-ID"
    REFERENCE = "In-Reply-To/References"
    REFERENCED = "a reply to it arrived first"
    SUBJECT_TAG = "subject tag from a participant"
    NEW = "new ticket"


@dataclass(frozen=True, slots=True)
class ThreadFacts:
    """What is known about one incoming message when it is threaded."""

    own_ticket: int | None  # the ticket its own Message-ID is already registered to
    signed_tickets: tuple[int, ...]  # tickets named by our signed ids among its references
    reference_tickets: tuple[int | None, ...]  # per referenced id, nearest parent first
    referenced_by: int | None  # ticket of a message already registered that refers to this one
    tag_ticket: int | None  # ticket of the subject tag, if any
    sender_is_participant: bool  # the sender already took part in tag_ticket


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    ticket: int | None  # None: open a new ticket
    reason: ThreadReason


def decide(facts: ThreadFacts) -> ThreadDecision:
    # The first registration of a Message-ID wins, so every cache converges on it.
    if facts.own_ticket is not None:
        return ThreadDecision(facts.own_ticket, ThreadReason.KNOWN)
    if facts.signed_tickets:
        return ThreadDecision(facts.signed_tickets[0], ThreadReason.SIGNED)
    for ticket in facts.reference_tickets:
        if ticket is not None:
            return ThreadDecision(ticket, ThreadReason.REFERENCE)
    # Mail does not arrive in order (newest first, Sent synced before INBOX, two caches): a
    # parent that comes after its reply joins the reply's ticket.
    if facts.referenced_by is not None:
        return ThreadDecision(facts.referenced_by, ThreadReason.REFERENCED)
    # A tag alone is forgeable: outsiders could inject mail into any ticket by guessing numbers.
    if facts.tag_ticket is not None and facts.sender_is_participant:
        return ThreadDecision(facts.tag_ticket, ThreadReason.SUBJECT_TAG)
    return ThreadDecision(None, ThreadReason.NEW)
