"""Mail out: replies are queued in the cache, then sent by the process that holds the sync lease.

A reply is built completely when it is queued (its signed Message-ID included), so a retry
sends the very same message. Before it goes, the collision guard of DESIGN.md runs: the
sender needs the ticket's reply lock, and a reply is held when the ticket got mail the agent
had not seen when they began. A reply is marked `sending` before SMTP is asked and `sent`
once the server accepted it. A `sending` row found later means a crash in between: it is
never sent again on its own, but marked sent when the Sent folder has it, and otherwise held
for the agent to decide.
"""

from __future__ import annotations

import contextlib
import mimetypes
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from helpdesk.core.compose import (
    ComposeError,
    Draft,
    OutgoingAttachment,
    Sender,
    build_message,
    forward_subject,
    quote,
    recipients,
    references_for,
    reply_subject,
)
from helpdesk.core.config import AccountSettings
from helpdesk.core.identity import make_message_id, subject_tag
from helpdesk.core.mime_parts import MimeStructureError, decoded_chunks, find_part
from helpdesk.core.sanitize import safe_text
from helpdesk.core.templates import unfilled
from helpdesk.core.workflow_values import resolve_status, status_choices
from helpdesk.storage import outgoing
from helpdesk.storage.attachments import (
    AttachmentNotFound,
    attachment_of,
    list_attachments,
    raw_source,
)
from helpdesk.storage.cache_models import CachedEvent, CachedMessage, CacheMeta, OutgoingMail
from helpdesk.storage.lock_table import LockTable
from helpdesk.storage.outgoing import Outgoing, OutState
from helpdesk.storage.reply_context import (
    ReplyContext,
    answer_addresses,
    bare_address,
    reply_context,
)
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.credentials import get_password
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.imap import close_quietly, connect
from helpdesk.sync.ingest import Incoming, Ingestor
from helpdesk.sync.smtp import SmtpFault, send

meta_t = CacheMeta.__table__
event_t = CachedEvent.__table__
message_t = CachedMessage.__table__
outgoing_t = OutgoingMail.__table__
_SECRET_KEY = "team_secret"  # the team's Message-ID key, kept so that replies queue offline
_SERVER_FILES_SENT = "smtp_files_sent"  # "1"/"0" once detected for an account
ATTACHMENT_LIMIT = 25 * 1024 * 1024  # bytes per reply: what common mail servers accept
# A sent reply keeps its bytes this long (to resend or inspect), then the Sent copy is enough.
KEEP_SENT_BYTES = timedelta(days=30)
TIDY_EVERY = timedelta(hours=1)


class ReplyError(Exception):
    """The reply cannot be queued as it stands; the message tells the agent why."""


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    ticket: int
    body: str
    kind: str = "reply"  # reply | reply_all | forward
    to: tuple[str, ...] | None = None  # None: the customer (or, reply all, everyone on it)
    cc: tuple[str, ...] | None = None
    bcc: tuple[str, ...] = ()
    attach: tuple[Path, ...] = ()
    status_after: str | None = None  # None: the configured default
    # What the agent had seen when they began; None: what the cache holds now.
    base_messages: tuple[str, ...] | None = None
    base_seq: int | None = None
    draft_id: str | None = None
    # Attachments of the ticket's own messages sent along (a forward): (message pk, MIME part).
    forward_parts: tuple[tuple[int, str], ...] = ()


@dataclass(slots=True)
class SendReport:
    sent: list[str] = field(default_factory=list)  # outgoing ids
    held: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # one line per fault, for the status line


# -- queueing ---------------------------------------------------------------------------------


def team_secret(ws: Workspace) -> bytes:
    """The Message-ID key: from the team store once, then from the cache (offline queueing)."""
    with ws.cache.engine.connect() as conn:
        value = conn.execute(select(meta_t.c.value).where(meta_t.c.key == _SECRET_KEY)).scalar()
    if value:
        return bytes.fromhex(value)
    try:
        secret = ws.team.secret
    except Exception as exc:
        raise ReplyError(
            "this machine has not reached the team store yet, so it cannot sign replies: "
            f"sync once online first ({describe_fault(exc)})"
        ) from None
    _meta_set(ws, _SECRET_KEY, secret.hex())
    return secret


