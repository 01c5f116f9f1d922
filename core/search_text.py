"""Full-text search, the pure part: what the user typed -> a safe FTS5 query, and where a hit's
text matched -> offsets the app can style.

The cache indexes subject, sender and body with SQLite FTS5 and the tokenizer
``unicode61 remove_diacritics 2``, which folds case and accents (``tiskárna`` -> ``tiskarna``)
but leaves letters that are not "a letter plus a mark" alone: ``ł``, ``ø``, ``đ``, ``ß``,
``æ``... A Polish agent types ``zolw`` for ``żółw``, so :func:`fold_for_index` maps those few
letters to the base letters people type, both for the indexed text and for queries.

User input never reaches FTS5 as syntax: every word or phrase becomes a double-quoted FTS5
string (a quote inside is doubled), so ``"``, ``*``, ``NEAR(``, ``-``, ``:``, ``^`` and
unbalanced quotes are plain text. Match offsets are data (:class:`Marked`), never markup:
mail text is untrusted and the app styles the ranges itself.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "MIN_PREFIX",
    "Marked",
    "SearchHit",
    "Term",
    "fold_for_index",
    "fold_word",
    "fts_query",
    "mark",
    "match_spans",
    "parse_query",
    "snippet",
]

# A one-letter prefix matches a large share of the vocabulary: slow and useless as a filter.
MIN_PREFIX = 2
MAX_TERMS = 16  # a pasted paragraph must not become a query of thousands of phrases
SNIPPET_WIDTH = 100  # characters of body shown around the matches

# Letters that unicode61's remove_diacritics leaves as they are, mapped to what is typed on a
# keyboard without them. Applied before the tokenizer sees the text (index and query alike).
_EXTRA_FOLD = {
    "ł": "l",
    "Ł": "L",
    "đ": "d",
    "Đ": "D",
    "ð": "d",
    "Ð": "D",
    "ø": "o",
    "Ø": "O",
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "þ": "th",
    "Þ": "TH",
    "ħ": "h",
    "Ħ": "H",
    "ı": "i",
    "ŧ": "t",
    "Ŧ": "T",
    "ŀ": "l",
    "Ŀ": "L",
    "ĳ": "ij",
    "Ĳ": "IJ",
    "ƶ": "z",
    "Ƶ": "Z",
}
_NEEDS_EXTRA_FOLD = re.compile(f"[{''.join(_EXTRA_FOLD)}]")

# What the tokenizer keeps as word characters: letters and digits, with combining marks (text
# in decomposed form, as some mail clients send it) kept inside the word they belong to.
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD = re.compile(rf"(?:[^\W_]|[{_MARKS}])+")
_SPACE = re.compile(r"\s+")
_CHUNK = re.compile(r'[^\s"]+')


def fold_for_index(text: str) -> str:
    """The text as handed to the FTS5 tokenizer (which then folds case and accents)."""
    # str.translate walks the text in Python-level steps (about 50 times slower than a
    # replace on a typical body): replace only the letters that are there.
    for letter in set(_NEEDS_EXTRA_FOLD.findall(text)):
        text = text.replace(letter, _EXTRA_FOLD[letter])
    return text


# remove_diacritics folds Latin letters only: Cyrillic "ё" and Greek "ά" stay as they are.
_LATIN = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_COMBINING = re.compile("[\u0300-\u036f]")


@functools.lru_cache(maxsize=1024)
def _latin_base(letter: str) -> str:
    return _COMBINING.sub("", unicodedata.normalize("NFD", letter))


def fold_word(word: str) -> str:
    """A word as the index holds it: extra letters folded, accents dropped, lower case."""
    if word.isascii():
        return word.lower()
    word = _LATIN.sub(lambda m: _latin_base(m.group()), fold_for_index(word))
    return _COMBINING.sub("", word).lower()


def _folds_to() -> tuple[dict[str, str], dict[str, str]]:
    """Which letters fold to each letter, and to each pair of letters (ß -> ss)."""
    one: dict[str, str] = {}
    two: dict[str, str] = {}
    for code in [*range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        letter = chr(code)
        folded = fold_word(letter)
        if len(folded) == 1 and folded != letter.lower():
            one[folded] = one.get(folded, "") + letter
        elif len(folded) == 2:
            two[folded] = two.get(folded, "") + letter
    return one, two


_FOLDS_TO_ONE, _FOLDS_TO_TWO = _folds_to()


@dataclass(frozen=True, slots=True)
class Term:
    """Words that must appear one after the other; `prefix`: the last one may go on."""

    words: tuple[str, ...]
    prefix: bool = False


def _words(chunk: str) -> tuple[str, ...]:
    return tuple(fold_word(m.group()) for m in _WORD.finditer(chunk))


def parse_query(text: str) -> tuple[Term, ...]:
    """Words and "quoted phrases" of the user's text, folded; the last one is a prefix while
    it is still being typed (no space after it, or a quote left open)."""
    terms: list[Term] = []
    # (words, still being typed at the end of the input)
    pieces: list[tuple[tuple[str, ...], bool]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                pieces.append((_words(text[i + 1 :]), True))
                break
            pieces.append((_words(text[i + 1 : close]), False))
            i = close + 1
            continue
        m = _CHUNK.match(text, i)
        if m is None:  # whitespace
            i += 1
            continue
        pieces.append((_words(m.group()), m.end() == n))
        i = m.end()
    pieces = [(w, open_end) for w, open_end in pieces if w][:MAX_TERMS]
    for k, (words, open_end) in enumerate(pieces):
        last = k == len(pieces) - 1
        terms.append(Term(words, prefix=last and open_end and len(words[-1]) >= MIN_PREFIX))
    return tuple(terms)


def fts_query(terms: tuple[Term, ...]) -> str | None:
    """The FTS5 MATCH expression of `terms` (all must match), or None if nothing to search."""
    if not terms:
        return None
    parts = []
    for t in terms:
        phrase = " ".join(t.words).replace('"', '""')
        parts.append(f'"{phrase}"*' if t.prefix else f'"{phrase}"')
    return " ".join(parts)


def _letter(folded: str) -> str:
    others = _FOLDS_TO_ONE.get(folded, "")
    if not others:
        return re.escape(folded)
    return "[" + "".join(re.escape(c) for c in folded + others) + "]"


_MARKS_AFTER = f"[{_MARKS}]*"  # a decomposed accent follows its letter
_NOT_AFTER_TOKEN = rf"(?<![^\W_])(?<![{_MARKS}])"
_NOT_BEFORE_TOKEN = rf"(?![^\W_])(?![{_MARKS}])"
_REST_OF_TOKEN = rf"(?:[^\W_]|[{_MARKS}])*"
_BETWEEN_TOKENS = rf"(?:(?![{_MARKS}])[\W_])+"


@functools.lru_cache(maxsize=256)
def _term_pattern(term: Term) -> re.Pattern[str]:
    """A regular expression that finds `term` in unfolded text, the way the index matches it
    (so that highlighting a body is one pass in C, not a Python step per word)."""
    words = []
    for word in term.words:
        parts = []
        i = 0
        while i < len(word):
            pair = word[i : i + 2]
            if pair in _FOLDS_TO_TWO:
                both = _letter(pair[0]) + _MARKS_AFTER + _letter(pair[1]) + _MARKS_AFTER
                one = "[" + re.escape(_FOLDS_TO_TWO[pair]) + "]" + _MARKS_AFTER
                parts.append(f"(?:{both}|{one})")
                i += 2
            else:
                parts.append(_letter(word[i]) + _MARKS_AFTER)
                i += 1
        words.append("".join(parts))
    end = _REST_OF_TOKEN if term.prefix else _NOT_BEFORE_TOKEN
    return re.compile(_NOT_AFTER_TOKEN + _BETWEEN_TOKENS.join(words) + end, re.IGNORECASE)


def match_spans(text: str, terms: tuple[Term, ...]) -> tuple[tuple[int, int], ...]:
    """Where `terms` occur in `text`: sorted, non-overlapping (start, end) offsets."""
    if not terms or not text:
        return ()
    found = [m.span() for term in terms for m in _term_pattern(term).finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class Marked:
    """Plain text with the ranges that matched the search, as offsets into `text`."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()

    def segments(self) -> list[tuple[str, bool]]:
        """The text cut into pieces, each with whether it matched."""
        out: list[tuple[str, bool]] = []
        pos = 0
        for start, end in self.spans:
            if start > pos:
                out.append((self.text[pos:start], False))
            out.append((self.text[start:end], True))
            pos = end
        if pos < len(self.text):
            out.append((self.text[pos:], False))
        return out

    def __str__(self) -> str:
        return self.text


