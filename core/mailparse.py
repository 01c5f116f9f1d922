"""Parse raw mail bytes into a :class:`~helpdesk.core.message.ParsedMessage`, never raising.

The standard library parser is used with the ``compat32`` policy, which only splits the MIME
structure and keeps header values as text: the modern policy is several times slower and
raises on headers that real mail contains. Header values, parameters, charsets and transfer
encodings are then decoded here leniently (see :mod:`helpdesk.core.mail_headers`), and every
string that reaches the result goes through :func:`helpdesk.core.sanitize.safe_text`.

MIME part paths follow IMAP (RFC 3501): the parts of a multipart are ``1``, ``2``, ...; the
body of a single-part message is ``1``; the parts inside an attached ``message/rfc822`` at
``2`` are ``2.1``, ``2.2``, ... :func:`attachment_bytes` finds a part again by that path.
"""

from __future__ import annotations

import binascii
import email
import email.policy
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message

from .html_text import html_to_text
from .identity import dedupe_key
from .mail_headers import (
    DEFAULT_FALLBACK_CHARSET,
    b64decode_lenient,
    decode_addresses,
    decode_bytes,
    decode_date,
    decode_header_text,
    extract_ids,
    header_str,
    parse_params,
    transfer_encoding,
    unfold,
)
from .message import Address, AttachmentInfo, AutoKind, ParsedMessage
from .sanitize import safe_filename, safe_text

__all__ = ["attachment_bytes", "parse_message"]

MAX_DEPTH = 24  # MIME nesting deeper than this is kept raw, not walked
MAX_PARTS = 1000  # parts beyond this are not listed (the raw message keeps them)
MAX_BODY_CHARS = 1_000_000  # text shown for one message; the rest stays in the raw message
MAX_TEXT_PART_BYTES = 8_000_000  # a text part is cut to this before decoding for display
MAX_DEFECTS = 10
MAX_REFERENCES = 100
SYNTHETIC_ID_DOMAIN = "synthesised.helpdesk.invalid"
FORWARD_MARKER = "---------- Forwarded message ----------"
REPORT_MARKER = "---------- Delivery report ----------"

_BOUNCE_SENDERS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster"})
_TOKEN_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_EXTENSIONS = {
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/msword": ".doc",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
}


