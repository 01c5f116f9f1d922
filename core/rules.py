"""Routing rules: conditions on a message (and its ticket), actions to apply, evaluated in order.

Pure: :func:`evaluate` decides what the configured rules *would* do; whoever registers the
ticket applies the :class:`Decision` (DESIGN.md "Automation, exactly once"). The same decision,
with every rule's outcome and the condition that failed, is what ``helpdesk rules test`` shows.

How text is compared
    Text operators ignore case and accents: both sides are folded (NFKD, combining marks
    dropped, casefolded, runs of whitespace made one space), so ``objednavka`` matches
    ``Objednávka`` and ``OBJEDNÁVKA``. ``equals`` compares whole folded values.

How ``matches`` (a regular expression) is tried
    Case-insensitively, first on the text as written and then, with the accents of both the
    pattern and the text removed, on the unaccented text: the rule matches when either does.
    So ``Objedn[aá]vka`` and ``objednávka`` both match "Objednavka" and "Objednávka". The
    pattern is compiled once, when the rule is made.

Fields with several values (recipients, tags, attachment names, a repeated header)
    A positive operator matches when any value does; ``not_contains``, ``not_equals`` and
    ``not_matches`` match when no value does (so an empty list matches them). A list of
    values in a condition means "any of these".

Ticket fields
    ``status``, ``priority``, ``category``, ``tags``, ``department`` and ``assignee`` are read
    from the ticket as the earlier matching rules left it, so one rule can set a category and
    a later one act on it.

Replies
    ``is_reply`` is true when the subject starts with a reply prefix in any common language
    (``Re:``, ``Odp:``, ``AW:``, ``Sv:`` ...) or the message answers another (In-Reply-To).
    The usual routing "orders to the warehouse, but replies about orders to support" is a
    reply rule with ``stop = true`` placed before the order rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from enum import StrEnum

import regex

from .mail_headers import decode_header_text
from .message import AutoKind, ParsedMessage
from .sanitize import safe_text
from .team import Agent, Priority

__all__ = [
    "Actions",
    "AgentLoad",
    "Assign",
    "Check",
    "Condition",
    "Decision",
    "FieldKind",
    "Match",
    "MessageContext",
    "Op",
    "Outcome",
    "Rule",
    "RuleError",
    "RuleResult",
    "Strategy",
    "TicketFields",
    "Trigger",
    "candidates_for",
    "evaluate",
    "field_kind",
    "fold",
    "is_forward_subject",
    "is_reply_subject",
    "make_condition",
    "parse_priority",
    "pick_agent",
    "raw_headers",
    "resolve_assignee",
]

# A body longer than this is searched in its first part only: rules run on every new ticket
# and a megabyte-long body must not hold up registration.
MAX_BODY_CHARS = 200_000
MAX_RAW_HEADER_BYTES = 262_144


class RuleError(ValueError):
    """A rule that cannot be built; ``key`` is the condition or action key at fault."""

    def __init__(self, key: str, expected: str, got: str | None = None, detail: str = "") -> None:
        self.key = key
        self.expected = expected
        self.got = got
        self.detail = detail
        super().__init__(f"{key}: {detail + '; ' if detail else ''}expected {expected}")


# --------------------------------------------------------------------------------------------
# Text folding


class _DropCombining(dict[int, int | None]):
    """A str.translate table that deletes combining marks, learning each character once
    (a third faster than testing every character of a long body in Python)."""

    def __missing__(self, key: int) -> int | None:
        value = None if unicodedata.combining(chr(key)) else key
        self[key] = value
        return value


_DROP_COMBINING = _DropCombining()


# Time a pattern may take on one text. Python's own `re` has no limit at all, and a rule such
# as ".*order.*number" backtracks for seconds on a long one-line body; `regex` stops it.
REGEX_SECONDS = 0.05


def _search(pattern: regex.Pattern[str], text: str) -> bool:
    return pattern.search(text, timeout=REGEX_SECONDS) is not None


def _pattern_without_accents(pattern: str) -> str:
    """NFD, not NFKD: compatibility forms would turn fullwidth "＊" or "（" into operators."""
    decomposed = unicodedata.normalize("NFD", pattern)
    return decomposed if decomposed.isascii() else decomposed.translate(_DROP_COMBINING)


def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed if decomposed.isascii() else decomposed.translate(_DROP_COMBINING)


def fold(text: str) -> str:
    """The form text operators compare: no accents, no case, single spaces."""
    return " ".join(strip_accents(text).casefold().split())


_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|antw|odp|sv|vs|ynt|rif|res|atb|va|odg|отв|回复|答复)"
    r"\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    re.IGNORECASE,
)
_FORWARD_PREFIX = re.compile(
    r"^\s*(?:fwd?|pd|wg|tr|rv|enc|vl|vb|doorst|fs|πρθ)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]",
    re.IGNORECASE,
)


def is_reply_subject(subject: str) -> bool:
    # Several prefixes pile up ("Fwd: Re: ..."): the first one says what this message is.
    return bool(_REPLY_PREFIX.match(strip_accents(subject)))


def is_forward_subject(subject: str) -> bool:
    return bool(_FORWARD_PREFIX.match(strip_accents(subject)))


# --------------------------------------------------------------------------------------------
# Fields and operators


class FieldKind(StrEnum):
    TEXT = "text"
    FLAG = "flag"  # true or false


class Op(StrEnum):
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    NOT_MATCHES = "not_matches"
    EXISTS = "exists"


_NEGATIVE = frozenset({Op.NOT_CONTAINS, Op.NOT_EQUALS, Op.NOT_MATCHES})
_POSITIVE_OF = {
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.NOT_EQUALS: Op.EQUALS,
    Op.NOT_MATCHES: Op.MATCHES,
}

TEXT_FIELDS = (
    "from",
    "from_name",
    "from_domain",
    "to",
    "to_domain",
    "cc",
    "cc_domain",
    "recipient",
    "recipient_domain",
    "subject",
    "body",
    "attachment_name",
    "auto",
    "status",
    "priority",
    "category",
    "tags",
    "department",
    "assignee",
)
FLAG_FIELDS = ("has_attachment", "in_business_hours", "is_reply", "is_forward", "is_automatic")
HEADER_PREFIX = "header:"
_LINE_END = re.compile(r"\r?\n")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 field name: printable ASCII but ':'


def field_kind(name: str) -> FieldKind | None:
    """The kind of a condition field, or None for an unknown field."""
    if name in TEXT_FIELDS:
        return FieldKind.TEXT
    if name in FLAG_FIELDS:
        return FieldKind.FLAG
    if name.lower().startswith(HEADER_PREFIX) and _HEADER_NAME.match(name[len(HEADER_PREFIX) :]):
        return FieldKind.TEXT
    return None


def parse_priority(value: object) -> Priority | None:
    """0-3 or a name (``low``, ``normal``, ``high``, ``urgent``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return Priority(value)
        except ValueError:
            return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isascii() and text.isdigit():  # "²".isdigit() is true, int("²") fails
            return parse_priority(int(text))
        return Priority.__members__.get(text.upper())
    return None


def _show(value: str, limit: int = 60) -> str:
    shown = safe_text(value).replace("\n", " ").replace("\t", " ")
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return '"' + shown.replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class _Pattern:
    plain: regex.Pattern[str]
    unaccented: regex.Pattern[str]


@dataclass(frozen=True, slots=True)
class Condition:
    """One test of one field. Build it with :func:`make_condition`, which checks it."""

    field: str  # a field name; header fields as "header:<lower-case name>"
    op: Op
    values: tuple[str, ...] = ()  # as written, for text operators
    flag: bool | None = None  # for flag fields and ``exists``
    folded: tuple[str, ...] = dc_field(default=(), repr=False)
    patterns: tuple[_Pattern, ...] = dc_field(default=(), repr=False)

    def describe(self) -> str:
        if self.flag is not None:
            return f"{self.field} {self.op.value} {'true' if self.flag else 'false'}"
        shown = ", ".join(_show(v) for v in self.values)
        return f"{self.field} {self.op.value} {shown if len(self.values) == 1 else f'[{shown}]'}"


def make_condition(field_name: str, op: str, value: object) -> Condition:
    """A checked condition; :class:`RuleError` names what is wrong (unknown field or operator,
    a value of the wrong type, a regular expression that does not compile)."""
    kind = field_kind(field_name)
    if kind is None:
        raise RuleError(
            "field",
            "one of: " + ", ".join((*TEXT_FIELDS, *FLAG_FIELDS, "header:NAME")),
            _show(field_name),
            "unknown field",
        )
    name = field_name
    if name.lower().startswith(HEADER_PREFIX):
        name = HEADER_PREFIX + name[len(HEADER_PREFIX) :].lower()
    try:
        operator = Op(op)
    except ValueError:
        raise RuleError(
            op, "one of: " + ", ".join(o.value for o in Op), None, "unknown operator"
        ) from None
    if operator is Op.EXISTS or kind is FieldKind.FLAG:
        if kind is FieldKind.FLAG and operator not in (Op.EQUALS, Op.NOT_EQUALS):
            raise RuleError(op, f"equals or not_equals for the flag {name}", None, "wrong operator")
        if not isinstance(value, bool):
            raise RuleError(op, "true or false", _show(str(value)) if value is not None else None)
        return Condition(name, operator, flag=value)
    raw = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in raw)
    ):
        raise RuleError(op, "a text or a non-empty array of texts", _describe_raw(value))
    values = tuple(str(v) for v in raw)
    if name == "priority":
        parsed = [parse_priority(v) for v in raw]
        if any(p is None for p in parsed):
            raise RuleError(
                op, "a priority: low, normal, high, urgent (or 0 to 3)", _describe_raw(value)
            )
        values = tuple(p.name.lower() for p in parsed if p is not None)
    if any(not v.strip() for v in values) and operator is not Op.EQUALS:
        raise RuleError(op, "a non-empty text", '""')
    patterns: list[_Pattern] = []
    if operator in (Op.MATCHES, Op.NOT_MATCHES):
        for v in values:
            try:
                patterns.append(
                    _Pattern(
                        regex.compile(v, regex.IGNORECASE | regex.V0),
                        regex.compile(_pattern_without_accents(v), regex.IGNORECASE | regex.V0),
                    )
                )
            except (regex.error, OverflowError, RecursionError, ValueError) as exc:
                raise RuleError(
                    op, "a valid regular expression", _show(v), f"bad regular expression: {exc}"
                ) from None
    return Condition(
        name,
        operator,
        values=values,
        folded=tuple(fold(v) for v in values),
        patterns=tuple(patterns),
    )


