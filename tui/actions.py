"""What the action keys call: status, priority, category, tags, assign, close and reopen on
one ticket or on all marked ones, and the short-lived undo.

A change is planned against the values the cache holds now (what the agent sees), as steps
"ticket N: field from old to new"; the steps go through the team actions (outbox first, so
they work offline) in a worker, and undoing is the same steps backwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.style import Style
from sqlalchemy import select
from textual.binding import Binding

from helpdesk.core.snooze_time import describe_until, format_until, parse_until, presets
from helpdesk.core.team import Priority
from helpdesk.core.workflow import SPAM, StatusDefinition, StatusKind, WorkflowSettings
from helpdesk.core.workflow_values import (
    apply_tag_changes,
    normalize_category,
    parse_tag_changes,
    reopen_status,
)
from helpdesk.storage.cache import ticket_t
from helpdesk.storage.db import as_utc
from helpdesk.storage.snooze import snooze_calendar
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.team import ActionResult, TeamService
from helpdesk.tui.merge_flow import ask_merge
from helpdesk.tui.screens.picker import Choice, Confirm, Picker

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

__all__ = [
    "UNDO_SECONDS",
    "Change",
    "Step",
    "TicketActionKeys",
    "TicketActions",
    "TicketValues",
    "apply_steps",
    "assignees_in_cache",
    "categories_in_cache",
    "close_status",
    "plan",
    "read_values",
    "tag_edit",
    "ticket_action_bindings",
]

UNDO_SECONDS = 10.0  # how long ctrl+z takes an action back
ASSIGNEE = "assignee"  # not a team "field": it moves by assign and release
SNOOZE = "snooze"  # not a team "field" either: its values are ISO times, None awake
# Not a team "field" either: spam goes by mark_spam / not_spam, which remember and forget
# the sender; its value is the spam status or None.
SPAM_MARK = "spam"


@dataclass(frozen=True, slots=True)
class TicketValues:
    number: int
    status: str
    priority: int
    category: str | None
    tags: tuple[str, ...]
    assignee: str | None
    snoozed_until: datetime | None = None

    def get(self, name: str) -> str | None:
        value: Any = {
            "status": self.status,
            "priority": str(self.priority),
            "category": self.category,
            "tags": ",".join(self.tags),
            ASSIGNEE: self.assignee,
            SNOOZE: self.snoozed_until.isoformat() if self.snoozed_until else None,
            SPAM_MARK: SPAM if self.status.strip().casefold() == SPAM else None,
        }[name]
        return value


@dataclass(frozen=True, slots=True)
class Change:
    """One field set to one value on every target; tags are an edit applied to each
    ticket's own tags (``+a`` on two tickets keeps what each had)."""

    field: str
    value: str | None = None
    tags: tuple[frozenset[str], frozenset[str], bool] | None = None  # add, remove, replace

    def value_for(self, before: TicketValues) -> str | None:
        if self.tags is not None:
            add, remove, replace = self.tags
            return apply_tag_changes(before.tags, add, remove, replace)
        return self.value


@dataclass(frozen=True, slots=True)
class Step:
    number: int
    field: str
    old: str | None
    new: str | None

    def reversed(self) -> Step:
        return Step(self.number, self.field, self.new, self.old)


@dataclass(slots=True)
class Undo:
    label: str
    steps: list[Step]
    deadline: float  # time.monotonic()


def read_values(ws: Workspace, numbers: Iterable[int]) -> dict[int, TicketValues]:
    """The fields the actions change, as this cache holds them."""
    t = ticket_t.c
    wanted = sorted(set(numbers))
    stmt = select(
        t.number, t.status, t.priority, t.category, t.tags, t.assignee, t.snoozed_until
    ).where(t.number.in_(wanted))
    with ws.cache.engine.connect() as conn:
        return {
            r.number: TicketValues(
                r.number,
                r.status,
                r.priority,
                r.category,
                tuple(x for x in (r.tags or "").split(",") if x),
                r.assignee,
                as_utc(r.snoozed_until),
            )
            for r in conn.execute(stmt)
        }