class _Defects:
    """Human-readable problems, deduplicated, at most :data:`MAX_DEFECTS` shown."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._seen: set[str] = set()

    def add(self, text: str) -> None:
        text = safe_text(text).replace("\n", " ")
        if text not in self._seen:
            self._seen.add(text)
            self.items.append(text)

    def extend(self, texts: list[str]) -> None:
        for text in texts:
            self.add(text)

    def result(self) -> list[str]:
        if len(self.items) <= MAX_DEFECTS:
            return list(self.items)
        more = len(self.items) - (MAX_DEFECTS - 1)
        return [*self.items[: MAX_DEFECTS - 1], f"and {more} more problems"]


_DEFECT_TEXT = {
    "NoBoundaryInMultipartDefect": "multipart without a boundary",
    "StartBoundaryNotFoundDefect": "MIME boundary not found",
    "CloseBoundaryNotFoundDefect": "final MIME boundary missing",
    "FirstHeaderLineIsContinuationDefect": "first header line is a continuation",
    "MisplacedEnvelopeHeaderDefect": "misplaced 'From ' line",
    "MissingHeaderBodySeparatorDefect": "missing blank line after the headers",
    "MultipartInvariantViolationDefect": "multipart without parts",
    "InvalidMultipartContentTransferEncodingDefect": "multipart with a transfer encoding",
    "MalformedHeaderDefect": "malformed header",
    "InvalidBase64PaddingDefect": "bad base64 padding",
    "InvalidBase64CharactersDefect": "bad base64 characters",
    "InvalidBase64LengthDefect": "bad base64 length",
}


def _describe_defect(defect: object) -> str:
    name = type(defect).__name__
    if name in _DEFECT_TEXT:
        return _DEFECT_TEXT[name]
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("Defect")).lower()
    return words or "MIME structure problem"


# Tree access ---------------------------------------------------------------------------------


def _headers(node: Message) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in node.raw_items():
        out.setdefault(str(name).strip().lower(), []).append(
            value if isinstance(value, str) else str(value)
        )
    return out


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _child_path(prefix: str, index: int) -> str:
    return f"{prefix}.{index}" if prefix else str(index)


def _raw_payload(node: Message) -> object:
    """The payload as the parser stored it. ``get_payload()`` would re-decode raw 8-bit text
    with the declared charset and "replace" errors, losing the bytes this module decodes
    more carefully."""
    return getattr(node, "_payload", None)


def _payload_list(node: Message) -> list[Message] | None:
    payload = _raw_payload(node)
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return None


def _compat_type(node: Message) -> str:
    try:
        return str(node.get_content_type()).lower()
    except Exception:
        return "text/plain"


@dataclass(slots=True)
class _Node:
    """One MIME entity with its path. ``message`` marks a top-level or encapsulated message,
    whose non-multipart body is the leaf at ``path + .1``."""

    part: Message
    path: str
    message: bool


def _children(node: _Node) -> list[_Node]:
    items = _payload_list(node.part)
    ctype = _compat_type(node.part) if items is not None else ""
    encapsulated = ctype.startswith("message/")
    if node.message:
        if items is not None and not encapsulated:
            return [_Node(c, _child_path(node.path, i), False) for i, c in enumerate(items, 1)]
        return [_Node(node.part, _child_path(node.path, 1), False)]
    if items is None or ctype == "message/delivery-status":
        return []  # a leaf; delivery-status "parts" are status blocks, shown as text
    if encapsulated:
        return [_Node(items[0], node.path, True)] if items else []
    return [_Node(c, _child_path(node.path, i), False) for i, c in enumerate(items, 1)]


def _iter_parts(node: _Node, depth: int = 0) -> Iterator[_Node]:
    """Every part below ``node`` that has a path of its own, in order: leaves, multipart
    containers and encapsulated-message parts (before the parts inside them)."""
    if depth > MAX_DEPTH:
        return
    for child in _children(node):
        if not child.message:
            yield child
        yield from _iter_parts(child, depth + 1)


# Preparing the bytes -------------------------------------------------------------------------

_LEADING_BLANK = re.compile(rb"\A(?:[ \t]*\r?\n)+")
_BSMTP_DATA = re.compile(rb"^DATA\r?\n", re.MULTILINE | re.IGNORECASE)


def _trim_envelope(raw: bytes, defects: _Defects) -> bytes:
    """Drop what stands before the headers in files that real systems write: blank lines,
    a quoted ``>From`` line, a batched-SMTP envelope."""
    trimmed = _LEADING_BLANK.sub(b"", raw, count=1)
    if len(trimmed) != len(raw):
        defects.add("blank lines before the headers")
    head = trimmed[:5].upper()
    if head.startswith((b"HELO ", b"EHLO ")):
        match = _BSMTP_DATA.search(trimmed, 0, 65536)
        if match:
            defects.add("SMTP envelope before the headers")
            trimmed = trimmed[match.end() :]
    if trimmed.startswith(b">From "):
        defects.add("quoted 'From ' line before the headers")
        trimmed = trimmed.split(b"\n", 1)[1] if b"\n" in trimmed else b""
    return trimmed


_DELIMITER = re.compile(rb"^--([!-~]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)


def guess_boundary(body: bytes) -> bytes | None:
    """The boundary a multipart body really uses, when its header names another one: the
    most frequent ``--token`` line that is followed by a part header."""
    counts: dict[bytes, int] = {}
    for match in _DELIMITER.finditer(body):
        after = body[match.end() : match.end() + 40].lstrip(b"\r\n").lower()
        if after.startswith(b"content-"):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def _repair_boundaries(root: Message, defects: _Defects) -> None:
    """Split multiparts whose declared boundary is missing or wrong by the boundary their
    body uses. Done on the tree itself, so that part paths stay the same for
    :func:`attachment_bytes`."""
    stack: list[tuple[Message, int]] = [(root, 0)]
    visited = 0
    while stack and visited < MAX_PARTS:
        node, depth = stack.pop()
        visited += 1
        payload = _raw_payload(node)
        if isinstance(payload, list):
            if depth < MAX_DEPTH:
                stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
            continue
        if not isinstance(payload, str) or _compat_type(node).partition("/")[0] != "multipart":
            continue
        body = (
            payload.encode("ascii", "surrogateescape")
            if payload.isascii()
            else (payload.encode("utf-8", "surrogateescape"))
        )
        boundary = guess_boundary(body[:MAX_TEXT_PART_BYTES])
        if boundary is None:
            continue
        wrapper = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary.replace(b'"', b"")
            + b'"\n\n'
            + body
        )
        reparsed = email.message_from_bytes(wrapper, policy=email.policy.compat32)
        parts = reparsed.get_payload()
        if isinstance(parts, list) and parts:
            node.set_payload(parts)
            # The parser's complaints about the missing boundary no longer apply.
            node.defects = [
                d
                for d in getattr(node, "defects", [])
                if "Boundary" not in type(d).__name__
                and "MultipartInvariant" not in type(d).__name__
            ]
            defects.add("wrong MIME boundary; parts split by the boundary found in the body")
            if depth < MAX_DEPTH:
                stack.extend((p, depth + 1) for p in parts if isinstance(p, Message))


def _parse_tree(raw: bytes, defects: _Defects) -> Message:
    data = _trim_envelope(raw, defects)
    root = email.message_from_bytes(data, policy=email.policy.compat32)
    _repair_boundaries(root, defects)
    return root


# Decoding parts ------------------------------------------------------------------------------


def _transfer_encoding(headers: dict[str, list[str]]) -> str:
    return transfer_encoding(_first(headers, "content-transfer-encoding") or "")


def _uudecode(data: bytes) -> bytes:
    out = bytearray()
    started = False
    for line in data.splitlines():
        if not started:
            started = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`", b""):
            if line.strip() == b"end":
                break
            continue
        try:
            out.extend(binascii.a2b_uu(line))
        except (binascii.Error, ValueError):
            # Some encoders pad lines wrongly; the length byte says how much is real.
            try:
                length = (line[0] - 32) & 63
                out.extend(binascii.a2b_uu(line[: ((length + 2) // 3) * 4 + 1]))
            except (binascii.Error, ValueError, IndexError):
                continue
    return bytes(out)


_QP_LINE_END_SPACE = re.compile(rb"[ \t]+(?=\r?\n|\r|\Z)")


def _payload_bytes(node: Message, headers: dict[str, list[str]]) -> bytes:
    """The decoded bytes of a leaf part."""
    payload = _raw_payload(node)
    if isinstance(payload, list):
        chunks = []
        for item in payload:
            if isinstance(item, Message):
                try:
                    chunks.append(item.as_bytes(policy=email.policy.compat32))
                except Exception:
                    chunks.append(str(item).encode("utf-8", "replace"))
        return b"\n".join(chunks)
    if payload is None:
        return b""
    text = payload if isinstance(payload, str) else str(payload)
    try:
        data = text.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogateescape")
    cte = _transfer_encoding(headers)
    if cte == "base64":
        return b64decode_lenient(data)
    if cte == "quoted-printable":
        # Whitespace at a line end was added in transport and is not text (RFC 2045 6.7).
        if b" \n" in data or b"\t\n" in data or b" \r" in data or b"\t\r" in data:
            data = _QP_LINE_END_SPACE.sub(b"", data)
        return binascii.a2b_qp(data)
    if cte == "uuencode":
        return _uudecode(data)
    return data


@dataclass(slots=True)
class _PartInfo:
    headers: dict[str, list[str]]
    ctype: str
    params: dict[str, str]
    disposition: str
    dparams: dict[str, str]


def _part_info(node: Message, fallback: str | None, defects: _Defects) -> _PartInfo:
    headers = _headers(node)
    values = headers.get("content-type") or []
    if len(values) > 1:
        defects.add("several Content-Type headers")
    ctype, params = parse_params(values[0] if values else None, fallback)
    if not _TOKEN_TYPE.match(ctype):
        if values and values[0].strip():
            defects.add("unusable Content-Type")
        ctype = str(node.get_default_type())
    disposition, dparams = parse_params(_first(headers, "content-disposition"), fallback)
    return _PartInfo(headers, ctype, params, disposition, dparams)


# Walking the message -------------------------------------------------------------------------


@dataclass
class _Walk:
    fallback: str | None
    defects: _Defects
    texts: list[str] = field(default_factory=list)
    attachments: list[AttachmentInfo] = field(default_factory=list)
    used_plain: bool = False
    used_html: bool = False
    body_chars: int = 0
    parts: int = 0
    report_type: str = ""
    delivery_status: bool = False
    decoded: dict[int, str] = field(default_factory=dict)  # id(part) -> text, decoded once
    silent: int = 0  # > 0 inside renderings not shown: only their attachments count
    # Message-IDs of enclosed messages and header blocks, with how deep they sit (the
    # number of dotted components of their part path): a bounce's original is the shallowest.
    enclosed_ids: list[tuple[int, str]] = field(default_factory=list)

    def add_text(self, text: str) -> None:
        if not text.strip():
            return
        room = MAX_BODY_CHARS - self.body_chars
        if room <= 0:
            self.defects.add(f"body text cut at {MAX_BODY_CHARS} characters for display")
            return
        if len(text) > room:
            text = text[:room]
            self.defects.add(f"body text cut at {MAX_BODY_CHARS} characters for display")
        self.body_chars += len(text)
        self.texts.append(text.strip("\n"))


def _leaf_text(node: Message, info: _PartInfo, walk: _Walk) -> str:
    cached = walk.decoded.get(id(node))
    if cached is not None:
        return cached
    data = _payload_bytes(node, info.headers)
    sink: list[str] = []
    if len(data) > MAX_TEXT_PART_BYTES:
        data = data[:MAX_TEXT_PART_BYTES]
        walk.defects.add("very large text part cut for display")
    text = decode_bytes(data, info.params.get("charset"), sink, "the body", walk.fallback)
    walk.defects.extend(sink)
    text = safe_text(text) if "\x1b" in text or "\r" in text else text
    if info.ctype == "text/html":
        text = html_to_text(text)
    walk.decoded[id(node)] = text
    return text


def _is_body_text(info: _PartInfo) -> bool:
    if info.ctype not in ("text/plain", "text/html"):
        return False
    if info.disposition == "attachment":
        return False
    return not (info.dparams.get("filename") or info.params.get("name"))


def _walk_node(node: _Node, depth: int, walk: _Walk) -> None:
    walk.parts += 1
    if walk.parts > MAX_PARTS:
        walk.defects.add(f"more than {MAX_PARTS} MIME parts: the rest is not listed")
        return
    part = node.part
    for defect in getattr(part, "defects", None) or []:
        walk.defects.add(_describe_defect(defect))
    if depth > MAX_DEPTH:
        walk.defects.add(f"MIME nesting deeper than {MAX_DEPTH}: inner parts not shown")
        return
    info = _part_info(part, walk.fallback, walk.defects)
    if node.message and depth > 0:
        _note_enclosed_id(node.path, _first(info.headers, "message-id"), walk)
        if not walk.silent:
            _add_forward_header(part, walk)
    children = _children(node)
    if not children:
        if not node.message:
            _walk_leaf(node, info, walk)
        return
    if children[0].part is part:  # single-part message: its body is the leaf "…1"
        _walk_leaf(children[0], info, walk)
        return
    if not node.message and (
        _compat_type(part).startswith("message/") or info.ctype.startswith("message/")
    ):
        _add_attachment(node, info, walk)
        for child in children:
            _walk_node(child, depth + 1, walk)
        return
    subtype = info.ctype.partition("/")[2] if info.ctype.startswith("multipart/") else "mixed"
    if subtype == "report":
        walk.report_type = info.params.get("report-type", "").strip().lower()
    skipped: list[_Node] = []
    if subtype == "alternative":
        children, skipped = _pick_alternative(children, walk)
    for child in children:
        _walk_node(child, depth + 1, walk)
    walk.silent += 1
    for child in skipped:
        _walk_node(child, depth + 1, walk)
    walk.silent -= 1


def _pick_alternative(children: list[_Node], walk: _Walk) -> tuple[list[_Node], list[_Node]]:
    """The one rendering to show, plus alternatives that are not renderings of the text
    (calendar invitations and the like, which become attachments); second, the other
    multipart renderings, whose attachments are still listed."""
    plain: _Node | None = None
    html: _Node | None = None
    nested: _Node | None = None
    others: list[_Node] = []
    for child in children:
        info = _part_info(child.part, walk.fallback, _Defects())
        if _children(child) and not child.message:
            if info.ctype.startswith("multipart/"):
                nested = child
            else:
                others.append(child)
        elif info.ctype == "text/plain" and _is_body_text(info):
            if plain is None and _leaf_text(child.part, info, walk).strip():
                plain = child
        elif info.ctype == "text/html" and _is_body_text(info):
            html = html or child
        else:
            others.append(child)
    chosen = plain or html or nested
    if chosen is None:
        return children, []
    skipped = [c for c in children if c is not chosen and c not in others and _children(c)]
    return [chosen, *others], skipped


def _walk_leaf(node: _Node, info: _PartInfo, walk: _Walk) -> None:
    if walk.silent:
        if not _is_body_text(info) and not info.ctype.startswith(("multipart/", "message/")):
            _add_attachment(node, info, walk)
        return
    if info.ctype in _HEADER_BLOCK_TYPES:
        _note_enclosed_id(
            node.path, _quoted_message_id(_payload_bytes(node.part, info.headers)), walk
        )
    if info.ctype == "message/delivery-status":
        walk.delivery_status = True
        walk.add_text(REPORT_MARKER + "\n" + _delivery_status_text(node.part, info, walk))
        return
    if info.ctype.startswith("multipart/"):
        # A multipart that could not be split at all: its text is better shown than hidden.
        shown = _PartInfo(info.headers, "text/plain", info.params, "", {})
        text = _leaf_text(node.part, shown, walk)
        if text.strip():
            walk.defects.add("multipart body could not be split; shown as text")
        if "<html" in text[:4000].lower() or "<body" in text[:4000].lower():
            text = html_to_text(text)
        walk.used_plain = True
        walk.add_text(text)
        return
    if _is_body_text(info):
        text = _leaf_text(node.part, info, walk)
        if text.strip():
            if info.ctype == "text/html":
                walk.used_html = True
            else:
                walk.used_plain = True
            walk.add_text(text)
        return
    _add_attachment(node, info, walk)


_HEADER_BLOCK_TYPES = frozenset({"text/rfc822-headers", "message/rfc822-headers"})
_HEADER_BLOCK_ID = re.compile(
    rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE
)


def _quoted_message_id(block: bytes) -> str | None:
    """The Message-ID field of a block of header lines (a bounce's copy of the original)."""
    head = re.split(rb"\r?\n\r?\n", block[:65536], maxsplit=1)[0]
    match = _HEADER_BLOCK_ID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def _note_enclosed_id(path: str, value: str | None, walk: _Walk) -> None:
    ids = extract_ids(value, loose=True, limit=1) if value else []
    if ids:
        walk.enclosed_ids.append((path.count(".") + 1, ids[0]))


def _delivery_status_text(part: Message, info: _PartInfo, walk: _Walk) -> str:
    blocks = _payload_list(part)
    if blocks is None:
        return _leaf_text(part, info, walk)
    lines: list[str] = []
    for block in blocks:
        for name, value in block.raw_items():
            lines.append(f"{name}: {decode_header_text(value, None, walk.fallback)}")
        lines.append("")
    return safe_text("\n".join(lines))


def _add_forward_header(part: Message, walk: _Walk) -> None:
    headers = _headers(part)
    sink: list[str] = []
    lines = [FORWARD_MARKER]
    senders = decode_addresses(headers.get("from", [])[:1], sink, walk.fallback)
    if senders:
        lines.append(f"From: {senders[0].display()}")
    for label, name in (("Date", "date"), ("Subject", "subject"), ("To", "to")):
        value = _first(headers, name)
        if value is not None:
            lines.append(f"{label}: {decode_header_text(value, sink, walk.fallback)}")
    walk.add_text("\n".join(lines))
    walk.defects.extend(sink)


def _decoded_size(part: Message, headers: dict[str, list[str]]) -> int:
    """Decoded size of a part; for an attached message, the size of its stored text
    (regenerating the message just to measure it costs more than the whole parse)."""
    items = _payload_list(part)
    if items is None:
        return len(_payload_bytes(part, headers))
    total = 0
    stack = list(items)
    while stack and total < 1 << 40:
        node = stack.pop()
        total += sum(len(k) + len(str(v)) + 4 for k, v in node.raw_items()) + 2
        payload = _raw_payload(node)
        if isinstance(payload, list):
            stack.extend(p for p in payload if isinstance(p, Message))
        elif isinstance(payload, str):
            total += len(payload)
    return total


def _add_attachment(node: _Node, info: _PartInfo, walk: _Walk) -> None:
    part = node.part
    try:
        size = _decoded_size(part, info.headers)
    except Exception:
        size = 0
        walk.defects.add(f"part {node.path} could not be decoded")
    name = info.dparams.get("filename") or info.params.get("name") or ""
    if "=?" in name:
        name = decode_header_text(name, None, walk.fallback)
    if not name and info.ctype in ("message/rfc822", "message/global"):
        inner = _payload_list(part)
        if inner:
            subject = decode_header_text(_first(_headers(inner[0]), "subject"), None, walk.fallback)
            name = f"{subject[:80]}.eml" if subject else ""
    ctype = info.ctype if _TOKEN_TYPE.match(info.ctype) else "application/octet-stream"
    extension = _EXTENSIONS.get(ctype, ".bin")
    filename = safe_filename(name, f"part-{node.path}{extension}")
    content_id = safe_text(
        re.sub(r"\s+", "", unfold(header_str(_first(info.headers, "content-id") or "")))
    ).strip("<>")[:300]
    inline = info.disposition == "inline" or (not info.disposition and bool(content_id))
    walk.attachments.append(
        AttachmentInfo(
            filename=filename,
            content_type=ctype,
            size=size,
            part=node.path,
            inline=inline,
            content_id=content_id,
        )
    )


# Classification ------------------------------------------------------------------------------


# Subjects that non-standard bounces use ("Undeliverable: ...", "failure notice", ...): only
# taken as a sign together with an empty Return-Path.
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliver|returned mail|mail delivery (?:failed|failure|system)|delivery "
    r"(?:status notification|failure|has failed|failed|notification)|failure notice|"
    r"non-?deliver|warning: could not send|unzustellbar|nedoru[čc]iteln|niedostarczon|"
    r"не доставлено)",
    re.IGNORECASE,
)
# Subjects of out-of-office replies from the mailers that send no Auto-Submitted field. Only
# taken as a sign together with X-Auto-Response-Suppress: see _auto_kind.
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[ -]?(?:reply|response)|out of (?:the )?office|"
    r"auto|abwesend|abwesenheitsnotiz|automatische antwort|automatická odpověď|"
    r"automatická odpoveď|odpowiedź automatyczna|réponse automatique|"
    r"respuesta automática|автоответ|автоматический ответ)\s*:",
    re.IGNORECASE,
)
# A quoted Message-ID field, its value on the same line or folded onto the next one.
_QUOTED_MESSAGE_ID = re.compile(
    r"^[ \t>]*message-id:[ \t]*(?:(\S[^\n]*)|\n[ \t>]+(\S[^\n]*))",
    re.IGNORECASE | re.MULTILINE,
)
MAX_BOUNCED_IDS = 10
_NEGATIVE = frozenset({"no", "false", "0", "off"})


