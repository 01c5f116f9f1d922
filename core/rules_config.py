"""The ``[[rules]]`` tables of ``helpdesk.toml``, read into :class:`~helpdesk.core.rules.Rule`.

One rule per ``[[rules]]`` table, in file order::

    [[rules]]
    name = "Orders to the warehouse"
    conditions = [
      { field = "subject", contains = "Objednávka" },
    ]
    assign = "department:warehouse"

Problems are reported like the rest of the file (``FILE:LINE: key: expected ...``); the key
counts rules and conditions from 1, as the admin reads them (``rules[2].conditions[1].matches``),
and the detail names the rule. The line is the line of the key, of the condition's inline
table, or of the rule's ``[[rules]]`` header.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import ConfigProblem, _show
from .rules import (
    Actions,
    Assign,
    Condition,
    Match,
    Op,
    Rule,
    RuleError,
    Strategy,
    Trigger,
    make_condition,
    parse_priority,
)

__all__ = ["CONDITION_KEYS", "RULE_KEYS", "read_rules"]

RULE_KEYS = (
    "name",
    "on",
    "match",
    "conditions",
    "assign",
    "strategy",
    "department",
    "status",
    "priority",
    "category",
    "tags",
    "spam",
    "auto_reply",
    "note",
    "stop",
)
_ACTION_KEYS = (
    "assign",
    "department",
    "status",
    "priority",
    "category",
    "tags",
    "spam",
    "auto_reply",
    "note",
)
CONDITION_KEYS = ("field", *(op.value for op in Op))
_EMAIL = re.compile(r"^[^@\s<>\"(),;:\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_TRIGGERS = {
    "new ticket": Trigger.NEW_TICKET,
    "new_ticket": Trigger.NEW_TICKET,
    "every message": Trigger.EVERY_MESSAGE,
    "every_message": Trigger.EVERY_MESSAGE,
}


# --------------------------------------------------------------------------------------------
# Where each rule, key and condition sits in the text


@dataclass(slots=True)
class _RuleLines:
    header: int
    keys: dict[str, int] = field(default_factory=dict)
    conditions: list[int] = field(default_factory=list)


_RULES_HEADER = re.compile(r"^\s*\[\[\s*rules\s*\]\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def _escaped(text: str, pos: int) -> bool:
    """Whether the quote at `pos` of a basic string is escaped: an odd run of backslashes
    before it (`"C:\\"` ends at its last quote, `"a\"b"` does not end in the middle)."""
    run = 0
    while pos - run - 1 >= 0 and text[pos - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _scan_value(text: str, pos: int, state: dict[str, Any]) -> None:
    """Walk one line of an array value, counting its inline tables; strings and comments are
    skipped so that a brace inside a regular expression counts for nothing."""
    n = len(text)
    while pos < n:
        ch = text[pos]
        quote = state.get("quote")
        if quote:
            if text.startswith(quote, pos) and (quote in ("'", "'''") or not _escaped(text, pos)):
                state["quote"] = None
                pos += len(quote)
                continue
            pos += 1
            continue
        if ch == "#":
            return
        if ch in "\"'":
            triple = text[pos : pos + 3]
            state["quote"] = triple if triple in ('"""', "'''") else ch
            pos += len(state["quote"])
            continue
        if ch == "[":
            state["depth"] += 1
        elif ch == "]":
            state["depth"] -= 1
        elif ch == "{":
            if state["depth"] == 1 and state["braces"] == 0:
                state["elements"].append(state["line"])
            state["braces"] += 1
        elif ch == "}":
            state["braces"] -= 1
        pos += 1


def _index_rules(text: str) -> list[_RuleLines]:
    rules: list[_RuleLines] = []
    current: _RuleLines | None = None
    array: dict[str, Any] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if array is not None:
            array["line"] = number
            _scan_value(line, 0, array)
            if array["depth"] <= 0:
                array = None
            continue
        if _RULES_HEADER.match(line):
            current = _RuleLines(number)
            rules.append(current)
            continue
        if line.lstrip().startswith("["):
            current = None
            continue
        m = _KEY_LINE.match(line)
        if current is None or m is None:
            continue
        current.keys.setdefault(m.group(1), number)
        if m.group(1) == "conditions":
            state: dict[str, Any] = {
                "depth": 0,
                "braces": 0,
                "quote": None,
                "line": number,
                "elements": current.conditions,
            }
            _scan_value(line, m.end(), state)
            if state["depth"] > 0:
                array = state
    return rules


# --------------------------------------------------------------------------------------------
# Reading


