"""Find one MIME part of a raw message by its dotted path, as byte offsets, and decode it in
chunks: so that a 25 MB attachment is saved without holding the message several times over.

The part paths are those of :mod:`helpdesk.core.mailparse` (IMAP numbering; see there). That
module builds its tree with the standard library parser (``compat32``), which copies every
body into Python strings. This module walks the same structure over the raw bytes instead,
following the standard parser's rules line by line (its header-block test, universal line
endings, nested boundaries ending inner parts, the line ending before a boundary belonging to
the boundary, digest parts defaulting to ``message/rfc822``) and :mod:`~helpdesk.core.mailparse`'s
own repairs (the envelope lines it skips, the boundary it guesses when the declared one is
missing or wrong). Only header blocks, which are small, go through the standard library, so
that content types and boundaries are read exactly as the parser reads them.

The source may be ``bytes`` or any buffer the ``re`` module can search (``mmap``,
``memoryview``): a large message can stay in a memory-mapped file. Pure: no I/O.
"""

from __future__ import annotations

import binascii
import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from mmap import mmap

from .mail_headers import b64decode_lenient, transfer_encoding
from .mailparse import guess_boundary

__all__ = [
    "ByteSource",
    "MimeStructureError",
    "PartSpan",
    "decoded_chunks",
    "find_part",
    "part_spans",
]

ByteSource = bytes | bytearray | memoryview | mmap

# Limits shared with the parser: deeper or further parts have no path there either.
MAX_DEPTH = 24
MAX_PARTS = 1000
_GUESS_WINDOW = 8_000_000  # how much of a body the boundary guess reads, as the parser
_MAX_ENTITIES = 20_000  # a bomb of empty parts stops here instead of eating the machine
DEFAULT_CHUNK = 1 << 20