def mark(text: str, terms: tuple[Term, ...]) -> Marked:
    return Marked(text, match_spans(text, terms))


def _densest(spans: tuple[tuple[int, int], ...], width: int) -> int:
    """Index of the span that starts the window of `width` characters holding most spans."""
    best, best_count, j = 0, 0, 0
    for i, (start, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] <= start + width:
            j += 1
        if j - i > best_count:
            best, best_count = i, j - i
    return best


def snippet(text: str, terms: tuple[Term, ...], width: int = SNIPPET_WIDTH) -> Marked:
    """One line of `text` around its best cluster of matches (its start if none), whitespace
    collapsed, with "…" where it was cut."""
    spans = match_spans(text, terms)
    if spans:
        first = spans[_densest(spans, width)][0]
        # Some words before the first match, but the window kept full near the end.
        start = max(0, min(first - width // 4, len(text) - width))
        # Begin at a word, but never after the match the window was chosen for.
        if start > 0 and not text[start - 1].isspace():
            space = text.find(" ", start, first)
            start = space + 1 if space >= 0 else start
    else:
        start = 0
    end = min(len(text), start + width)
    if end < len(text) and not text[end].isspace():
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    out: list[str] = ["…"] if start > 0 else []
    length = len(out[0]) if out else 0
    new_spans: list[tuple[int, int]] = []
    pos = start
    for a, b in spans:
        a, b = max(a, start), min(b, end)
        if a >= b:
            continue
        gap = _SPACE.sub(" ", text[pos:a])
        if not out and not new_spans:
            gap = gap.lstrip()
        hit = _SPACE.sub(" ", text[a:b])
        out.extend((gap, hit))
        new_spans.append((length + len(gap), length + len(gap) + len(hit)))
        length += len(gap) + len(hit)
        pos = b
    tail = _SPACE.sub(" ", text[pos:end])
    if not new_spans and start == 0:
        tail = tail.lstrip()
    out.append(tail.rstrip())
    if end < len(text):
        out.append(" …")
    return Marked("".join(out), tuple(new_spans))


@dataclass(frozen=True, slots=True)
class SearchHit:
    """The best-matching message of one ticket; all text as stored (already sanitised at
    ingest), the matched ranges as offsets."""

    ticket: int
    message: int  # the message's key in the cache
    subject: Marked
    sender: Marked  # "Name <email>" or whichever of the two is known
    date: datetime | None
    snippet: Marked
    score: float = field(default=0.0, compare=False)  # bm25: lower is better
