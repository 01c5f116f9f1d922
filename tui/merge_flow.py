"""The app's merge (`M`) and split (`S` on the ticket screen): a picker, one confirmation, then
the team actions in a worker like every other ticket action.

Candidates for a merge are the customer's other open tickets first (the usual case: one
customer wrote twice), then their closed ones, then other open tickets; any ticket number may
be typed instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import ConversationMessage, TicketDetail, TicketSummary
from helpdesk.core.workflow import StatusKind, WorkflowSettings
from helpdesk.storage.cache import _summary, ticket_t
from helpdesk.storage.customer_tickets import other_tickets
from helpdesk.storage.lock_table import closed_names
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.team import ActionResult
from helpdesk.tui.screens.picker import Choice, Confirm, Picker

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

__all__ = [
    "TicketNumberPicker",
    "ask_merge",
    "ask_split",
    "merge_choices",
    "merge_question",
    "split_choices",
]

_NUMBER = re.compile(r"\s*#?\s*(\d{1,12})\s*")
_OTHERS_LIMIT = 30  # open tickets of other customers offered after the customer's own


class TicketNumberPicker(Picker):
    """A picker where a typed ticket number ("12" or "#12") always means that ticket, even
    when it is not among the choices (fuzzy matching would take some other label)."""

    def action_pick(self) -> None:
        from textual.widgets import Input

        found = _NUMBER.fullmatch(self.query_one(Input).value)
        if found:
            self.dismiss(str(int(found.group(1))))
            return
        super().action_pick()


def _closed(workflow: WorkflowSettings, status: str) -> bool:
    return workflow.status(status).kind is StatusKind.CLOSED


def _summaries(ws: Workspace, numbers: Sequence[int]) -> dict[int, TicketSummary]:
    with ws.cache.engine.connect() as conn:
        rows = conn.execute(select(ticket_t).where(ticket_t.c.number.in_(list(numbers))))
        return {r.number: _summary(r) for r in rows}


def merge_choices(ws: Workspace, numbers: Sequence[int]) -> list[Choice]:
    """Where the tickets could go: the customer's open tickets, their closed ones, then
    other customers' open tickets (newest activity first); never a merged ticket."""
    workflow = ws.settings.workflow
    targets = _summaries(ws, numbers)
    skip = set(numbers)
    first = targets.get(numbers[0]) if numbers else None
    own = (
        other_tickets(ws.cache, first.customer_email, exclude=first.number)
        if first is not None
        else []
    )
    own = [t for t in own if t.number not in skip and t.merged_into is None]
    own.sort(key=lambda t: _closed(workflow, t.status))  # stable: newest first within each
    seen = skip | {t.number for t in own}
    t = ticket_t.c
    # The team's closed statuses in SQL, before the limit: filtered afterwards, a page of
    # recently closed tickets would leave no open one to offer.
    stmt = (
        select(ticket_t)
        .where(
            t.merged_into.is_(None),
            t.status.not_in(list(closed_names(workflow))),
            t.number.not_in(sorted(seen)),
        )
        .order_by(t.last_activity.desc(), t.number.desc())
        .limit(_OTHERS_LIMIT)
    )
    with ws.cache.engine.connect() as conn:
        others = [_summary(r) for r in conn.execute(stmt)]
    choices = []
    for ticket in [*own, *others]:
        same = first is not None and ticket.customer_email == first.customer_email
        hint = ticket.status + ("" if same else f" · {ticket.customer}")
        choices.append(Choice(str(ticket.number), f"#{ticket.number} {ticket.subject}", hint=hint))
    return choices


def _named(t: TicketSummary | None, number: int) -> str:
    subject = " ".join(safe_text(t.subject).split()) if t is not None else ""
    return f"#{number} “{subject or '(no subject)'}”"