def _describe_raw(value: object) -> str:
    if isinstance(value, str):
        return _show(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "an array" if value else "[]"
    if isinstance(value, dict):
        return "a table"
    return str(value)


# --------------------------------------------------------------------------------------------
# Rules and actions


class Match(StrEnum):
    ALL = "all"
    ANY = "any"


class Trigger(StrEnum):
    NEW_TICKET = "new ticket"
    EVERY_MESSAGE = "every message"


class Strategy(StrEnum):
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


@dataclass(frozen=True, slots=True)
class Assign:
    """To one agent, or to one agent of a department chosen by ``strategy``."""

    agent: str | None = None
    department: str | None = None
    strategy: Strategy = Strategy.ROUND_ROBIN

    def describe(self) -> str:
        if self.agent:
            return self.agent
        return f"department:{self.department} ({self.strategy.value.replace('_', '-')})"


@dataclass(frozen=True, slots=True)
class Actions:
    assign: Assign | None = None
    department: str | None = None
    status: str | None = None
    priority: Priority | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    spam: bool | None = None
    auto_reply: str | None = None  # a template name
    note: str | None = None

    def describe(self) -> list[str]:
        out: list[str] = []
        if self.assign:
            out.append(f"assign to {self.assign.describe()}")
        if self.department:
            out.append(f"department = {self.department}")
        if self.status:
            out.append(f"status = {self.status}")
        if self.priority is not None:
            out.append(f"priority = {self.priority.name.lower()}")
        if self.category:
            out.append(f"category = {self.category}")
        if self.tags:
            out.append("add tags " + ", ".join(self.tags))
        if self.spam is not None:
            out.append("mark as spam" if self.spam else "not spam")
        if self.auto_reply:
            out.append(f"auto-reply with template {self.auto_reply}")
        if self.note:
            out.append(f"add note {_show(self.note)}")
        return out


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    conditions: tuple[Condition, ...] = ()  # none: the rule always matches
    actions: Actions = Actions()
    match: Match = Match.ALL
    on: Trigger = Trigger.NEW_TICKET
    stop: bool = False  # no later rule is looked at once this one matched


# --------------------------------------------------------------------------------------------
# What a rule looks at


@dataclass(frozen=True, slots=True)
class TicketFields:
    status: str = "new"
    priority: Priority = Priority.NORMAL
    category: str | None = None
    tags: tuple[str, ...] = ()
    department: str | None = None
    assignee: str | None = None


@dataclass(frozen=True, slots=True)
class MessageContext:
    """A message as rules see it.

    ``headers`` maps lower-case header names to decoded values; left None, they are read from
    ``raw`` only if a rule asks for a header (:func:`raw_headers`). ``in_business_hours`` is
    None when not known: a condition on it then fails and says so.
    """

    message: ParsedMessage
    raw: bytes | None = None
    headers: Mapping[str, Sequence[str]] | None = None
    in_business_hours: bool | None = None
    is_new_ticket: bool = True
    ticket: TicketFields = TicketFields()


def raw_headers(raw: bytes) -> dict[str, tuple[str, ...]]:
    """Every header field of a raw message, decoded for comparison: a plain line scan of the
    header block (cheap, and it never raises), names lower-cased, values in order."""
    head = raw[:MAX_RAW_HEADER_BYTES]
    # The header block ends at the first empty line, whichever line ending it uses (a CRLF
    # pair further down, in the body of an LF message, is not the end).
    ends = [cut for cut in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if cut >= 0]
    if ends:
        head = head[: min(ends)]
    found: dict[str, list[str]] = {}
    last: list[str] | None = None
    # Only CR/LF end a line: `splitlines` would also split at U+2028 and friends, and a
    # subject carrying one could then forge a header field.
    for line in _LINE_END.split(head.decode("utf-8", "surrogateescape")):
        if line[:1] in (" ", "\t"):
            if last is not None:
                last[-1] += "\n" + line
            continue
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if sep and name and _HEADER_NAME.match(name):
            last = found.setdefault(name, [])
            last.append(value)
        else:
            last = None
    out: dict[str, tuple[str, ...]] = {}
    for name, values in found.items():
        decoded: list[str] = []
        for v in values:
            try:
                decoded.append(decode_header_text(v))
            except Exception:  # a header that cannot be decoded is one that cannot match
                decoded.append("")
        out[name] = tuple(decoded)
    return out


def _domain(email: str) -> str:
    return email.rpartition("@")[2] if "@" in email else ""


class _Values:
    """Field values of one message, worked out on first use and kept for the other rules."""

    def __init__(self, ctx: MessageContext) -> None:
        self.ctx = ctx
        self.ticket = ctx.ticket
        self._cache: dict[str, tuple[str, ...]] = {}
        self._folded: dict[str, tuple[str, ...]] = {}
        self._unaccented: dict[str, tuple[str, ...]] = {}
        self._headers: Mapping[str, Sequence[str]] | None = ctx.headers

    def text(self, name: str) -> tuple[str, ...]:
        if name in _TICKET_FIELDS:
            return self._ticket_field(name)
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = self._message_field(name)
        return cached

    def folded(self, name: str) -> tuple[str, ...]:
        if name in _TICKET_FIELDS:
            return tuple(fold(v) for v in self._ticket_field(name))
        cached = self._folded.get(name)
        if cached is None:
            cached = self._folded[name] = tuple(fold(v) for v in self.text(name))
        return cached

    def unaccented(self, name: str) -> tuple[str, ...]:
        if name in _TICKET_FIELDS:
            return tuple(strip_accents(v) for v in self._ticket_field(name))
        cached = self._unaccented.get(name)
        if cached is None:
            cached = self._unaccented[name] = tuple(strip_accents(v) for v in self.text(name))
        return cached

    def flag(self, name: str) -> bool | None:
        m = self.ctx.message
        if name == "has_attachment":
            return any(not a.inline for a in m.attachments)
        if name == "in_business_hours":
            return self.ctx.in_business_hours
        if name == "is_reply":
            return bool(m.in_reply_to) or is_reply_subject(m.subject)
        if name == "is_forward":
            return is_forward_subject(m.subject)
        if name == "is_automatic":
            return m.auto is not AutoKind.NONE
        raise KeyError(name)

    def _ticket_field(self, name: str) -> tuple[str, ...]:
        t = self.ticket
        if name == "tags":
            return t.tags
        if name == "priority":
            return (t.priority.name.lower(),)
        value = {
            "status": t.status,
            "category": t.category,
            "department": t.department,
            "assignee": t.assignee,
        }[name]
        return (value,) if value else ()

    def _message_field(self, name: str) -> tuple[str, ...]:
        m = self.ctx.message
        sender = m.from_addr
        recipients = [*m.to, *m.cc]
        simple: dict[str, Callable[[], Iterable[str]]] = {
            "from": lambda: [sender.email] if sender and sender.email else [],
            "from_name": lambda: [sender.name] if sender and sender.name else [],
            "from_domain": lambda: [_domain(sender.email)] if sender and sender.email else [],
            "to": lambda: [a.email for a in m.to if a.email],
            "to_domain": lambda: [_domain(a.email) for a in m.to if a.email],
            "cc": lambda: [a.email for a in m.cc if a.email],
            "cc_domain": lambda: [_domain(a.email) for a in m.cc if a.email],
            "recipient": lambda: [a.email for a in recipients if a.email],
            "recipient_domain": lambda: [_domain(a.email) for a in recipients if a.email],
            "subject": lambda: [m.subject],
            "body": lambda: [m.text_body[:MAX_BODY_CHARS]],
            "attachment_name": lambda: [a.filename for a in m.attachments],
            "auto": lambda: [m.auto.value] if m.auto is not AutoKind.NONE else [],
        }
        if name in simple:
            return tuple(v for v in simple[name]() if v is not None)
        header = name[len(HEADER_PREFIX) :]
        if self._headers is None:
            self._headers = raw_headers(self.ctx.raw) if self.ctx.raw is not None else {}
        return tuple(self._headers.get(header, ()))


_TICKET_FIELDS = frozenset({"status", "priority", "category", "tags", "department", "assignee"})


def _test_one(op: Op, cond: Condition, folded: str) -> bool:
    for want in cond.folded:
        if op is Op.CONTAINS and want in folded:
            return True
        if op is Op.EQUALS and want == folded:
            return True
        if op is Op.STARTS_WITH and folded.startswith(want):
            return True
        if op is Op.ENDS_WITH and folded.endswith(want):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Check:
    condition: str  # the condition as the admin wrote it, described
    passed: bool
    detail: str  # what the message had, or why it could not be told


def _check(cond: Condition, values: _Values) -> Check:
    described = cond.describe()
    kind = field_kind(cond.field)
    if kind is FieldKind.FLAG:
        actual = values.flag(cond.field)
        if actual is None:
            return Check(described, False, f"{cond.field} is not known")
        passed = (actual == cond.flag) == (cond.op is Op.EQUALS)
        return Check(described, passed, f"{cond.field} is {'true' if actual else 'false'}")
    originals = values.text(cond.field)
    if cond.op is Op.EXISTS:
        present = bool(originals)
        return Check(
            described,
            present == cond.flag,
            f"{cond.field} is {'present' if present else 'absent'}",
        )
    positive = _POSITIVE_OF.get(cond.op, cond.op)
    if positive is Op.MATCHES:
        # the text as written first; the unaccented form only when that did not match
        try:
            hit = any(_search(p.plain, o) for p in cond.patterns for o in originals) or any(
                _search(p.unaccented, u)
                for p in cond.patterns
                for u in values.unaccented(cond.field)
            )
        except TimeoutError:
            # Mail is untrusted: a pattern that backtracks on it must not hold up the
            # registration of every colleague's mail. It counts as no match, and says so.
            return Check(
                described,
                cond.op in _NEGATIVE,
                f"the pattern took over {REGEX_SECONDS * 1000:.0f} ms on {cond.field}: "
                "taken as no match",
            )
    else:
        hit = any(_test_one(positive, cond, f) for f in values.folded(cond.field))
    passed = not hit if cond.op in _NEGATIVE else hit
    if not originals:
        detail = f"{cond.field} is empty"
    elif len(originals) == 1:
        detail = f"{cond.field} is {_show(originals[0])}"
    else:
        detail = f"{cond.field} is [{', '.join(_show(v, 40) for v in originals[:5])}" + (
            ", …]" if len(originals) > 5 else "]"
        )
    return Check(described, passed, detail)


# --------------------------------------------------------------------------------------------
# Evaluation


class Outcome(StrEnum):
    MATCHED = "matched"
    NOT_MATCHED = "not matched"
    SKIPPED = "skipped"  # the rule is for new tickets and this message joined one
    NOT_REACHED = "not reached"  # an earlier matching rule stopped processing


@dataclass(frozen=True, slots=True)
class RuleResult:
    index: int  # 1-based, as the admin counts [[rules]] tables
    name: str
    outcome: Outcome
    reason: str
    checks: tuple[Check, ...] = ()
    actions: tuple[str, ...] = ()  # what this rule contributes, when it matched


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules decided for one message, merged: a later matching rule overrides an
    earlier one field by field, tags and notes accumulate, a stop ends the list."""

    results: tuple[RuleResult, ...]
    assign: Assign | None = None
    department: str | None = None
    status: str | None = None
    priority: Priority | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    spam: bool = False
    auto_reply: str | None = None
    notes: tuple[str, ...] = ()
    stopped_by: str | None = None
    remarks: tuple[str, ...] = ()  # why something asked for will not be done

    @property
    def matched(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.outcome is Outcome.MATCHED)

    @property
    def has_actions(self) -> bool:
        return bool(self.describe())

    def describe(self) -> list[str]:
        """The merged actions, one line each, in a fixed order."""
        merged = Actions(
            assign=self.assign,
            department=self.department,
            status=self.status,
            priority=self.priority,
            category=self.category,
            tags=self.tags,
            spam=True if self.spam else None,
            auto_reply=self.auto_reply,
        )
        return [*merged.describe(), *(f"add note {_show(n)}" for n in self.notes)]


def _rule_matches(rule: Rule, values: _Values) -> tuple[bool, str, tuple[Check, ...]]:
    if not rule.conditions:
        return True, "no conditions", ()
    checks: list[Check] = []
    for cond in rule.conditions:
        check = _check(cond, values)
        checks.append(check)
        if rule.match is Match.ALL and not check.passed:
            return False, f"{check.condition}: no, {check.detail}", tuple(checks)
        if rule.match is Match.ANY and check.passed:
            return True, f"{check.condition}: yes", tuple(checks)
    if rule.match is Match.ALL:
        return True, "all conditions hold", tuple(checks)
    return False, "none of the conditions holds", tuple(checks)


def evaluate(rules: Sequence[Rule], ctx: MessageContext) -> Decision:
    """Run ``rules`` in order on one message; nothing is done, the result says what to do."""
    values = _Values(ctx)
    results: list[RuleResult] = []
    merged: dict[str, object] = {}
    tags: list[str] = []
    notes: list[str] = []
    remarks: list[str] = []
    stopped_by: str | None = None
    ticket = ctx.ticket
    for index, rule in enumerate(rules, start=1):
        if stopped_by is not None:
            results.append(
                RuleResult(index, rule.name, Outcome.NOT_REACHED, f'stopped by "{stopped_by}"')
            )
            continue
        if rule.on is Trigger.NEW_TICKET and not ctx.is_new_ticket:
            results.append(RuleResult(index, rule.name, Outcome.SKIPPED, "only for new tickets"))
            continue
        values.ticket = ticket
        matched, reason, checks = _rule_matches(rule, values)
        if not matched:
            results.append(RuleResult(index, rule.name, Outcome.NOT_MATCHED, reason, checks))
            continue
        a = rule.actions
        contributed = a.describe()
        if rule.stop:
            contributed.append("stop")
        results.append(
            RuleResult(index, rule.name, Outcome.MATCHED, reason, checks, tuple(contributed))
        )
        if a.assign is not None:
            merged["assign"] = a.assign
            if a.assign.department:
                merged["department"] = a.assign.department
                ticket = replace(ticket, department=a.assign.department)
            if a.assign.agent:
                ticket = replace(ticket, assignee=a.assign.agent)
        for name in ("department", "status", "priority", "category", "spam", "auto_reply"):
            value = getattr(a, name)
            if value is not None:
                merged[name] = value
        if a.department:
            ticket = replace(ticket, department=a.department)
        if a.status:
            ticket = replace(ticket, status=a.status)
        if a.priority is not None:
            ticket = replace(ticket, priority=a.priority)
        if a.category:
            ticket = replace(ticket, category=a.category)
        for tag in a.tags:
            if fold(tag) not in (fold(t) for t in tags):
                tags.append(tag)
        if a.tags:
            ticket = replace(ticket, tags=tuple(dict.fromkeys((*ticket.tags, *a.tags))))
        if a.note:
            notes.append(a.note)
        if rule.stop:
            stopped_by = rule.name
    spam = bool(merged.get("spam", False))
    auto_reply = merged.get("auto_reply")
    if auto_reply is not None and spam:
        remarks.append("no auto-reply: the message is marked as spam")
        auto_reply = None
    assign = merged.get("assign")
    priority = merged.get("priority")
    return Decision(
        results=tuple(results),
        assign=assign if isinstance(assign, Assign) else None,
        department=_str_or_none(merged.get("department")),
        status=_str_or_none(merged.get("status")),
        priority=priority if isinstance(priority, Priority) else None,
        category=_str_or_none(merged.get("category")),
        tags=tuple(tags),
        spam=spam,
        auto_reply=_str_or_none(auto_reply),
        notes=tuple(notes),
        stopped_by=stopped_by,
        remarks=tuple(remarks),
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------------------------
# Choosing the agent


@dataclass(frozen=True, slots=True)
class AgentLoad:
    email: str
    open_tickets: int = 0  # tickets the agent holds that are not closed
    away: bool = False


def pick_agent(
    candidates: Sequence[AgentLoad], strategy: Strategy, last_assigned: str | None = None
) -> str | None:
    """The agent to give a routed ticket to, skipping those away; None when nobody is there.

    Round robin takes the next agent after ``last_assigned`` in address order (wrapping, and
    working even when that agent has left the department); least loaded takes the agent
    holding the fewest open tickets, ties going round in the same order, so that an idle
    department is not all given to one person.
    """
    present = sorted((c for c in candidates if not c.away), key=lambda c: c.email.casefold())
    if not present:
        return None
    start = 0
    if last_assigned:
        last = last_assigned.casefold()
        start = next((i for i, c in enumerate(present) if c.email.casefold() > last), 0)
    rotation = present[start:] + present[:start]
    if strategy is Strategy.ROUND_ROBIN:
        return rotation[0].email
    return min(rotation, key=lambda c: c.open_tickets).email


def candidates_for(
    department: str, agents: Iterable[Agent], loads: Mapping[str, int]
) -> list[AgentLoad]:
    """The department's agents with their open-ticket counts (department names fold)."""
    want = fold(department)
    return [
        AgentLoad(a.email, loads.get(a.email, 0), a.away)
        for a in agents
        if any(fold(d) == want for d in a.departments)
    ]


def resolve_assignee(
    assign: Assign,
    agents: Iterable[Agent],
    loads: Mapping[str, int],
    last_assigned: str | None = None,
) -> str | None:
    """The agent an :class:`Assign` gives the ticket to; None leaves it unassigned (the agent
    is away or unknown, or nobody in the department is present)."""
    team = list(agents)
    if assign.agent:
        wanted = assign.agent.casefold()
        for a in team:
            if a.email.casefold() == wanted:
                return None if a.away else a.email
        return None
    if assign.department:
        return pick_agent(
            candidates_for(assign.department, team, loads), assign.strategy, last_assigned
        )
    return None
