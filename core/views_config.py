"""``[[views]]``: saved views of the ticket list, each a filter and a sort, shown as queues.

```toml
[[views]]
name = "Complaints"
query = "tag:complaint -status:closed"
sort = "sla"
```

Read by ``core.config.parse_config``; problems name the view by its place and name, with the
line of the key, in the same words as every other section.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .config import ConfigProblem, _show
from .ticket_query import QueryError, Sort, TicketQuery, parse_sort, parse_ticket_query

__all__ = ["VIEW_KEYS", "SavedView", "read_views"]

VIEW_KEYS = ("name", "query", "sort")
MAX_NAME = 24  # the sidebar is ~22 cells wide; a longer name would be cut anyway

_HEADER = re.compile(r"^\s*\[\[\s*views\s*\]\]\s*(?:#.*)?$")
_KEY_LINE = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


@dataclass(frozen=True, slots=True)
class SavedView:
    name: str
    query: TicketQuery
    text: str  # the query as written, shown to the agent
    sort: Sort | None = None  # the view's sort; a sort: term in the query wins


def _index(text: str) -> list[tuple[int, dict[str, int]]]:
    """Per ``[[views]]`` table: its header line and the lines of its keys."""
    found: list[tuple[int, dict[str, int]]] = []
    current: dict[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if _HEADER.match(line):
            current = {}
            found.append((number, current))
        elif line.lstrip().startswith("["):
            current = None
        elif current is not None and (m := _KEY_LINE.match(line)):
            current.setdefault(m.group(1), number)
    return found


def read_views(
    value: object, text: str, statuses: tuple[str, ...] = ()
) -> tuple[tuple[SavedView, ...], list[ConfigProblem]]:
    """The views of a parsed file (``value`` is what ``views`` holds) and every problem;
    ``statuses``: the configured status names, so that a ``status:`` typo is caught here."""
    lines = _index(text)
    problems: list[ConfigProblem] = []

    def problem(
        index: int | None,
        name: str | None,
        key: str,
        expected: str,
        got: str | None = None,
        detail: str = "",
    ) -> None:
        if index is None:
            problems.append(ConfigProblem("views", None, expected, got, detail or None))
            return
        header, keys = lines[index] if index < len(lines) else (None, {})
        line = keys.get(key, header) if key else header
        view = f'view "{name}"' if name else f"view {index + 1}"
        problems.append(
            ConfigProblem(
                f"views[{index + 1}]" + (f".{key}" if key else ""),
                line,
                expected,
                got,
                f"in {view}: {detail}" if detail else f"in {view}",
            )
        )

    if not isinstance(value, list):
        problem(None, None, "", "[[views]] tables", _show(value))
        return (), problems
    views: list[SavedView] = []
    names: dict[str, int] = {}
    for index, body in enumerate(value):
        if not isinstance(body, dict):
            problem(index, None, "", "a [[views]] table", _show(body))
            continue
        before = len(problems)
        raw = body.get("name")
        name = raw.strip() if isinstance(raw, str) and raw.isprintable() else ""
        expected_name = f"a name of 1 to {MAX_NAME} characters"
        if raw is None:
            problem(index, None, "name", expected_name, detail="missing")
        elif not name or len(name) > MAX_NAME:
            problem(index, None, "name", expected_name, _show(raw))
        for key in body:
            if key not in VIEW_KEYS:
                close = difflib.get_close_matches(key, VIEW_KEYS, n=1)
                hint = f'unknown key (did you mean "{close[0]}"?)' if close else "unknown key"
                problem(index, name, key, "one of: " + ", ".join(VIEW_KEYS), None, hint)
        query_text = body.get("query", "")
        query = TicketQuery()
        if not isinstance(query_text, str) or not query_text.isprintable():
            problem(
                index, name, "query", 'a filter like "status:open tag:invoice"', _show(query_text)
            )
        else:
            try:
                query = parse_ticket_query(query_text, statuses=statuses or None)
            except QueryError as err:
                problem(
                    index,
                    name,
                    "query",
                    'a filter like "status:open tag:invoice"',
                    _show(query_text),
                    err.message,
                )
        sort: Sort | None = None
        if "sort" in body:
            raw_sort = body["sort"]
            expected = 'one of "activity", "number", "priority", "sla", "customer" (- reverses)'
            if not isinstance(raw_sort, str):
                problem(index, name, "sort", expected, _show(raw_sort))
            else:
                try:
                    sort = parse_sort(raw_sort)
                except QueryError:
                    problem(index, name, "sort", expected, _show(raw_sort))
        if name and name.casefold() in names:
            problem(
                index,
                name,
                "name",
                "a name no other view has",
                _show(name),
                f"view {names[name.casefold()] + 1} has the same name",
            )
        if len(problems) > before or not isinstance(query_text, str):
            continue
        names[name.casefold()] = index
        views.append(SavedView(name, query, query_text.strip(), sort))
    return tuple(views), problems