def merge_question(ws: Workspace, numbers: Sequence[int], into: int) -> tuple[str, bool] | None:
    """The confirmation's question, and whether the customers differ (then the merge is
    forced once the agent says yes to a question that says so); None: `into` is unknown."""
    found = _summaries(ws, [*numbers, into])
    target = found.get(into)
    if target is None:
        return None
    if len(numbers) == 1:
        what = _named(found.get(numbers[0]), numbers[0])
    else:
        what = f"{len(numbers)} tickets ({', '.join(f'#{n}' for n in numbers[:5])}…)"
        what = what.replace("…)", ")") if len(numbers) <= 5 else what
    question = f"Merge {what} into {_named(target, into)}?"
    customers = {found[n].customer_email.casefold() for n in numbers if n in found} | {
        target.customer_email.casefold()
    }
    different = len(customers) > 1
    if different:
        shown = ", ".join(sorted(safe_text(c) or "none" for c in customers))
        question += f"\nThey are different customers ({shown})."
    return question, different


def ask_merge(app: HelpdeskApp, numbers: list[int], done: Callable[[], None] | None) -> None:
    ws = app.ws
    title = f"Merge #{numbers[0]} into" if len(numbers) == 1 else f"Merge {len(numbers)} into"
    picker = TicketNumberPicker(
        title,
        merge_choices(ws, numbers),
        hint="the customer's other tickets first; or type a ticket number",
        placeholder="type to narrow, or #number",
    )

    def picked(value: str | None) -> None:
        if value is None:
            return
        into = int(value)
        if into in numbers:
            app.notify(f"#{into} cannot be merged into itself", severity="error")
            return
        asked = merge_question(ws, numbers, into)
        if asked is None:
            app.notify(f"Ticket #{into} is not in the cache", severity="error")
            return
        question, force = asked

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            if done is not None:
                done()
            app._team_action(lambda: _merge_all(app, numbers, into, force))

        app.push_screen(Confirm(question), answered)

    app.push_screen(picker, picked)


def _merge_all(app: HelpdeskApp, numbers: list[int], into: int, force: bool) -> ActionResult:
    done: list[int] = []
    refused: list[str] = []
    queued = False
    survivor = into
    for n in numbers:
        result = app.team.merge(n, into, force=force)
        if result.ok:
            done.append(n)
            queued = queued or result.queued
            survivor = result.ticket or survivor
        else:
            refused.append(f"#{n}: {result.message or 'not done'}")
    if queued:
        return ActionResult(True, None, "offline: the merge is sent when the team answers", True)
    text = (
        f"Merged {', '.join(f'#{n}' for n in done)} into #{survivor}"
        if done
        else "Merge: nothing changed"
    )
    if refused:
        text += f"; {len(refused)} of {len(numbers)} refused ({refused[0]})"
    return ActionResult(not refused, survivor, text)


def split_choices(messages: Sequence[ConversationMessage]) -> list[Choice]:
    """One choice per message (oldest first), by its Message-ID."""
    choices = []
    for m in messages:
        when = f"{m.date:%m-%d %H:%M}" if m.date else "no date"
        sender = m.from_name or m.from_email or "(unknown sender)"
        label = f"{when} {sender}: {m.subject or '(no subject)'}"
        choices.append(Choice(m.message_id, label, hint="ours" if m.outgoing else ""))
    return choices


def ask_split(app: HelpdeskApp, detail: TicketDetail) -> None:
    number = detail.summary.number
    if detail.summary.merged_into is not None:
        app.notify(f"#{number} is merged into #{detail.summary.merged_into}", severity="warning")
        return
    if len(detail.messages) < 2:
        app.notify("The only message of a ticket cannot be split off", severity="warning")
        return
    picker = Picker(f"Split a message of #{number} off", split_choices(detail.messages))

    def picked(value: str | None) -> None:
        if value is None:
            return
        message = next((m for m in detail.messages if m.message_id == value), None)
        subject = " ".join(safe_text(message.subject if message else "").split())
        question = f"Open a new ticket with “{subject or '(no subject)'}” from #{number}?"

        def answered(yes: bool | None) -> None:
            if yes:
                app._team_action(lambda: app.team.split(number, value), open_it=True)

        app.push_screen(Confirm(question), answered)

    app.push_screen(picker, picked)
