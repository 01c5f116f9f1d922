"""Outgoing mail: subjects, quoting, threading headers and the RFC 5322 bytes of a reply.

Pure: the caller passes the draft, the identity, the Message-ID and the time; nothing here
reads a file, a clock or the network.

Display names and subjects are encoded here rather than by the email package's folder: that
folder can drop the space between two words when it splits a long non-ASCII text into several
encoded words (the receiver then shows "Novákvia"), and a header that a reader shows wrongly
is a reply that looks careless. Everything else (MIME structure, parameters, bodies) is the
email package's, with ``policy.SMTP``.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import mimetypes
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from .sanitize import safe_text

__all__ = [
    "QUOTE_STYLES",
    "ComposeError",
    "Draft",
    "OutgoingAttachment",
    "Sender",
    "build_message",
    "forward_subject",
    "parse_address_list",
    "quote",
    "recipients",
    "references_for",
    "reply_subject",
    "strip_subject_prefixes",
]


class ComposeError(ValueError):
    """A draft that cannot become mail; the message says what to fix, in the agent's terms."""


@dataclass(frozen=True, slots=True)
class OutgoingAttachment:
    filename: str  # as the recipient sees it (already sanitised by the caller)
    content_type: str  # "application/pdf"; guessed from the file name when ""
    data: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """What the agent wrote, before it becomes mail."""

    ticket: int
    to: tuple[str, ...]  # display addresses: 'Ada Lovelace <ada@example.com>' or bare
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    subject: str = ""
    body: str = ""  # plain text as typed, signature already appended
    attachments: tuple[OutgoingAttachment, ...] = ()
    in_reply_to: str | None = None  # Message-ID (no brackets) of the message answered
    references: tuple[str, ...] = ()  # ids, oldest first, no brackets


@dataclass(frozen=True, slots=True)
class Sender:
    agent_name: str  # "Jana Novák"
    team_name: str  # "Podpora"
    address: str  # the shared address, "podpora@example.com"
    from_format: str = "{agent} via {team}"  # display name; "{team}" alone hides the agent

    def display_name(self) -> str:
        # replace(), not format(): a brace in a name must not be read as a placeholder
        return self.from_format.replace("{agent}", self.agent_name).replace(
            "{team}", self.team_name
        )


# --------------------------------------------------------------------------------------------
# Subjects