def _meta_set(ws: Workspace, key: str, value: str) -> None:
    with ws.cache.writer.begin() as conn:
        conn.execute(meta_t.delete().where(meta_t.c.key == key))
        conn.execute(meta_t.insert().values(key=key, value=value))


def _meta_get(ws: Workspace, key: str) -> str | None:
    with ws.cache.engine.connect() as conn:
        return conn.execute(select(meta_t.c.value).where(meta_t.c.key == key)).scalar()


def sending_account(ws: Workspace, ctx: ReplyContext | None = None) -> AccountSettings:
    """The account a reply leaves from: the one the customer wrote to, else the first that
    can send."""
    able = [a for a in ws.settings.accounts.values() if a.smtp is not None]
    if not able:
        raise ReplyError("no account has an [accounts.NAME.smtp] section: replies cannot be sent")
    if ctx is not None and ctx.parent is not None:
        seen = {bare_address(a) for a in (*ctx.parent.to, *ctx.parent.cc)}
        for a in able:
            if a.address.lower() in seen:
                return a
    return able[0]


def _attachment(path: Path) -> OutgoingAttachment:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReplyError(f"cannot attach {path}: {exc.strerror or exc}") from None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return OutgoingAttachment(filename=path.name, content_type=kind, data=data)


def _stored_attachment(ws: Workspace, ticket: int, message: int, part: str) -> OutgoingAttachment:
    """A part of one of the ticket's own messages, decoded from the raw message in the cache,
    under the name and type ingest recorded (the name already sanitised there)."""
    try:
        att = attachment_of(ws.cache, message, part)
        if _ticket_of_pk(ws, message) != ticket:
            raise AttachmentNotFound(f"message {message} is not part of ticket #{ticket}")
        with raw_source(ws.cache, message) as source:
            try:
                span = find_part(source, part)
            except (KeyError, MimeStructureError):
                raise AttachmentNotFound(f"part {part} is not in message {message}") from None
            data = b"".join(decoded_chunks(source, span))
    except AttachmentNotFound as exc:
        raise ReplyError(f"cannot forward an attachment: {exc}") from None
    return OutgoingAttachment(
        filename=att.filename,
        content_type=att.content_type or "application/octet-stream",
        data=data,
    )


def _ticket_of_pk(ws: Workspace, message: int) -> int | None:
    with ws.cache.engine.connect() as conn:
        return conn.execute(select(message_t.c.ticket).where(message_t.c.id == message)).scalar()


def forwarded_parts(ws: Workspace, ticket: int) -> tuple[tuple[int, str], ...]:
    """The attachments a forward carries by default: those of the message it forwards (the
    customer's newest), as (message pk, MIME part)."""
    ctx = reply_context(ws.cache, ticket)
    if ctx is None or ctx.parent is None:
        return ()
    with ws.cache.engine.connect() as conn:
        pk = conn.execute(
            select(message_t.c.id)
            .where(message_t.c.ticket == ticket, message_t.c.message_id == ctx.parent.message_id)
            .order_by(message_t.c.id)
        ).scalar()
    if pk is None:
        return ()
    return tuple((a.message, a.part) for a in list_attachments(ws.cache, ticket) if a.message == pk)


def drafts_in_outbox(ws: Workspace) -> set[str]:
    """Draft ids that became queued, sent or held mail (not cancelled): such a draft is not
    reopened as work in progress."""
    o = outgoing_t.c
    with ws.cache.engine.connect() as conn:
        return {
            str(d)
            for d in conn.execute(
                select(o.draft_id).where(o.draft_id.is_not(None), o.state != OutState.CANCELLED)
            ).scalars()
        }