def _quoted_ids(walk: _Walk, own_id: str) -> list[str]:
    """Message-IDs quoted in the shown text: a bounce that copies the original's headers
    into its body instead of enclosing them."""
    out: list[str] = []
    for text in walk.texts:
        for match in _QUOTED_MESSAGE_ID.finditer(text):
            for mid in extract_ids(match.group(1) or match.group(2), limit=1):
                if mid != own_id and mid not in out:
                    out.append(mid)
            if len(out) >= MAX_BOUNCED_IDS:
                return out
    return out


def _enclosed_ids(walk: _Walk, own_id: str) -> list[str]:
    """Message-IDs of the shallowest enclosed messages or header blocks."""
    if not walk.enclosed_ids:
        return []
    level = min(depth for depth, _ in walk.enclosed_ids)
    ids = [mid for depth, mid in walk.enclosed_ids if depth == level and mid != own_id]
    return list(dict.fromkeys(ids))[:MAX_BOUNCED_IDS]


def _auto_kind(
    headers: dict[str, list[str]], sender: Address | None, subject: str, walk: _Walk
) -> AutoKind:
    """Why the message was sent by a machine, if it was. In order: delivery reports and
    mailer-daemon senders are bounces; RFC 3834 fields and vendor fields are auto-replies;
    list fields are lists; bulk fields and a List-Unsubscribe without a List-Id are bulk.

    ``X-Auto-Response-Suppress`` alone never makes a message automatic: Outlook and Exchange
    put it on ordinary mail and meeting requests too, as a request to others ("do not
    auto-reply to me"), not as a statement about the message. Exchange out-of-office replies
    carry no Auto-Submitted field in older versions, so the field counts together with an
    out-of-office subject ("Automatic reply: ..."), which a person's mail does not start with.

    An empty ``Return-Path: <>`` (null envelope sender) is used by bounces and, as RFC 3834
    asks, by auto-replies and read receipts: it is a bounce when the subject or quoted
    original headers say so, an auto-reply otherwise.
    """

    def value(name: str) -> str:
        return unfold(header_str(_first(headers, name) or "")).strip().lower()

    def present(name: str) -> bool:
        values = headers.get(name)
        return bool(values) and value(name).split(";", 1)[0].strip() not in _NEGATIVE

    if walk.report_type == "delivery-status" or walk.delivery_status:
        return AutoKind.BOUNCE
    if sender is not None and sender.email.partition("@")[0] in _BOUNCE_SENDERS:
        return AutoKind.BOUNCE
    if "x-failed-recipients" in headers:
        return AutoKind.BOUNCE
    null_sender = any(re.sub(r"\s+", "", v) == "<>" for v in headers.get("return-path", []))
    # An enclosed original with a null sender is a bounce unless the report says it is a
    # read receipt or another kind of report.
    if null_sender and (
        _BOUNCE_SUBJECT.match(subject) or (walk.enclosed_ids and not walk.report_type)
    ):
        return AutoKind.BOUNCE
    auto_submitted = value("auto-submitted")
    precedence = value("precedence").split(";", 1)[0].strip()
    if auto_submitted and auto_submitted.split(";", 1)[0].strip() != "no":
        return AutoKind.AUTO_REPLY
    if present("x-autoreply") or present("x-autorespond"):
        return AutoKind.AUTO_REPLY
    if precedence == "auto_reply":
        return AutoKind.AUTO_REPLY
    if "x-auto-response-suppress" in headers and _AUTO_REPLY_SUBJECT.match(subject):
        return AutoKind.AUTO_REPLY
    # Read receipts and abuse reports are machine-made but not delivery failures.
    if walk.report_type:
        return AutoKind.AUTO_REPLY
    if null_sender:
        return AutoKind.AUTO_REPLY
    if "list-id" in headers or precedence == "list":
        return AutoKind.LIST
    if precedence in ("bulk", "junk") or "list-unsubscribe" in headers:
        return AutoKind.BULK
    return AutoKind.NONE


