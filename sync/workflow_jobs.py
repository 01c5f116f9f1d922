"""The workflow steps the headless service runs every minute: snooze wake-ups, auto-close,
escalations and the daily summary.

Each step runs in turn; a step that fails is reported in one plain line and the others still
run. Notices go out through this cache's outgoing queue (`queue_automatic`), so `MailOut`
sends them like any automatic mail: once, retried while the server is away, marked
`Auto-Submitted`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exc

from helpdesk.core.compose import Draft
from helpdesk.core.identity import make_message_id
from helpdesk.core.loop_guard import auto_reply_headers
from helpdesk.core.notices import DailyFigures, EscalationFacts, escalation_mail, summary_mail
from helpdesk.core.sanitize import safe_text
from helpdesk.storage import outgoing
from helpdesk.storage.auto_close import auto_close
from helpdesk.storage.daily_summary import send_daily_summary
from helpdesk.storage.escalation import Escalation, escalate
from helpdesk.storage.snooze import wake_expired
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.mail_out import queue_automatic, sending_account, team_secret

# RFC 3834: a notice nobody asked for is "auto-generated" (a reply would be "auto-replied").
AUTO_SUBMITTED = "auto-generated"


@dataclass(slots=True)
class StepResult:
    name: str
    done: int = 0  # what the step did (tickets escalated, summaries sent, ...)
    detail: str = ""  # one line for the log when it did something
    error: str | None = None  # the step's fault, one line


@dataclass(slots=True)
class WorkflowReport:
    at: datetime
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.error is None for s in self.steps)

    @property
    def did_something(self) -> bool:
        return any(s.done for s in self.steps)

    def line(self) -> str:
        """One plain line for the log: what each step did."""
        parts = [s.detail or f"{s.name}: {s.done}" for s in self.steps if s.done]
        return f"{self.at:%Y-%m-%d %H:%M:%S} workflow: " + "; ".join(parts)


Step = tuple[str, Callable[[datetime], StepResult]]


def _one_line(text: str, width: int = 500) -> str:
    """A fault as one log line: no control characters, no line breaks, not too long."""
    return " ".join(safe_text(text).split())[:width]


class WorkflowJobs:
    """`run(now)` once a minute, by the process that holds the cache's sync lease."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        # The steps, in order. The lead adds snooze wake-ups (storage/snooze.py
        # `wake_expired(store, now)`) and auto-close (storage/auto_close.py
        # `auto_close(store, workflow, now)`) here, each wrapped as a step returning
        # a StepResult.
        self.steps: list[Step] = [
            ("snooze wake-ups", self.wake_snoozed),
            ("auto-close", self.auto_close),
            ("escalation", self.escalation),
            ("daily summary", self.daily_summary),
        ]

    def run(self, now: datetime) -> WorkflowReport:
        report = WorkflowReport(at=now)
        for name, step in self.steps:
            try:
                result = step(now)
            except Exception as error:  # one step's fault never stops the others
                result = StepResult(name, error=describe_fault(error))
            if result.error is not None:
                result.error = _one_line(result.error)
            report.steps.append(result)
        return report

    # -- snooze and auto-close ---------------------------------------------------------------

    def wake_snoozed(self, now: datetime) -> StepResult:
        woke = wake_expired(self.ws.team, now)
        detail = "woke " + ", ".join(f"#{n}" for n in woke) if woke else ""
        return StepResult("snooze wake-ups", done=len(woke), detail=detail)

    def auto_close(self, now: datetime) -> StepResult:
        closed = auto_close(self.ws.team, self.ws.settings.workflow, now)
        detail = "auto-closed " + ", ".join(f"#{n}" for n in closed) if closed else ""
        return StepResult("auto-close", done=len(closed), detail=detail)

    # -- escalation --------------------------------------------------------------------------

    def escalation(self, now: datetime) -> StepResult:
        before = self.ws.settings.jobs.escalate_before
        if before is None:
            return StepResult("escalation")
        # Fetched before the write turn, inside which a first fetch could not write it.
        team_secret(self.ws)
        done = escalate(
            self.ws.team, now, before=before, notify=lambda e: self._escalation_mail(e, now)
        )
        result = StepResult("escalation", done=len(done.escalated))
        if done.escalated:
            result.detail = "escalated " + ", ".join(
                f"#{e.ticket} ({e.stage.replace('_', ' ')})" for e in done.escalated
            )
        if done.errors:
            result.error = "; ".join(done.errors)
        return result

    def _escalation_mail(self, esc: Escalation, now: datetime) -> None:
        facts = EscalationFacts(
            ticket=esc.ticket,
            stage=esc.stage,
            due=esc.due,
            subject=esc.subject,
            customer=esc.customer,
            status=esc.status,
            priority=esc.priority,
            assignee=esc.assignee,
        )
        subject, body = escalation_mail(facts, now, self.ws.settings.team.name)
        self._queue(esc.op_id, esc.ticket, esc.recipients, subject, body, now)

    # -- daily summary -----------------------------------------------------------------------

    def daily_summary(self, now: datetime) -> StepResult:
        at = self.ws.settings.jobs.summary_at
        if at is None:
            return StepResult("daily summary")
        team_secret(self.ws)  # before the write turn, as for escalations

        def send(figures: DailyFigures, leads: tuple[str, ...]) -> None:
            subject, body = summary_mail(figures, self.ws.settings.team.name)
            self._queue(f"summary:{figures.day.isoformat()}", 0, leads, subject, body, now)

        figures = send_daily_summary(self.ws.team, now, summary_at=at, send=send)
        if figures is None:
            return StepResult("daily summary")
        return StepResult(
            "daily summary",
            done=1,
            detail=f"daily summary for {figures.day:%Y-%m-%d} sent ({figures.open} open, "
            f"{figures.breached} breached)",
        )

    # -- mail --------------------------------------------------------------------------------

    def _queue(
        self,
        key: str,
        ticket: int,
        to: tuple[str, ...],
        subject: str,
        body: str,
        now: datetime,
    ) -> None:
        """Queue one notice. Its ids come from `key`: queued again after a crash, it is the
        same message, refused by the queue instead of sent twice."""
        ws = self.ws
        secret = team_secret(ws)
        account = sending_account(ws)
        domain = account.address.rpartition("@")[2] or "helpdesk.invalid"
        digest = hashlib.sha256(key.encode()).hexdigest()
        # Signed for no ticket: a copy the server files in Sent must not join the customer's
        # conversation, where it would read as an answer and stop the SLA clock.
        message_id = make_message_id(secret, 0, domain, nonce=digest[:16])
        out_id = f"notice-{digest[:32]}"
        if outgoing.get(ws.cache, out_id) is not None:
            return
        headers = [
            (name, value)
            for name, value in auto_reply_headers(hashlib.sha256(secret).hexdigest()[:16]).items()
            if name.lower() != "auto-submitted"  # build_message writes that one itself
        ]
        draft = Draft(ticket=ticket, to=to, subject=subject, body=body)
        with contextlib.suppress(exc.IntegrityError):
            queue_automatic(
                ws,
                ticket=None,
                draft=draft,
                message_id=message_id,
                out_id=out_id,
                headers=headers,
                now=now,
                auto_submitted=AUTO_SUBMITTED,
            )
