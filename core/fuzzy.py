"""Picking by a few typed letters: templates, statuses, agents, categories."""

from __future__ import annotations

import unicodedata


def fold_for_match(text: str) -> str:
    """Case and accents do not matter when picking: "odp" finds "Odpověď"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def match_score(query: str, name: str) -> int | None:
    """How well ``query`` matches ``name`` as a subsequence (lower is better), or None.

    Gaps cost, a match at the start or at a word's start earns; the earliest placement of
    each character is taken, which is close enough for names of a few words.
    """
    score = 0
    pos = 0
    previous = -2
    for ch in query:
        if ch == " ":
            continue
        found = name.find(ch, pos)
        if found < 0:
            return None
        if found == previous + 1:
            score -= 2  # consecutive
        else:
            score += found - pos  # skipped characters
        if found == 0 or not name[found - 1].isalnum():
            score -= 3  # word start
        previous = found
        pos = found + 1
    return score