def categories_in_cache(ws: Workspace) -> list[str]:
    """Every category some ticket of the cache has, A to Z: what the team already uses."""
    t = ticket_t.c
    stmt = select(t.category).where(t.category.is_not(None)).distinct().order_by(t.category)
    with ws.cache.engine.connect() as conn:
        return [c for c in conn.execute(stmt).scalars() if c]


def close_status(workflow: WorkflowSettings) -> StatusDefinition:
    """The status `x` sets: the first closed one that is not spam (spam has its own action)."""
    closed = [s for s in workflow.statuses if s.kind is StatusKind.CLOSED and s.name != SPAM]
    if closed:
        return closed[0]
    return next(s for s in workflow.statuses if s.kind is StatusKind.CLOSED)


def _status_change(name: str) -> Change:
    """Spam chosen in the status picker is the spam action (the sender is remembered)."""
    if name.strip().casefold() == SPAM:
        return Change(SPAM_MARK, SPAM)
    return Change("status", name)


def tag_edit(text: str) -> Change:
    """The tags line: ``+a -b`` or ``+a,-b`` change; ``a, b`` (no signs) sets the list; an
    empty line clears. Raises ValueError with what is expected."""
    items = text.split(",") if "," in text else text.split()
    signed = [i for i in items if i.strip()[:1] in ("+", "-")]
    if "," not in text and not signed and text.strip():
        items = [text]  # one tag with spaces in it ("vip customer")
    return Change("tags", tags=parse_tag_changes(",".join(items)))


def plan(change: Change, before: dict[int, TicketValues], numbers: Sequence[int]) -> list[Step]:
    """The steps that change something: a ticket already at the value is left alone (and
    its undo would not move it either)."""
    steps = []
    for n in numbers:
        if n not in before:
            continue
        old = before[n].get(change.field)
        new = change.value_for(before[n])
        if (old or None) != (new or None):
            steps.append(Step(n, change.field, old, new))
    return steps


def apply_steps(team: TeamService, steps: Sequence[Step]) -> tuple[list[Step], list[str]]:
    """Each step through the team actions; (the steps done, what was refused)."""
    done: list[Step] = []
    refused: list[str] = []
    for step in steps:
        if step.field == SNOOZE:
            result = team.snooze(step.number, _snooze_time(step.new))
        elif step.field == SPAM_MARK:
            act = team.mark_spam if step.new else team.not_spam
            result = act(step.number)
        elif step.field != ASSIGNEE:
            result = team.set_field(step.number, step.field, step.new)
        elif step.new is None:
            result = team.release(step.number)
        else:
            result = team.assign(step.number, step.new)
        if result.ok:
            done.append(step)
        else:
            refused.append(f"#{step.number}: {result.message or 'not done'}")
    return done, refused


def _snooze_time(value: str | None) -> datetime | None:
    """A snooze step's time; one already past (an undo back to a snooze that ended since)
    means awake."""
    until = datetime.fromisoformat(value) if value else None
    return until if until is not None and until > datetime.now(UTC) else None


def _summary(label: str, steps: Sequence[Step], done: Sequence[Step], refused: list[str]) -> str:
    numbers = ", ".join(f"#{s.number}" for s in done[:5]) + ("…" if len(done) > 5 else "")
    text = f"{label}: {numbers}" if done else f"{label}: nothing changed"
    if refused:
        text += f"; {len(refused)} of {len(steps)} refused ({refused[0]})"
    return text


