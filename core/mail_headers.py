"""Lenient decoding of mail header values and MIME bytes, for :mod:`helpdesk.core.mailparse`.

Everything here takes what real mail contains (raw 8-bit headers, broken RFC 2047 encoded
words, unknown charset labels, ids without brackets, dates in any shape) and returns plain
``str`` values. Nothing here raises on bad input: problems are appended to a ``defects`` list
as human-readable text.
"""

from __future__ import annotations

import binascii
import codecs
import re
from datetime import UTC, datetime
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import unquote_to_bytes

from .charset_guess import guess_charset, is_single_byte
from .message import Address
from .sanitize import safe_text

__all__ = [
    "DEFAULT_FALLBACK_CHARSET",
    "b64decode_lenient",
    "codec_for",
    "decode_addresses",
    "decode_bytes",
    "decode_date",
    "decode_header_text",
    "extract_ids",
    "guess_decode",
    "header_str",
    "parse_params",
    "unfold",
]

# Raw 8-bit text that is neither UTF-8 nor in a declared charset is most often from a
# Central European Windows mailer for this program's users; latin-1 is the last resort
# because it decodes any byte.
DEFAULT_FALLBACK_CHARSET = "windows-1250"
MAX_HEADER_CHARS = 64_000  # a header longer than this is cut before decoding
MAX_ID_CHARS = 500

