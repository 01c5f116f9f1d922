"""Settings from ``helpdesk.toml``: parsed and validated strictly, with errors that point home.

Pure: this module turns text into :class:`Settings` and never reads a file (``storage.locations``
finds and reads it). Every problem found is reported, one line each, as
``FILE:LINE: dotted.key: expected ..., got ...`` so that an admin can fix the whole file in one
pass instead of one error per start.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import shlex
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from .automation_config import DEFAULT_AUTOMATION, AutomationSettings
from .mirror_config import DEFAULT_MIRROR, MirrorSettings
from .reply_config import DEFAULT_REPLY, ReplySettings
from .workflow import DEFAULT_WORKFLOW, WorkflowSettings

if TYPE_CHECKING:
    from .rules import Rule
    from .views_config import SavedView

__all__ = [
    "AccountSettings",
    "AgentSettings",
    "AppSettings",
    "AttachmentSettings",
    "CacheSettings",
    "ConfigError",
    "ConfigProblem",
    "ImapSettings",
    "JobSettings",
    "KeymapEntry",
    "Settings",
    "SmtpSettings",
    "TeamSettings",
    "TlsMode",
    "UiSettings",
    "parse_agent",
    "parse_config",
    "with_agent",
]


class TlsMode(StrEnum):
    TLS = "tls"  # implicit TLS from the first byte
    STARTTLS = "starttls"
    NONE = "none"  # plain text: only ever on an explicit request


@dataclass(frozen=True, slots=True)
class AgentSettings:
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class TeamSettings:
    name: str = "Support"
    store: str | None = None  # SQLAlchemy URL; None = the default SQLite file
    addresses: tuple[str, ...] = ()  # our own addresses, lower-cased, accounts' included
    subject_tag: str = "#"  # tickets are tagged "[#1234]" in subjects
    # Handle-next order: "sla" (due first), "priority" (highest first), "oldest" (longest waiting).
    next_order: tuple[str, ...] = ("sla", "priority", "oldest")
    next_departments_only: bool = False  # offer agents only their departments' tickets


@dataclass(frozen=True, slots=True)
class CacheSettings:
    path: str | None = None  # None = default location; "~" is expanded by storage


@dataclass(frozen=True, slots=True)
class AttachmentSettings:
    # Raw messages bigger than this (bytes) are kept as files in the blob store beside the
    # cache instead of inside the cache database.
    blob_threshold: int = 256 * 1024


@dataclass(frozen=True, slots=True)
class ImapSettings:
    host: str
    port: int
    tls: TlsMode
    user: str
    folders: tuple[str, ...] = ("INBOX",)
    sent_folder: str | None = "Sent"
    password_command: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0
    batch_size: int = 200
    # Seconds between full comparisons of a folder's UIDs and flags with the cache: how a
    # deletion is noticed without QRESYNC (and a safety net with it).
    full_check: float = 600.0


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    tls: TlsMode
    user: str | None  # None = send without authentication (a trusted local relay)
    password_command: str | None = None
    ca_file: str | None = None
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class AccountSettings:
    name: str
    address: str
    imap: ImapSettings | None
    smtp: SmtpSettings | None
    # [accounts.NAME.mirror]: ticket state shown as flags and folders (core.mirror_config)
    mirror: MirrorSettings = DEFAULT_MIRROR


@dataclass(frozen=True, slots=True)
class KeymapEntry:
    """One ``[keymap]`` line: the keys that replace a binding's defaults."""

    binding: str  # the Binding id, like "queue.claim"
    keys: tuple[str, ...]  # Textual key names, like ("c", "ctrl+k")
    key: str  # where it was written, as a dotted config key, for error messages
    line: int | None


@dataclass(frozen=True, slots=True)
class UiSettings:
    theme: str | None = None  # None = the built-in default


@dataclass(frozen=True, slots=True)
class AppSettings:
    """``[app]``: how the app gets the agent's attention."""

    bell: bool = False  # ring the terminal bell with news for the agent (a ticket assigned)


