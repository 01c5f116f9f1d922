"""The filter language of the ticket list, parsed without I/O.

``status:open assignee:me tag:reklamace from:@example.com priority:high dept:sales is:unread
"free text" -word sort:-activity``: every term must hold (AND); a ``-`` before a term negates
it; a value or free text may be quoted to keep spaces. ``storage.ticket_filter`` turns a parsed
query into SQL. A mistake raises :class:`QueryError` that says where and what is wrong, worded
for the agent who typed it (the app shows it under the input, never as a crash).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "FIELDS",
    "IS_VALUES",
    "PRIORITY_NAMES",
    "QueryError",
    "Sort",
    "SortKey",
    "Term",
    "TicketQuery",
    "matching_statuses",
    "parse_sort",
    "parse_ticket_query",
]


class SortKey(StrEnum):
    ACTIVITY = "activity"  # newest activity first
    NUMBER = "number"  # lowest number first
    PRIORITY = "priority"  # most urgent first
    SLA = "sla"  # soonest due first, tickets without a due time last
    CUSTOMER = "customer"  # A to Z


@dataclass(frozen=True, slots=True)
class Sort:
    """A key in its natural order (see :class:`SortKey`); ``reverse`` is the ``-`` form."""

    key: SortKey
    reverse: bool = False

    def __str__(self) -> str:
        return f"{'-' if self.reverse else ''}{self.key.value}"


# field -> what its value may be, as the error for an empty value says it
FIELDS: dict[str, str] = {
    "status": "a status name, like status:open",
    "assignee": "me, none or an agent, like assignee:me",
    "tag": "a tag, like tag:invoice",
    "from": "an address or @domain, like from:@example.com",
    "priority": "low, normal, high or urgent",
    "dept": "a department, or none",
    "is": "unread, breached, due, open, waiting or closed",
    "sort": "activity, number, priority, sla or customer (- reverses)",
}
_ALIASES = {"department": "dept", "assigned": "assignee", "prio": "priority", "tags": "tag"}
IS_VALUES = ("unread", "breached", "due", "open", "waiting", "closed", "snoozed")
PRIORITY_NAMES = {"low": 0, "normal": 1, "high": 2, "urgent": 3}
_MAX_TERMS = 32  # a pasted paragraph must not become a statement of a thousand clauses


@dataclass(frozen=True, slots=True)
class Term:
    """``field`` is "" for free text. Values are as typed except where normalised: priority
    becomes its level ("0"-"3"), ``is``/``assignee:me``/``assignee:none`` lower-case."""

    field: str
    value: str
    negated: bool = False

    def __str__(self) -> str:
        value = f'"{self.value}"' if any(c.isspace() for c in self.value) else self.value
        head = f"{self.field}:" if self.field else ""
        return f"{'-' if self.negated else ''}{head}{value}"


@dataclass(frozen=True, slots=True)
class TicketQuery:
    terms: tuple[Term, ...] = ()
    sort: Sort | None = None

    @property
    def empty(self) -> bool:
        return not self.terms and self.sort is None

    def __and__(self, other: TicketQuery) -> TicketQuery:
        """Both filters; the other's sort wins (a filter typed over a view re-sorts it)."""
        return TicketQuery(self.terms + other.terms, other.sort or self.sort)

    def __str__(self) -> str:
        parts = [str(t) for t in self.terms]
        if self.sort is not None:
            parts.append(f"sort:{self.sort}")
        return " ".join(parts)