# Labels seen in mail that Python either does not know or decodes more narrowly than the
# mailers that wrote them (ISO-8859-1 mail is in practice windows-1252, GB2312 is GBK, ...).
_CHARSET_ALIASES = {
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "iso-2022-jp": "iso2022_jp_ext",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "iso-8859-11": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "utf8": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "x-user-defined": "cp1252",
    "ascii": "ascii",
}


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """Python codec name for a MIME charset label, or None when the label is unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0].strip()  # RFC 2231 language suffix: utf-8*en
    name = _CHARSET_ALIASES.get(name, name)
    if not name or len(name) > 40:
        return None
    name = _normalise_label(name)
    try:
        info = codecs.lookup(name)
        b"".decode(info.name)  # rejects bytes-to-bytes codecs such as base64 or rot13
    except (LookupError, ValueError, TypeError):
        return None
    return info.name


_WINDOWS_LABEL = re.compile(r"^(?:x-)?(?:windows|win|cp|ms)[-_ ]?(\d{3,4})$")
_LATIN_LABEL = re.compile(r"^(?:x-)?(?:latin|iso[-_ ]?latin|l)[-_ ]?(\d{1,2})$")
_ISO_LABEL = re.compile(r"^(?:x-)?iso[-_ ]?8859[-_ ]?(\d{1,2})(?:[-_:].*)?$")


def _normalise_label(name: str) -> str:
    """Spellings of common labels that mailers write and the codec registry does not know:
    ``latin-2``, ``win-1250``, ``windows1250``, ``x-cp1250``, ``iso8859_2:1987``, ``koi8r``."""
    if match := _WINDOWS_LABEL.match(name):
        return "cp" + match.group(1)
    if match := _LATIN_LABEL.match(name):
        number = int(match.group(1))
        return "cp1252" if number == 1 else f"latin{number}"
    if match := _ISO_LABEL.match(name):
        number = int(match.group(1))
        return "cp1252" if number == 1 else f"iso8859-{number}"
    if name in ("koi8r", "koi8u"):
        return name[:4] + "-" + name[4]
    return name.removeprefix("x-") if name.startswith("x-") and len(name) > 2 else name


# Escape sequences that switch ISO-2022-JP into and out of its double-byte sets.
_ISO2022_JP = re.compile(rb"\x1b\$[@B]|\x1b\$\(D|\x1b\([BJ]")


def guess_decode(data: bytes, declared: str | None = None, fallback: str | None = None) -> str:
    """Decode bytes of unknown or unreliable charset: UTF-8, the declared charset, the
    fallback charset (default windows-1250), then latin-1, which never fails."""
    if data.isascii():
        # Undeclared Japanese mail is often 7-bit ISO-2022-JP: shown as ASCII, its escape
        # sequences would be stripped and leave gibberish.
        if b"\x1b" in data and _ISO2022_JP.search(data):
            for codec in ("iso2022_jp_ext", "iso2022_jp_2"):
                try:
                    return data.decode(codec)
                except UnicodeDecodeError:
                    pass
        return data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    declared_codec = codec_for(declared)
    if declared_codec and declared_codec not in ("ascii", "utf-8"):
        try:
            return data.decode(declared_codec)
        except UnicodeDecodeError:
            pass
    guessed = guess_charset(data, codec_for(fallback or DEFAULT_FALLBACK_CHARSET))
    try:
        return data.decode(guessed)
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(
    data: bytes,
    charset: str | None,
    defects: list[str],
    what: str,
    fallback: str | None = None,
) -> str:
    """Decode ``data`` declared as ``charset``; an unknown label or undecodable bytes give a
    sensible best effort and a defect naming ``what`` was affected."""
    if not data:
        return ""
    codec = codec_for(charset)
    if charset and codec is None:
        defects.append(f"unknown charset {safe_text(charset.strip())[:40]!r} in {what}")
    if codec is None or codec == "ascii":
        return guess_decode(data, None, fallback)
    # Mailers that re-encode text but keep the old label send UTF-8 declared as ISO-8859-2
    # or windows-1250. Valid UTF-8 with non-ASCII bytes is very unlikely to be text in a
    # single-byte charset, so it is read as UTF-8.
    if codec != "utf-8" and is_single_byte(codec) and not data.isascii():
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        pass
    if codec == "iso2022_jp_ext":
        try:
            return data.decode("iso2022_jp_2")
        except UnicodeDecodeError:
            pass
    defects.append(f"{what} is not valid {safe_text(charset or '')[:40]}")
    return data.decode(codec, "replace")


def header_str(value: str, fallback: str | None = None) -> str:
    """A header value as the parser stored it (ASCII plus surrogate-escaped raw bytes) turned
    into real text: raw 8-bit bytes are decoded as UTF-8 (RFC 6532) or by guessing."""
    if value.isascii():
        if "\x1b" in value:  # raw ISO-2022-JP, which is 7-bit
            return guess_decode(value.encode("ascii"), None, fallback)
        return value
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "replace")
    return guess_decode(data, None, fallback)


_FOLD = re.compile(r"\r?\n|\r")


def unfold(value: str) -> str:
    """Undo header folding: line breaks go, the whitespace after them stays (RFC 5322)."""
    return _FOLD.sub("", value)


# Lenient: no word boundary needed around the word, spaces allowed in the encoded text
# (some mailers fold inside an encoded word), empty charset allowed.
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
# A word whose closing ``?=`` is missing: it runs to the next whitespace or the end.
_UNTERMINATED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]+)\??(?=\s|$)")
# A line fold inside an encoded word (not between two words): the fold is the mailer's, not
# part of the encoded text, so the whitespace after it goes too (for Q, where a literal
# space that was not folded stays a space).
_FOLD_IN_WORD = re.compile(r"(=\?[^?\s]*\?[bBqQ]\?[^?\s]*)(?:\r?\n|\r)[ \t]+(?=[^?\s]*\?=)")
_WHITESPACE = re.compile(r"\s+")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def b64decode_lenient(data: bytes) -> bytes:
    """Base64 that tolerates missing or wrong padding, line breaks and stray characters."""
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        pass
    cleaned = _B64_JUNK.sub(b"", data.split(b"=", 1)[0] if b"=" in data else data)
    if len(cleaned) % 4 == 1:  # one dangling character cannot encode a byte
        cleaned = cleaned[:-1]
    cleaned += b"=" * (-len(cleaned) % 4)
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return b""


def _encoded_word_bytes(encoding: str, text: str) -> bytes:
    raw = text.encode("utf-8", "replace")
    if encoding in "bB":
        return b64decode_lenient(_WHITESPACE.sub("", text).encode("ascii", "ignore"))
    return binascii.a2b_qp(raw, header=True)


def decode_header_text(
    value: str | None, defects: list[str] | None = None, fallback: str | None = None
) -> str:
    """Decode a header value for display: raw 8-bit bytes, RFC 2047 encoded words (also
    broken ones), unfolding; whitespace collapsed to single spaces, made terminal-safe."""
    if not value:
        return ""
    sink: list[str] = defects if defects is not None else []
    text = header_str(value[:MAX_HEADER_CHARS], fallback)
    if "=?" in text:
        if "\n" in text or "\r" in text:
            for _ in range(8):  # a long word may be folded more than once
                joined = _FOLD_IN_WORD.sub(r"\1", text)
                if joined == text:
                    break
                text = joined
        text = _decode_encoded_words(unfold(text), sink, fallback)
    else:
        text = unfold(text)
    return _WHITESPACE.sub(" ", safe_text(text)).strip()


def _encoded_words(text: str, defects: list[str]) -> list[re.Match[str]]:
    """Proper encoded words, then unterminated ones in the gaps between them."""
    words = list(_ENCODED_WORD.finditer(text))
    if "=?" not in _ENCODED_WORD.sub("", text):
        return words
    out: list[re.Match[str]] = []
    pos = 0
    for word in [*words, None]:
        end = word.start() if word is not None else len(text)
        for loose in _UNTERMINATED_WORD.finditer(text, pos, end):
            out.append(loose)
            defects.append("an encoded word in a header is not closed")
        if word is not None:
            out.append(word)
            pos = word.end()
    return out


def _decode_encoded_words(text: str, defects: list[str], fallback: str | None) -> str:
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    pos = 0

    def flush() -> None:
        nonlocal pending_charset
        if pending:
            out.append(decode_bytes(bytes(pending), pending_charset, defects, "a header", fallback))
            pending.clear()
        pending_charset = None

    after_word = False
    for match in _encoded_words(text, defects):
        gap = text[pos : match.start()]
        # Whitespace between two encoded words is not part of the text (RFC 2047 6.2).
        if gap and not (after_word and gap.isspace()):
            flush()
            out.append(gap)
        charset = match.group(1) or None
        label = (charset or "").split("*", 1)[0].lower()
        # Adjacent words in one charset are joined as bytes first: mailers split multi-byte
        # characters across words.
        if pending and label != (pending_charset or "").split("*", 1)[0].lower():
            flush()
        pending_charset = charset
        pending.extend(_encoded_word_bytes(match.group(2), match.group(3)))
        pos = match.end()
        after_word = True
    flush()
    out.append(text[pos:])
    return "".join(out)


def _split_params(value: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    escaped = False
    for ch in value:
        if escaped:
            buf.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            buf.append(ch)
            escaped = True
        elif ch == '"':
            quoted = not quoted
            buf.append(ch)
        elif ch == ";" and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if value.startswith('"'):
        value = value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
        return re.sub(r"\\(.)", r"\1", value)
    return value


def parse_params(value: str | None, fallback: str | None = None) -> tuple[str, dict[str, str]]:
    """Split a structured header such as Content-Type or Content-Disposition into its
    lower-cased main value and a dict of parameters (lower-cased names), with RFC 2231
    continuations and charsets (``filename*0*=utf-8''...; filename*1*=...``) joined and
    decoded."""
    if not value:
        return "", {}
    text = unfold(value[:MAX_HEADER_CHARS])
    segments = _split_params(text)
    main = segments[0].strip().strip('"').lower()
    plain: dict[str, str] = {}
    pieces: dict[str, dict[int, tuple[bool, str]]] = {}
    for segment in segments[1:]:
        name, sep, raw = segment.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            continue
        if "*" not in name:
            plain.setdefault(name, _unquote(raw))
            continue
        base, _, rest = name.partition("*")
        extended = rest.endswith("*") or rest == ""
        number = rest.rstrip("*")
        index = int(number) if number.isdigit() else 0
        pieces.setdefault(base, {}).setdefault(index, (extended, _unquote(raw)))
    params = {k: header_str(v, fallback) for k, v in plain.items()}
    for base, numbered in pieces.items():
        joined = _join_rfc2231(numbered, fallback)
        if joined or base not in params:
            params[base] = joined
    return main, params


def _join_rfc2231(numbered: dict[int, tuple[bool, str]], fallback: str | None) -> str:
    data = bytearray()
    charset: str | None = None
    for i, index in enumerate(sorted(numbered)):
        extended, text = numbered[index]
        if extended:
            if i == 0 and text.count("'") >= 2:
                charset, _language, text = text.split("'", 2)
            data.extend(unquote_to_bytes(text))
        else:
            data.extend(text.encode("utf-8", "surrogateescape"))
    sink: list[str] = []
    return decode_bytes(bytes(data), charset or None, sink, "a parameter", fallback)


_BRACKETED = re.compile(r"<([^<>]*)>")
_ID_JUNK = re.compile(r"[\s\x00-\x1f\x7f]+")
_EMPTY_GROUP = re.compile(r"^[^:<>@]*:\s*;?\s*$")


def _clean_id(text: str) -> str:
    return safe_text(_ID_JUNK.sub("", text)).strip("<>\"'(),;")[:MAX_ID_CHARS]


def extract_ids(value: str | None, *, loose: bool = False, limit: int = 0) -> list[str]:
    """Message ids in a Message-ID / In-Reply-To / References value, without brackets.

    Bracketed ids are taken as they are (inner whitespace from folding removed). Without
    brackets, whitespace-separated tokens with an ``@`` count; with ``loose`` (Message-ID)
    the first token counts even without ``@``. ``limit`` keeps the first id and the last
    ``limit - 1``: the root and the nearest parents matter for threading.
    """
    if not value:
        return []
    text = unfold(header_str(value[:MAX_HEADER_CHARS]))
    found = [_clean_id(m) for m in _BRACKETED.findall(text)]
    ids = [i for i in found if i]
    if not ids:
        tokens = [_clean_id(t) for t in re.split(r"[\s,;]+", text)]
        ids = [t for t in tokens if "@" in t]
        if not ids and loose:
            ids = [t for t in tokens if t][:1]
    unique = list(dict.fromkeys(ids))
    if limit and len(unique) > limit:
        unique = unique[:1] + unique[-(limit - 1) :]
    return unique


def decode_addresses(
    values: list[str], defects: list[str], fallback: str | None = None
) -> list[Address]:
    """Addresses in address header values: display names decoded, addr-specs lower-cased.
    A header with no usable address still yields its text as a name, with an empty email."""
    out: list[Address] = []
    for value in values:
        text = unfold(header_str(value[:MAX_HEADER_CHARS], fallback))
        try:
            pairs = getaddresses([text])
        except Exception:  # the address parser has raised on odd input in the past
            pairs = []
        found = False
        for name, addr in pairs:
            email = safe_text(_ID_JUNK.sub("", addr)).lower()
            shown = decode_header_text(name, defects, fallback) if name else ""
            if email.startswith("=?") or (email.count("@") > 1 and "=?" in email):
                email = ""
            if not email and not shown:
                continue
            found = True
            out.append(Address(name=shown[:300], email=email[:320]))
        # An empty group ("undisclosed-recipients:;") is valid and names nobody.
        if not found and text.strip() and not _EMPTY_GROUP.match(text):
            leftover = decode_header_text(text, defects, fallback)
            if leftover:
                defects.append("an address header has no usable address")
                out.append(Address(name=leftover[:300], email=""))
    return out


def decode_date(value: str | None, defects: list[str]) -> datetime | None:
    """The Date header as an aware UTC datetime, or None (with a defect) when unusable."""
    if value is None:
        return None
    text = _WHITESPACE.sub(" ", unfold(header_str(value[:1000]))).strip()
    if not text:
        defects.append("empty Date header")
        return None
    try:
        parsed = parsedate_to_datetime(text)
        if parsed.tzinfo is None:  # "-0000" means the zone is unknown: take it as UTC
            parsed = parsed.replace(tzinfo=UTC)
        result = parsed.astimezone(UTC)
    except Exception:
        defects.append("unusable Date header")
        return None
    if result.year < 1900:
        defects.append("unusable Date header")
        return None
    return result


def transfer_encoding(value: str) -> str:
    """A Content-Transfer-Encoding value as the parser reads it, leniently: real mail
    writes "Base64", "quoted-printable; x", "B", "x-uuencode"..."""
    value = value.strip().strip('"').lower()
    if "base64" in value or value == "b":
        return "base64"
    if "quoted" in value or value == "q":
        return "quoted-printable"
    if "uu" in value:
        return "uuencode"
    return value
