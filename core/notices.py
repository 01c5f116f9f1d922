"""The plain-text mail the service sends to the team itself: SLA escalations and the daily
summary for the leads. Pure text building; the figures come from storage.

Ticket subjects come from customers' mail: they are cut to one line of printable text here,
so that a crafted subject can neither add lines to the notice nor reach a terminal as control
sequences when an agent reads the mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from .sanitize import safe_text

DUE_SOON = "due_soon"
BREACHED = "breached"
STAGES = (DUE_SOON, BREACHED)
_SUBJECT_WIDTH = 120


def one_line(text: str, width: int = _SUBJECT_WIDTH) -> str:
    flat = " ".join(safe_text(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def minutes_text(delta: timedelta) -> str:
    """How far a due time is ("25 min", "3 h 10 min", "2 d 4 h"), rounded to the minute."""
    minutes = max(0, round(abs(delta.total_seconds()) / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def due_phrase(stage: str, due: datetime, now: datetime) -> str:
    """The heart of every escalation text: "breaches in 25 min" or "breached 10 min ago"."""
    if stage == BREACHED or due <= now:
        return f"breached {minutes_text(now - due)} ago"
    return f"breaches in {minutes_text(due - now)}"


@dataclass(frozen=True, slots=True)
class EscalationFacts:
    ticket: int
    stage: str  # DUE_SOON | BREACHED
    due: datetime
    subject: str
    customer: str
    status: str
    priority: str
    assignee: str | None


def escalation_mail(facts: EscalationFacts, now: datetime, team: str) -> tuple[str, str]:
    """(subject, body) of the notice to the assignee (or the department) and the leads."""
    phrase = due_phrase(facts.stage, facts.due, now)
    subject = f"[{one_line(team, 40)}] #{facts.ticket} {phrase}: {one_line(facts.subject, 60)}"
    holder = facts.assignee or "nobody (unassigned)"
    body = "\n".join(
        [
            f"Ticket #{facts.ticket} {phrase} (due {facts.due:%Y-%m-%d %H:%M} UTC).",
            "",
            f"Subject:  {one_line(facts.subject)}",
            f"Customer: {one_line(facts.customer)}",
            f"Status:   {one_line(facts.status)}",
            f"Priority: {one_line(facts.priority)}",
            f"Assignee: {one_line(holder)}",
            "",
            f"Open it with: helpdesk show {facts.ticket}",
            "",
            "-- ",
            f"{one_line(team, 60)} helpdesk (automatic notice; replies are not read)",
        ]
    )
    return subject, body + "\n"


@dataclass(frozen=True, slots=True)
class DailyFigures:
    day: date  # the local day the summary is for (it covers the 24 hours before it went out)
    new: int  # tickets opened in those 24 hours
    closed: int  # tickets closed in those 24 hours
    open: int  # not closed now
    breached: int  # open now, past their SLA due time
    waiting: int  # open now, waiting on the customer or a third party
    per_agent: tuple[tuple[str, int], ...]  # (agent, open tickets held), most first
    unassigned: int  # open now, held by nobody


def summary_mail(figures: DailyFigures, team: str) -> tuple[str, str]:
    """(subject, body) of the daily summary for the leads."""
    f = figures
    subject = (
        f"[{one_line(team, 40)}] Daily summary {f.day:%Y-%m-%d}: {f.open} open, "
        f"{f.breached} breached"
    )
    lines = [
        f"Helpdesk summary for {f.day:%A %Y-%m-%d} (the last 24 hours).",
        "",
        f"New tickets:      {f.new:>6}",
        f"Closed tickets:   {f.closed:>6}",
        "",
        f"Open now:         {f.open:>6}",
        f"SLA breached:     {f.breached:>6}",
        f"Waiting:          {f.waiting:>6}",
        f"Unassigned:       {f.unassigned:>6}",
        "",
        "Open tickets per agent:",
    ]
    if f.per_agent:
        width = max(len(one_line(a, 60)) for a, _ in f.per_agent)
        lines += [f"  {one_line(a, 60):<{width}}  {n:>5}" for a, n in f.per_agent]
    else:
        lines.append("  (none held)")
    lines += ["", "-- ", f"{one_line(team, 60)} helpdesk (automatic summary)"]
    return subject, "\n".join(lines) + "\n"
