"""Identities of messages: our HMAC-signed Message-IDs, the subject tag, and the dedupe key.

Pure functions; the team secret is passed in by the caller (it lives in the team store).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_SIGNED_RE = re.compile(r"^hd\.(\d{1,12})\.([0-9a-z]{10,32})\.([0-9a-f]{16})@")

# Trace headers differ between two deliveries of one message (To + Cc to two of our
# addresses, or one copy per folder), so they are left out of the dedupe key.
_TRACE_HEADERS = frozenset(
    {
        b"received",
        b"delivered-to",
        b"return-path",
        b"x-original-to",
        b"x-delivered-to",
        b"x-received",
        b"dkim-signature",
        b"arc-seal",
        b"arc-message-signature",
        b"arc-authentication-results",
        b"authentication-results",
        b"received-spf",
        b"x-spam-status",
        b"x-spam-score",
        b"x-spam-level",
        b"x-spam-checker-version",
        b"status",
        b"x-status",
        b"x-keywords",
        b"x-uid",
        b"content-length",
        b"lines",
    }
)


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:16]


def make_message_id(secret: bytes, ticket: int, domain: str, nonce: str | None = None) -> str:
    """A Message-ID (without brackets) that names its ticket and that outsiders cannot forge."""
    nonce = nonce or secrets.token_hex(8)
    return f"hd.{ticket}.{nonce}.{_sign(secret, f'{ticket}.{nonce}')}@{domain}"


def verify_message_id(secret: bytes, message_id: str) -> int | None:
    """The ticket number a signed Message-ID of ours names, or None when it is not ours."""
    m = _SIGNED_RE.match(message_id)
    if not m:
        return None
    ticket, nonce, sig = m.groups()
    if hmac.compare_digest(sig, _sign(secret, f"{ticket}.{nonce}")):
        return int(ticket)
    return None


def subject_tag(prefix: str, ticket: int) -> str:
    return f"[{prefix}{ticket}]"


def tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[" + re.escape(prefix) + r"(\d{1,12})\]")


def find_subject_tag(prefix: str, subject: str) -> int | None:
    m = tag_pattern(prefix).search(subject)
    return int(m.group(1)) if m else None


def dedupe_key(raw: bytes) -> str:
    """A hash of a message that is equal for two deliveries of the same message."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    h = hashlib.sha256()
    keep = True
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if keep:
                h.update(line.strip())
            continue
        name = line.split(b":", 1)[0].strip().lower()
        keep = name not in _TRACE_HEADERS
        if keep:
            h.update(b"\n" + line.strip())
    h.update(b"\n\n")
    h.update(body.replace(b"\r\n", b"\n"))
    return h.hexdigest()
