"""Guess the charset of 8-bit mail text that declares none, or declares a label nobody knows.

Only reached for text that is not ASCII and not valid UTF-8, so it costs nothing on the
common path. Each candidate charset decodes the text and the result is scored by how much it
looks like a real language: letters of one alphabet score, stray symbols, control characters
and case changes inside a word cost. Single-byte Central European, Western and Cyrillic
charsets are tried first; the Japanese, Chinese and Korean multi-byte ones only when no
single-byte reading looks like text. The preferred charset (the configured fallback, or the
charset the rest of the message declares) wins ties.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["guess_charset", "is_single_byte"]

_SAMPLE_BYTES = 16_384

_CS_SK = "áčďéěíňóřšťúůýžäôľĺŕ"
_PL = "ąćęłńóśźż"
_HU = "áéíóöőúüű"
_DE = "äöüß"
_HR_SL = "čćđšž"
_RO = "ăâîșțşţ"
_WESTERN = "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿœšžß"
_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў"


def _letters(*groups: str) -> frozenset[str]:
    return frozenset("".join(groups) + "".join(groups).upper())


_CENTRAL = (
    _letters(_CS_SK, _DE),
    _letters(_PL, _DE),
    _letters(_HU, _DE),
    _letters(_HR_SL, _DE),
    _letters(_RO, _DE),
)
_WEST = (_letters(_WESTERN),)
_CYR = (_letters(_CYRILLIC),)

# Which alphabets a reading in each charset is judged against.
_SINGLE_BYTE: dict[str, tuple[frozenset[str], ...]] = {
    "cp1250": _CENTRAL,
    "iso8859-2": _CENTRAL,
    "cp1252": _WEST,
    "iso8859-15": _WEST,
    "cp1251": _CYR,
    "koi8-r": _CYR,
    "koi8-u": _CYR,
    "iso8859-5": _CYR,
}
_MULTI_BYTE = ("cp932", "euc_jp", "gb18030", "cp949", "big5hkscs")
_NEUTRAL = frozenset("\u00a0–—„“”‚‘’«»‹›…€°§×÷·•©®™±¶¦¤¢£¥µ¹²³¼½¾¬")


def _east_asian(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x4E00 <= o <= 0x9FFF  # unified ideographs
        or 0xAC00 <= o <= 0xD7A3  # hangul syllables
        or 0x3000 <= o <= 0x303F  # CJK punctuation
        or 0xFF01 <= o <= 0xFF5E  # full-width forms (not the half-width katakana)
    )


def _score_alphabet(text: str, letters: frozenset[str]) -> float:
    score = 0.0
    previous_lower = False
    for ch in text:
        if ch < "\x80":
            previous_lower = ch.islower()
            continue
        if ch in letters:
            # An upper-case letter right after a lower-case one ("PřílIš") is what a wrong
            # single-byte table produces, KOI8-R read as windows-1251 in particular.
            score += -1.0 if ch.isupper() and previous_lower else 2.0
        elif ch in _NEUTRAL:
            score += 0.0
        elif ch.isalpha():
            score -= 1.0
        else:
            score -= 3.0
        previous_lower = ch.islower()
    return score


def _score_east_asian(text: str) -> float:
    score = 0.0
    for ch in text:
        if ch < "\x80":
            continue
        if _east_asian(ch):
            score += 2.0
        elif unicodedata.category(ch).startswith(("C", "S")):
            score -= 3.0
        else:
            score -= 1.0
    return score


def _sample(data: bytes) -> bytes:
    if len(data) <= _SAMPLE_BYTES:
        return data
    cut = data.rfind(b"\n", 0, _SAMPLE_BYTES)
    return data[: cut if cut > 0 else _SAMPLE_BYTES]


@lru_cache(maxsize=64)
def is_single_byte(codec: str) -> bool:
    """True for charsets where every byte is one character (ISO-8859-*, windows-125x, KOI8)."""
    if codec.startswith(("utf", "iso2022", "hz", "ascii")):
        return False
    try:
        return len(bytes(range(256)).decode(codec, "replace")) == 256
    except (LookupError, ValueError, TypeError):
        return False


def guess_charset(data: bytes, preferred: str | None) -> str:
    """The Python codec name that reads ``data`` most plausibly. ``preferred`` (a codec name)
    wins ties and close calls. Falls back to latin-1, which decodes any byte."""
    sample = _sample(data)
    high = sum(1 for b in sample if b >= 0x80) or 1
    # A margin in favour of the preferred charset: a guess must be clearly better to win.
    bonus = 0.25 * high
    best_codec = "latin-1"
    best = float("-inf")
    candidates = list(_SINGLE_BYTE)
    if preferred and is_single_byte(preferred):
        candidates.insert(0, preferred)
    for codec in dict.fromkeys(candidates):
        try:
            text = sample.decode(codec)
        except UnicodeDecodeError:
            continue
        alphabets = _SINGLE_BYTE.get(codec, _CENTRAL + _WEST + _CYR)
        score = max(_score_alphabet(text, letters) for letters in alphabets)
        if codec == preferred:
            score += bonus
        if score > best:
            best, best_codec = score, codec
    if best >= high:  # about one good letter in two high bytes: a single-byte text
        return best_codec
    multi = list(_MULTI_BYTE)
    if preferred and preferred in multi:
        multi.remove(preferred)
        multi.insert(0, preferred)
    for codec in multi:
        try:
            text = sample.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _score_east_asian(text) + (bonus if codec == preferred else 0.0)
        if score > best:
            best, best_codec = score, codec
    return best_codec