class _RuleReader:
    def __init__(self, text: str) -> None:
        self.lines = _index_rules(text)
        self.problems: list[ConfigProblem] = []

    def line(self, index: int, key: str | None = None, condition: int | None = None) -> int | None:
        if index >= len(self.lines):
            return None
        where = self.lines[index]
        if condition is not None and condition < len(where.conditions):
            return where.conditions[condition]
        if key is not None and key in where.keys:
            return where.keys[key]
        return where.header

    def problem(
        self,
        index: int,
        name: str | None,
        key: str,
        expected: str,
        got: str | None = None,
        detail: str = "",
        *,
        line_key: str | None = None,
        condition: int | None = None,
    ) -> None:
        rule = f'rule "{name}"' if name else f"rule {index + 1}"
        text = f"in {rule}: {detail}" if detail else f"in {rule}"
        self.problems.append(
            ConfigProblem(
                f"rules[{index + 1}]" + (f".{key}" if key else ""),
                self.line(
                    index,
                    line_key if line_key is not None else key.split(".")[0] or None,
                    condition,
                ),
                expected,
                got,
                text,
            )
        )


def read_rules(value: object, text: str) -> tuple[tuple[Rule, ...], list[ConfigProblem]]:
    """The rules of a parsed file (``value`` is what ``rules`` holds) and every problem found;
    ``text`` is the file's text, for line numbers."""
    r = _RuleReader(text)
    if not isinstance(value, list):
        found = re.search(r"^\s*rules\s*=", text, re.M)
        line = text.count("\n", 0, found.start()) + 1 if found else None
        return (), [ConfigProblem("rules", line, "[[rules]] tables", _show(value))]
    rules: list[Rule] = []
    seen: dict[str, int] = {}
    for index, body in enumerate(value):
        rule = _read_rule(r, index, body)
        if rule is None:
            continue
        folded = rule.name.casefold()
        if folded in seen:
            r.problem(
                index,
                rule.name,
                "name",
                "a name no other rule has",
                _show(rule.name),
                f"rule {seen[folded] + 1} has the same name",
            )
            continue
        seen[folded] = index
        rules.append(rule)
    return tuple(rules), r.problems


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable():
        return value.strip()
    return None


def _read_rule(r: _RuleReader, index: int, body: object) -> Rule | None:
    if not isinstance(body, dict):
        r.problem(index, None, "", "a [[rules]] table", _show(body))
        return None
    before = len(r.problems)
    raw_name = body.get("name")
    # problems name the rule by its place until it has a name of its own
    name = _text(raw_name) if raw_name is not None else None
    if raw_name is not None and name is None:
        r.problem(index, None, "name", "a non-empty name", _show(raw_name))
    for key in body:
        if key not in RULE_KEYS:
            close = difflib.get_close_matches(key, RULE_KEYS, n=1)
            hint = f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
            r.problem(index, name, key, "one of: " + ", ".join(RULE_KEYS), None, hint)

    on = Trigger.NEW_TICKET
    if "on" in body:
        found = (
            _TRIGGERS.get(str(body["on"]).strip().lower()) if isinstance(body["on"], str) else None
        )
        if found is None:
            r.problem(index, name, "on", '"new ticket" or "every message"', _show(body["on"]))
        else:
            on = found
    match = Match.ALL
    if "match" in body:
        raw_match = body["match"]
        if isinstance(raw_match, str) and raw_match.strip().lower() in ("all", "any"):
            match = Match(raw_match.strip().lower())
        else:
            r.problem(index, name, "match", '"all" or "any"', _show(raw_match))
    stop = body.get("stop", False)
    if not isinstance(stop, bool):
        r.problem(index, name, "stop", "true or false", _show(stop))
        stop = False

    conditions = _read_conditions(r, index, name, body.get("conditions", []))
    actions = _read_actions(r, index, name, body)
    if actions is not None and actions == Actions() and not stop:
        r.problem(
            index,
            name,
            "",
            "at least one action (" + ", ".join(_ACTION_KEYS) + ") or stop = true",
            None,
            "the rule does nothing",
        )
    if len(r.problems) > before or actions is None:
        return None
    return Rule(
        name=name or f"rule {index + 1}",
        conditions=conditions,
        actions=actions,
        match=match,
        on=on,
        stop=stop,
    )


def _read_conditions(
    r: _RuleReader, index: int, name: str | None, value: object
) -> tuple[Condition, ...]:
    if not isinstance(value, list):
        r.problem(
            index,
            name,
            "conditions",
            'an array of conditions like [{ field = "subject", contains = "..." }]',
            _show(value),
        )
        return ()
    out: list[Condition] = []
    for i, item in enumerate(value):
        key = f"conditions[{i + 1}]"
        if not isinstance(item, dict):
            r.problem(
                index,
                name,
                key,
                '{ field = "...", OPERATOR = VALUE }',
                _show(item),
                line_key="conditions",
                condition=i,
            )
            continue
        unknown = [k for k in item if k not in CONDITION_KEYS]
        for k in unknown:
            close = difflib.get_close_matches(k, CONDITION_KEYS, n=1)
            hint = f'unknown operator (did you mean "{close[0]}"?)' if close else "unknown operator"
            r.problem(
                index,
                name,
                f"{key}.{k}",
                "field and one of: " + ", ".join(o.value for o in Op),
                None,
                hint,
                line_key="conditions",
                condition=i,
            )
        if unknown:
            continue
        field_name = item.get("field")
        if not isinstance(field_name, str) or not field_name.strip():
            r.problem(
                index,
                name,
                f"{key}.field",
                'a field name like "subject", "from_domain" or "header:X-Mailer"',
                None if field_name is None else _show(field_name),
                "missing" if field_name is None else "",
                line_key="conditions",
                condition=i,
            )
            continue
        ops = [k for k in item if k != "field"]
        if len(ops) != 1:
            r.problem(
                index,
                name,
                key,
                "exactly one operator: " + ", ".join(o.value for o in Op),
                None,
                "no operator" if not ops else "several operators: " + ", ".join(ops),
                line_key="conditions",
                condition=i,
            )
            continue
        try:
            out.append(make_condition(field_name.strip(), ops[0], item[ops[0]]))
        except RuleError as exc:
            r.problem(
                index,
                name,
                f"{key}.{exc.key}",
                exc.expected,
                exc.got,
                exc.detail,
                line_key="conditions",
                condition=i,
            )
    return tuple(out)