def _addressees(
    ws: Workspace, req: ReplyRequest, ctx: ReplyContext
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if req.to is not None:
        return req.to, req.cc or ()
    if req.kind == "forward":
        raise ReplyError("a forward needs a recipient (--to)")
    to, cc = answer_addresses(
        ctx, set(ws.our_addresses()), reply_all=req.kind == "reply_all" and req.cc is None
    )
    return to, req.cc or cc


def build_draft(ws: Workspace, req: ReplyRequest, ctx: ReplyContext) -> Draft:
    tag = subject_tag(ws.settings.team.subject_tag, ctx.ticket)
    parent = ctx.parent
    subject_of = forward_subject if req.kind == "forward" else reply_subject
    subject = subject_of(parent.subject if parent else ctx.subject, tag)
    body = req.body
    if req.kind == "forward" and parent is not None:
        body = (
            body.rstrip("\n")
            + "\n\n"
            + quote(
                parent.text,
                author=parent.from_name or parent.from_email,
                date=parent.date,
                style="bottom",
            ).lstrip("\n")
        )
    to, cc = _addressees(ws, req, ctx)
    stored_size = 0
    for message, part in req.forward_parts:
        with contextlib.suppress(AttachmentNotFound):
            stored_size += attachment_of(ws.cache, message, part).size
    if stored_size > ATTACHMENT_LIMIT:  # before any is decoded into memory
        raise ReplyError(
            f"attachments over {ATTACHMENT_LIMIT // 2**20} MiB: mail servers refuse that"
        )
    attachments = tuple(_attachment(p) for p in req.attach) + tuple(
        _stored_attachment(ws, ctx.ticket, message, part)
        for message, part in dict.fromkeys(req.forward_parts)
    )
    if sum(len(a.data) for a in attachments) > ATTACHMENT_LIMIT:
        raise ReplyError(
            f"attachments over {ATTACHMENT_LIMIT // 2**20} MiB: mail servers refuse that"
        )
    refs: tuple[str, ...] = ()
    in_reply_to = None
    if parent is not None and req.kind != "forward":
        in_reply_to = parent.message_id
        refs = references_for(parent.message_id, parent.references)
    return Draft(
        ticket=ctx.ticket,
        to=to,
        cc=cc,
        bcc=req.bcc,
        subject=subject,
        body=body,
        attachments=attachments,
        in_reply_to=in_reply_to,
        references=refs,
    )


def queue_reply(ws: Workspace, req: ReplyRequest, *, now: datetime | None = None) -> Outgoing:
    """Build the reply completely and queue it; sending happens in `MailOut.process`."""
    now = now or datetime.now(UTC)
    _check_filled(req.body)
    status_after = _status_after(ws, req.status_after)
    if not req.body.strip():
        raise ReplyError("the reply is empty")
    ctx = reply_context(ws.cache, req.ticket)
    if ctx is None:
        raise ReplyError(f"ticket #{req.ticket} is not in the cache (run helpdesk sync)")
    account = sending_account(ws, ctx)
    reply = ws.settings.reply
    draft = build_draft(ws, req, ctx)
    message_id = _new_message_id(ws, account, req.ticket)
    raw, rcpt = _mail(draft, _sender(ws, account), message_id=message_id, date=now)
    return outgoing.queue(
        ws.cache,
        ticket=req.ticket,
        kind=req.kind,
        message_id=message_id,
        raw=raw,
        rcpt=rcpt,
        author=ws.agent,
        send_delay=reply.send_delay,
        status_after=status_after,
        base_seq=req.base_seq if req.base_seq is not None else _cache_seq(ws),
        base_messages=req.base_messages if req.base_messages is not None else ctx.message_ids,
        draft_id=req.draft_id,
        now=now,
    )


def queue_new(
    ws: Workspace,
    *,
    to: tuple[str, ...],
    subject: str,
    body: str,
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    attach: tuple[Path, ...] = (),
    status_after: str | None = None,
    now: datetime | None = None,
    draft_id: str | None = None,
) -> Outgoing:
    """A new ticket that we open (`m`): it gets its number when it is sent and registered."""
    now = now or datetime.now(UTC)
    _check_filled(subject + "\n" + body)
    status = _status_after(ws, status_after)
    if not subject.strip():
        raise ReplyError("a new ticket needs a subject")
    account = sending_account(ws)
    attachments = tuple(_attachment(p) for p in attach)
    draft = Draft(
        ticket=0, to=to, cc=cc, bcc=bcc, subject=subject, body=body, attachments=attachments
    )
    message_id = _new_message_id(ws, account, 0)
    raw, rcpt = _mail(draft, _sender(ws, account), message_id=message_id, date=now)
    return outgoing.queue(
        ws.cache,
        ticket=None,
        kind="new",
        message_id=message_id,
        raw=raw,
        rcpt=rcpt,
        author=ws.agent,
        send_delay=ws.settings.reply.send_delay,
        status_after=status,
        base_seq=_cache_seq(ws),
        base_messages=(),
        draft_id=draft_id,
        now=now,
    )


AUTOMATIC_AUTHOR = "rules"  # the author of automatic replies (storage.automation's actor)


def queue_automatic(
    ws: Workspace,
    *,
    ticket: int | None,
    draft: Draft,
    message_id: str,
    out_id: str,
    headers: Sequence[tuple[str, str]],
    now: datetime | None = None,
    auto_submitted: str = "auto-replied",
) -> Outgoing:
    """Queue an automatic reply (acknowledgement, out-of-hours notice) for sending at once.
    It needs no reply lock and is no agent's answer (see `MailOut`); a second call with the
    same `out_id` raises `sqlalchemy.exc.IntegrityError`, so a retry never queues it twice.
    `ticket` None: a notice to the team itself (escalation, daily summary), which joins no
    ticket and is not filed in Sent."""
    now = now or datetime.now(UTC)
    ctx = reply_context(ws.cache, ticket) if ticket is not None else None
    account = sending_account(ws, ctx)
    team = ws.settings.team.name
    sender = Sender(agent_name=team, team_name=team, address=account.address, from_format="{team}")
    raw, rcpt = _mail(
        draft,
        sender,
        message_id=message_id,
        date=now,
        auto_submitted=auto_submitted,
        extra_headers=headers,
    )
    return outgoing.queue(
        ws.cache,
        ticket=ticket,
        kind="reply",
        message_id=message_id,
        raw=raw,
        rcpt=rcpt,
        author=AUTOMATIC_AUTHOR,
        send_delay=0,
        status_after=None,
        base_seq=0,
        base_messages=(),
        now=now,
        out_id=out_id,
    )


def _new_message_id(ws: Workspace, account: AccountSettings, ticket: int) -> str:
    """Signed with the team's key; ticket 0 for a new ticket whose number comes later."""
    domain = account.address.rpartition("@")[2] or "helpdesk.invalid"
    return make_message_id(team_secret(ws), ticket, domain)


def _mail(
    draft: Draft,
    sender: Sender,
    *,
    message_id: str,
    date: datetime,
    auto_submitted: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> tuple[bytes, list[str]]:
    """The message's bytes and its envelope recipients; a draft that cannot become mail
    (a bad address, no recipient) is the agent's to mend."""
    try:
        raw = build_message(
            draft,
            sender,
            message_id=message_id,
            date=date,
            auto_submitted=auto_submitted,
            extra_headers=extra_headers,
        )
        return raw, recipients(draft)
    except ComposeError as exc:
        raise ReplyError(str(exc)) from None


def _check_filled(text: str) -> None:
    """Template variables left without a value block sending. Quoted lines are the
    customer's text, where "{{ x }}" may be exactly what they wrote."""
    own = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
    missing = unfilled(own)
    if missing:
        raise ReplyError(
            "the text still has template variables without a value: "
            + ", ".join("{{ " + m + " }}" for m in missing)
            + "; fill them in or remove them"
        )


def _status_after(ws: Workspace, wanted: str | None) -> str | None:
    """The status the ticket takes once the reply is sent; None keeps it as it is."""
    text = ws.settings.reply.status_after if wanted is None else wanted
    if not text or text.strip().casefold() == "keep":
        return None
    status = resolve_status(ws.settings.workflow, text)
    if status is None:
        raise ReplyError(
            f"no status {text!r}: use one of {', '.join(status_choices(ws.settings.workflow))}"
            " (or keep)"
        )
    return status.name


def _sender(ws: Workspace, account: AccountSettings) -> Sender:
    return Sender(
        agent_name=ws.settings.agent.name or ws.agent,
        team_name=ws.settings.team.name,
        address=account.address,
        from_format=ws.settings.reply.from_format,
    )


def _cache_seq(ws: Workspace) -> int:
    with ws.cache.engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.max(event_t.c.seq), 0))).scalar_one())


