"""Every UID of a folder, read in slices that no server answer can outgrow.

A folder's UIDs are read with `UID SEARCH` over slices of message sequence numbers, so that no
answer line outgrows what the IMAP library accepts (1 MB) however big the folder is. Where the
server has ESEARCH (RFC 4731) the answer comes as ranges (`1:50000`), a few bytes for a folder
nobody deletes from. The sync's periodic comparison and `helpdesk doctor` both use it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from imapclient import IMAPClient

# Message numbers per SEARCH: 50,000 UIDs of up to 10 digits stay well under 1 MB a line.
SEARCH_SLICE = 50_000


def parse_ranges(text: bytes | str) -> list[tuple[int, int]]:
    """`1:3,7,9:8` -> [(1, 3), (7, 7), (8, 9)]; a malformed item is skipped, never fatal (it
    is server text). Ranges, not numbers: a server may name `1:4294967295`."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    out: list[tuple[int, int]] = []
    for part in text.split(","):
        first, sep, last = part.strip().partition(":")
        if not first.isdigit() or (sep and not last.isdigit()):
            continue
        a, b = int(first), int(last or first)
        out.append((min(a, b), max(a, b)))
    return out


def parse_sequence_set(text: bytes | str, *, limit: int = 10_000_000) -> set[int]:
    """The numbers of a sequence set; more than `limit` of them is a server fault."""
    ranges = parse_ranges(text)
    if sum(b - a + 1 for a, b in ranges) > limit:
        raise ValueError(f"the server named more than {limit} messages where it has fewer")
    return {n for a, b in ranges for n in range(a, b + 1)}


def within(ranges: Iterable[tuple[int, int]], numbers: Iterable[int]) -> set[int]:
    """The numbers that fall in any of the ranges (without expanding the ranges)."""
    spans = sorted(ranges)
    starts = [a for a, _ in spans]
    # Merged ends: the furthest any range starting at or before this one reaches.
    reach: list[int] = []
    for _, b in spans:
        reach.append(max(b, reach[-1]) if reach else b)
    out: set[int] = set()
    for n in numbers:
        i = bisect.bisect_right(starts, n) - 1
        if i >= 0 and reach[i] >= n:
            out.add(n)
    return out


def _esearch_all(lines: Iterable[bytes | None], *, limit: int = SEARCH_SLICE) -> set[int]:
    """UIDs of `* ESEARCH (TAG "x") UID ALL 1:3,5`; no ALL item means no match."""
    out: set[int] = set()
    for line in lines:
        if not line:
            continue
        if line.startswith(b"("):
            # The correlator `(TAG "A5")`: a quoted tag cannot hold ")" (RFC 3501 tag syntax).
            line = line[line.find(b")") + 1 :]
        words = line.split()
        for i, word in enumerate(words[:-1]):
            if word.upper() == b"ALL":
                out |= parse_sequence_set(words[i + 1], limit=limit)
    return out


def _search_all(lines: Iterable[bytes | None]) -> set[int]:
    out: set[int] = set()
    for line in lines:
        if line:
            out.update(map(int, line.split()))
    return out


def folder_uids(client: IMAPClient, exists: int, *, esearch: bool) -> frozenset[int]:
    """Every UID of the selected folder, which has `exists` messages."""
    uids: set[int] = set()
    for start in range(1, exists + 1, SEARCH_SLICE):
        span = f"{start}:{min(start + SEARCH_SLICE - 1, exists)}".encode()
        # Private but stable imapclient API: `search()` neither sends RETURN nor reads an
        # ESEARCH answer, and its parser is far slower on 100,000 numbers than `split`.
        if esearch:
            lines = client._raw_command_untagged(
                b"SEARCH", [b"RETURN", b"(ALL)", span], response_name="ESEARCH"
            )
            uids |= _esearch_all(lines)
        else:
            uids |= _search_all(client._raw_command_untagged(b"SEARCH", [span]))
    return frozenset(uids)