class TicketActions:
    """Held by the app; the screens' action keys call it with the tickets they target."""

    def __init__(self, app: HelpdeskApp, undo_seconds: float = UNDO_SECONDS) -> None:
        self.app = app
        self.undo_seconds = undo_seconds
        self.last: Undo | None = None

    @property
    def ws(self) -> Workspace:
        return self.app.ws

    @property
    def workflow(self) -> WorkflowSettings:
        return self.ws.settings.workflow

    # -- the actions ------------------------------------------------------------------------

    def set_status(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        current = self._common(numbers, "status")
        choices = [
            Choice(
                s.name,
                s.name,
                colour=self._colour(s.colour),
                hint=f"{s.kind}" + (" · now" if s.name == current else ""),
            )
            for s in self.workflow.statuses
        ]
        picker = Picker(self._title("Status", numbers), choices)
        self._ask(picker, numbers, _status_change, _Words("Status", "status"), done)

    def set_priority(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        current = self._common(numbers, "priority")
        choices = [
            Choice(str(p.value), p.name.lower(), hint="now" if str(p.value) == current else "")
            for p in sorted(Priority, reverse=True)
        ]
        picker = Picker(self._title("Priority", numbers), choices)
        words = _Words("Priority", "priority", lambda v: Priority(int(v)).name.lower())
        self._ask(picker, numbers, lambda v: Change("priority", v), words, done)

    def set_category(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        def checked(text: str) -> str:
            return normalize_category(text) or ""

        choices = [Choice(c, c) for c in categories_in_cache(self.ws)]
        picker = Picker(
            self._title("Category", numbers),
            choices,
            free_text=checked,
            hint='a new one typed as "Orders > Delivery"; the entry "none" clears it',
        )
        words = _Words("Category", "category")
        self._ask(picker, numbers, lambda v: Change("category", v or None), words, done)

    def edit_tags(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        def checked(text: str) -> str:
            tag_edit(text)  # raises with what is expected
            return text

        current = self._common(numbers, "tags")
        picker = Picker(
            self._title("Tags", numbers),
            free_text=checked,
            initial=(current or "").replace(",", ", "),
            hint='"+a -b" adds and removes; "a, b" sets the list; empty clears',
            placeholder="+tag -tag, or tag, tag",
        )
        self._ask(picker, numbers, tag_edit, _Words("Tags", "tags"), done)

    def assign(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        """The team's agents come from the team store: asked in a worker, then the picker."""
        self.app.run_worker(
            lambda: self._fetch_agents(numbers, done),
            thread=True,
            group="agents",
            exit_on_error=False,
        )

    def close(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        status = close_status(self.workflow).name
        self._run(numbers, Change("status", status), "Closed", "Close {n} tickets?", done)

    def mark_spam(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        self._run(numbers, Change(SPAM_MARK, SPAM), "Spam", "Mark {n} tickets as spam?", done)

    def merge(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        ask_merge(self.app, numbers, done)

    def reopen(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        status = reopen_status(self.workflow).name
        self._run(numbers, Change("status", status), "Reopened", "Reopen {n} tickets?", done)

    def snooze(self, numbers: list[int], done: Callable[[], None] | None = None) -> None:
        """Presets, or a time typed as `helpdesk snooze` reads it (the error shows in place);
        "Wake now" when one of them is snoozed."""
        # The team store judges "past" by the real clock, so the times are read by it too.
        now = datetime.now(UTC)
        zone, calendar = snooze_calendar(self.workflow)

        def checked(text: str) -> str:
            return parse_until(text, now, zone, calendar).isoformat()

        choices = [
            Choice(p.until.isoformat(), p.label, hint=format_until(p.until, now))
            for p in presets(now, zone, calendar)
        ]
        asleep = [
            v.snoozed_until
            for v in read_values(self.ws, numbers).values()
            if v.snoozed_until is not None and v.snoozed_until > now
        ]
        if asleep:
            hint = f"snoozed {describe_until(max(asleep).astimezone(zone), now)}"
            choices.append(Choice("", "Wake now", hint=hint))
        picker = Picker(
            self._title("Snooze", numbers),
            choices,
            free_text=checked,
            hint="or type 2h, 3d, tomorrow 14:00, fri, 12-01 10:30; back early if the customer"
            " writes",
            placeholder="when to bring it back",
        )

        def picked(value: str | None) -> None:
            if value is None:
                return
            if not value:
                self._run(numbers, Change(SNOOZE, None), "Woken", "Wake {n} tickets?", done)
                return
            shown = format_until(datetime.fromisoformat(value), now)
            self._run(
                numbers,
                Change(SNOOZE, value),
                f"Snoozed until {shown}",
                f"Snooze until {shown}: {{n}} tickets?",
                done,
            )

        self.app.push_screen(picker, picked)

    def undo(self) -> None:
        last = self.last
        if last is None or time.monotonic() > last.deadline:
            self.app.notify("Nothing to undo", severity="warning", timeout=3)
            return
        self.last = None
        steps = [s.reversed() for s in reversed(last.steps)]

        def act() -> ActionResult:
            done, refused = apply_steps(self.app.team, steps)
            return ActionResult(
                not refused, None, _summary(f"Undone {last.label}", steps, done, refused)
            )

        self.app._team_action(act)

    # -- the steps between ------------------------------------------------------------------

    def _fetch_agents(self, numbers: list[int], done: Callable[[], None] | None) -> None:
        """In a worker: the team store may be far away, or not answer at all."""
        problem = ""
        try:
            team = [
                (a.agent.email, a.agent.name, a.agent.away, a.holding)
                for a in self.app.team.agents()
            ]
        except Exception as exc:  # offline: the agents this cache has seen holding tickets
            team = [(e, "", False, -1) for e in assignees_in_cache(self.ws)]
            problem = f"team store: {type(exc).__name__}; agents from this cache"
        self.app.call_from_thread(self._pick_agent, numbers, done, team, problem)

    def _pick_agent(
        self,
        numbers: list[int],
        done: Callable[[], None] | None,
        team: list[tuple[str, str, bool, int]],
        problem: str,
    ) -> None:
        if problem:
            self.app.notify(problem, severity="warning", markup=False)
        me = self.ws.agent
        choices = [Choice(me, f"me ({me})")]
        for email, name, away, holding in sorted(team, key=lambda a: (a[1] or a[0]).casefold()):
            if email == me:
                continue
            load = f"{holding} open" if holding >= 0 else ""
            label = f"{name} <{email}>" if name else email
            choices.append(Choice(email, label, hint="away" if away else load, disabled=away))
        picker = Picker(self._title("Assign to", numbers), choices)
        words = _Words("Assigned to", "assign to", lambda v: "me" if v == me else v.split("@")[0])
        self._ask(picker, numbers, lambda v: Change(ASSIGNEE, v), words, done)

    def _ask(
        self,
        picker: Picker,
        numbers: list[int],
        change: Callable[[str], Change],
        words: _Words,
        done: Callable[[], None] | None,
    ) -> None:
        def picked(value: str | None) -> None:
            if value is None:
                return
            try:
                made = change(value)
            except ValueError as err:
                self.app.notify(str(err), severity="error", markup=False)
                return
            shown = words.shown(value)
            self._run(
                numbers,
                made,
                f"{words.done} {shown}",
                f"{words.verb} {shown}: {{n}} tickets?",
                done,
            )

        self.app.push_screen(picker, picked)

    def _run(
        self,
        numbers: list[int],
        change: Change,
        label: str,
        question: str,
        done: Callable[[], None] | None,
    ) -> None:
        """One ticket at once; many after one confirmation (undo covers them too)."""
        if not numbers:
            return
        if len(numbers) == 1:
            self._apply(numbers, change, label, done)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._apply(numbers, change, label, done)

        self.app.push_screen(Confirm(question.format(n=len(numbers))), answered)

    def _apply(
        self, numbers: list[int], change: Change, label: str, done: Callable[[], None] | None
    ) -> None:
        if self.app._acting:
            self.app.notify("Still busy with the last action…", timeout=2)
            return
        steps = plan(change, read_values(self.ws, numbers), numbers)
        if done is not None:
            done()  # the marks go: the action is on its way
        if not steps:
            self.app.notify(f"{label}: nothing to change", timeout=3, markup=False)
            return
        key = self._undo_key()

        def act() -> ActionResult:
            applied, refused = apply_steps(self.app.team, steps)
            if applied:
                self.last = Undo(label, applied, time.monotonic() + self.undo_seconds)
            text = _summary(label, steps, applied, refused)
            if applied and key:
                text += f" ({key} undoes)"
            return ActionResult(not refused, None, text)

        self.app._team_action(act)

    # -- small helpers ----------------------------------------------------------------------

    def _common(self, numbers: list[int], name: str) -> str | None:
        values = {v.get(name) for v in read_values(self.ws, numbers).values()}
        return values.pop() if len(values) == 1 else None

    @staticmethod
    def _title(what: str, numbers: list[int]) -> str:
        return (
            f"{what} of #{numbers[0]}" if len(numbers) == 1 else f"{what} of {len(numbers)} tickets"
        )

    def _colour(self, colour: str) -> str:
        """A status colour as Rich reads it: theme variables ($warning) resolved."""
        value = self.app.theme_variables.get(colour[1:], "") if colour.startswith("$") else colour
        try:
            Style(color=value)
        except Exception:
            return ""
        return value

    def _undo_key(self) -> str:
        keys = self.app.keymap_overrides.get("app.undo", "ctrl+z")
        return keys.split(",")[0]


def assignees_in_cache(ws: Workspace) -> list[str]:
    t = ticket_t.c
    stmt = select(t.assignee).where(t.assignee.is_not(None)).distinct().order_by(t.assignee)
    with ws.cache.engine.connect() as conn:
        return [a for a in conn.execute(stmt).scalars() if a]


@dataclass(frozen=True, slots=True)
class _Words:
    """How an action is told: "Status closed: #4" once done, "Set status closed: 3 tickets?"
    before a bulk one."""

    done: str
    what: str
    shown: Callable[[str], str] = lambda v: v or "none"

    @property
    def verb(self) -> str:
        return self.what[:1].upper() + self.what[1:] if " " in self.what else f"Set {self.what}"


# -- the keys: the same on the ticket screen and on the queue ---------------------------------

_KEYS = (
    ("s", "set_status", "Status", "status", "Set the status", False),
    ("p", "set_priority", "Priority", "priority", "Set the priority", False),
    ("y", "set_category", "Category", "category", 'Set the category ("Orders > Delivery")', False),
    ("t", "edit_tags", "Tags", "tags", 'Edit the tags ("+a -b", or a list)', False),
    ("a", "assign", "Assign", "assign", "Assign to an agent of the team", False),
    ("x", "close", "Close", "close", "Close (can be undone for a few seconds)", False),
    ("X", "reopen", "Reopen", "reopen", "Reopen: back to the first open status", False),
    ("z", "snooze", "Snooze", "snooze", "Snooze until a time (or the customer writes)", False),
    ("!", "mark_spam", "Spam", "spam", "Mark as spam, and its sender's next mail too", False),
    ("M", "merge", "Merge", "merge", "Merge into another ticket (mail, notes, later mail)", False),
)


def ticket_action_bindings(scope: str, whose: str) -> list[Binding]:
    """The action keys for a screen: ids ``{scope}.status`` ...; ``whose`` ends the tooltips
    ("of this ticket", "of the selected or marked tickets")."""
    return [
        Binding(key, action, label, show=show, id=f"{scope}.{name}", tooltip=f"{tip} {whose}")
        for key, action, label, name, tip, show in _KEYS
    ]


class TicketActionKeys:
    """The action methods the bindings name, for a screen that says which tickets they
    target (`action_targets`) and what to do once they went (`targets_done`)."""

    app: Any

    def action_targets(self) -> list[int]:
        raise NotImplementedError

    def targets_done(self) -> None:
        """Called once an action on the targets is on its way (the queue clears its marks)."""

    def _call(self, name: str) -> None:
        numbers = self.action_targets()
        if numbers:
            getattr(self.app.actions, name)(numbers, self.targets_done)

    def action_set_status(self) -> None:
        self._call("set_status")

    def action_set_priority(self) -> None:
        self._call("set_priority")

    def action_set_category(self) -> None:
        self._call("set_category")

    def action_edit_tags(self) -> None:
        self._call("edit_tags")

    def action_assign(self) -> None:
        self._call("assign")

    def action_close(self) -> None:
        self._call("close")

    def action_reopen(self) -> None:
        self._call("reopen")

    def action_merge(self) -> None:
        self._call("merge")

    def action_snooze(self) -> None:
        self._call("snooze")

    def action_mark_spam(self) -> None:
        self._call("mark_spam")