DEFAULT_ESCALATE_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class JobSettings:
    """``[workflow]``: the periodic jobs of the headless service (core.workflow_config)."""

    # Warn this long before a ticket's SLA due time; None: no escalation at all.
    escalate_before: timedelta | None = DEFAULT_ESCALATE_BEFORE
    summary_at: time | None = None  # local time (team time zone) of the daily summary mail


@dataclass(frozen=True, slots=True)
class Settings:
    agent: AgentSettings
    team: TeamSettings
    cache: CacheSettings
    accounts: dict[str, AccountSettings]
    source: str | None
    attachments: AttachmentSettings = AttachmentSettings()
    # statuses, priorities, business hours, [tickets] (core.workflow_config)
    workflow: WorkflowSettings = DEFAULT_WORKFLOW
    rules: tuple[Rule, ...] = ()  # [[rules]], in file order (core.rules_config)
    # [automation]: acknowledgements and out-of-hours replies (core.automation_config)
    automation: AutomationSettings = DEFAULT_AUTOMATION
    reply: ReplySettings = DEFAULT_REPLY  # [reply] and [[templates]] (core.reply_config)
    views: tuple[SavedView, ...] = ()  # [[views]]: saved filters of the ticket list
    # Binding ids are the app's to check: core does not know them (tui.keymap does).
    keymap: tuple[KeymapEntry, ...] = ()
    ui: UiSettings = UiSettings()
    app: AppSettings = AppSettings()
    jobs: JobSettings = JobSettings()  # [workflow]