# The entry points ----------------------------------------------------------------------------


def _synthetic_id(content_hash: str) -> str:
    return f"{content_hash[:32]}@{SYNTHETIC_ID_DOMAIN}"


def _message_id(
    headers: dict[str, list[str]], content_hash: str, defects: _Defects
) -> tuple[str, bool]:
    values = headers.get("message-id", [])
    if len(values) > 1:
        defects.add("several Message-ID headers")
    ids = extract_ids(values[0], loose=True) if values else []
    if ids:
        return ids[0], False
    defects.add("no Message-ID" if not values else "unusable Message-ID")
    return _synthetic_id(content_hash), True


def _body_charset(root: Message) -> str | None:
    """The first declared charset in the message, used to guess raw 8-bit header bytes."""
    stack = [root]
    seen = 0
    while stack and seen < 50:
        node = stack.pop(0)
        seen += 1
        charset = parse_params(_first(_headers(node), "content-type"))[1].get("charset")
        if charset:
            return charset
        children = _payload_list(node)
        if children:
            stack.extend(children)
    return None


def _parse(raw: bytes, fallback: str) -> ParsedMessage:
    content_hash = hashlib.sha256(raw).hexdigest()
    same_message = dedupe_key(raw)
    defects = _Defects()
    root = _parse_tree(raw, defects)
    headers = _headers(root)
    declared = None
    if any(not v.isascii() for values in headers.values() for v in values):
        declared = _body_charset(root)
    header_fallback = (
        declared if declared and declared.lower() not in ("us-ascii", "ascii") else fallback
    )
    sink: list[str] = []

    # A made-up id must be the same for two deliveries of one message, so it comes from the
    # dedupe key (trace headers left out), not from the raw bytes.
    message_id, synthesised = _message_id(headers, same_message, defects)
    subjects = headers.get("subject", [])
    subject = decode_header_text(subjects[0], sink, header_fallback) if subjects else ""
    from_values = headers.get("from", [])
    if len(from_values) > 1:
        defects.add("several From headers")
    senders = decode_addresses(from_values[:1], sink, header_fallback)
    sender = senders[0] if senders else None

    walk = _Walk(fallback=fallback, defects=defects)
    _walk_node(_Node(root, "", True), 0, walk)
    body = safe_text("\n\n".join(walk.texts))
    html_only = walk.used_html and not walk.used_plain

    result = ParsedMessage(
        message_id=message_id,
        subject=subject,
        from_addr=sender,
        to=decode_addresses(headers.get("to", []), sink, header_fallback),
        cc=decode_addresses(headers.get("cc", []), sink, header_fallback),
        reply_to=decode_addresses(headers.get("reply-to", []), sink, header_fallback),
        date=decode_date(_first(headers, "date"), sink),
        in_reply_to=extract_ids(_first(headers, "in-reply-to"), limit=10),
        references=extract_ids(" ".join(headers.get("references", [])), limit=MAX_REFERENCES),
        text_body=body,
        html_only=html_only,
        attachments=walk.attachments,
        auto=_auto_kind(headers, sender, subject, walk),
        content_hash=content_hash,
        dedupe_key=same_message,
        size=len(raw),
        message_id_synthesised=synthesised,
    )
    if result.auto is AutoKind.BOUNCE:
        result.bounced_ids = _enclosed_ids(walk, message_id) or _quoted_ids(walk, message_id)
    defects.extend(sink)
    result.defects = defects.result()
    return result