def send_anyway(ws: Workspace, out_id: str) -> None:
    """The agent saw what changed (or that a crash left it unsure) and sends all the same.
    Only what the hold showed counts as seen: news that came later holds it again."""
    out = outgoing.get(ws.cache, out_id)
    if out is None:
        raise ReplyError(f"no reply {out_id}")
    seen = (*out.base_messages, *out.held_ids)
    outgoing.release_hold(ws.cache, out_id, now=datetime.now(UTC), base_messages=seen)


# -- sending ----------------------------------------------------------------------------------

_UNSURE = (
    "helpdesk lost the SMTP server while it had this reply, and it is not in Sent: it may "
    "have reached the customer. Send it again or discard it."
)


class MailOut:
    """Sends what is due. Only the holder of the cache's sync lease runs this, so a row left
    in `sending` was left there by a process that died."""

    def __init__(self, ws: Workspace, ingestor: Ingestor) -> None:
        self.ws = ws
        self.ingestor = ingestor
        self._lock = threading.Lock()
        self._recovered = False
        self._joined = False
        self._tidied_at: datetime | None = None

    def process(self, now: datetime | None = None) -> SendReport:
        report = SendReport()
        with self._lock:
            if not self._recovered:
                self._recover(report)
            for out in outgoing.unfinished(self.ws.cache):
                self._finish(out, report)
            for out in outgoing.due(self.ws.cache, now or datetime.now(UTC)):
                self._send_one(out, report)
            self._tidy(now or datetime.now(UTC))
        return report

    def _tidy(self, now: datetime) -> None:
        """Drop the bytes of replies sent long ago (the Sent folder keeps them), hourly."""
        if self._tidied_at is not None and now - self._tidied_at < TIDY_EVERY:
            return
        self._tidied_at = now
        outgoing.drop_raw(self.ws.cache, now - KEEP_SENT_BYTES)

    # A reply found in `sending`: the process died while the SMTP server had it. Sent
    # decides; without proof the agent does, since sending twice is the worse mistake.
    def _recover(self, report: SendReport) -> None:
        for out in outgoing.interrupted(self.ws.cache):
            if not self._settle_unsure(out, report):
                return  # the server is away: decide at the next run
        self._recovered = True

    def _settle_unsure(self, out: Outgoing, report: SendReport) -> bool:
        try:
            there = out.message_id in self._in_sent(self._account(out), [out.message_id])
        except Exception as exc:
            report.errors.append(f"checking Sent for a reply: {describe_fault(exc)}")
            return False
        if there:
            outgoing.mark_sent(self.ws.cache, out.id, datetime.now(UTC))
            self._finish(out, report)
        else:
            outgoing.hold(self.ws.cache, out.id, _UNSURE)
            report.held.append(out.id)
            self._drop_lock(out)
        return True

    def _send_one(self, out: Outgoing, report: SendReport) -> None:
        why = self._collision(out, report)
        if why is not None:
            if why:
                outgoing.hold(self.ws.cache, out.id, why[0], why[1])
                report.held.append(out.id)
                self._drop_lock(out)
            return
        try:
            account = self._account(out)
            assert account.smtp is not None
            password = get_password(account, "smtp") if account.smtp.user is not None else None
        except Exception as exc:  # no SMTP account now, or a password command that failed
            outgoing.mark_retry(self.ws.cache, out.id, describe_fault(exc), _later(out))
            report.retrying.append(out.id)
            report.errors.append(describe_fault(exc))
            return
        if not outgoing.claim_for_sending(self.ws.cache, out.id):
            self._drop_lock(out)
            return  # undone a moment ago
        try:
            assert out.raw is not None
            accepted = send(account.smtp, password, out.raw, account.address, list(out.rcpt))
        except SmtpFault as exc:
            report.errors.append(str(exc))
            if exc.uncertain:
                self._settle_unsure(out, report)
            elif exc.permanent:
                outgoing.mark_failed(self.ws.cache, out.id, str(exc))
                report.failed.append(out.id)
                self._drop_lock(out)
            else:
                outgoing.mark_retry(self.ws.cache, out.id, str(exc), _later(out))
                report.retrying.append(out.id)
            return
        except Exception as exc:  # the message itself cannot go (say, an unencodable address)
            outgoing.mark_failed(self.ws.cache, out.id, describe_fault(exc))
            report.failed.append(out.id)
            report.errors.append(describe_fault(exc))
            self._drop_lock(out)
            return
        outgoing.mark_sent(self.ws.cache, out.id, datetime.now(UTC))
        if accepted.refused:
            report.errors.append(
                "some recipients were refused: "
                + "; ".join(f"{safe_text(r)}: {why}" for r, why in accepted.refused.items())
            )
        self._finish(out, report)

    def _collision(self, out: Outgoing, report: SendReport) -> tuple[str, list[str]] | str | None:
        """None: go ahead; "": not now (retry later); else why the reply is held, and the
        messages the agent has not seen."""
        # An automatic reply answers the mail that arrived, whoever works on the ticket.
        if out.ticket is None or out.author == AUTOMATIC_AUTHOR:
            return None
        table = LockTable(self.ws.team)
        try:
            self._join(table, out)
            lock = table.take_reply_lock(out.author, out.ticket)
            if not lock.ok:
                holder = lock.holder or "another agent"
                return f"{holder} holds ticket #{out.ticket} now ({lock.message})", []
            known = table.ticket_message_ids(out.ticket)
        except Exception as exc:  # no team store: a reply may not go without the lock
            why = f"waiting for the team store: {describe_fault(exc)}"
            outgoing.mark_retry(
                self.ws.cache, out.id, why, datetime.now(UTC) + timedelta(seconds=30)
            )
            report.retrying.append(out.id)
            report.errors.append(why)
            return ""
        # The agent's own earlier replies on the ticket are no news to them.
        mine = outgoing.own_message_ids(self.ws.cache, out.ticket, out.author)
        new = sorted(known - set(out.base_messages) - mine)
        if not new:
            return None
        return _what_changed(self.ws, new), new

    def _account(self, out: Outgoing) -> AccountSettings:
        ctx = reply_context(self.ws.cache, out.ticket) if out.ticket is not None else None
        return sending_account(self.ws, ctx)

    def _drop_lock(self, out: Outgoing) -> None:
        if out.ticket is not None:
            # The lock expires on its own; this only frees the ticket sooner.
            with contextlib.suppress(Exception):
                LockTable(self.ws.team).drop_reply_lock(out.author, out.ticket)

    def _finish(self, out: Outgoing, report: SendReport) -> None:
        """The server has it: it joins its ticket, the team hears who sent it, Sent gets it.
        Each step may be repeated; until all are done the next run tries again."""
        raw = out.raw if out.raw is not None else _raw_of(self.ws, out.id)
        if out.id not in report.sent:
            report.sent.append(out.id)
        if out.ticket is None and out.author == AUTOMATIC_AUTHOR:
            # A notice to the team: registered, it would open a ticket of its own.
            outgoing.mark_finished(self.ws.cache, out.id, datetime.now(UTC))
            return
        try:
            self.ingestor.ingest([Incoming(raw=raw, received_at=out.sent_at or datetime.now(UTC))])
            if out.ticket is None:  # a new ticket of ours: registering it gave it its number
                number = _ticket_of(self.ws, out.message_id)
                if number is not None:
                    outgoing.set_ticket(self.ws.cache, out.id, number)
                    out = replace(out, ticket=number)
            # An automatic reply is no agent's answer: no first response, no status change.
            if out.ticket is not None and out.author != AUTOMATIC_AUTHOR:
                self._record(out, report)
            self._file_in_sent(out, raw)
        except Exception as exc:
            report.errors.append(
                f"the reply was sent; recording it is not finished ({describe_fault(exc)}), "
                "it is tried again"
            )
            return
        outgoing.mark_finished(self.ws.cache, out.id, datetime.now(UTC))

    def _join(self, table: LockTable, out: Outgoing) -> None:
        if not self._joined and out.author == self.ws.agent:
            table.join(self.ws.agent, self.ws.settings.agent.name)
            self._joined = True

    def _record(self, out: Outgoing, report: SendReport) -> None:
        assert out.ticket is not None
        table = LockTable(self.ws.team)
        self._join(table, out)
        table.record_reply(out.author, out.ticket, out.message_id, at=out.sent_at)
        if out.status_after:
            # The op id makes a repeated finish a no-op in the team store.
            done = table.set_field(
                out.author, out.ticket, "status", out.status_after, op_id=f"reply-status:{out.id}"
            )
            if not done.ok:
                report.errors.append(
                    f"#{out.ticket}: the status after the reply was not set ({done.message})"
                )
        table.drop_reply_lock(out.author, out.ticket)

    # -- the Sent folder ------------------------------------------------------------------

    @staticmethod
    def _sent_folder(account: AccountSettings) -> str | None:
        return account.imap.sent_folder if account.imap is not None else None

    def _in_sent(self, account: AccountSettings, message_ids: Sequence[str]) -> set[str]:
        folder = self._sent_folder(account)
        if folder is None or account.imap is None:
            return set()
        client = connect(account.imap, get_password(account, "imap"))
        try:
            if not client.folder_exists(folder):
                return set()
            client.select_folder(folder, readonly=True)
            return {
                mid for mid in message_ids if client.search(["HEADER", "Message-ID", f"<{mid}>"])
            }
        finally:
            close_quietly(client)

    def _file_in_sent(self, out: Outgoing, raw: bytes) -> None:
        account = self._account(out)
        folder = self._sent_folder(account)
        if folder is None or account.imap is None:
            return
        setting = self.ws.settings.reply.sent_by_server
        remembered = _meta_get(self.ws, f"{_SERVER_FILES_SENT}:{account.name}")
        if setting is True or (setting is None and remembered == "1"):
            return
        client = connect(account.imap, get_password(account, "imap"))
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.select_folder(folder, readonly=True)
            # Already there: the server files what SMTP accepted (then remember that), or an
            # earlier finish got this far.
            if client.search(["HEADER", "Message-ID", f"<{out.message_id}>"]):
                if setting is None and out.finished_at is None and remembered is None:
                    _meta_set(self.ws, f"{_SERVER_FILES_SENT}:{account.name}", "1")
                return
            client.append(folder, raw, flags=[b"\\Seen"], msg_time=out.sent_at or datetime.now(UTC))
        finally:
            close_quietly(client)


