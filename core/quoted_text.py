"""Where a mail's own words end: quoted earlier mail and signatures, found so that the ticket
view can fold them to one marker line.

Agents read the new words of a message; the quote below it is usually the previous message of
the same conversation, already on screen. The split is a reading aid, never a change of the
text: joining the blocks gives back every line of the body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Block", "BlockKind", "first_words", "split_blocks"]


class BlockKind(StrEnum):
    TEXT = "text"
    QUOTE = "quote"
    SIGNATURE = "signature"


@dataclass(frozen=True, slots=True)
class Block:
    kind: BlockKind
    text: str
    lines: int
    # A short quote followed by an answer is an inline reply: folding it would leave the
    # answer without its question.
    folds: bool


# "-----Original Message-----" and its translations start a quote that is not marked with ">".
_ORIGINAL = re.compile(
    r"^\s*-{3,}\s*(original message|ursprüngliche nachricht|původní zpráva)\s*-{3,}\s*$", re.I
)
_ATTRIBUTION_WORDS = re.compile(r"wrote|napsal|pisze|schrieb|écrit|escribió|scrisse|skrev", re.I)
_SHORT_INLINE_QUOTE = 2  # lines; longer quotes fold even inside an answer
_MAX_ATTRIBUTION = 300  # characters: a long paragraph ending in ":" is text, not an attribution


def _is_quote(line: str) -> bool:
    return line.lstrip(" \t").startswith(">")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _is_signature_start(line: str) -> bool:
    # "-- " is the convention; many programs strip its trailing space on the way.
    return line in ("-- ", "--")


def _attribution_like(paragraph: str) -> bool:
    text = paragraph.strip()
    if not text.endswith(":") or len(text) > _MAX_ATTRIBUTION:
        return False
    return bool(_ATTRIBUTION_WORDS.search(text)) or "@" in text or any(c.isdigit() for c in text)


def _labels(lines: list[str]) -> list[BlockKind]:
    n = len(lines)
    kind = [BlockKind.QUOTE if _is_quote(line) else BlockKind.TEXT for line in lines]
    for i, line in enumerate(lines):
        if _ORIGINAL.match(line):
            kind[i:] = [BlockKind.QUOTE] * (n - i)
            break
    # Blank lines inside a quote belong to it.
    for i in range(n):
        if kind[i] is BlockKind.TEXT and _is_blank(lines[i]):
            before = next((kind[j] for j in range(i - 1, -1, -1) if not _is_blank(lines[j])), None)
            after = next((kind[j] for j in range(i + 1, n) if not _is_blank(lines[j])), None)
            if before is BlockKind.QUOTE and after is BlockKind.QUOTE:
                kind[i] = BlockKind.QUOTE
    # The attribution ("On ..., Jan <jan@...> wrote:") above a quote joins it, also when a
    # mail program wrapped it over two lines.
    for i in range(n):
        if kind[i] is not BlockKind.QUOTE or (i > 0 and kind[i - 1] is BlockKind.QUOTE):
            continue
        j = i - 1
        while j >= 0 and _is_blank(lines[j]) and kind[j] is BlockKind.TEXT:
            j -= 1
        if j < 0 or kind[j] is not BlockKind.TEXT:
            continue
        start = j
        wrapped = j >= 1 and not _is_blank(lines[j - 1]) and kind[j - 1] is BlockKind.TEXT
        if wrapped and (j < 2 or _is_blank(lines[j - 2])):
            start = j - 1
        if _attribution_like(" ".join(lines[start : j + 1])):
            kind[start:i] = [BlockKind.QUOTE] * (i - start)
        elif start != j and _attribution_like(lines[j]):
            kind[j:i] = [BlockKind.QUOTE] * (i - j)
    # A signature runs from its "-- " line to the next quote (top posting) or the end.
    i = 0
    while i < n:
        if kind[i] is BlockKind.TEXT and _is_signature_start(lines[i]):
            while i < n and kind[i] is BlockKind.TEXT:
                kind[i] = BlockKind.SIGNATURE
                i += 1
        i += 1
    return kind


def split_blocks(body: str) -> list[Block]:
    """The body as text, quote and signature blocks, in order. Blank lines at the edges of a
    block are left out (they only separated it from its neighbours); empty blocks vanish."""
    lines = body.split("\n")
    kinds = _labels(lines)
    groups: list[tuple[BlockKind, list[str]]] = []
    for line, kind in zip(lines, kinds, strict=True):
        if groups and groups[-1][0] is kind:
            groups[-1][1].append(line)
        else:
            groups.append((kind, [line]))
    trimmed: list[tuple[BlockKind, list[str]]] = []
    for kind, group in groups:
        while group and _is_blank(group[0]):
            group.pop(0)
        while group and _is_blank(group[-1]):
            group.pop()
        if not group:
            continue
        if trimmed and trimmed[-1][0] is kind:
            # Two blocks of one kind that only blank lines kept apart.
            trimmed[-1][1].extend(["", *group])
        else:
            trimmed.append((kind, group))
    blocks: list[Block] = []
    for pos, (kind, group) in enumerate(trimmed):
        folds = kind is not BlockKind.TEXT
        if kind is BlockKind.QUOTE and len(group) <= _SHORT_INLINE_QUOTE:
            folds = not (pos + 1 < len(trimmed) and trimmed[pos + 1][0] is BlockKind.TEXT)
        blocks.append(Block(kind, "\n".join(group), len(group), folds))
    return blocks


def first_words(body: str, limit: int = 80) -> str:
    """The start of the message's own text on one line, for a folded message's summary."""
    own = [b.text for b in split_blocks(body) if b.kind is BlockKind.TEXT]
    words = " ".join(" ".join(own).split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1].rsplit(" ", 1)[0] if " " in words[: limit - 1] else words[: limit - 1]
    return cut + "…"
