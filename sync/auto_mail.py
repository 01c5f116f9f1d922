"""Automatic replies out: the sync-lease holder claims the team store's pending `auto_mail`
rows, builds each message from its template and queues it in its cache, where `MailOut`
sends it like any reply.

A row is claimed by one conditional UPDATE (PostgreSQL adds SKIP LOCKED), so when several
machines send for one team each automatic reply goes once. The outgoing row's id and the
Message-ID both come from the team row, so a crash between queueing and marking the team row
is repaired by the next run of the same cache without a second message.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exc, or_, select, update

from helpdesk.core.compose import Draft, references_for, reply_subject
from helpdesk.core.identity import make_message_id, subject_tag
from helpdesk.core.loop_guard import auto_reply_headers
from helpdesk.core.templates import VARIABLE, combined_signature, render, variables_for
from helpdesk.core.templates import with_signature as add_signature
from helpdesk.storage import outbox, outgoing
from helpdesk.storage.db import as_utc
from helpdesk.storage.reply_context import reply_context
from helpdesk.storage.reply_text import find_template, templates
from helpdesk.storage.snooze import snooze_calendar
from helpdesk.storage.team_models import AutoMail
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.mail_out import ReplyError, queue_automatic, sending_account, team_secret

__all__ = ["AutoMailReport", "claim_pending", "holder_of", "queue_auto_mail"]

_CACHE_ID = "cache_id"  # cache_meta key: this cache's own id, for claims in the team store

_auto = AutoMail.__table__
_BATCH = 50


class AutoState:
    PENDING = "pending"
    CLAIMED = "claimed"
    QUEUED = "queued"
    FAILED = "failed"


@dataclass(slots=True)
class AutoMailReport:
    queued: list[int] = field(default_factory=list)  # auto_mail ids
    failed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def holder_of(ws: Workspace) -> str:
    """Who claims: this cache (its lease holder is the only sender for it), by an id made
    once for it. Host name and path alone are not enough: containers made from one image
    share both, and two caches taking each other's claims for their own would send twice."""
    with ws.cache.engine.connect() as conn:
        cache_id = outbox.meta_get(conn, _CACHE_ID)
    if not cache_id:
        made = uuid.uuid4().hex
        with ws.cache.writer.begin() as conn:
            # Another process of this cache may have made one a moment ago: the first stays.
            cache_id = outbox.meta_get(conn, _CACHE_ID)
            if not cache_id:
                outbox.meta_set(conn, _CACHE_ID, made)
                cache_id = made
    return f"{socket.gethostname()}:{cache_id}"[:500]