def _later(out: Outgoing) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=outgoing.retry_delay(out.attempts + 1))


def _ticket_of(ws: Workspace, message_id: str) -> int | None:
    with ws.cache.engine.connect() as conn:
        return conn.execute(
            select(message_t.c.ticket).where(message_t.c.message_id == message_id)
        ).scalar()


def _raw_of(ws: Workspace, out_id: str) -> bytes:
    row = outgoing.get(ws.cache, out_id)
    if row is None or row.raw is None:
        raise ReplyError(f"outgoing {out_id} has no message")
    return row.raw


def _what_changed(ws: Workspace, new_ids: Sequence[str]) -> str:
    """Held: say what arrived since the agent began, from the cache where it knows."""
    m = message_t
    with ws.cache.engine.connect() as conn:
        rows = list(
            conn.execute(
                select(m.c.from_name, m.c.from_email, m.c.outgoing, m.c.date).where(
                    m.c.message_id.in_(list(new_ids))
                )
            )
        )
    parts = []
    for r in rows:
        who = safe_text(r.from_name or r.from_email or "someone")
        parts.append(f"a reply by {who}" if r.outgoing else f"a new message from {who}")
    unknown = len(new_ids) - len(rows)
    if unknown > 0:
        parts.append(f"{unknown} message{'s' if unknown > 1 else ''} not yet synced here")
    return (
        "held: the ticket changed since you began ("
        + ", ".join(parts)
        + "). "
        + ("Send anyway, edit, or discard.")
    )
