"""The values agents give ticket fields, checked against the team's workflow: status names
(or kinds), priority names, categories with subcategories, tag changes.

Pure: the CLI checks what the user typed with these before anything is queued, and the lock
table checks the same way what reaches the team store, so both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable

from .team import Priority
from .workflow import StatusDefinition, StatusKind, WorkflowSettings

__all__ = [
    "CATEGORY_SEPARATOR",
    "apply_tag_changes",
    "normalize_category",
    "parse_priority",
    "parse_tag_changes",
    "priority_choices",
    "reopen_status",
    "resolve_status",
    "status_choices",
]

CATEGORY_SEPARATOR = ">"
_MAX_CATEGORY = 200
_MAX_TAG = 60


def resolve_status(workflow: WorkflowSettings, text: str) -> StatusDefinition | None:
    """A configured status by its name (any case), or by a kind ("open", "waiting",
    "closed": the first configured status of that kind, as ``reply.status_after`` reads it).
    None when neither: the caller refuses with :func:`status_choices`."""
    folded = text.strip().casefold()
    if not folded:
        return None
    for status in workflow.statuses:
        if status.name.casefold() == folded:
            return status
    for kind in StatusKind:
        if kind.value == folded:
            return next((s for s in workflow.statuses if s.kind is kind), None)
    return None


def status_choices(workflow: WorkflowSettings) -> str:
    return ", ".join(f'"{s.name}"' for s in workflow.statuses)


def reopen_status(workflow: WorkflowSettings) -> StatusDefinition:
    """The status a customer's reply brings a ticket back to: one named "open" when the
    team has it, else the first open status after the initial one, else the initial one."""
    named = resolve_status(workflow, StatusKind.OPEN.value)
    if named is not None and named.name.casefold() == StatusKind.OPEN.value:
        return named
    later = [s for s in workflow.statuses[1:] if s.kind is StatusKind.OPEN]
    return later[0] if later else workflow.initial_status


def parse_priority(text: str) -> Priority | None:
    """ "low", "normal", "high", "urgent" (any case) or their levels 0-3."""
    folded = text.strip().casefold()
    for priority in Priority:
        if folded in (priority.name.casefold(), str(priority.value)):
            return priority
    return None


def priority_choices() -> str:
    return ", ".join(p.name.lower() for p in Priority)


def normalize_category(text: str) -> str | None:
    """``"Orders > Delivery"`` with its levels trimmed and joined by " > "; "" clears it.
    Raises ``ValueError`` on an empty level or a control character."""
    if not text.strip():
        return None
    if not text.isprintable():
        raise ValueError("a category cannot hold control characters")
    levels = [level.strip() for level in text.split(CATEGORY_SEPARATOR)]
    if any(not level for level in levels):
        raise ValueError(f'a category like "Orders > Delivery", without an empty level: {text!r}')
    joined = f" {CATEGORY_SEPARATOR} ".join(levels)
    if len(joined) > _MAX_CATEGORY:
        raise ValueError(f"a category of at most {_MAX_CATEGORY} characters")
    return joined


def parse_tag_changes(text: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """``"+a,-b"`` -> (add {a}, remove {b}, replace False); ``"a,b"`` (no signs) replaces the
    tags with {a, b}. Signs cannot be mixed with plain names: "a,-b" is ambiguous.
    Raises ``ValueError`` on a bad tag."""
    add: set[str] = set()
    remove: set[str] = set()
    plain: set[str] = set()
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        sign, name = (item[0], item[1:].strip()) if item[0] in "+-" else ("", item)
        if not name or not name.isprintable() or "," in name or len(name) > _MAX_TAG:
            raise ValueError(f"a tag of 1 to {_MAX_TAG} printable characters: {item!r}")
        {"+": add, "-": remove, "": plain}[sign].add(name)
    if plain and (add or remove):
        raise ValueError('either tags to set ("a,b") or changes ("+a,-b"), not both')
    if plain:
        return frozenset(plain), frozenset(), True
    return frozenset(add), frozenset(remove), not (add or remove)


def apply_tag_changes(
    current: Iterable[str], add: Iterable[str], remove: Iterable[str], replace: bool
) -> str:
    """The stored form: sorted, comma-separated, no duplicates."""
    tags = set() if replace else {t for t in current if t}
    tags |= set(add)
    tags -= set(remove)
    return ",".join(sorted(tags))