def claim_pending(ws: Workspace, holder: str, *, limit: int = _BATCH) -> list[Any]:
    """Take pending rows for `holder`, and again those it claimed but never marked (a crash
    after the claim): the outgoing id then says whether the message was queued. Only rows
    whose template this machine has: another one (the service, say) sends the others."""
    team = ws.team
    now = datetime.now(UTC)
    known = [t.name for t in templates(ws)[0]]
    if not known or not any(a.smtp is not None for a in ws.settings.accounts.values()):
        return []
    with team.write() as conn:
        wanted = (
            select(_auto.c.id)
            .where(
                or_(
                    and_(_auto.c.state == AutoState.PENDING, _auto.c.template.in_(known)),
                    and_(_auto.c.state == AutoState.CLAIMED, _auto.c.claimed_by == holder),
                )
            )
            .order_by(_auto.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            wanted = wanted.with_for_update(skip_locked=True)
        rows = conn.execute(
            update(_auto)
            .where(_auto.c.id.in_(wanted.scalar_subquery()))
            .values(state=AutoState.CLAIMED, claimed_by=holder, claimed_at=now)
            .returning(*_auto.c)
        ).all()
    return sorted(rows, key=lambda r: r.id)


def _mark(ws: Workspace, row_id: int, state: str, *, message_id: str | None, detail: str) -> None:
    with ws.team.write() as conn:
        conn.execute(
            update(_auto)
            .where(_auto.c.id == row_id)
            .values(state=state, message_id=message_id, detail=detail[:1000])
        )


def _fill(text: str, values: dict[str, str]) -> str:
    """Template variables filled; one without a value becomes nothing (an automatic reply
    has nobody to ask, and "{{ customer.name }}" must not reach a customer)."""
    done = render(text, values).text
    return VARIABLE.sub("", done)


def _out_id(row_id: int) -> str:
    return f"auto-{row_id}"


def _message_id(ws: Workspace, row: Any) -> str:
    account = sending_account(ws, reply_context(ws.cache, row.ticket))
    domain = account.address.rpartition("@")[2] or "helpdesk.invalid"
    # The nonce comes from the team row: rebuilt after a crash, the message keeps its id.
    nonce = hashlib.sha256(f"auto-mail:{row.id}".encode()).hexdigest()[:16]
    return make_message_id(team_secret(ws), row.ticket, domain, nonce=nonce)


def next_opening_after(ws: Workspace, at: datetime) -> datetime:
    """When the team is next open after the mail came (`at` itself while open), in the
    team's zone: what an out-of-hours reply promises."""
    zone, calendar = snooze_calendar(ws.settings.workflow)
    return (calendar.next_opening(at) if calendar is not None else at).astimezone(zone)


def _build(ws: Workspace, row: Any, message_id: str) -> Draft:
    template = find_template(ws, row.template)
    if template is None:
        raise ReplyError(f"no template named {row.template!r} (see [automation])")
    settings = ws.settings
    values = variables_for(
        customer_name=row.recipient_name,
        customer_email=row.recipient,
        ticket=row.ticket,
        subject=row.subject,
        agent_name=settings.team.name,
        agent_email="",
        team=settings.team.name,
        order_pattern=settings.reply.order_pattern,
        today=datetime.now(UTC).date(),
        next_opening=next_opening_after(ws, as_utc(row.created_at) or datetime.now(UTC)),
    )
    tag = subject_tag(settings.team.subject_tag, row.ticket)
    if template.subject:
        subject = _fill(template.subject, values)
        if tag not in subject:
            subject = f"{subject} {tag}"
    else:
        subject = reply_subject(row.subject, tag)
    body = _fill(template.body, values)
    signature = combined_signature("", settings.reply.team_signature)
    if signature:
        body = add_signature(body, _fill(signature, values))
    return Draft(
        ticket=row.ticket,
        to=(row.recipient,),
        subject=re.sub(r"\s+", " ", subject).strip(),
        body=body,
        in_reply_to=row.reply_to_id,
        references=references_for(row.reply_to_id, ()),
    )


def queue_auto_mail(ws: Workspace, *, holder: str | None = None) -> AutoMailReport:
    """Claim the team's pending automatic replies and queue them in this cache."""
    report = AutoMailReport()
    holder = holder or holder_of(ws)
    rows = claim_pending(ws, holder)
    if not rows:
        return report
    secret = team_secret(ws)
    headers = [
        (name, value)
        for name, value in auto_reply_headers(hashlib.sha256(secret).hexdigest()[:16]).items()
        if name.lower() != "auto-submitted"  # build_message writes that one itself
    ]
    for row in rows:
        out_id = _out_id(row.id)
        try:
            message_id = _message_id(ws, row)
            if outgoing.get(ws.cache, out_id) is None:
                draft = _build(ws, row, message_id)
                # Queued already by an earlier run that died before marking the row.
                with contextlib.suppress(exc.IntegrityError):
                    queue_automatic(
                        ws,
                        ticket=row.ticket,
                        draft=draft,
                        message_id=message_id,
                        out_id=out_id,
                        headers=headers,
                    )
        except ReplyError as error:  # the reply itself cannot be made (a bad address, say)
            _mark(ws, row.id, AutoState.FAILED, message_id=None, detail=str(error))
            report.failed.append(row.id)
            report.errors.append(f"automatic reply to ticket #{row.ticket}: {error}")
            continue
        except Exception as error:  # a fault here: the row stays claimed, tried again next run
            report.errors.append(
                f"automatic reply to ticket #{row.ticket}: {describe_fault(error)}"
            )
            continue
        _mark(ws, row.id, AutoState.QUEUED, message_id=message_id, detail="")
        report.queued.append(row.id)
    return report
