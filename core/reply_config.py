"""The ``[reply]`` table and the ``[[templates]]`` tables of ``helpdesk.toml``.

Problems are reported like the rest of the file (``FILE:LINE: key: expected ..., got ...``);
templates are counted from 1 as the admin reads them (``templates[2].body``) and the detail
names the template. A variable no reply can fill (``{{ custmer.name }}``) is an error here,
with the line it is on, rather than a surprise in front of a customer.

This module is imported by ``core.config`` for :class:`ReplySettings`, so it reaches back
into ``core.config`` (the shared reader) only inside :func:`read_reply`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .compose import QUOTE_STYLES
from .templates import KNOWN_VARIABLES, LANGUAGE, VARIABLE, Template, unknown_variables

if TYPE_CHECKING:
    from .config import _Reader
    from .workflow import WorkflowSettings

__all__ = ["DEFAULT_REPLY", "REPLY_KEYS", "TEMPLATE_KEYS", "ReplySettings", "read_reply"]

REPLY_KEYS = (
    "from_format",
    "quote",
    "send_delay",
    "status_after",
    "sent_by_server",
    "templates_dir",
    "team_signature",
    "agent_signature",
    "order_pattern",
)
TEMPLATE_KEYS = ("name", "language", "subject", "body")
MAX_SEND_DELAY = 600  # seconds


@dataclass(frozen=True, slots=True)
class ReplySettings:
    from_format: str = "{agent} via {team}"  # holds {team} or {agent}; only these two names
    quote: str = "bottom"  # "bottom" | "top" | "none": where the quote sits (core.compose.quote)
    send_delay: float = 0.0  # seconds a queued reply waits, for undo (`u`); 0..600
    # Status offered after a reply: a status kind ("waiting", "closed", "open": the workflow's
    # first status of that kind) or a status name of the workflow.
    status_after: str = "waiting"
    # None = detect; True = the SMTP server files sent mail in Sent itself; False = append it.
    sent_by_server: bool | None = None
    templates_dir: str | None = None  # folder of *.txt / *.md templates; "~" allowed
    team_signature: str = ""
    agent_signature: str = ""  # per agent: lives in the agent's own config copy
    order_pattern: str | None = None  # a regex with one group, e.g. "order\\s*#?(\\d{6,})"
    templates: tuple[Template, ...] = field(default=())  # [[templates]], in file order


DEFAULT_REPLY = ReplySettings()

_VARIABLES_EXPECTED = "only the variables " + ", ".join(KNOWN_VARIABLES)
_FROM_FORMAT_EXPECTED = 'a display name with {agent} and/or {team}, like "{agent} via {team}"'
_TEXT_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# --------------------------------------------------------------------------------------------
# Checkers: the cleaned value, or None when the value is wrong


def _from_format(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        return None
    text = value.strip()
    names = re.findall(r"\{([^{}]*)\}", text)
    if not names or any(n not in ("agent", "team") for n in names):
        return None
    if "{" in re.sub(r"\{(agent|team)\}", "", text) or "}" in re.sub(r"\{(agent|team)\}", "", text):
        return None
    return text


def _quote(value: object) -> str | None:
    if isinstance(value, str) and value.strip().lower() in QUOTE_STYLES:
        return value.strip().lower()
    return None


def _delay(value: object) -> float | None:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_SEND_DELAY
    ):
        return float(value)
    return None


def _name(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable():
        return value.strip()
    return None


_DETECT = "detect"


def _sent_by_server(value: object) -> bool | str | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() == _DETECT:
        return _DETECT
    return None


def _multiline(value: object) -> str | None:
    """A text of several lines (a signature, a template body): no control characters."""
    if isinstance(value, str) and _TEXT_CHARS.search(value.replace("\r\n", "\n")) is None:
        return value.replace("\r\n", "\n").strip("\n")
    return None


def _pattern_problem(value: object) -> str | None:
    """Why ``value`` is no usable order pattern, or None when it is one."""
    if not isinstance(value, str) or not value.strip():
        return "not a text"
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as err:
        return f"not a regular expression: {err}"
    if compiled.groups != 1:
        return f"{compiled.groups} groups; the one group is the order number"
    return None


# --------------------------------------------------------------------------------------------
# Where each [[templates]] table and its keys sit in the text


@dataclass(slots=True)
class _TableLines:
    header: int
    keys: dict[str, int] = field(default_factory=dict)


_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*(.*)$")


def _index_tables(text: str, name: str) -> list[_TableLines]:
    """The ``[[name]]`` tables of a file with the lines of their keys, skipping the inside of
    multi-line strings (a template body may hold lines that look like keys or tables)."""
    header = re.compile(r"^\s*\[\[\s*" + re.escape(name) + r"\s*\]\]\s*(?:#.*)?$")
    tables: list[_TableLines] = []
    current: _TableLines | None = None
    open_quote: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_quote is not None:
            if line.count(open_quote) % 2 == 1:
                open_quote = None
            continue
        if header.match(line):
            current = _TableLines(number)
            tables.append(current)
            continue
        if line.lstrip().startswith("["):
            current = None
            continue
        m = _KEY_LINE.match(line)
        if m is None:
            continue
        if current is not None:
            current.keys.setdefault(m.group(1), number)
        for quote in ('"""', "'''"):
            if m.group(2).count(quote) % 2 == 1:
                open_quote = quote
                break
    return tables