def _scan_headers(raw: bytes) -> dict[str, list[str]]:
    """Header fields found by a plain line scan, for when the real parse failed."""
    head = raw[:262_144]
    for separator in (b"\r\n\r\n", b"\n\n"):
        if separator in head:
            head = head.split(separator, 1)[0]
            break
    out: dict[str, list[str]] = {}
    last: str | None = None
    for line in head.decode("ascii", "surrogateescape").splitlines():
        if line[:1] in (" ", "\t") and last is not None:
            out[last][-1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            last = name.strip().lower()
            out.setdefault(last, []).append(value.strip())
    return out


def _fallback(raw: bytes, exc: BaseException) -> ParsedMessage:
    content_hash = hashlib.sha256(raw).hexdigest()
    same_message = dedupe_key(raw)
    error = safe_text(f"{type(exc).__name__}: {exc}")[:500]
    subject = ""
    sender: Address | None = None
    message_id = ""
    try:
        headers = _scan_headers(raw)
        subject = decode_header_text(_first(headers, "subject"))
        senders = decode_addresses(headers.get("from", [])[:1], [])
        sender = senders[0] if senders else None
        ids = extract_ids(_first(headers, "message-id"), loose=True)
        message_id = ids[0] if ids else ""
    except Exception:  # the scan is best effort; the hash and the error are what count
        pass
    return ParsedMessage(
        message_id=message_id or _synthetic_id(same_message),
        subject=subject,
        from_addr=sender,
        content_hash=content_hash,
        dedupe_key=same_message,
        size=len(raw),
        message_id_synthesised=not message_id,
        defects=["the message could not be parsed; only the raw message is kept"],
        parse_error=error,
    )


def parse_message(raw: bytes, *, fallback_charset: str = DEFAULT_FALLBACK_CHARSET) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Never raises: on an unexpected failure the result has
    ``parse_error`` set and whatever a plain header scan could find.

    ``fallback_charset`` decodes raw 8-bit text that is neither UTF-8 nor in a declared
    charset (latin-1 is tried after it).
    """
    try:
        data = bytes(raw)
    except Exception:
        data = b""
    try:
        return _parse(data, fallback_charset)
    except Exception as exc:  # the contract is "never raise"; the error is kept on the result
        try:
            return _fallback(data, exc)
        except Exception:
            content_hash = hashlib.sha256(data).hexdigest()
            return ParsedMessage(
                message_id=_synthetic_id(content_hash),
                subject="",
                from_addr=None,
                content_hash=content_hash,
                dedupe_key=content_hash,
                size=len(data),
                message_id_synthesised=True,
                parse_error=safe_text(f"{type(exc).__name__}: {exc}")[:500],
            )


def attachment_bytes(raw: bytes, part: str) -> bytes:
    """The decoded bytes of the MIME part at dotted path ``part`` (as in
    :attr:`AttachmentInfo.part`). Raises ``KeyError`` when there is no such part."""
    root = _parse_tree(bytes(raw), _Defects())
    for node in _iter_parts(_Node(root, "", True)):
        if node.path == part:
            if _compat_type(node.part) in ("message/rfc822", "message/global"):
                inner = _payload_list(node.part)
                if inner:
                    return inner[0].as_bytes(policy=email.policy.compat32)
            return _payload_bytes(node.part, _headers(node.part))
    raise KeyError(part)
