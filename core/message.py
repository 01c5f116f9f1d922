"""The parsed form of one mail message, as the rest of the program sees it.

Produced by :func:`helpdesk.core.mailparse.parse_message`, which never raises: a message that
cannot be parsed still becomes a ``ParsedMessage`` with ``parse_error`` set and the raw bytes
kept by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class AutoKind(StrEnum):
    """Why a message was sent by a machine rather than a person (RFC 3834 and friends)."""

    NONE = ""
    AUTO_REPLY = "auto-reply"
    BOUNCE = "bounce"
    LIST = "list"
    BULK = "bulk"


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    email: str  # lower-cased addr-spec; "" when the header held no usable address

    def display(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    filename: str  # sanitised: no path separators, no control characters, never empty
    content_type: str
    size: int  # decoded size in bytes
    part: str  # dotted MIME part path, e.g. "2.1", to find the part again in the raw message
    inline: bool = False
    content_id: str = ""


@dataclass(slots=True)
class ParsedMessage:
    message_id: str  # without angle brackets; synthesised from the content hash when missing
    subject: str
    from_addr: Address | None
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    date: datetime | None = None  # timezone-aware, UTC
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text_body: str = ""
    html_only: bool = False  # the text was made from HTML
    attachments: list[AttachmentInfo] = field(default_factory=list)
    auto: AutoKind = AutoKind.NONE
    content_hash: str = ""  # sha256 hex of the raw bytes
    dedupe_key: str = ""  # equal for two deliveries of one message (core.identity.dedupe_key)
    size: int = 0
    message_id_synthesised: bool = False
    defects: list[str] = field(default_factory=list)  # human-readable, shown with the message
    parse_error: str | None = None  # set when only the raw message could be kept
    # For a bounce: the Message-IDs of the message that could not be delivered, found in its
    # enclosed copy or quoted headers. They thread the bounce into that message's ticket.
    bounced_ids: list[str] = field(default_factory=list)

    @property
    def malformed(self) -> bool:
        return self.parse_error is not None or bool(self.defects)

    def thread_ids(self) -> list[str]:
        """Ids this message refers to, nearest parent first, without duplicates. A bounce
        refers first to the message that bounced."""
        seen: set[str] = set()
        out: list[str] = []
        for mid in [*self.bounced_ids, *self.in_reply_to, *reversed(self.references)]:
            if mid and mid not in seen and mid != self.message_id:
                seen.add(mid)
                out.append(mid)
        return out