def _line_in_value(text: str, start: int | None, needle: str) -> int | None:
    """The first line from ``start`` on that holds ``needle``: where a variable of a
    multi-line value sits. ``start`` itself when not found."""
    if start is None:
        return None
    lines = text.splitlines()
    for number in range(start, len(lines) + 1):
        if needle in lines[number - 1]:
            return number
    return start


# --------------------------------------------------------------------------------------------
# Reading


def read_reply(
    r: _Reader, top: Mapping[str, Any], text: str, workflow: WorkflowSettings, source: str
) -> ReplySettings:
    """The reply settings of a parsed file; problems go to ``r``. ``text`` is the file's text
    (for the lines of ``[[templates]]``), ``source`` its name (for templates' ``source``)."""
    path = ("reply",)
    defaults = DEFAULT_REPLY
    t = r.table(top.get("reply", {}), path, REPLY_KEYS) or {}
    from_format = r.get(
        t, path, "from_format", _from_format, _FROM_FORMAT_EXPECTED, defaults.from_format
    )
    quote = r.get(t, path, "quote", _quote, 'one of "bottom", "top", "none"', defaults.quote)
    delay = r.get(
        t,
        path,
        "send_delay",
        _delay,
        f"a number of seconds from 0 to {MAX_SEND_DELAY}",
        defaults.send_delay,
    )
    status_after = _read_status_after(r, t, workflow)
    sent = r.get(t, path, "sent_by_server", _sent_by_server, 'true, false or "detect"', _DETECT)
    folder = r.get(t, path, "templates_dir", _name, "a folder path", None)
    signatures = {
        key: _read_text_with_variables(r, t, path, key, text)
        for key in (
            "team_signature",
            "agent_signature",
        )
    }
    pattern = _read_order_pattern(r, t, path)
    templates = _read_templates(r, top.get("templates"), text, source)
    return ReplySettings(
        from_format=from_format or defaults.from_format,
        quote=quote or defaults.quote,
        send_delay=defaults.send_delay if delay is None else delay,
        status_after=status_after,
        sent_by_server=None if sent is None or sent == _DETECT else bool(sent),
        templates_dir=folder,
        team_signature=signatures["team_signature"],
        agent_signature=signatures["agent_signature"],
        order_pattern=pattern,
        templates=templates,
    )


def _read_status_after(r: _Reader, t: Mapping[str, Any], workflow: WorkflowSettings) -> str:
    from .workflow import StatusKind

    default = DEFAULT_REPLY.status_after
    if "status_after" not in t:
        return default
    value = t["status_after"]
    kinds = [kind.value for kind in StatusKind]
    names = [status.name for status in workflow.statuses]
    wanted = value.strip() if isinstance(value, str) else None
    folded = {n.casefold() for n in (*kinds, *names)}
    if wanted is None or wanted.casefold() not in folded:
        shown = ", ".join(f'"{n}"' for n in dict.fromkeys((*kinds, *names)))
        r.problem(("reply", "status_after"), f"a status kind or a status name: {shown}", value)
        return default
    return wanted


def _read_text_with_variables(
    r: _Reader, t: Mapping[str, Any], path: tuple[str, ...], key: str, text: str
) -> str:
    found = r.get(t, path, key, _multiline, "a text without control characters", "")
    if not found:
        return ""
    unknown = unknown_variables(found)
    if unknown:
        at = (*path, key)
        _variable_problem(r, ".".join(at), r.locator.line_of(at), unknown[0], text, None)
        return ""
    return found