_EOL = re.compile(rb"\r\n?|\n")
_LF = re.compile(rb"\n")
# Literal patterns: the regex engine scans for these far faster than for a class or a
# lookbehind, which matters over the 30 MB of a big attachment.
_LF_DASHES = re.compile(rb"\n--")
_CR_DASHES = re.compile(rb"\r--")
_HEADER_LINE = re.compile(rb"(From |[\041-\071\073-\176]*:|[\t ])")
_BOUNDARY_TAIL = re.compile(rb"(--)?[ \t]*(?:\r\n|\r|\n)?\Z")
_LEADING_BLANK = re.compile(rb"(?:[ \t]*\r?\n)+")
_BSMTP_DATA = re.compile(rb"^DATA\r?\n", re.MULTILINE | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class PartSpan:
    """Where one part's content lies in the raw message: ``source[body_start:body_end]``,
    still transfer-encoded as ``transfer_encoding`` says. For a ``message/*`` part the
    content is the whole enclosed message."""

    path: str
    content_type: str  # as the standard parser reads it, lower-cased
    transfer_encoding: str  # "base64", "quoted-printable", "uuencode", or the raw value
    header_start: int
    body_start: int
    body_end: int

    @property
    def encoded_size(self) -> int:
        return self.body_end - self.body_start


class MimeStructureError(ValueError):
    """The message is too deeply nested or has too many parts to be walked."""


@dataclass(eq=False, slots=True)
class _Entity:
    header_start: int
    headers: Message
    ctype: str
    body_start: int = 0
    body_end: int = 0
    # None: the body is one string (a leaf, or a multipart that could not be split);
    # a list: sub-parts, the enclosed message of a message/* part, or status blocks.
    children: list[_Entity] | None = None
    status_blocks: bool = False


def _header_message(block: bytes) -> Message:
    return email.message_from_bytes(block, policy=email.policy.compat32)


def _content_type(headers: Message) -> str:
    try:
        return str(headers.get_content_type()).lower()
    except Exception:
        return "text/plain"


def _transfer_encoding(headers: Message) -> str:
    """The same reading as the parser's: the first field, leniently."""
    value = ""
    for name, raw in headers.raw_items():
        if str(name).strip().lower() == "content-transfer-encoding":
            value = raw if isinstance(raw, str) else str(raw)
            break
    return transfer_encoding(value)


def _separator(boundary: str) -> bytes:
    try:
        return b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return b"--" + boundary.encode("utf-8", "surrogateescape")


class _Reader:
    """The standard parser's line reader over ``source[start:end]``: lines end at CR, LF or
    CRLF; a line that matches a boundary of an enclosing multipart is an end of input for
    every part inside it."""

    def __init__(self, source: ByteSource, start: int, end: int) -> None:
        self.src = source
        self.pos = start
        self.start = start
        self.end = end
        self.stack: list[bytes] = []
        self.last: _Entity | None = None
        self.entities = 0
        self._lf_at = -1  # next line start found after a LF / a lone CR with "--"
        self._cr_at = -1

    def line_end(self, pos: int) -> int:
        m = _EOL.search(self.src, pos, self.end)
        return m.end() if m else self.end

    def line(self, pos: int) -> bytes:
        return bytes(self.src[pos : self.line_end(pos)])

    def _ends_input(self, pos: int) -> bool:
        if self.src[pos : pos + 2] != b"--":
            return False
        line = self.line(pos)
        return any(_is_boundary(line, sep) is not None for sep in self.stack)

    def at_eof(self) -> bool:
        return self.pos >= self.end or (bool(self.stack) and self._ends_input(self.pos))

    def skip_to_eof(self) -> None:
        """Consume lines up to the next end of input."""
        if not self.stack:
            self.pos = self.end
            return
        pos = self.pos
        while pos < self.end:
            if self._ends_input(pos):
                break
            pos = self._next_dashes(pos + 1)
        self.pos = pos

    def _next_dashes(self, start: int) -> int:
        """The first line start at or after ``start`` that begins with "--". Each kind of
        line end is searched for once per stretch, so many parts cost no rescans."""
        if self._lf_at < start:
            m = _LF_DASHES.search(self.src, start - 1, self.end)
            self._lf_at = m.start() + 1 if m else self.end
        if self._cr_at < start:
            m = _CR_DASHES.search(self.src, start - 1, self.end)
            self._cr_at = m.start() + 1 if m else self.end
        return min(self._lf_at, self._cr_at)

    def eol_before(self, start: int, end: int) -> int:
        """Length of the line ending that closes ``source[start:end]`` (0, 1 or 2)."""
        if end - start >= 2 and self.src[end - 2 : end] == b"\r\n":
            return 2
        if end - start >= 1 and self.src[end - 1 : end] in (b"\r", b"\n"):
            return 1
        return 0


def _is_boundary(line: bytes, sep: bytes) -> bool | None:
    """None when ``line`` is not a delimiter of ``sep``; else whether it is the close one."""
    if not line.startswith(sep):
        return None
    m = _BOUNDARY_TAIL.match(line, len(sep))
    if m is None:
        return None
    return m.group(1) is not None


def _parse_entity(r: _Reader, default_type: str) -> _Entity:
    r.entities += 1
    if r.entities > _MAX_ENTITIES:
        raise MimeStructureError("too many MIME parts")
    start = r.pos
    lines_end = start
    last_line_start = -1
    count = 0
    while not r.at_eof():
        le = r.line_end(r.pos)
        if not _HEADER_LINE.match(r.src, r.pos, le):
            if r.src[r.pos : r.pos + 1] in (b"\r", b"\n"):
                r.pos = le  # the blank line between header and body
            break
        last_line_start = r.pos
        count += 1
        r.pos = le
        lines_end = le
    headers = _header_message(bytes(r.src[start:lines_end]))
    if count > 1 and r.src[last_line_start : last_line_start + 5] == b"From ":
        # The parser takes a "From " line closing the header block for the body's first
        # line. It then skips the blank line after it, which cannot be shown as one span;
        # starting the body there is off by that blank line only.
        r.pos = last_line_start
    headers.set_default_type(default_type)
    ent = _Entity(start, headers, _content_type(headers), body_start=r.pos)
    r.last = ent
    maintype = ent.ctype.partition("/")[0]
    if ent.ctype == "message/delivery-status":
        r.skip_to_eof()
        ent.body_end = r.pos
        ent.children = []
        ent.status_blocks = True
        r.last = None  # the parser's last entity is a status block, which has no path
        return ent
    if maintype == "message":
        inner = _parse_entity(r, "text/plain")
        ent.children = [inner]
        ent.body_end = r.pos
        return ent
    if maintype == "multipart":
        try:
            boundary = headers.get_boundary()
        except Exception:
            boundary = None
        if boundary is None:
            r.skip_to_eof()
            ent.body_end = r.pos
            return ent
        child_default = "message/rfc822" if ent.ctype == "multipart/digest" else "text/plain"
        _parse_multipart_body(r, ent, _separator(boundary), child_default)
        return ent
    r.skip_to_eof()
    ent.body_end = r.pos
    return ent


def _parse_multipart_body(r: _Reader, ent: _Entity, sep: bytes, child_default: str) -> None:
    children: list[_Entity] = []
    preamble = True
    while not r.at_eof():
        le = r.line_end(r.pos)
        close = _is_boundary(bytes(r.src[r.pos : le]), sep)
        if close is None:
            r.pos = le  # preamble text
            continue
        if close:
            if preamble:
                # A close delimiter without an opening one: the text before it is the body;
                # the rest, up to the end of input, is dropped by the parser.
                ent.body_end = r.pos
                r.pos = le
                r.skip_to_eof()
                return
            r.pos = le
            r.skip_to_eof()  # the epilogue
            break
        preamble = False
        r.pos = le
        # Delimiter lines right after one another open no empty parts.
        while not r.at_eof():
            nle = r.line_end(r.pos)
            if _is_boundary(bytes(r.src[r.pos : nle]), sep) is None:
                break
            r.pos = nle
        r.stack.append(sep)
        sub = _parse_entity(r, child_default)
        # The line ending before a delimiter belongs to the delimiter.
        last = r.last
        if last is not None and last.children is None and not last.ctype.startswith("multipart/"):
            last.body_end -= r.eol_before(last.body_start, last.body_end)
        if sub.ctype.startswith("message/") and sub is not last:
            sub.body_end -= r.eol_before(sub.body_start, sub.body_end)
        r.stack.pop()
        children.append(sub)
        r.last = ent
    if preamble:
        ent.body_end = r.pos
        return
    ent.children = children
    ent.body_end = r.pos


def _repair(source: ByteSource, root: _Entity) -> None:
    """Split multiparts whose boundary is missing or wrong, as the parser does: by the
    boundary their body uses, re-read as a message of its own."""
    stack: list[tuple[_Entity, int]] = [(root, 0)]
    visited = 0
    while stack and visited < MAX_PARTS:
        ent, depth = stack.pop()
        visited += 1
        if ent.children is not None:
            if depth < MAX_DEPTH:
                stack.extend((c, depth + 1) for c in ent.children)
            continue
        if ent.ctype.partition("/")[0] != "multipart":
            continue
        end = min(ent.body_end, ent.body_start + _GUESS_WINDOW)
        boundary = guess_boundary(bytes(source[ent.body_start : end]))
        if boundary is None:
            continue
        wrapper = _header_message(
            b'Content-Type: multipart/mixed; boundary="' + boundary.replace(b'"', b"") + b'"\n'
        )
        declared = wrapper.get_boundary()
        if declared is None:
            continue
        reader = _Reader(source, ent.body_start, ent.body_end)
        holder = _Entity(ent.body_start, wrapper, "multipart/mixed", body_start=ent.body_start)
        _parse_multipart_body(reader, holder, _separator(declared), "text/plain")
        if holder.children:
            ent.children = holder.children
            if depth < MAX_DEPTH:
                stack.extend((c, depth + 1) for c in holder.children)


def _envelope_offset(source: ByteSource) -> int:
    """Where the parser starts reading: after blank lines, a batched-SMTP envelope or a
    quoted ``>From`` line before the headers."""
    pos = 0
    m = _LEADING_BLANK.match(source)
    if m:
        pos = m.end()
    if bytes(source[pos : pos + 5]).upper().startswith((b"HELO ", b"EHLO ")):
        data = _BSMTP_DATA.search(source, pos, pos + 65536)
        if data:
            pos = data.end()
    if source[pos : pos + 6] == b">From ":
        m = _LF.search(source, pos)
        pos = m.end() if m else len(source)
    return pos


@dataclass(slots=True)
class _Node:
    ent: _Entity
    path: str
    message: bool


def _child_path(prefix: str, index: int) -> str:
    return f"{prefix}.{index}" if prefix else str(index)


def _children(node: _Node) -> list[_Node]:
    items = node.ent.children
    ctype = node.ent.ctype if items is not None else ""
    encapsulated = ctype.startswith("message/")
    if node.message:
        if items is not None and not encapsulated:
            return [_Node(c, _child_path(node.path, i), False) for i, c in enumerate(items, 1)]
        return [_Node(node.ent, _child_path(node.path, 1), False)]
    if items is None or ctype == "message/delivery-status":
        return []
    if encapsulated:
        return [_Node(items[0], node.path, True)] if items else []
    return [_Node(c, _child_path(node.path, i), False) for i, c in enumerate(items, 1)]


def _iter_parts(node: _Node, depth: int = 0) -> Iterator[_Node]:
    if depth > MAX_DEPTH:
        return
    for child in _children(node):
        if not child.message:
            yield child
        yield from _iter_parts(child, depth + 1)


def _span(node: _Node) -> PartSpan:
    ent = node.ent
    return PartSpan(
        path=node.path,
        content_type=ent.ctype,
        transfer_encoding=_transfer_encoding(ent.headers),
        header_start=ent.header_start,
        body_start=ent.body_start,
        body_end=max(ent.body_start, ent.body_end),
    )


def _root(source: ByteSource) -> _Node:
    reader = _Reader(source, _envelope_offset(source), len(source))
    try:
        root = _parse_entity(reader, "text/plain")
    except RecursionError:
        raise MimeStructureError("MIME nesting too deep") from None
    _repair(source, root)
    return _Node(root, "", True)


def part_spans(source: ByteSource) -> list[PartSpan]:
    """Every part that has a path, in the parser's order. Raises
    :class:`MimeStructureError` for a structure too deep or too big to walk."""
    return [_span(n) for n in _iter_parts(_root(source))]


def find_part(source: ByteSource, path: str) -> PartSpan:
    """The part at dotted ``path``; ``KeyError`` when there is none."""
    for node in _iter_parts(_root(source)):
        if node.path == path:
            return _span(node)
    raise KeyError(path)


# Decoding ------------------------------------------------------------------------------------

_B64_ALPHABET_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_UNSAFE_CUT = re.compile(rb"=|[ \t]\Z")
# Whitespace at a line end was added in transport and is not text (RFC 2045 6.7); the
# parser drops it before decoding, and so does this module.
_QP_LINE_END_SPACE = re.compile(rb"[ \t]+(?=\r?\n|\r)")
_QP_FINAL_SPACE = re.compile(rb"[ \t]+\Z")


def _line_chunks(source: ByteSource, start: int, end: int, size: int) -> Iterator[bytes]:
    """``source[start:end]`` in pieces of about ``size`` bytes, each cut after a line feed
    when there is one (quoted-printable and uuencode are decoded a line at a time)."""
    pos = start
    while pos < end:
        stop = min(end, pos + size)
        if stop < end:
            nl = bytes(source[stop : min(end, stop + 65536)]).find(b"\n")
            if nl >= 0:
                stop += nl + 1
            else:
                # No line end near: never cut inside a quoted-printable "=XX" nor in spaces
                # that may end a line.
                stop = min(end, stop + 65536)
                while stop > pos + 2 and _UNSAFE_CUT.search(bytes(source[stop - 2 : stop])):
                    stop -= 1
        yield bytes(source[pos:stop])
        pos = stop


def _base64_chunks(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """Lenient base64 in pieces, byte for byte what ``b64decode_lenient`` gives for the
    whole: whole quads are decoded as they come; from the first "=" on, the rest goes to
    the lenient decoder in one piece (in real mail that is the last line)."""
    carry = b""
    for piece in pieces:
        eq = piece.find(b"=")
        if eq >= 0:
            tail = [carry, piece]
            tail.extend(pieces)
            yield b64decode_lenient(b"".join(tail))
            return
        clean = piece.translate(None, b"\r\n \t")  # the usual junk, quickly
        if clean.translate(None, _B64_ALPHABET):  # anything else left: the slow way
            clean = _B64_ALPHABET_JUNK.sub(b"", clean)
        clean = carry + clean
        whole = len(clean) - len(clean) % 4
        if whole:
            yield binascii.a2b_base64(clean[:whole])
        carry = clean[whole:]
    if carry:
        yield b64decode_lenient(carry)


def _qp_chunks(pieces: Iterator[bytes]) -> Iterator[bytes]:
    ahead = next(pieces, None)
    while ahead is not None:
        piece, ahead = ahead, next(pieces, None)
        piece = _QP_LINE_END_SPACE.sub(b"", piece)
        if ahead is None:
            piece = _QP_FINAL_SPACE.sub(b"", piece)
        yield binascii.a2b_qp(piece)


def _uudecode_line(line: bytes) -> bytes:
    try:
        return binascii.a2b_uu(line)
    except (binascii.Error, ValueError):
        # Some encoders pad lines wrongly; the length byte says how much is real.
        try:
            length = (line[0] - 32) & 63
            return binascii.a2b_uu(line[: ((length + 2) // 3) * 4 + 1])
        except (binascii.Error, ValueError, IndexError):
            return b""


def _uu_chunks(pieces: Iterator[bytes]) -> Iterator[bytes]:
    started = False
    for piece in pieces:
        out = bytearray()
        for line in piece.splitlines():
            if not started:
                started = line.startswith(b"begin ")
                continue
            stripped = line.strip()
            if stripped == b"end":
                if out:
                    yield bytes(out)
                return
            if stripped in (b"`", b""):
                continue
            out.extend(_uudecode_line(line))
        if out:
            yield bytes(out)


def decoded_chunks(
    source: ByteSource, span: PartSpan, *, chunk_size: int = DEFAULT_CHUNK
) -> Iterator[bytes]:
    """The part's content with its transfer encoding undone, in pieces of about
    ``chunk_size`` bytes; joined, the same bytes as the parser's ``attachment_bytes`` for a
    part that is not an enclosed message (for those: the enclosed message as received)."""
    pieces = _line_chunks(source, span.body_start, span.body_end, max(1024, chunk_size))
    match span.transfer_encoding:
        case "base64":
            yield from (c for c in _base64_chunks(pieces) if c)
        case "quoted-printable":
            yield from _qp_chunks(pieces)
        case "uuencode":
            yield from _uu_chunks(pieces)
        case _:
            yield from pieces
