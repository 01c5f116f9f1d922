"""UID FETCH sent and read without IMAPClient's generic response parser.

A first sync spends most of its download time in the client library, not the network: the
library appends every response part to a list, then runs a character lexer over each line.
Here a FETCH answer is read line by line, its literals (the message bodies) are taken straight
from the socket, and only the short text around them is tokenised. Everything else on the
connection stays with IMAPClient.

Any answer this reader does not understand raises `IMAPClient.AbortError`: the connection is
then in an unknown state and must be dropped (the next sync resumes from the stored mark). A
tagged NO or BAD is read to its end and raises `IMAPClient.Error`, so the caller may retry
message by message on the same connection.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from imapclient import IMAPClient
from imapclient.datetime_util import parse_to_datetime

from helpdesk.core.sanitize import safe_text

_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_FETCH = re.compile(rb"\* (\d+) FETCH \(", re.IGNORECASE)
# An atom ends at a space or a parenthesis; `BODY[...]` sections are read separately.
_ATOM = re.compile(rb"[^\s()\[\]{}\"]+")
# A FETCH line or list nested deeper than this is not something a server sends.
_MAX_DEPTH = 8


def uid_set(uids: Iterable[int]) -> str:
    """`[5, 1, 2, 3, 9]` -> `1:3,5,9`: a few bytes for a run of UIDs, whatever their order."""
    out: list[str] = []
    ordered = sorted(set(uids))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(out)


class _Tokens:
    """The text of one response with its literals, read as IMAP values."""

    def __init__(self, lines: list[bytes], literals: list[bytes]) -> None:
        # Line i ends with `{n}` whenever literals[i] exists.
        self.lines = lines
        self.literals = literals
        self.line = 0
        self.pos = 0

    def _text(self) -> bytes:
        return self.lines[self.line]

    def skip_spaces(self) -> None:
        text = self._text()
        while self.pos < len(text) and text[self.pos] == 0x20:
            self.pos += 1

    def peek(self) -> int | None:
        self.skip_spaces()
        text = self._text()
        return text[self.pos] if self.pos < len(text) else None

    def expect(self, char: int) -> None:
        if self.peek() != char:
            raise _bad(self._text(), f"expected {chr(char)!r}")
        self.pos += 1

    def key(self) -> bytes:
        """A FETCH item name: an atom, with a `[section]` and `<origin>` if present."""
        self.skip_spaces()
        text = self._text()
        m = _ATOM.match(text, self.pos)
        if m is None:
            raise _bad(text, "expected a FETCH item name")
        end = m.end()
        if end < len(text) and text[end] == ord("["):
            close = text.find(b"]", end)
            if close < 0:
                raise _bad(text, "unclosed section")
            end = close + 1
            m2 = _ATOM.match(text, end)  # `<0>` after a partial body
            if m2 is not None and text[end : end + 1] == b"<":
                end = m2.end()
        self.pos = end
        return text[m.start() : end].upper()

    def value(self, depth: int = 0) -> Any:
        char = self.peek()
        text = self._text()
        if char is None:
            raise _bad(text, "a value is missing")
        if char == ord("("):
            if depth >= _MAX_DEPTH:
                raise _bad(text, "lists nested too deep")
            self.pos += 1
            items: list[Any] = []
            while self.peek() != ord(")"):
                items.append(self.value(depth + 1))
            self.pos += 1
            return tuple(items)
        if char == ord('"'):
            return self._quoted()
        if char == ord("{"):
            return self._literal()
        m = _ATOM.match(text, self.pos)
        if m is None:
            raise _bad(text, "expected a value")
        self.pos = m.end()
        word = m.group()
        if word.isdigit():
            return int(word)
        if word.upper() == b"NIL":
            return None
        return word

    def _quoted(self) -> bytes:
        text = self._text()
        out = bytearray()
        i = self.pos + 1
        while i < len(text):
            c = text[i]
            if c == 0x5C and i + 1 < len(text):  # backslash quotes the next character
                out.append(text[i + 1])
                i += 2
                continue
            if c == 0x22:
                self.pos = i + 1
                return bytes(out)
            out.append(c)
            i += 1
        raise _bad(text, "unclosed quoted string")

    def _literal(self) -> bytes:
        text = self._text()
        if self.line >= len(self.literals) or _LITERAL.match(text, self.pos) is None:
            raise _bad(text, "a literal is not at the end of its line")
        data = self.literals[self.line]
        self.line += 1
        self.pos = 0
        return data


def _bad(text: bytes, why: str) -> IMAPClient.AbortError:
    shown = safe_text(text[:120].decode("ascii", "replace"))
    return IMAPClient.AbortError(f"unreadable FETCH answer ({why}): {shown}")


def _read_response(imap: Any, first: bytes) -> tuple[list[bytes], list[bytes]]:
    """One untagged response: its lines and the literal that ends each line but the last."""
    lines = [first]
    literals: list[bytes] = []
    while True:
        m = _LITERAL.search(lines[-1])
        if m is None:
            return lines, literals
        size = int(m.group(1))
        data = imap.read(size)
        if len(data) != size:
            raise IMAPClient.AbortError("the connection closed inside a literal")
        literals.append(data)
        lines.append(imap._get_line())


def _fetch_items(lines: list[bytes], literals: list[bytes]) -> tuple[int, dict[bytes, Any]]:
    """(message number, items) of `* n FETCH (...)`."""
    m = _FETCH.match(lines[0])
    if m is None:
        raise _bad(lines[0], "not a FETCH response")
    tokens = _Tokens(lines, literals)
    tokens.pos = m.end()
    items: dict[bytes, Any] = {}
    while tokens.peek() != ord(")"):
        key = tokens.key()
        items[key] = tokens.value()
    return int(m.group(1)), items


def _normalise(items: dict[bytes, Any]) -> dict[bytes, Any]:
    """The shapes IMAPClient gives: flags as a tuple, INTERNALDATE as an aware datetime."""
    flags = items.get(b"FLAGS")
    if flags is not None and not isinstance(flags, tuple):
        items[b"FLAGS"] = (flags,)
    date = items.get(b"INTERNALDATE")
    if isinstance(date, bytes):
        try:
            items[b"INTERNALDATE"] = parse_to_datetime(date, normalise=False)
        except ValueError:
            items[b"INTERNALDATE"] = None  # a server's odd date: the Date header stands in
    # BODY.PEEK[] is answered as BODY[].
    for key in [k for k in items if k.startswith(b"BODY.PEEK[")]:
        items[b"BODY[" + key[len(b"BODY.PEEK[") :]] = items.pop(key)
    return items


def uid_fetch(
    client: IMAPClient, uids: Iterable[int] | str, items: Iterable[bytes]
) -> dict[int, dict[bytes, Any]]:
    """`UID FETCH` of `uids` (numbers or a UID set such as `1:500`): {uid: {item: value}}.

    Values have the types `IMAPClient.fetch` gives (bytes bodies, int sizes, flag tuples,
    aware INTERNALDATE). Answers without a UID (unsolicited flag updates) are left out. Other
    untagged responses are kept for IMAPClient as its own reader would keep them.
    """
    span = uids if isinstance(uids, str) else uid_set(uids)
    if not span:
        return {}
    imap = client._imap
    tag: bytes = imap._new_tag()
    wanted = " ".join(i.decode("ascii") for i in items)
    imap.send(tag + f" UID FETCH {span} ({wanted})\r\n".encode("ascii"))
    out: dict[int, dict[bytes, Any]] = {}
    while True:
        line: bytes = imap._get_line()
        if line.startswith(tag + b" "):
            status, _, text = line[len(tag) + 1 :].partition(b" ")
            if status.upper() == b"OK":
                return out
            shown = safe_text(text.decode("ascii", "replace"))[:200]
            if status.upper() in (b"NO", b"BAD"):
                raise IMAPClient.Error(f"UID FETCH failed: {shown}")
            raise _bad(line, "unknown completion")
        if not line.startswith(b"* "):
            raise _bad(line, "neither untagged nor our tag")
        lines, literals = _read_response(imap, line)
        if _FETCH.match(line) is None:
            _keep_untagged(imap, lines, literals)
            continue
        _, found = _fetch_items(lines, literals)
        uid = found.get(b"UID")
        if isinstance(uid, int):
            out[uid] = _normalise(found)


def _keep_untagged(imap: Any, lines: list[bytes], literals: list[bytes]) -> None:
    # EXISTS, EXPUNGE, VANISHED and the like: stored as imaplib's reader stores them, so that
    # code reading them later (QRESYNC's VANISHED) still finds them.
    first, _, rest = lines[0][2:].partition(b" ")
    if first.isdigit():  # `* 5 EXISTS` is kept as b"5" under EXISTS
        name, _, tail = rest.partition(b" ")
        data = first + (b" " + tail if tail else b"")
    else:
        name, data = first, rest
    store = imap.untagged_responses.setdefault(name.decode("ascii", "replace").upper(), [])
    texts = [data, *lines[1:]]
    for text, literal in zip(texts, literals, strict=False):
        store.append((text, literal))
    store.append(texts[-1] if literals else data)