def _variable_problem(
    r: _Reader, key: str, line: int | None, variable: str, text: str, template: str | None
) -> None:
    """An unknown variable in a value whose key starts at ``line``: reported on the line of
    the file that holds it."""
    from .config import ConfigProblem

    needle = next(
        (m.group(0) for m in VARIABLE.finditer(text) if m.group(1) == variable),
        "{{",
    )
    detail = f"unknown variable {{{{ {variable} }}}}"
    if template is not None:
        detail = f'in template "{template}": {detail}'
    where = _line_in_value(text, line, needle)
    r.problems.append(ConfigProblem(key, where, _VARIABLES_EXPECTED, None, detail))


def _read_order_pattern(r: _Reader, t: Mapping[str, Any], path: tuple[str, ...]) -> str | None:
    if "order_pattern" not in t:
        return None
    value = t["order_pattern"]
    why = _pattern_problem(value)
    if why is not None:
        r.problem(
            (*path, "order_pattern"),
            'a regular expression with one group, like "order\\\\s*#?(\\\\d{6,})"',
            value,
            detail=why,
        )
        return None
    assert isinstance(value, str)
    return value


def _read_templates(r: _Reader, value: object, text: str, source: str) -> tuple[Template, ...]:
    from .config import ConfigProblem, _show

    if value is None:
        return ()
    lines = _index_tables(text, "templates")

    def line_of(index: int | None, key: str = "") -> int | None:
        if index is None or index >= len(lines):
            return lines[0].header if lines else r.locator.line_of(("templates",))
        return lines[index].keys.get(key, lines[index].header) if key else lines[index].header

    def problem(
        index: int | None,
        name: str | None,
        key: str,
        expected: str,
        got: object = None,
        detail: str = "",
    ) -> None:
        where = "templates" if index is None else f"templates[{index + 1}]"
        who = f'in template "{name}"' if name else None
        text_detail = f"{who}: {detail}" if who and detail else (who or detail or None)
        r.problems.append(
            ConfigProblem(
                f"{where}.{key}" if key else where,
                line_of(index, key),
                expected,
                None if got is None else _show(got),
                text_detail,
            )
        )

    if not isinstance(value, list):
        problem(None, None, "", "[[templates]] tables, each with a name and a body", value)
        return ()
    found: list[Template] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(value):
        if not isinstance(body, dict):
            problem(index, None, "", "a table with name and body", body)
            continue
        before = len(r.problems)
        raw_name = body.get("name")
        name = _name(raw_name)
        if name is None:
            problem(
                index,
                None,
                "name",
                "a non-empty name",
                raw_name,
                "missing" if raw_name is None else "",
            )
        elif name.casefold() in seen:
            problem(
                index,
                name,
                "name",
                "a name no other template has",
                name,
                f"templates[{seen[name.casefold()] + 1}] has the same name",
            )
        else:
            seen[name.casefold()] = index
        for key in body:
            if key not in TEMPLATE_KEYS:
                problem(
                    index, name, key, "one of: " + ", ".join(TEMPLATE_KEYS), None, "unknown key"
                )
        language = body.get("language", "")
        if not (isinstance(language, str) and (not language or LANGUAGE.match(language))):
            problem(index, name, "language", 'a language code like "cs" or "en-GB"', language)
            language = ""
        subject = body.get("subject")
        if subject is not None and _name(subject) is None:
            problem(index, name, "subject", "a one-line, non-empty subject", subject)
            subject = None
        raw_body = body.get("body")
        text_body = _multiline(raw_body)
        if text_body is None or not text_body.strip():
            problem(
                index,
                name,
                "body",
                "a non-empty text without control characters",
                raw_body,
                "missing" if raw_body is None else "",
            )
            text_body = None
        for key, part in (("subject", subject), ("body", text_body)):
            for variable in unknown_variables(part or ""):
                _variable_problem(
                    r, f"templates[{index + 1}].{key}", line_of(index, key), variable, text, name
                )
        if len(r.problems) > before or name is None or text_body is None:
            continue
        found.append(
            Template(
                name=name,
                language=language,
                subject=subject.strip() if isinstance(subject, str) else None,
                body=text_body + "\n",
                source=f"{source} templates[{index + 1}]",
            )
        )
    return tuple(found)