# Reply and forward prefixes of the languages our customers write in, as mail programs put
# them: "Re", "AW" (German), "Sv" (Nordic), "Odp" (Czech, Polish), "Vs" (Finnish), "Ynt"
# (Turkish), "Fwd"/"WG"/"TR"/"RV"/"Enc"/"PD"/"VB" (forwards), with an optional counter
# ("Re[2]:", "RE(3):") and the full-width colon of East Asian mailers.
_PREFIX_WORDS = (
    "re",
    "aw",
    "antw",
    "antwort",
    "sv",
    "svar",
    "odp",
    "odg",
    "vs",
    "vl",
    "ynt",
    "res",
    "rif",
    "ref",
    "réf",
    "atb",
    "tr",
    "fw",
    "fwd",
    "wg",
    "rv",
    "enc",
    "pd",
    "vb",
    "doorst",
    "trs",
    "пересл",
    "отв",
    "回复",
    "回覆",
    "答复",
    "转发",
    "轉寄",
    "転送",
    "返信",
)
_PREFIX = re.compile(
    r"^\s*(?:"
    + "|".join(sorted((re.escape(w) for w in _PREFIX_WORDS), key=len, reverse=True))
    + r")\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*[:：]\s*",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _one_line(text: str) -> str:
    """A header text on one line: any run of whitespace or control characters is one space."""
    return _WHITESPACE.sub(" ", text).strip()


def strip_subject_prefixes(subject: str) -> str:
    """The subject without its leading reply/forward prefixes ("Re: AW: Fwd: ")."""
    text = _one_line(subject)
    while True:
        m = _PREFIX.match(text)
        if m is None or m.end() == 0:
            return text
        text = text[m.end() :]


def _without_tag(subject: str, tag: str) -> str:
    if tag:
        subject = subject.replace(tag, " ")
    return _one_line(subject)


def _prefixed(prefix: str, original: str, tag: str) -> str:
    tag = _one_line(tag)
    # The tag may sit before or after the prefixes ("[#12] Re: x", "Re: [#12] x"): take it
    # out, strip the prefixes, strip once more for what the tag was hiding.
    text = strip_subject_prefixes(_without_tag(strip_subject_prefixes(original), tag))
    return " ".join(part for part in (prefix, tag, text) if part)


def reply_subject(original: str, tag: str) -> str:
    """``"Re: [#123] Order"`` from any pile of prefixes, with our tag exactly once."""
    return _prefixed("Re:", original, tag)


def forward_subject(original: str, tag: str) -> str:
    """``"Fwd: [#123] Order"``: a forward to a third party, still carrying the ticket's tag."""
    return _prefixed("Fwd:", original, tag)


# --------------------------------------------------------------------------------------------
# Quoting

QUOTE_STYLES = ("bottom", "top", "none")


def quote(text: str, *, author: str, date: datetime | None, style: str = "bottom") -> str:
    """The customer's text quoted for a reply, with an attribution line.

    ``style`` says where the quote sits in the draft: "bottom" (the answer is written above
    it, as most customers' mail programs do), "top" (the quote first, the answer below) or
    "none" (no quote: ""). The returned text has the blank lines that separate it from the
    answer on the answer's side. ``date`` is shown as given: pass it in the agent's zone.
    """
    if style not in QUOTE_STYLES:
        raise ValueError(f"quote style must be one of {', '.join(QUOTE_STYLES)}, got {style!r}")
    if style == "none":
        return ""
    lines = safe_text(text).rstrip().split("\n")
    quoted = "\n".join(
        ">" + ("" if not line or line.startswith(">") else " ") + line for line in lines
    )
    who = _one_line(safe_text(author)) or "the customer"
    when = f"On {date:%Y-%m-%d %H:%M}, " if date is not None else ""
    block = f"{when}{who} wrote:\n{quoted}\n"
    return "\n\n" + block if style == "bottom" else block + "\n"


# --------------------------------------------------------------------------------------------
# Threading


_ID = re.compile(r"^[!-;=?-~]+@[!-;=?-~]+$")  # printable ASCII, no "<", ">" or spaces


def _clean_id(value: str) -> str | None:
    text = value.strip().removeprefix("<").removesuffix(">").strip()
    if len(text) > 250 or _ID.match(text) is None or text.count("@") != 1:
        return None
    return text


def references_for(
    parent_message_id: str, parent_references: Sequence[str], limit: int = 20
) -> tuple[str, ...]:
    """References of a reply (RFC 5322 3.6.4): the parent's References (or, lacking them,
    its In-Reply-To) and then the parent's own id.

    Ids arrive from mail, so malformed ones are dropped rather than sent; a long chain keeps
    its first id (the thread's root) and the last ``limit - 1``.
    """
    if limit < 2:
        raise ValueError("references limit must be at least 2")
    found: list[str] = []
    seen: set[str] = set()
    for raw in (*parent_references, parent_message_id):
        ident = _clean_id(raw)
        if ident is None:
            continue
        if ident in seen:
            # a repeated id keeps its last place: the parent's own id always comes last
            found.remove(ident)
        seen.add(ident)
        found.append(ident)
    if len(found) > limit:
        found = [found[0], *found[len(found) - (limit - 1) :]]
    return tuple(found)


# --------------------------------------------------------------------------------------------
# Addresses

_ATEXT = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def _check_address(addr: str) -> str | None:
    """Why ``addr`` is no usable address, or None when it is one."""
    if any(c in addr for c in "\r\n"):
        return "line break"
    if not addr:
        return "empty"
    if any(c.isspace() for c in addr):
        return "space in the address"
    at = addr.count("@")
    if at == 0:
        return "no @"
    if at > 1:
        return "two @"
    local, domain = addr.split("@")
    if not local:
        return "nothing before the @"
    if not domain:
        return "no domain after the @"
    if not local.isascii():
        return "non-ASCII before the @ (not supported)"
    if any(not part or not _ATEXT.match(part) for part in local.split(".")):
        return "bad character or dot before the @"
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except UnicodeError:
        return "bad domain"
    labels = ascii_domain.rstrip(".").split(".")
    if len(ascii_domain) > 253 or any(not _LABEL.match(label) for label in labels):
        return "bad domain"
    if len(local) > 64:
        return "too long before the @"
    return None


def _ascii_address(addr: str) -> str:
    local, domain = addr.split("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _split_entries(text: str) -> list[str]:
    """Split on "," and ";" outside quotes and angle brackets."""
    entries: list[str] = []
    current: list[str] = []
    quoted = angle = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle = True
        elif not quoted and ch == ">":
            angle = False
        elif not quoted and not angle and ch in ",;":
            entries.append("".join(current))
            current = []
            continue
        current.append(ch)
    entries.append("".join(current))
    return entries


def _unquote_name(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = re.sub(r"\\(.)", r"\1", name[1:-1])
    return _one_line(name)


def _parse_entry(entry: str) -> tuple[str, str] | str:
    """(name, address) of one entry, or why it is not one."""
    if any(c in entry for c in "\r\n"):
        return "line break"
    text = entry.strip()
    if "<" in text or ">" in text:
        m = re.fullmatch(r'(?s)(?P<name>(?:"(?:[^"\\]|\\.)*"|[^"<>])*)<(?P<addr>[^<>]*)>', text)
        if m is None:
            return "unbalanced < >"
        name, addr = _unquote_name(m.group("name")), m.group("addr").strip()
    else:
        name, addr = "", text
    why = _check_address(addr)
    return why if why is not None else (name, addr)


_NAME_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')


def display_address(name: str, addr: str) -> str:
    """`Name <addr>`, the name quoted when it holds a comma or another special."""
    if not name:
        return addr
    if _NAME_SPECIALS.search(name):
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{addr}>'
    return f"{name} <{addr}>"


def parse_address_list(text: str) -> tuple[tuple[str, ...], list[str]]:
    """``"a@x.org, Bob <b@y.org>; c@z"`` as display strings for the To/Cc editors, and a
    problem for each bad entry (naming it and why); the good ones are kept either way."""
    entries = _split_entries(text)
    while entries and not entries[-1].strip():
        entries.pop()  # "a@x.org, " while typing the next one
    found: list[str] = []
    problems: list[str] = []
    for number, entry in enumerate(entries, start=1):
        if not entry.strip():
            problems.append(f"entry {number}: empty")
            continue
        parsed = _parse_entry(entry)
        if isinstance(parsed, str):
            shown = _one_line(entry)
            problems.append(f"{shown!r}: {parsed}")
        else:
            found.append(display_address(*parsed))
    return tuple(found), problems


def _parse_field(field: str, values: Iterable[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for value in values:
        for entry in _split_entries(value):
            if not entry.strip():
                continue
            parsed = _parse_entry(entry)
            if isinstance(parsed, str):
                raise ComposeError(f"{field}: {_one_line(entry)!r}: {parsed}")
            out.append(parsed)
    return out


def recipients(draft: Draft) -> list[str]:
    """The envelope recipients (RCPT TO): bare addresses of To, Cc and Bcc, each once."""
    found: list[str] = []
    seen: set[str] = set()
    for field, values in (("To", draft.to), ("Cc", draft.cc), ("Bcc", draft.bcc)):
        for _, addr in _parse_field(field, values):
            ascii_addr = _ascii_address(addr)
            if ascii_addr.lower() not in seen:
                seen.add(ascii_addr.lower())
                found.append(ascii_addr)
    return found


# --------------------------------------------------------------------------------------------
# Header encoding (RFC 2047) and folding

_MAX_LINE = 78
# Tokens are kept short enough to share the first line with "Subject: ": a plain word longer
# than this could not be folded and is encoded instead, and encoded words stay below the
# 75 characters RFC 2047 allows.
_MAX_WORD = 66
_EW_OVERHEAD = len("=?utf-8?q??=")
_EW_MAX = 66
# A display name split over several encoded words reads right in RFC 2047 readers, but the
# stdlib's parser (and tools built on it) shows the fold as an extra space: names get the
# longest word RFC 2047 allows, so that only the longest names are split. The line after
# "From: " may then reach 81 characters, far inside the 998 that count.
_EW_MAX_PHRASE = 75
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _q_bytes(ch: str) -> str:
    out = []
    for byte in ch.encode("utf-8"):
        if byte in _Q_SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return "".join(out)


def _encoded_words(text: str, limit: int = _EW_MAX) -> list[str]:
    """``text`` as RFC 2047 encoded words of at most ``limit`` characters each.

    A word ends after a space where it can, so that a reader that (wrongly) keeps the fold
    between two words shows at worst a doubled space; the Q or B form, whichever is shorter.
    """
    q_len = sum(len(_q_bytes(c)) for c in text)
    b_len = (len(text.encode("utf-8")) + 2) // 3 * 4
    use_q = q_len <= b_len
    room = limit - _EW_OVERHEAD
    chunks: list[str] = []
    current = ""
    size = 0
    last_space = -1
    for ch in text:
        cost = len(_q_bytes(ch)) if use_q else 0
        if not use_q:
            byte_len = len((current + ch).encode("utf-8"))
            fits = (byte_len + 2) // 3 * 4 <= room
        else:
            fits = size + cost <= room
        if not fits and current:
            if 0 < last_space < len(current) - 1:
                chunks.append(current[: last_space + 1])
                current = current[last_space + 1 :]
            else:
                chunks.append(current)
                current = ""
            size = sum(len(_q_bytes(c)) for c in current) if use_q else 0
            last_space = current.rfind(" ")
        current += ch
        size += cost
        if ch == " ":
            last_space = len(current) - 1
    if current:
        chunks.append(current)
    if use_q:
        return ["=?utf-8?q?" + "".join(_q_bytes(c) for c in chunk) + "?=" for chunk in chunks]
    return [
        "=?utf-8?b?" + base64.b64encode(chunk.encode("utf-8")).decode("ascii") + "?="
        for chunk in chunks
    ]


def _plain_unstructured(word: str) -> bool:
    return word.isascii() and word.isprintable() and "=?" not in word and len(word) <= _MAX_WORD


def _unstructured_tokens(text: str) -> list[str]:
    """Tokens of a Subject-like header: plain words up to the first word that must be
    encoded, then encoded words for the rest (encoded words must not touch plain text)."""
    words = _one_line(text).split(" ") if _one_line(text) else []
    for index, word in enumerate(words):
        if not _plain_unstructured(word):
            return [*words[:index], *_encoded_words(" ".join(words[index:]))]
    return words


def _phrase_tokens(name: str) -> list[str]:
    """Tokens of a display name: atoms, one quoted string, or encoded words."""
    name = _one_line(name)
    if not name:
        return []
    words = name.split(" ")
    if all(_ATEXT.match(w) and "=?" not in w and len(w) <= _MAX_WORD for w in words):
        return words
    if name.isascii() and name.isprintable() and len(name) <= _MAX_WORD and "=?" not in name:
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    for index, word in enumerate(words):
        if not (_ATEXT.match(word) and "=?" not in word and len(word) <= _MAX_WORD):
            return [*words[:index], *_encoded_words(" ".join(words[index:]), _EW_MAX_PHRASE)]
    return words  # not reached: some word failed the test above


def _fold(name: str, tokens: Sequence[str]) -> str:
    """The value of header ``name`` with ``tokens`` folded to lines of 78 where possible."""
    lines: list[str] = []
    line = f"{name}:"
    for index, token in enumerate(tokens):
        if index and len(line) + 1 + len(token) > _MAX_LINE:
            lines.append(line)
            line = " " + token
        else:
            line += " " + token
    lines.append(line)
    return "\r\n".join(lines)[len(name) + 2 :]


def _address_tokens(pairs: Sequence[tuple[str, str]]) -> list[str]:
    tokens: list[str] = []
    for index, (name, addr) in enumerate(pairs):
        ascii_addr = _ascii_address(addr)
        phrase = _phrase_tokens(name)
        part = [*phrase, f"<{ascii_addr}>"] if phrase else [ascii_addr]
        if index < len(pairs) - 1:
            part[-1] += ","
        tokens.extend(part)
    return tokens


# --------------------------------------------------------------------------------------------
# The message

# refold_source="none": the values set raw here are already folded and must stay as they are.
_POLICY = email.policy.SMTP.clone(refold_source="none")
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_AUTO_SUBMITTED = re.compile(r"^[A-Za-z0-9-]+(?:\s*;\s*[A-Za-z0-9-]+=[A-Za-z0-9._@-]+)*$")
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "auto-submitted",
    }
)
# The types of the IANA list as Python ships it, without reading the system's mime.types:
# the same guess on every machine.
_TYPES = mimetypes.MimeTypes(filenames=())
_FILENAME_JUNK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _content_type(attachment: OutgoingAttachment) -> tuple[str, str]:
    wanted = attachment.content_type.strip().lower()
    if not wanted:
        wanted = _TYPES.guess_type(attachment.filename, strict=False)[0] or ""
        wanted = wanted or "application/octet-stream"
    if not _CONTENT_TYPE.match(wanted):
        raise ComposeError(
            f"attachment {attachment.filename!r}: {attachment.content_type!r} is no content type"
        )
    maintype, subtype = wanted.split("/")
    if maintype in ("multipart", "message"):
        # These may not be base64 encoded (RFC 2046); as opaque bytes they arrive intact.
        return "application", "octet-stream"
    return maintype, subtype


def _text_part(part: EmailMessage, body: str) -> None:
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.split("\n")
    plain = (
        text.isascii()
        and all(len(line) <= 76 and line.isprintable() for line in lines)
        and not any(line.startswith("From ") for line in lines)
    )
    part.set_content(
        text, subtype="plain", charset="utf-8", cte="7bit" if plain else "quoted-printable"
    )
    if not plain:
        payload = part.get_payload()
        assert isinstance(payload, str)
        # "From " at a line start is rewritten to ">From " by mbox-minded relays; "=46" is the
        # same letter in quoted-printable and survives them.
        fixed = re.sub(r"(?m)^From ", "=46rom ", payload)
        part.set_payload(fixed)


def _attachment_part(attachment: OutgoingAttachment) -> EmailMessage:
    maintype, subtype = _content_type(attachment)
    filename = _one_line(_FILENAME_JUNK.sub(" ", attachment.filename)) or "attachment"
    part = EmailMessage(policy=_POLICY)
    part.set_content(
        attachment.data,
        maintype=maintype,
        subtype=subtype,
        cte="base64",
        disposition="attachment",
        filename=filename,
    )
    del part["MIME-Version"]
    return part


def _message_id(value: str, what: str) -> str:
    ident = _clean_id(value)
    if ident is None:
        raise ComposeError(f"{what}: {value!r} is no Message-ID")
    return ident


def build_message(
    draft: Draft,
    sender: Sender,
    *,
    message_id: str,
    date: datetime,
    auto_submitted: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The draft as RFC 5322 bytes with CRLF line ends, ready for SMTP and the Sent folder.

    Bcc recipients are not in the headers (take them from :func:`recipients`). Threading ids
    that are not well-formed are left out rather than refused: they come from the customer's
    mail. ``date`` must carry its time zone.
    """
    to = _parse_field("To", draft.to)
    cc = _parse_field("Cc", draft.cc)
    bcc = _parse_field("Bcc", draft.bcc)
    if not (to or cc or bcc):
        raise ComposeError("no recipient: add an address to To, Cc or Bcc")
    shared = _parse_field("From", [sender.address])
    if len(shared) != 1:
        raise ComposeError(f"From: {sender.address!r} is not one address")
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("the date of a message needs its time zone")
    own_id = _message_id(message_id, "Message-ID")

    msg = EmailMessage(policy=_POLICY)
    msg.set_raw("From", _fold("From", _address_tokens([(sender.display_name(), shared[0][1])])))
    msg.set_raw("Reply-To", _fold("Reply-To", _address_tokens([("", shared[0][1])])))
    if to:
        msg.set_raw("To", _fold("To", _address_tokens(to)))
    if cc:
        msg.set_raw("Cc", _fold("Cc", _address_tokens(cc)))
    msg.set_raw("Subject", _fold("Subject", _unstructured_tokens(draft.subject)))
    msg["Date"] = format_datetime(date)
    msg.set_raw("Message-ID", f"<{own_id}>")
    parent = _clean_id(draft.in_reply_to) if draft.in_reply_to else None
    if parent is not None:
        msg.set_raw("In-Reply-To", f"<{parent}>")
    refs = [f"<{r}>" for r in (_clean_id(x) for x in draft.references) if r is not None]
    if refs:
        msg.set_raw("References", _fold("References", refs))
    if auto_submitted is not None:
        if not _AUTO_SUBMITTED.match(auto_submitted):
            raise ComposeError(f"Auto-Submitted: {auto_submitted!r} is not a keyword")
        msg.set_raw("Auto-Submitted", auto_submitted)
    for name, value in extra_headers:
        if not _HEADER_NAME.match(name) or name.lower() in _RESERVED_HEADERS:
            raise ComposeError(f"{name!r} cannot be added as a header")
        if any(c in value for c in "\r\n"):
            raise ComposeError(f"{name}: a header value cannot hold a line break")
        msg.set_raw(name, _fold(name, _unstructured_tokens(value)))

    if not draft.attachments:
        _text_part(msg, draft.body)
        return msg.as_bytes()
    msg["MIME-Version"] = "1.0"
    text = EmailMessage(policy=_POLICY)
    _text_part(text, draft.body)
    del text["MIME-Version"]
    msg.add_header("Content-Type", "multipart/mixed", boundary=_boundary(own_id, draft.body))
    msg.attach(text)
    for attachment in draft.attachments:
        msg.attach(_attachment_part(attachment))
    return msg.as_bytes()


def _boundary(own_id: str, body: str) -> str:
    # Derived from the Message-ID, so a retry of the same reply gives the same bytes. Encoded
    # parts never hold "=_" (base64 has no "_", quoted-printable "=" is followed by hex); only
    # a 7bit body could, and then it is checked.
    digest = hashlib.sha256(own_id.encode()).hexdigest()[:24]
    boundary = f"=_hd_{digest}"
    while boundary in body:
        boundary += "_"
    return boundary