def with_agent(settings: Settings, name: str, email: str) -> Settings:
    """The same settings acting as another agent (``HELPDESK_AGENT``, tests)."""
    return replace(settings, agent=AgentSettings(name=name, email=email))


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    key: str  # dotted path, "" for a problem with the file as a whole
    line: int | None
    expected: str
    got: str | None = None  # the offending value, already quoted for display
    detail: str | None = None  # what is wrong, when "expected X, got Y" alone would not say it

    def describe(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line is not None else source
        parts = [where]
        if self.key:
            parts.append(self.key)
        text = f"expected {self.expected}"
        if self.got is not None:
            text += f", got {self.got}"
        if self.detail:
            text = f"{self.detail}; {text}"
        parts.append(text)
        return ": ".join(parts)


class ConfigError(Exception):
    """One or more problems in a configuration; ``key``/``line``/``expected`` are the first's."""

    def __init__(self, source: str, problems: Sequence[ConfigProblem]) -> None:
        if not problems:
            raise ValueError("ConfigError needs at least one problem")
        self.source = source
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        first = self.problems[0]
        self.key: str = first.key
        self.line: int | None = first.line
        self.expected: str = first.expected
        super().__init__(str(self))

    @classmethod
    def single(
        cls,
        source: str,
        key: str,
        expected: str,
        *,
        line: int | None = None,
        got: str | None = None,
        detail: str | None = None,
    ) -> ConfigError:
        return cls(source, [ConfigProblem(key, line, expected, got, detail)])

    def __str__(self) -> str:
        return "\n".join(p.describe(self.source) for p in self.problems)


# --------------------------------------------------------------------------------------------
# Where a key sits in the text (tomllib gives no positions)

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _read_dotted_key(text: str, pos: int) -> tuple[tuple[str, ...], int] | None:
    """Read a TOML dotted key at ``pos``; return its parts and the position after it."""
    parts: list[str] = []
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos >= n:
            return None
        ch = text[pos]
        if ch in "\"'":
            end = text.find(ch, pos + 1)
            if end < 0:
                return None
            raw = text[pos + 1 : end]
            if ch == '"':
                # an escape JSON does not know leaves the raw text, which is close enough
                with contextlib.suppress(ValueError):
                    raw = json.loads(text[pos : end + 1])
            parts.append(raw)
            pos = end + 1
        else:
            m = _BARE_KEY.match(text, pos)
            if not m:
                return None
            parts.append(m.group())
            pos = m.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == ".":
            pos += 1
            continue
        return tuple(parts), pos


def _index_keys(text: str) -> dict[tuple[str, ...], int]:
    """Map every table header and ``key =`` line to its 1-based line number (first wins)."""
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    in_multiline: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        stripped = line.strip()
        if stripped.startswith("["):
            inner = stripped.lstrip("[")
            parsed = _read_dotted_key(inner, 0)
            if parsed is not None:
                table = parsed[0]
                found.setdefault(table, number)
            continue
        parsed = _read_dotted_key(line, 0)
        if parsed is None:
            continue
        parts, pos = parsed
        if pos < len(line) and line[pos] == "=":
            found.setdefault(table + parts, number)
            rest = line[pos + 1 :]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2 == 1:
                    in_multiline = quote
                    break
    return found


class _Locator:
    def __init__(self, text: str) -> None:
        self._found = _index_keys(text)

    def line_of(self, path: tuple[str, ...]) -> int | None:
        # A missing key, or one inside an inline table, points at the nearest enclosing line.
        for length in range(len(path), 0, -1):
            line = self._found.get(path[:length])
            if line is not None:
                return line
        return None


# --------------------------------------------------------------------------------------------
# Reading values


def _show(value: object) -> str:
    """A value as the admin wrote it, short and safe to print."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = json.dumps(value, ensure_ascii=False)
        # json.dumps leaves C1 controls and DEL alone; the terminal must never see them raw
        shown = "".join(f"\\u{ord(c):04x}" if 0x7F <= ord(c) <= 0x9F else c for c in shown)
        return shown if len(shown) <= 60 else shown[:57] + '..."'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array" if value else "[]"
    if isinstance(value, datetime | date | time):
        return f"a date/time ({value.isoformat()})"
    return type(value).__name__


_MISSING: Any = object()
_FORBIDDEN_KEYS = frozenset({"password", "passwd", "pass"})
_EMAIL = re.compile(r"^[^@\s<>\"(),;:\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HOST = re.compile(r"^[A-Za-z0-9_.:-]+$")
_STORE_SCHEMES = ("sqlite:///", "postgresql+psycopg://", "postgresql://")
_EMAIL_EXPECTED = "an email address like support@example.com"

T = TypeVar("T")


class _Reader:
    """Collects every problem while building settings, so one run reports them all."""

    def __init__(self, text: str) -> None:
        self.locator = _Locator(text)
        self.problems: list[ConfigProblem] = []

    def problem(
        self,
        path: tuple[str, ...],
        expected: str,
        value: object = _MISSING,
        detail: str | None = None,
    ) -> None:
        got = None if value is _MISSING else _show(value)
        self.problems.append(
            ConfigProblem(".".join(path), self.locator.line_of(path), expected, got, detail)
        )

    def table(
        self, value: object, path: tuple[str, ...], allowed: Sequence[str], account: str = "ACCOUNT"
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, "a table", value)
            return None
        for key in value:
            if key.lower() in _FORBIDDEN_KEYS:
                self.problem(
                    (*path, key),
                    "no password in the config file: store it in the keyring with "
                    f"`helpdesk auth set {account}`, or set password_command",
                    detail="passwords must not be written here",
                )
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
                self.problem((*path, key), "one of: " + ", ".join(allowed), detail=hint)
        return value

    def get(
        self,
        table: Mapping[str, Any],
        path: tuple[str, ...],
        key: str,
        check: Callable[[object], T | None],
        expected: str,
        default: T | object = _MISSING,
    ) -> T | None:
        """The checked value of ``key``; None (after a problem is noted) when wrong or missing."""
        if key not in table:
            if default is _MISSING:
                self.problem((*path, key), expected, detail="missing")
                return None
            return default  # type: ignore[return-value]
        value = table[key]
        checked = check(value)
        if checked is None:
            self.problem((*path, key), expected, value)
        return checked


# Checkers return the cleaned value, or None when the value is wrong.


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip() and value.isprintable():
        return value.strip()
    return None


def _text_or_empty(value: object) -> str | None:
    """A string where "" has a meaning of its own (switching something off)."""
    if isinstance(value, str) and value.isprintable():
        return value.strip()
    return None


def _email(value: object) -> str | None:
    if isinstance(value, str) and _EMAIL.match(value.strip()):
        return value.strip()
    return None


def _host(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    host = value.strip()
    # One colon is "host:port" written in the wrong key; two or more is an IPv6 address.
    if _HOST.match(host) and host.count(":") != 1:
        return host
    return None


def _int_range(low: int, high: int) -> Callable[[object], int | None]:
    def check(value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        return None

    return check


def _seconds(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600:
        return float(value)
    return None


def _tls(value: object) -> TlsMode | None:
    if isinstance(value, str):
        try:
            return TlsMode(value.strip().lower())
        except ValueError:
            return None
    return None


def _command(value: object) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return text if shlex.split(text) else None
    except ValueError:  # unbalanced quotes: better found now than at the first sync
        return None


def _folders(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    names: list[str] = []
    for item in value:
        name = _text(item)
        if name is None:
            return None
        if name not in names:
            names.append(name)
    return tuple(names)


def _emails(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    found: list[str] = []
    for item in value:
        address = _email(item)
        if address is None:
            return None
        found.append(address.lower())
    return tuple(found)


def _subject_tag(value: object) -> str | None:
    if (
        isinstance(value, str)
        and 0 < len(value) <= 16
        and value.isprintable()
        and not any(c.isspace() or c in "[]" for c in value)
    ):
        return value
    return None


def _store_url(value: object) -> str | None:
    if not isinstance(value, str) or not value.isprintable():
        return None
    url = value.strip()
    for scheme in _STORE_SCHEMES:
        if url.startswith(scheme) and len(url) > len(scheme):
            if scheme == "postgresql://":
                # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2
                return "postgresql+psycopg://" + url[len(scheme) :]
            return url
    return None


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --------------------------------------------------------------------------------------------
# The shape of the file

_TOP_KEYS = (
    "agent",
    "team",
    "cache",
    "accounts",
    "attachments",
    "rules",
    "keymap",
    "ui",
    "app",
    "views",
    "reply",
    "templates",
    "automation",
)
_TOP_KEYS_WORKFLOW = (  # workflow_config
    "statuses",
    "priorities",
    "business_hours",
    "tickets",
    "workflow",
)
_AGENT_KEYS = ("name", "email")
_TEAM_KEYS = ("name", "store", "addresses", "subject_tag", "next_order", "next_departments_only")
_NEXT_ORDER_KEYS = ("sla", "priority", "oldest")


def _next_order(value: object) -> tuple[str, ...] | None:
    if not isinstance(value, list) or not value:
        return None
    if any(not isinstance(v, str) or v not in _NEXT_ORDER_KEYS for v in value):
        return None
    if len(set(value)) != len(value):
        return None
    return tuple(value)


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


_CACHE_KEYS = ("path",)
_ATTACHMENT_KEYS = ("blob_threshold",)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
MAX_BLOB_THRESHOLD = 512 * 1024**2  # SQLite refuses values near 1 GB


def _size(value: object) -> int | None:
    """A byte count: an integer, or a string like "256KiB", "1.5 MB", "300000"."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        unit = _SIZE_UNITS.get(m.group(2).lower())
        if unit is None:
            return None
        number = int(float(m.group(1)) * unit)
    else:
        return None
    return number if 0 <= number <= MAX_BLOB_THRESHOLD else None


_ACCOUNT_KEYS = ("address", "imap", "smtp", "mirror")
_IMAP_KEYS = (
    "host",
    "port",
    "tls",
    "user",
    "folders",
    "sent_folder",
    "password_command",
    "ca_file",
    "timeout",
    "batch_size",
    "full_check",
)
_SMTP_KEYS = ("host", "port", "tls", "user", "password_command", "ca_file", "timeout")

_PORT = "an integer from 1 to 65535"
_TLS = 'one of "tls", "starttls", "none"'
_TIMEOUT = "a number of seconds above 0 and at most 3600"
_IMAP_PORTS = {TlsMode.TLS: 993, TlsMode.STARTTLS: 143, TlsMode.NONE: 143}
_SMTP_PORTS = {TlsMode.TLS: 465, TlsMode.STARTTLS: 587, TlsMode.NONE: 25}


def _syntax_error(source: str, text: str, err: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(err)
    line: int | None = None
    m = re.search(r"\(at line (\d+), column \d+\)", message)
    if m:
        line = int(m.group(1))
    elif "(at end of document)" in message:
        line = max(1, len(text.splitlines()))
    reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    return ConfigError.single(
        source, "", "valid TOML", line=line, detail=f"TOML syntax error: {reason}"
    )


def parse_config(text: str, source: str, *, default_agent: tuple[str, str]) -> Settings:
    """Parse and validate a ``helpdesk.toml``; raise :class:`ConfigError` listing every problem.

    ``source`` names the text in messages (normally the file path); ``default_agent`` is the
    (name, email) used when the file has no ``[agent]`` values.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(source, text, err) from None

    r = _Reader(text)
    top = r.table(data, (), (*_TOP_KEYS, *_TOP_KEYS_WORKFLOW)) or {}

    agent = _read_agent(r, top.get("agent", {}), default_agent)
    cache = _read_cache(r, top.get("cache", {}))
    attachments = _read_attachments(r, top.get("attachments", {}))
    rules = _read_rules(r, top.get("rules", []), text)
    workflow = _read_workflow(r, top, text)
    _check_rule_statuses(r, top.get("rules", []), rules, workflow, text)
    reply = _read_reply(r, top, text, workflow, source)
    accounts = _read_accounts(r, top.get("accounts", {}))
    team = _read_team(r, top.get("team", {}), accounts)
    views = _read_views(r, top.get("views", []), workflow, text)
    keymap = _read_keymap(r, top.get("keymap", {}))
    ui = _read_ui(r, top.get("ui", {}))
    app = _read_app(r, top.get("app", {}))
    jobs = _read_jobs(r, top.get("workflow", {}))
    automation = _read_automation(r, top.get("automation", {}))

    if r.problems:
        # File order reads best; problems with no known line go last.
        r.problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ConfigError(source, r.problems)
    return Settings(
        agent=agent,
        team=team,
        cache=cache,
        accounts=accounts,
        source=source,
        attachments=attachments,
        rules=rules,
        automation=automation,
        workflow=workflow,
        reply=reply,
        views=views,
        keymap=keymap,
        ui=ui,
        app=app,
        jobs=jobs,
    )


def _read_workflow(r: _Reader, top: Mapping[str, Any], text: str) -> WorkflowSettings:
    # Imported here: workflow_config builds on this module's reader.
    from .workflow_config import read_workflow

    return read_workflow(r, top, text)


def _read_jobs(r: _Reader, value: object) -> JobSettings:
    # Imported here: workflow_config builds on this module's reader.
    from .workflow_config import read_jobs

    return read_jobs(r, value)


def _read_reply(
    r: _Reader, top: Mapping[str, Any], text: str, workflow: WorkflowSettings, source: str
) -> ReplySettings:
    # Imported here: reply_config builds on this module's reader.
    from .reply_config import read_reply

    return read_reply(r, top, text, workflow, source)


def _read_rules(r: _Reader, value: object, text: str) -> tuple[Rule, ...]:
    # Imported here: rules_config builds on this module's ConfigProblem.
    from .rules_config import read_rules

    rules, problems = read_rules(value, text)
    r.problems.extend(problems)
    return rules


def _read_automation(r: _Reader, value: object) -> AutomationSettings:
    # Imported here: automation_config builds on this module's reader.
    from .automation_config import read_automation

    return read_automation(r, value)


def _read_views(
    r: _Reader, value: object, workflow: WorkflowSettings, text: str
) -> tuple[SavedView, ...]:
    # Imported here: views_config builds on this module's ConfigProblem.
    from .views_config import read_views

    views, problems = read_views(value, text, tuple(s.name for s in workflow.statuses))
    r.problems.extend(problems)
    return views


def _check_rule_statuses(
    r: _Reader, value: object, rules: Sequence[Rule], workflow: WorkflowSettings, text: str
) -> None:
    from .rules_config import check_statuses

    known = [status.name for status in workflow.statuses]
    r.problems.extend(check_statuses(value, rules, text, known))


def _read_agent(r: _Reader, value: object, default: tuple[str, str]) -> AgentSettings:
    path = ("agent",)
    t = r.table(value, path, _AGENT_KEYS) or {}
    name = r.get(t, path, "name", _text, "a non-empty name", default[0])
    email = r.get(t, path, "email", _email, _EMAIL_EXPECTED, default[1])
    return AgentSettings(name=name or default[0], email=email or default[1])


def _read_cache(r: _Reader, value: object) -> CacheSettings:
    path = ("cache",)
    t = r.table(value, path, _CACHE_KEYS) or {}
    return CacheSettings(path=r.get(t, path, "path", _text, "a file path", None))


def _read_attachments(r: _Reader, value: object) -> AttachmentSettings:
    path = ("attachments",)
    t = r.table(value, path, _ATTACHMENT_KEYS) or {}
    default = AttachmentSettings()
    threshold = r.get(
        t,
        path,
        "blob_threshold",
        _size,
        'a size from 0 to 512MiB, like "256KiB", "2MB" or a number of bytes',
        default.blob_threshold,
    )
    return AttachmentSettings(
        blob_threshold=default.blob_threshold if threshold is None else threshold
    )


def _read_team(r: _Reader, value: object, accounts: Mapping[str, AccountSettings]) -> TeamSettings:
    path = ("team",)
    t = r.table(value, path, _TEAM_KEYS) or {}
    defaults = TeamSettings()
    name = r.get(t, path, "name", _text, "a non-empty name", defaults.name)
    store = r.get(
        t,
        path,
        "store",
        _store_url,
        "a database URL starting with sqlite:///, postgresql:// or postgresql+psycopg://",
        None,
    )
    addresses = r.get(
        t, path, "addresses", _emails, "an array of email addresses", defaults.addresses
    )
    tag = r.get(
        t,
        path,
        "subject_tag",
        _subject_tag,
        'a short text without spaces or brackets, like "#"',
        defaults.subject_tag,
    )
    order = r.get(
        t,
        path,
        "next_order",
        _next_order,
        'a non-empty array of distinct keys from "sla", "priority", "oldest"',
        defaults.next_order,
    )
    departments_only = r.get(
        t, path, "next_departments_only", _bool, "true or false", defaults.next_departments_only
    )
    own = _unique([*(addresses or ()), *(a.address.lower() for a in accounts.values())])
    return TeamSettings(
        name=name or defaults.name,
        store=store,
        addresses=own,
        subject_tag=tag or defaults.subject_tag,
        next_order=order or defaults.next_order,
        next_departments_only=bool(departments_only),
    )


def _read_accounts(r: _Reader, value: object) -> dict[str, AccountSettings]:
    path = ("accounts",)
    if not isinstance(value, dict):
        r.problem(path, "a table of accounts, like [accounts.support]", value)
        return {}
    accounts: dict[str, AccountSettings] = {}
    for name, body in value.items():
        if not _ACCOUNT_NAME.match(name):
            r.problem(
                (*path, name),
                "an account name of letters, digits, '.', '_' or '-'",
                detail="bad account name",
            )
            continue
        account = _read_account(r, name, body)
        if account is not None:
            accounts[name] = account
    return accounts


def _read_account(r: _Reader, name: str, value: object) -> AccountSettings | None:
    path = ("accounts", name)
    t = r.table(value, path, _ACCOUNT_KEYS, account=name)
    if t is None:
        return None
    address = r.get(t, path, "address", _email, _EMAIL_EXPECTED) or ""
    imap = _read_imap(r, name, address, t["imap"]) if "imap" in t else None
    smtp = None
    if "smtp" in t:
        # Most servers take the same login for sending as for reading.
        login = imap.user if imap is not None else address
        smtp = _read_smtp(r, name, login, t["smtp"])
    if "imap" not in t and "smtp" not in t:
        r.problem(
            path,
            f"an [accounts.{name}.imap] or [accounts.{name}.smtp] table",
            detail="the account has no server",
        )
    mirror = DEFAULT_MIRROR
    if "mirror" in t:
        # Imported here: mirror_config builds on this module's reader.
        from .mirror_config import read_mirror

        mirror = read_mirror(r, name, t["mirror"], imap, has_imap="imap" in t)
        if imap is not None:
            # The mirror's archive and junk folders are fetched too, after the listed ones:
            # else a cache made afresh would never see the mail moved there.
            extra = [f for f in (mirror.archive, mirror.junk) if f and f not in imap.folders]
            imap = replace(imap, folders=(*imap.folders, *extra))
    return AccountSettings(name=name, address=address, imap=imap, smtp=smtp, mirror=mirror)


def _read_imap(r: _Reader, account: str, address: str, value: object) -> ImapSettings | None:
    path = ("accounts", account, "imap")
    t = r.table(value, path, _IMAP_KEYS, account=account)
    if t is None:
        return None
    host = r.get(t, path, "host", _host, "a host name like imap.example.com")
    tls = r.get(t, path, "tls", _tls, _TLS, TlsMode.TLS) or TlsMode.TLS
    port = r.get(t, path, "port", _int_range(1, 65535), _PORT, _IMAP_PORTS[tls])
    user = r.get(t, path, "user", _text, "a login name", address)
    folders = r.get(
        t,
        path,
        "folders",
        _folders,
        'a non-empty array of folder names, like ["INBOX"]',
        ("INBOX",),
    )
    sent = r.get(
        t,
        path,
        "sent_folder",
        _text_or_empty,
        'a folder name, or "" to not file copies of sent mail',
        "Sent",
    )
    command = r.get(t, path, "password_command", _command, "a command line", None)
    ca_file = r.get(t, path, "ca_file", _text, "a file path", None)
    timeout = r.get(t, path, "timeout", _seconds, _TIMEOUT, 30.0)
    batch = r.get(t, path, "batch_size", _int_range(1, 10000), "an integer from 1 to 10000", 200)
    full_check = r.get(t, path, "full_check", _seconds, _TIMEOUT, 600.0)
    if host is None or port is None or user is None or folders is None:
        return None
    return ImapSettings(
        host=host,
        port=port,
        tls=tls,
        user=user,
        folders=folders,
        sent_folder=sent or None,
        password_command=command,
        ca_file=ca_file,
        timeout=timeout or 30.0,
        batch_size=batch or 200,
        full_check=600.0 if full_check is None else full_check,
    )


def _read_smtp(r: _Reader, account: str, login: str, value: object) -> SmtpSettings | None:
    path = ("accounts", account, "smtp")
    t = r.table(value, path, _SMTP_KEYS, account=account)
    if t is None:
        return None
    host = r.get(t, path, "host", _host, "a host name like smtp.example.com")
    tls = r.get(t, path, "tls", _tls, _TLS, TlsMode.TLS) or TlsMode.TLS
    port = r.get(t, path, "port", _int_range(1, 65535), _PORT, _SMTP_PORTS[tls])
    user = r.get(
        t,
        path,
        "user",
        _text_or_empty,
        'a login name, or "" to send without logging in',
        login,
    )
    command = r.get(t, path, "password_command", _command, "a command line", None)
    ca_file = r.get(t, path, "ca_file", _text, "a file path", None)
    timeout = r.get(t, path, "timeout", _seconds, _TIMEOUT, 30.0)
    if host is None or port is None or user is None:
        return None
    return SmtpSettings(
        host=host,
        port=port,
        tls=tls,
        user=user or None,
        password_command=command,
        ca_file=ca_file,
        timeout=timeout or 30.0,
    )


_UI_KEYS = ("theme",)
_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# A key is a single character or a Textual key name ("enter", "question_mark", "f5"); the
# comma separates keys, so it is written "comma", and "+" joins modifiers, so it is "plus".
_KEY_NAME = re.compile(r"^(?:[^\s,+]|[a-z][a-z0-9_]*)$")
_KEYS_EXPECTED = (
    'keys separated by commas, like "c" or "c,ctrl+k" (modifiers: '
    + ", ".join(_MODIFIERS)
    + '; "comma" and "plus" for those characters)'
)


def _key(text: str) -> str | None:
    *mods, name = text.strip().split("+") if text.strip() != "+" else ["+"]
    if not _KEY_NAME.match(name) or any(m.lower() not in _MODIFIERS for m in mods):
        return None
    return "+".join([*(m.lower() for m in mods), name])


def _keys(value: object) -> tuple[str, ...] | None:
    """A key list as a "c,ctrl+k" string or an array of keys: normalised, duplicates dropped."""
    if isinstance(value, str):
        items: list[object] = list(value.split(","))
    elif isinstance(value, list) and value:
        items = list(value)
    else:
        return None
    keys: list[str] = []
    for item in items:
        key = _key(item) if isinstance(item, str) else None
        if key is None:
            return None
        keys.append(key)
    return _unique(keys) or None


_BINDING_ID = re.compile(r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$")


def _keymap_items(
    value: Mapping[str, Any], path: tuple[str, ...]
) -> Iterable[tuple[tuple[str, ...], object]]:
    """``queue.claim = "c"`` (a nested table to TOML) and ``"queue.claim" = "c"`` alike."""
    for name, item in value.items():
        if isinstance(item, dict):
            yield from _keymap_items(item, (*path, name))
        else:
            yield (*path, name), item


def _read_keymap(r: _Reader, value: object) -> tuple[KeymapEntry, ...]:
    path = ("keymap",)
    if not isinstance(value, dict):
        r.problem(path, 'a table of binding ids and keys, like "queue.claim" = "c"', value)
        return ()
    entries: list[KeymapEntry] = []
    for where, item in _keymap_items(value, path):
        binding = ".".join(where[1:])
        if not _BINDING_ID.match(binding):
            r.problem(where, 'a binding id like "queue.claim"', detail="bad binding id")
            continue
        keys = _keys(item)
        if keys is None:
            r.problem(where, _KEYS_EXPECTED, item)
            continue
        entries.append(KeymapEntry(binding, keys, ".".join(where), r.locator.line_of(where)))
    return tuple(entries)


def _read_ui(r: _Reader, value: object) -> UiSettings:
    path = ("ui",)
    t = r.table(value, path, _UI_KEYS) or {}
    theme = r.get(t, path, "theme", _text, 'a theme name, like "helpdesk-dark"', None)
    return UiSettings(theme=theme)


_APP_KEYS = ("bell",)


def _read_app(r: _Reader, value: object) -> AppSettings:
    path = ("app",)
    t = r.table(value, path, _APP_KEYS) or {}
    bell = r.get(t, path, "bell", _bool, "true or false", False)
    return AppSettings(bell=bool(bell))


# --------------------------------------------------------------------------------------------
# The acting agent from the environment

_AGENT_FORM = re.compile(r"^\s*(?:(?P<name>[^<>]*?)\s*<(?P<email>[^<>]+)>|(?P<bare>[^<>\s]+))\s*$")


def parse_agent(value: str, source: str = "$HELPDESK_AGENT") -> tuple[str, str]:
    """``"Name <email>"`` or ``"email"`` as (name, email).

    A bare email is named by its local part: better than the OS user's name on a shared login.
    """
    m = _AGENT_FORM.match(value)
    email = (m.group("email") or m.group("bare")).strip() if m else ""
    if not m or not _EMAIL.match(email):
        raise ConfigError.single(
            source,
            "HELPDESK_AGENT",
            'an email address, optionally with a name: "Jana Novak <jana@example.com>"',
            got=_show(value),
        )
    name = (m.group("name") or "").strip().strip('"').strip()
    return (name or email.split("@", 1)[0], email)