class QueryError(ValueError):
    """What is wrong, and where: ``start``/``end`` are offsets into the text typed."""

    def __init__(self, message: str, start: int = 0, end: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.start = start
        self.end = max(start, end)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def parse_sort(text: str, start: int = 0) -> Sort:
    """``activity``, ``-priority``...: the value of a ``sort:`` term or of a view's ``sort``."""
    word = text.strip()
    reverse = word.startswith("-")
    key = word[1:] if reverse else word
    try:
        return Sort(SortKey(key.lower()), reverse)
    except ValueError:
        keys = [k.value for k in SortKey]
        raise QueryError(
            f"unknown sort '{key}'{_did_you_mean(key, keys)}: one of {', '.join(keys)}",
            start,
            start + len(text),
        ) from None


def matching_statuses(value: str, known: Sequence[str]) -> tuple[str, ...]:
    """The configured status names ``value`` means: the one it names exactly, else those it
    begins (``waiting`` -> "waiting on customer", "waiting on third party"); case-insensitive.
    The value itself is always included, so that names stored before the statuses were
    configured keep matching."""
    folded = value.casefold()
    exact = [name for name in known if name.casefold() == folded]
    found = exact or [name for name in known if name.casefold().startswith(folded)]
    return tuple(dict.fromkeys([value, *found]))


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    start: int
    end: int
    negated: bool
    quoted: bool  # the whole token was a "quoted phrase": free text, never a field


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if text[i] == "-" and not negated:
            raise QueryError("'-' must stand right before the word or term it excludes", i, i + 1)
        if negated:
            i += 1
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError("a quote is not closed", i, n)
            out.append(_Token(text[i + 1 : close], start, close + 1, negated, quoted=True))
            i = close + 1
            continue
        # A bare word, or field:value where the value may be quoted (status:"waiting on x").
        chars: list[str] = []
        while i < n and not text[i].isspace():
            if text[i] == '"':
                close = text.find('"', i + 1)
                if close < 0:
                    raise QueryError("a quote is not closed", i, n)
                chars.append(text[i + 1 : close])
                i = close + 1
                continue
            chars.append(text[i])
            i += 1
        out.append(_Token("".join(chars), start, i, negated, quoted=False))
    return out


def _field_of(token: _Token) -> tuple[str, str] | None:
    """(field, value) of a ``name:value`` token; None for free text."""
    if token.quoted:
        return None
    name, colon, value = token.text.partition(":")
    # Only letters make a field name, so "10:30" stays free text; a word before a colon is
    # taken as a field so that a typo ("stat:open") is reported instead of searched for.
    if not colon or not name.isalpha():
        return None
    return name.lower(), value


def _term(token: _Token, field: str, value: str, statuses: Sequence[str] | None) -> Term:
    def fail(message: str) -> QueryError:
        return QueryError(message, token.start, token.end)

    if not value.strip():
        raise fail(f"{field}: needs a value ({FIELDS[field]})")
    value = value.strip()
    match field:
        case "priority":
            level = PRIORITY_NAMES.get(value.lower())
            if level is None and value.isdigit() and int(value) in PRIORITY_NAMES.values():
                level = int(value)
            if level is None:
                names = list(PRIORITY_NAMES)
                raise fail(
                    f"unknown priority '{value}'{_did_you_mean(value, names)}: "
                    "one of low, normal, high, urgent"
                )
            return Term(field, str(level), token.negated)
        case "is":
            if value.lower() not in IS_VALUES:
                raise fail(
                    f"unknown is:{value}{_did_you_mean(value, IS_VALUES)}: "
                    f"one of {', '.join(IS_VALUES)}"
                )
            return Term(field, value.lower(), token.negated)
        case "assignee" if value.lower() in ("me", "none"):
            return Term(field, value.lower(), token.negated)
        case "dept" if value.lower() == "none":
            return Term(field, "none", token.negated)
        case "status" if statuses:
            if len(matching_statuses(value, statuses)) == 1 and value.casefold() not in (
                s.casefold() for s in statuses
            ):
                raise fail(f"unknown status '{value}'{_did_you_mean(value, statuses)}")
    return Term(field, value, token.negated)


def parse_ticket_query(text: str, *, statuses: Sequence[str] | None = None) -> TicketQuery:
    """Parse a filter; raise :class:`QueryError` on the first mistake.

    ``statuses``: the configured status names; when given, a ``status:`` value must name one
    (or begin one), so that a typo is reported instead of matching nothing.
    """
    terms: list[Term] = []
    sort: Sort | None = None
    for token in _tokens(text):
        if len(terms) >= _MAX_TERMS:
            raise QueryError(f"too many terms (at most {_MAX_TERMS})", token.start, token.end)
        found = _field_of(token)
        if found is None:
            if token.text.strip():
                terms.append(Term("", token.text.strip(), token.negated))
            continue
        name, value = found
        field = _ALIASES.get(name, name)
        if field not in FIELDS:
            raise QueryError(
                f"unknown field '{name}'{_did_you_mean(name, list(FIELDS))}",
                token.start,
                token.start + (1 if token.negated else 0) + len(name),
            )
        if field == "sort":
            if token.negated:
                raise QueryError("sort: cannot be negated: write sort:-key", token.start, token.end)
            if sort is not None:
                raise QueryError("only one sort: term", token.start, token.end)
            offset = token.start + len(name) + 1
            if not value.strip():
                raise QueryError(f"sort: needs a value ({FIELDS['sort']})", token.start, token.end)
            sort = parse_sort(value, offset)
            continue
        terms.append(_term(token, field, value, statuses))
    return TicketQuery(tuple(terms), sort)