def _tags(value: object) -> tuple[str, ...] | None:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return None
    out: list[str] = []
    for item in items:
        tag = _text(item)
        if tag is None or "," in tag:
            return None
        out.append(tag)
    return tuple(dict.fromkeys(out))


def _read_actions(
    r: _RuleReader, index: int, name: str | None, body: dict[str, Any]
) -> Actions | None:
    before = len(r.problems)

    def text(key: str, expected: str) -> str | None:
        if key not in body:
            return None
        found = _text(body[key])
        if found is None:
            r.problem(index, name, key, expected, _show(body[key]))
        return found

    assign: Assign | None = None
    target = text("assign", 'an agent\'s email address or "department:NAME"')
    strategy = Strategy.ROUND_ROBIN
    if "strategy" in body:
        raw = body["strategy"]
        wanted = raw.strip().lower().replace("-", "_") if isinstance(raw, str) else None
        if wanted in ("round_robin", "least_loaded"):
            strategy = Strategy(wanted)
        else:
            r.problem(index, name, "strategy", '"round_robin" or "least_loaded"', _show(raw))
    if target is not None:
        if target.lower().startswith("department:"):
            department = target.split(":", 1)[1].strip()
            if department:
                assign = Assign(department=department, strategy=strategy)
            else:
                r.problem(index, name, "assign", '"department:NAME" with a name', _show(target))
        elif _EMAIL.match(target):
            assign = Assign(agent=target.lower())
        else:
            r.problem(
                index,
                name,
                "assign",
                'an agent\'s email address or "department:NAME"',
                _show(body["assign"]),
            )
    if "strategy" in body and (assign is None or assign.department is None) and target is not None:
        r.problem(
            index,
            name,
            "strategy",
            'assign = "department:NAME" beside it',
            None,
            "a strategy chooses among a department's agents",
        )

    priority = None
    if "priority" in body:
        priority = parse_priority(body["priority"])
        if priority is None:
            r.problem(
                index,
                name,
                "priority",
                "low, normal, high, urgent (or 0 to 3)",
                _show(body["priority"]),
            )
    tags: tuple[str, ...] = ()
    if "tags" in body:
        found_tags = _tags(body["tags"])
        if found_tags is None:
            r.problem(
                index, name, "tags", "an array of tag names without commas", _show(body["tags"])
            )
        else:
            tags = found_tags
    spam = body.get("spam")
    if spam is not None and not isinstance(spam, bool):
        r.problem(index, name, "spam", "true or false", _show(spam))
        spam = None
    note = None
    if "note" in body:
        raw_note = body["note"]
        if isinstance(raw_note, str) and raw_note.strip():
            note = raw_note.strip()
        else:
            r.problem(index, name, "note", "a non-empty text", _show(raw_note))
    actions = Actions(
        assign=assign,
        department=text("department", "a department name"),
        status=text("status", "a status name"),
        priority=priority,
        category=text("category", "a category name"),
        tags=tags,
        spam=spam,
        auto_reply=text("auto_reply", "a template name"),
        note=note,
    )
    return None if len(r.problems) > before else actions


def check_statuses(
    value: object, rules: Sequence[Rule], text: str, known: Collection[str]
) -> list[ConfigProblem]:
    """A rule's `status` must name one of the configured statuses: a typo would otherwise
    be stored as an unknown status, which counts as open, and the ticket would never close.
    (Checked once both sections are read: statuses come from `[[statuses]]`.)"""
    r = _RuleReader(text)
    wanted = {name.casefold() for name in known}
    by_name = {rule.name: rule for rule in rules}
    for index, body in enumerate(value if isinstance(value, list) else []):
        name = body.get("name") if isinstance(body, dict) else None
        rule = by_name.get(name) if isinstance(name, str) else None
        status = rule.actions.status if rule is not None else None
        if rule is not None and status and status.casefold() not in wanted:
            r.problem(
                index,
                rule.name,
                "status",
                f"one of the statuses: {', '.join(known)}",
                _show(status),
            )
    return r.problems
