"""Canned replies: template files, ``{{ variable }}`` filling, the fuzzy picker's ranking and
signatures.

Pure: template files are read by ``storage.templates_dir``; their text arrives here.

A variable with no value is never filled with "": it stays in the text as written, is listed
in :attr:`Rendered.missing` and its place in :attr:`Rendered.spans`, so the editor can
highlight it and the sender can refuse a reply that still holds one (:func:`unfilled`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from helpdesk.core.fuzzy import fold_for_match, match_score

from .compose import strip_subject_prefixes
from .language_guess import primary_subtag
from .sanitize import safe_text

__all__ = [
    "KNOWN_VARIABLES",
    "LANGUAGE",
    "VARIABLE",
    "Rendered",
    "Template",
    "TemplateError",
    "combined_signature",
    "fuzzy_rank",
    "parse_template_file",
    "render",
    "unfilled",
    "unknown_variables",
    "variables_for",
    "with_signature",
]


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    language: str = ""  # "cs", "en"; "" = any
    subject: str | None = None  # for new outgoing tickets ("m"); replies keep their subject
    body: str = ""
    source: str = ""  # "helpdesk.toml templates[2]" or a file path, for error messages


class TemplateError(ValueError):
    """A template file that cannot be used: ``str()`` is ``SOURCE:LINE: what is wrong``."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")

KNOWN_VARIABLES: Mapping[str, str] = {
    "customer.name": "the customer's full name, as their mail gives it",
    "customer.first_name": "the customer's first name",
    "customer.email": "the customer's address",
    "ticket.number": "the ticket number, like 1234",
    "ticket.subject": "the ticket's subject, without Re:/Fwd:",
    "agent.name": "your full name",
    "agent.first_name": "your first name",
    "agent.email": "your own address",
    "team.name": "the team's name",
    "order.number": "the order number found in the subject (the team's order_pattern)",
    "today": "today's date, like 2026-11-20",
    "hours.next_opening": "when the team is next open, like 2026-11-23 08:00 (automatic replies)",
    "hours.next_opening_date": "the date of the next opening, like 2026-11-23",
    "hours.next_opening_time": "the time of the next opening, like 08:00",
}

LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


# --------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    missing: tuple[str, ...]  # variables with no value, each once, in order of appearance
    spans: tuple[tuple[int, int], ...]  # (start, end) in `text` of every unfilled "{{ x }}"


def render(template_body: str, values: Mapping[str, str]) -> Rendered:
    """Fill ``{{ name }}`` from ``values``.

    A name without a non-blank value (unknown names included) stays as written. Values go in
    literally: a value holding "{{ x }}" is not expanded again, though :func:`unfilled` will
    see it in the result.
    """
    out: list[str] = []
    missing: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    last = 0
    for m in VARIABLE.finditer(template_body):
        before = template_body[last : m.start()]
        out.append(before)
        length += len(before)
        name = m.group(1)
        value = values.get(name, "")
        if value.strip():
            piece = value
        else:
            piece = m.group(0)
            spans.append((length, length + len(piece)))
            if name not in missing:
                missing.append(name)
        out.append(piece)
        length += len(piece)
        last = m.end()
    out.append(template_body[last:])
    return Rendered("".join(out), tuple(missing), tuple(spans))


def unfilled(text: str) -> tuple[str, ...]:
    """The variables still in ``text``, each once: a reply holding one must not be sent."""
    return tuple(dict.fromkeys(m.group(1) for m in VARIABLE.finditer(text)))


def unknown_variables(text: str) -> tuple[str, ...]:
    """The variables of ``text`` that no reply can ever fill (typos, mostly)."""
    return tuple(name for name in unfilled(text) if name not in KNOWN_VARIABLES)


def _clean_value(text: str) -> str:
    # Names come from mail headers: one line, no control characters.
    return " ".join(safe_text(text).split())


def _first_name(full: str) -> str:
    if "@" in full:
        return ""  # an address where a name should be: no first name to take from it
    if "," in full:
        # "Lovelace, Ada": the family name first, as some directories write it
        after = full.split(",", 1)[1].split()
        return after[0] if after else ""
    words = full.split()
    return words[0] if words else ""


def variables_for(
    *,
    customer_name: str,
    customer_email: str,
    ticket: int,
    subject: str,
    agent_name: str,
    agent_email: str,
    team: str,
    order_pattern: str | None,
    today: date,
    next_opening: datetime | None = None,
) -> dict[str, str]:
    """The values of :data:`KNOWN_VARIABLES` for one reply; a value not known is left out,
    so that its variable stays visible instead of becoming ""."""
    customer = _clean_value(customer_name)
    if "@" in customer:
        customer = ""
    agent = _clean_value(agent_name)
    clean_subject = strip_subject_prefixes(_clean_value(subject))
    values = {
        "customer.name": customer,
        "customer.first_name": _first_name(customer),
        "customer.email": _clean_value(customer_email),
        "ticket.number": str(ticket),
        "ticket.subject": clean_subject,
        "agent.name": agent,
        "agent.first_name": _first_name(agent),
        "agent.email": _clean_value(agent_email),
        "team.name": _clean_value(team),
        "today": today.isoformat(),
    }
    if next_opening is not None:  # in the team's zone: what the customer is told
        values["hours.next_opening"] = f"{next_opening:%Y-%m-%d %H:%M}"
        values["hours.next_opening_date"] = f"{next_opening:%Y-%m-%d}"
        values["hours.next_opening_time"] = f"{next_opening:%H:%M}"
    if order_pattern:
        m = re.search(order_pattern, clean_subject, re.IGNORECASE)
        if m is not None and m.groups() and m.group(1):
            values["order.number"] = m.group(1)
    return {name: value for name, value in values.items() if value}


# --------------------------------------------------------------------------------------------
# The picker


def fuzzy_rank(query: str, templates: Sequence[Template], language: str = "") -> list[Template]:
    """The templates whose name holds the query's letters in order, best first.

    Templates in ``language`` come first, then those for any language, then the others; an
    empty query gives every template, in that language order and by name.
    """
    wanted = fold_for_match(query.strip())

    def language_rank(t: Template) -> int:
        if not language:
            return 0
        if t.language == language or primary_subtag(t.language) == primary_subtag(language):
            return 0
        return 1 if not t.language else 2

    ranked: list[tuple[int, int, str, int, Template]] = []
    for index, template in enumerate(templates):
        folded = fold_for_match(template.name)
        score = match_score(wanted, folded) if wanted else 0
        if score is not None:
            ranked.append((language_rank(template), score, folded, index, template))
    ranked.sort(key=lambda item: item[:4])
    return [item[4] for item in ranked]


# --------------------------------------------------------------------------------------------
# Template files

_FRONT_KEYS = ("subject", "language")
_FRONT_LINE = re.compile(r"^([A-Za-z][A-Za-z-]*)\s*:\s*(.*)$")
_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _check_text(text: str, source: str, first_line: int = 1) -> None:
    bad = _BAD_CHARS.search(text)
    if bad is not None:
        raise TemplateError(
            source,
            first_line - 1 + _line_of(text, bad.start()),
            f"control character U+{ord(bad.group()):04X} (a template is plain text)",
        )
    for m in VARIABLE.finditer(text):
        if m.group(1) not in KNOWN_VARIABLES:
            raise TemplateError(
                source,
                first_line - 1 + _line_of(text, m.start()),
                f"unknown variable {m.group(0)}; known: " + ", ".join(KNOWN_VARIABLES),
            )


def parse_template_file(name: str, text: str, source: str) -> Template:
    """A template from a file's text.

    The file may start with front matter, lines ``Subject: ...`` and ``Language: cs`` ended
    by a blank line; everything after is the body. A file whose first line is no such line
    is all body. Raises :class:`TemplateError` naming the line of the problem.
    """
    if not name.strip() or not name.isprintable():
        raise TemplateError(source, None, f"bad template name {name!r}")
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    front: dict[str, str] = {}
    body_start = 0
    first = _FRONT_LINE.match(lines[0]) if lines else None
    if first is not None and first.group(1).lower() in _FRONT_KEYS:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                body_start = number
                break
            m = _FRONT_LINE.match(line)
            if m is None or m.group(1).lower() not in _FRONT_KEYS:
                raise TemplateError(
                    source,
                    number,
                    "expected a header line (Subject: ..., Language: ...) or a blank line "
                    f"before the body, got {line[:40]!r}",
                )
            key = m.group(1).lower()
            if key in front:
                raise TemplateError(source, number, f"{m.group(1)} given twice")
            front[key] = m.group(2).strip()
        else:
            raise TemplateError(
                source, len(lines), "no blank line after the header lines: the body is missing"
            )
    body = "\n".join(lines[body_start:]).strip("\n")
    if not body.strip():
        raise TemplateError(source, body_start + 1 if body_start else 1, "the body is empty")
    language = front.get("language", "")
    if language and not LANGUAGE.match(language):
        raise TemplateError(
            source,
            _front_line(lines, "language"),
            f'expected a language code like "cs" or "en-GB", got {language!r}',
        )
    subject = front.get("subject")
    if subject is not None:
        if not subject:
            raise TemplateError(source, _front_line(lines, "subject"), "the subject is empty")
        _check_text(subject, source, _front_line(lines, "subject"))
    rest = lines[body_start:]
    skipped = 0
    while skipped < len(rest) and not rest[skipped]:
        skipped += 1  # blank lines before the body are not part of it
    _check_text(body, source, body_start + 1 + skipped)
    return Template(
        name=name.strip(), language=language, subject=subject, body=body + "\n", source=source
    )


def _front_line(lines: Sequence[str], key: str) -> int:
    for number, line in enumerate(lines, start=1):
        m = _FRONT_LINE.match(line)
        if m is not None and m.group(1).lower() == key:
            return number
    return 1


# --------------------------------------------------------------------------------------------
# Signatures

_SEPARATOR = "-- "


def _strip_separator(signature: str) -> str:
    text = signature.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    first, _, rest = text.partition("\n")
    if first.rstrip() == "--":
        text = rest
    return text.strip("\n")


def combined_signature(agent_signature: str, team_signature: str) -> str:
    """The agent's signature above the team's, without separators of their own."""
    parts = [_strip_separator(s) for s in (agent_signature, team_signature)]
    return "\n".join(p for p in parts if p.strip())


def with_signature(body: str, signature: str) -> str:
    """``body`` with ``signature`` below a "-- " line (RFC 3676): the separator once, and the
    signature not again when the body already ends with it."""
    sig = _strip_separator(signature)
    if not sig.strip():
        return body
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    head = text.rstrip("\n")
    lines = head.split("\n")
    if _SEPARATOR in lines:
        after = "\n".join(lines[lines.index(_SEPARATOR) + 1 :])
        if sig in after:
            return body
        # a signature block is there already (typed, or an earlier one edited): add to it
        return f"{head}\n{sig}\n"
    return f"{head}\n\n{_SEPARATOR}\n{sig}\n" if head else f"\n{_SEPARATOR}\n{sig}\n"
