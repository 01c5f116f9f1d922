"""Writing a reply, a reply to all, a forward, or a new ticket of ours (`m`).

The body starts with the configured quote of the customer's last mail and the signature;
templates go in at the cursor with their variables filled, and a variable left without a value
stays visible (highlighted) and blocks sending. The draft is saved every few seconds and when
the agent leaves, so it survives a crash and reopens on the next `r`; a colleague's draft on
the ticket is offered. `ctrl+s` queues the reply (`queue_reply`): the draft is kept until the
reply is sent, so that undo and "edit" of a held reply bring the very same text back.
A forward lists the ticket's own attachments to send along (the forwarded mail's ticked); a new
ticket has a Subject line, no ticket number until it is sent, and is queued with `queue_new`.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input, Label, Select, SelectionList, Static, TextArea
from textual.widgets.text_area import Selection

from helpdesk.core.compose import forward_subject, parse_address_list, quote, reply_subject
from helpdesk.core.identity import subject_tag
from helpdesk.core.language_guess import guess_language
from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import PresenceKind
from helpdesk.core.templates import (
    VARIABLE,
    Rendered,
    Template,
    combined_signature,
    render,
    unfilled,
    variables_for,
    with_signature,
)
from helpdesk.core.tickets import PresenceView
from helpdesk.storage import drafts, outbox, outgoing
from helpdesk.storage.attachments import StoredAttachment, list_attachments
from helpdesk.storage.drafts import DraftAttachment, DraftRecord
from helpdesk.storage.outgoing import Outgoing, OutState
from helpdesk.storage.reply_context import (
    ReplyContext,
    answer_addresses,
    bare_address,
    reply_context,
)
from helpdesk.storage.reply_text import fill, signed, templates
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.mail_out import (
    ReplyError,
    ReplyRequest,
    drafts_in_outbox,
    forwarded_parts,
    queue_new,
    queue_reply,
)
from helpdesk.tui.screens.compose_dialogs import (
    AttachPrompt,
    LeaveChoice,
    edit_externally,
    editor_command,
)
from helpdesk.tui.screens.picker import Confirm
from helpdesk.tui.screens.replying import ReplyingScreen
from helpdesk.tui.screens.template_picker import TemplatePicker
from helpdesk.tui.widgets.address_suggester import CustomerSuggester

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp

__all__ = [
    "AUTOSAVE",
    "BodyArea",
    "ComposeScreen",
    "discard_reply",
    "offset_location",
    "prefill_body",
    "settle_drafts",
    "take_back",
]

AUTOSAVE = 3.0  # seconds between saves of a draft that changed
_TITLES = {
    "reply": "Reply",
    "reply_all": "Reply to all",
    "forward": "Forward",
    "new": "New ticket",
}
NEW = "new"  # the kind of a mail that opens a ticket of ours
_KEEP = "keep"  # the status choice "leave the status as it is"


# -- pieces that need no screen ---------------------------------------------------------------


def offset_location(text: str, offset: int) -> tuple[int, int]:
    """(row, column) of a character offset in `text`, as the TextArea counts them."""
    before = text[:offset]
    row = before.count("\n")
    return row, offset - (before.rfind("\n") + 1)


def prefill_body(
    ws: Workspace, ticket: int | None, ctx: ReplyContext | None, kind: str
) -> tuple[str, int]:
    """The body a new draft starts with, and where the cursor goes (a character offset):
    the answer's line, a blank line, the signature; the quote above or below by the config.
    A forward gets no quote: the forwarded message is added below when it is sent."""
    sig = signed(ws, ticket, "") if ticket is not None else new_signature(ws)
    answer = "\n" + sig if sig else "\n"
    style = ws.settings.reply.quote
    parent = ctx.parent if ctx is not None else None
    if kind == "forward" or parent is None or style == "none":
        return answer, 0
    # In UTC, as the conversation shows dates.
    quoted = quote(
        parent.text, author=parent.from_name or parent.from_email, date=parent.date, style=style
    )
    if style == "top":
        return quoted + answer, len(quoted)
    return answer + quoted, 0


def fill_new(ws: Workspace, text: str, *, to: str = "", subject: str = "") -> Rendered:
    """`text` with the variables a new ticket has: the first addressee as the customer, the
    subject typed so far. Its number comes when it is sent, so `{{ ticket.number }}` stays
    visible (and blocks sending) rather than going out wrong."""
    name, addr = parseaddr(to.split(",")[0]) if to.strip() else ("", "")
    agent = ws.settings.agent
    values = variables_for(
        customer_name=name,
        customer_email=addr,
        ticket=0,
        subject=subject,
        agent_name=agent.name,
        agent_email=agent.email,
        team=ws.settings.team.name,
        order_pattern=ws.settings.reply.order_pattern,
        today=datetime.now(UTC).date(),
    )
    values.pop("ticket.number", None)
    return render(text, values)


def new_signature(ws: Workspace) -> str:
    """The signature block a new ticket's body starts with."""
    reply = ws.settings.reply
    sig = combined_signature(reply.agent_signature, reply.team_signature)
    return with_signature("", fill_new(ws, sig).text) if sig else ""


def default_addresses(ws: Workspace, ctx: ReplyContext | None, kind: str) -> tuple[str, str]:
    """To and Cc as the editor shows them first (`answer_addresses`)."""
    if ctx is None or kind == "forward":
        return "", ""
    to, cc = answer_addresses(ctx, set(ws.our_addresses()), reply_all=kind == "reply_all")
    return ", ".join(to), ", ".join(cc)


def settle_drafts(ws: Workspace, ticket: int) -> None:
    """Drafts of replies that were sent are done: discard them here and in the team store
    (whoever sent them, this app or the sync service)."""
    for out in outgoing.for_ticket(ws.cache, ticket):
        if out.state == OutState.SENT and out.draft_id:
            drafts.discard(ws.cache, out.draft_id)


def take_back(ws: Workspace, out_id: str) -> DraftRecord | None:
    """Cancel a queued, held or failed reply and return its draft for the editor, based on
    what the ticket holds now (the agent has seen the change that held it). None when it is
    too late (sending or sent)."""
    out = outgoing.get(ws.cache, out_id)
    if out is None or not outgoing.cancel(ws.cache, out_id):
        return None
    ctx = reply_context(ws.cache, out.ticket) if out.ticket is not None else None
    record = drafts.load(ws.cache, out.draft_id) if out.draft_id else None
    if record is None:  # queued without the editor (the CLI): the text from the message
        record = _draft_from_raw(ws, out)
    return replace(
        record,
        base_seq=_team_seq(ws),
        base_messages=ctx.message_ids if ctx is not None else record.base_messages,
    )


def discard_reply(ws: Workspace, out_id: str) -> bool:
    """Throw a queued, held or failed reply away, with its draft."""
    out = outgoing.get(ws.cache, out_id)
    if out is None or not outgoing.cancel(ws.cache, out_id):
        return False
    if out.draft_id:
        drafts.discard(ws.cache, out.draft_id)
    return True


def _draft_from_raw(ws: Workspace, out: Outgoing) -> DraftRecord:
    msg = email.message_from_bytes(out.raw or b"", policy=email.policy.default)
    body = ""
    if isinstance(msg, EmailMessage):
        part = msg.get_body(("plain",))
        if part is not None:
            with contextlib.suppress(LookupError, ValueError):
                body = str(part.get_content())
    shown = {
        bare_address(a) for h in ("To", "Cc") for a in str(msg.get(h, "")).split(",") if a.strip()
    }
    return DraftRecord(
        id=str(uuid.uuid4()),
        ticket=out.ticket,
        kind=out.kind,
        author=ws.agent,
        to=safe_text(str(msg.get("To", ""))),
        cc=safe_text(str(msg.get("Cc", ""))),
        bcc=", ".join(r for r in out.rcpt if r.lower() not in shown),
        subject=safe_text(str(msg.get("Subject", ""))),
        body=safe_text(body),
    )


def _open_draft(ws: Workspace, ticket: int | None, kind: str) -> DraftRecord | None:
    """The agent's newest draft of this kind on the ticket (None: of a new ticket) that is
    not already queued."""
    if ticket is None:  # a queued new ticket's row has its number once sent: ask by draft
        busy = drafts_in_outbox(ws)
    else:
        busy = {o.draft_id for o in outgoing.for_ticket(ws.cache, ticket) if o.draft_id}
    for d in drafts.for_ticket(ws.cache, ticket, author=ws.agent):
        if d.kind == kind and d.id not in busy:
            return d
    return None


def _team_seq(ws: Workspace) -> int:
    with ws.cache.engine.connect() as conn:
        return int(outbox.meta_get(conn, "team_seq", "0"))


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} kB" if n < 2**20 else f"{n / 2**20:.1f} MB"


# -- the body editor --------------------------------------------------------------------------


class BodyArea(TextArea):
    """The reply's text; template variables still without a value are highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"body-area--variable"}
    DEFAULT_CSS = """
    BodyArea .body-area--variable {
        background: $error 60%;
        color: $text;
        text-style: bold;
    }
    """

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if "{{" in line.plain:
            style = self.get_component_rich_style("body-area--variable", partial=True)
            for m in VARIABLE.finditer(line.plain):
                line.stylize(style, m.start(), m.end())
        return line


@dataclass(frozen=True, slots=True)
class _Attachment:
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class NewMail:
    """What `queue_new` takes: a mail that opens a ticket of ours."""

    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    body: str
    attach: tuple[Path, ...]
    status_after: str
    draft_id: str


# -- the screen -------------------------------------------------------------------------------


class ComposeScreen(ReplyingScreen):
    """Dismissed with the queued reply's outgoing id, or None when the agent left.
    `number` is None for a new ticket (kind "new")."""

    BINDINGS = [
        # Priority: the text area and the inputs use these keys for cursor moves.
        Binding(
            "ctrl+s",
            "send",
            "Queue",
            priority=True,
            id="compose.send",
            tooltip="Queue the reply for sending and go back to the ticket",
        ),
        Binding(
            "ctrl+t",
            "template",
            "Template",
            priority=True,
            id="compose.template",
            tooltip="Insert a template at the cursor",
        ),
        Binding(
            "ctrl+e",
            "editor",
            "$EDITOR",
            priority=True,
            id="compose.editor",
            tooltip="Write the body in your own editor ($VISUAL or $EDITOR)",
        ),
        Binding(
            "ctrl+a",
            "attach",
            "Attach",
            priority=True,
            id="compose.attach",
            tooltip="Attach a file from disk",
        ),
        Binding(
            "escape",
            "leave",
            "Leave",
            id="compose.leave",
            tooltip="Leave the reply: keep the draft or discard it",
        ),
    ]

    def __init__(
        self,
        number: int | None,
        kind: str = "reply",
        *,
        draft: DraftRecord | None = None,
        offer_shared: bool = True,
    ) -> None:
        super().__init__()
        self.number = number
        self.kind = kind
        self._given = draft
        self._offer_shared = offer_shared and draft is None
        self.draft: DraftRecord
        self.ctx: ReplyContext | None = None
        self.subject = ""
        self.attachments: list[_Attachment] = []
        # A forward: the ticket's stored attachments, and those ticked to go along.
        self.stored: list[StoredAttachment] = []
        self._stored_on: set[tuple[int, str]] = set()
        self._dirty = False
        self._saved_once = False  # the draft is in the cache (reopened, or saved here)
        self._sending = False
        self._cursor = 0
        self.problem = ""  # what stops sending now, as shown above the body
        self._var_problem = False

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    @property
    def ws(self) -> Workspace:
        return self.hd.ws

    # -- building ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self.number is None:
            self._start_new()
            return
        ws = self.ws
        settle_drafts(ws, self.number)
        self.ctx = ctx = reply_context(ws.cache, self.number)
        if self.kind == "forward":
            self.stored = list_attachments(ws.cache, self.number)
        tag = subject_tag(ws.settings.team.subject_tag, self.number)
        base_subject = ctx.parent.subject if ctx and ctx.parent else ctx.subject if ctx else ""
        subject_of = forward_subject if self.kind == "forward" else reply_subject
        self.subject = subject_of(base_subject, tag)
        found = self._given or _open_draft(ws, self.number, self.kind)
        if found is not None:
            self.draft = found
            self._saved_once = True
            self._cursor = 0
            self._stored_on = {
                (a.message_pk, a.part)
                for a in found.attachments
                if a.message_pk is not None and a.part is not None
            }
            return
        self._stored_on = set(forwarded_parts(ws, self.number)) if self.stored else set()
        to, cc = default_addresses(ws, ctx, self.kind)
        body, self._cursor = prefill_body(ws, self.number, ctx, self.kind)
        self.draft = DraftRecord(
            id=str(uuid.uuid4()),
            ticket=self.number,
            kind=self.kind,
            author=ws.agent,
            to=to,
            cc=cc,
            subject=self.subject,
            body=body,
            base_seq=_team_seq(ws),
            base_messages=ctx.message_ids if ctx else (),
        )

    def _start_new(self) -> None:
        ws = self.ws
        found = self._given or _open_draft(ws, None, NEW)
        if found is not None:
            self.draft = found
            self._saved_once = True
            self.subject = found.subject
            return
        body, self._cursor = prefill_body(ws, None, None, NEW)
        self.draft = DraftRecord(
            id=str(uuid.uuid4()),
            ticket=None,
            kind=NEW,
            author=ws.agent,
            body=body,
            base_seq=_team_seq(ws),
        )

    def _title(self) -> Text:
        if self.number is None:
            return Text(f"{_TITLES[NEW]} · write to a customer first", style="bold")
        title = Text(f"{_TITLES.get(self.kind, self.kind)} · #{self.number} ", style="bold")
        title.append(safe_text(self.subject).replace("\n", " "))
        return title

    def compose(self) -> ComposeResult:
        self._start()
        d = self.draft
        self.attachments = [
            _Attachment(Path(a.path), _file_size(Path(a.path))) for a in d.attachments if a.path
        ]
        yield Static(self._title(), id="compose-title")
        presence = Static(self._presence_text([]), id="compose-presence")
        presence.display = False
        yield presence
        suggester = CustomerSuggester(self.ws.cache)
        for field, label, value in (("to", "To", d.to), ("cc", "Cc", d.cc), ("bcc", "Bcc", d.bcc)):
            with Horizontal(classes="compose-field"):
                yield Label(label, classes="compose-label")
                yield Input(
                    value=safe_text(value).replace("\n", " "),
                    id=f"compose-{field}",
                    suggester=suggester,
                    compact=True,
                    placeholder="name <address>, …",
                )
        if self.number is None:
            with Horizontal(classes="compose-field"):
                yield Label("Subject", classes="compose-label")
                yield Input(
                    value=safe_text(d.subject).replace("\n", " "),
                    id="compose-subject",
                    compact=True,
                    placeholder="what the mail is about",
                )
        with Horizontal(classes="compose-field"):
            yield Label("After", classes="compose-label")
            yield Select(
                self._status_options(),
                value=self._default_status(),
                allow_blank=False,
                compact=True,
                id="compose-status",
            )
            yield Static(self._attachments_text(), id="compose-attachments")
        if self.stored:
            yield SelectionList[int](
                *[
                    (self._stored_label(a), i, (a.message, a.part) in self._stored_on)
                    for i, a in enumerate(self.stored)
                ],
                id="compose-forward",
                compact=True,
            )
        problem = Static("", id="compose-problem")
        problem.display = False
        yield problem
        yield BodyArea(
            safe_text(d.body),
            id="compose-body",
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
        )
        yield Footer()

    def _status_options(self) -> list[tuple[str, str]]:
        options = [("waiting on customer", "waiting"), ("closed", "closed"), ("keep status", _KEEP)]
        configured = self.ws.settings.reply.status_after or _KEEP
        if configured not in {v for _, v in options}:
            options.insert(0, (configured, configured))
        return options

    @staticmethod
    def _stored_label(a: StoredAttachment) -> Text:
        # A file name from mail: plain text, one line.
        return Text(f"📎 {safe_text(a.filename).replace(chr(10), ' ')} ({_size(a.size)})")

    def _default_status(self) -> str:
        return self.ws.settings.reply.status_after or _KEEP

    def on_mount(self) -> None:
        body = self.query_one(BodyArea)
        body.focus()
        body.move_cursor(offset_location(body.text, self._cursor))
        self.set_interval(AUTOSAVE, self._autosave)
        if self.number is None:
            if not self.query_one("#compose-to", Input).value:
                self.query_one("#compose-to", Input).focus()
            return  # no ticket yet: nobody to tell, no colleague's draft to offer
        self.hd.presence(self.number, here=True, kind=PresenceKind.REPLYING)
        detail = self.ws.cache.ticket(self.number)
        if detail is not None:
            self.update_presence(detail.presence)
        if self._offer_shared and not self._saved_once:
            self._look_for_shared()

    def on_unmount(self) -> None:
        # Back on the ticket below: viewing again, no longer replying.
        if self.number is not None:
            self.hd.presence(self.number, here=True, kind=PresenceKind.VIEWING)

    # -- presence ----------------------------------------------------------------------------

    def _presence_text(self, presence: list[PresenceView]) -> Text:
        others = [p for p in presence if p.agent != self.ws.agent]
        if not others:
            return Text("")
        names = ", ".join(f"{safe_text(p.agent.split('@')[0])} {p.kind}" for p in others)
        return Text(f"⚠ also here: {names}", style="bold")

    def update_presence(self, presence: list[PresenceView]) -> None:
        """Colleagues on this ticket now (the app calls this when the team syncs)."""
        line = self._presence_text(presence)
        widget = self.query_one("#compose-presence", Static)
        widget.update(line)
        widget.display = bool(line.plain)

    # -- the draft ---------------------------------------------------------------------------

    def current(self) -> DraftRecord:
        """The draft as the widgets hold it now."""
        subject = self.draft.subject
        if self.number is None:
            subject = self.query_one("#compose-subject", Input).value
        stored = tuple(
            DraftAttachment(a.filename, message_pk=a.message, part=a.part) for a in self.forwarded()
        )
        return replace(
            self.draft,
            to=self.query_one("#compose-to", Input).value,
            cc=self.query_one("#compose-cc", Input).value,
            bcc=self.query_one("#compose-bcc", Input).value,
            subject=subject,
            body=self.query_one(BodyArea).text,
            attachments=tuple(
                DraftAttachment(a.path.name, path=str(a.path)) for a in self.attachments
            )
            + stored,
        )

    def forwarded(self) -> list[StoredAttachment]:
        """The ticket's own attachments ticked to go along with a forward."""
        if not self.stored:
            return []
        chosen = set(self.query_one("#compose-forward", SelectionList).selected)
        return [a for i, a in enumerate(self.stored) if i in chosen]

    def on_selection_list_selected_changed(self, _event: SelectionList.SelectedChanged) -> None:
        self._dirty = True

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._dirty = True

    def on_text_area_changed(self, _event: TextArea.Changed) -> None:
        self._dirty = True
        if self._var_problem and not unfilled(self.query_one(BodyArea).text):
            self._show_problem("")  # the last variable was filled in

    def _autosave(self) -> None:
        if self._dirty and not self._sending:
            self._dirty = False
            self._saved_once = True
            self._save(self.current())

    def _save(self, record: DraftRecord) -> None:
        # A worker of the app, not of this screen: a save started as the screen closes
        # must still finish.
        ws = self.ws
        self.app.run_worker(
            lambda: drafts.save(ws.cache, record, datetime.now(UTC)),
            thread=True,
            group="draft-save",
            exit_on_error=False,
        )

    # -- a colleague's draft -----------------------------------------------------------------

    @work(thread=True, group="shared-draft", exit_on_error=False)
    def _look_for_shared(self) -> None:
        try:
            theirs = [
                d
                for d in drafts.shared_for_ticket(self.ws.team, self.number)
                if d.author != self.ws.agent
            ]
        except Exception:  # no team store now: nothing to offer, writing goes on
            return
        if theirs:
            self.app.call_from_thread(self._offer, theirs[0])

    def _offer(self, theirs: DraftRecord) -> None:
        if not self.is_attached:
            return
        who = safe_text(theirs.author.split("@")[0])
        when = f" ({theirs.updated_at.astimezone():%Y-%m-%d %H:%M})" if theirs.updated_at else ""
        question = f"{who} left a draft on #{self.number}{when}: open it?"

        def answer(yes: bool | None) -> None:
            if yes:
                self._take_over(theirs)

        self.app.push_screen(Confirm(question, "y open it · n write your own"), answer)

    def _take_over(self, theirs: DraftRecord) -> None:
        """Continue the colleague's draft under its own id: one draft, now this agent's."""
        self.draft = replace(theirs, author=self.ws.agent, kind=self.kind)
        self.query_one("#compose-to", Input).value = safe_text(theirs.to).replace("\n", " ")
        self.query_one("#compose-cc", Input).value = safe_text(theirs.cc).replace("\n", " ")
        self.query_one("#compose-bcc", Input).value = safe_text(theirs.bcc).replace("\n", " ")
        self.query_one(BodyArea).load_text(safe_text(theirs.body))
        self._dirty = True

    # -- templates, editor, attachments ------------------------------------------------------

    def action_template(self) -> None:
        found, problems = templates(self.ws)
        # Templates in the customer's language first.
        parent = self.ctx.parent if self.ctx is not None else None
        language = guess_language(f"{parent.subject}\n{parent.text}") if parent else None
        self.app.push_screen(
            TemplatePicker(found, problems, language=language or ""), self._insert_template
        )

    def _fill(self, text: str) -> Rendered:
        if self.number is not None:
            return fill(self.ws, self.number, text)
        return fill_new(
            self.ws,
            text,
            to=self.query_one("#compose-to", Input).value,
            subject=self.query_one("#compose-subject", Input).value,
        )

    def _insert_template(self, template: Template | None) -> None:
        if template is None:
            return
        if self.number is None and template.subject:
            subject = self.query_one("#compose-subject", Input)
            if not subject.value.strip():
                subject.value = self._fill(template.subject).text.replace("\n", " ")
        rendered = self._fill(template.body)
        self.insert_text(rendered.text, rendered.spans)
        self.draft = replace(self.draft, template=template.name)
        if rendered.missing:
            names = ", ".join("{{ " + m + " }}" for m in rendered.missing)
            self._show_problem(f"no value for {names}: fill it in before sending", variables=True)

    def insert_text(self, text: str, spans: tuple[tuple[int, int], ...] = ()) -> None:
        """Put `text` at the cursor; with `spans` (unfilled variables), select the first so
        that typing replaces it."""
        body = self.query_one(BodyArea)
        start = body.cursor_location
        body.insert(text)
        body.focus()
        if spans:
            first_start, first_end = spans[0]

            def at(offset: int) -> tuple[int, int]:
                row, col = offset_location(text, offset)
                return (start[0] + row, col + start[1] if row == 0 else col)

            body.selection = Selection(at(first_start), at(first_end))

    def action_editor(self) -> None:
        body = self.query_one(BodyArea)
        try:
            with self.app.suspend():
                edited = edit_externally(body.text, editor_command())
        except Exception as exc:  # a headless or web driver cannot hand over the terminal
            self.notify(f"cannot open an editor here: {type(exc).__name__}", severity="warning")
            return
        if edited is None:
            self.notify("the editor failed: the text is as it was", severity="warning")
        elif edited != body.text:
            body.load_text(edited)
            self._dirty = True

    def action_attach(self) -> None:
        def attach(path: Path | None) -> None:
            if path is None:
                return
            path = path.resolve()
            if any(a.path == path for a in self.attachments):
                self.attachments = [a for a in self.attachments if a.path != path]
                self.notify(f"{path.name} removed", markup=False)
            else:
                self.attachments.append(_Attachment(path, _file_size(path)))
            self._dirty = True
            self.query_one("#compose-attachments", Static).update(self._attachments_text())

        self.app.push_screen(AttachPrompt(), attach)

    def _attachments_text(self) -> Text:
        if not self.attachments:
            return Text("no attachments (ctrl+a)", style="dim")
        names = ", ".join(f"{safe_text(a.path.name)} ({_size(a.size)})" for a in self.attachments)
        return Text(f"📎 {names}")

    def _show_problem(self, text: str, *, variables: bool = False) -> None:
        self._var_problem = variables
        if text == self.problem:
            return
        self.problem = text
        widget = self.query_one("#compose-problem", Static)
        widget.update(Text(text))
        widget.display = bool(text)

    # -- sending and leaving -----------------------------------------------------------------

    def _request(self) -> ReplyRequest | NewMail | str:
        """The request to queue, or what is wrong with the reply as it stands."""
        d = self.current()
        problems: list[str] = []
        lists: dict[str, tuple[str, ...]] = {}
        for field, text in (("To", d.to), ("Cc", d.cc), ("Bcc", d.bcc)):
            found, wrong = parse_address_list(text)
            lists[field] = found
            problems += [f"{field}: {w}" for w in wrong]
        if problems:
            return "; ".join(problems)
        if not lists["To"]:
            return "To: the reply needs a recipient"
        missing = unfilled(d.body)
        if missing:
            names = ", ".join("{{ " + m + " }}" for m in missing)
            return f"not sent: no value for {names}: fill it in or remove it"
        status = str(self.query_one("#compose-status", Select).value)
        if self.number is None:
            if not d.subject.strip():
                return "Subject: a new ticket needs a subject"
            if unfilled(d.subject):
                return "not sent: the subject still has a template variable"
            return NewMail(
                to=lists["To"],
                cc=lists["Cc"],
                bcc=lists["Bcc"],
                subject=d.subject.strip(),
                body=d.body,
                attach=tuple(a.path for a in self.attachments),
                status_after="" if status == _KEEP else status,
                draft_id=d.id,
            )
        return ReplyRequest(
            ticket=self.number,
            body=d.body,
            kind=self.kind,
            to=lists["To"],
            cc=lists["Cc"],
            bcc=lists["Bcc"],
            attach=tuple(a.path for a in self.attachments),
            status_after="" if status == _KEEP else status,
            base_messages=d.base_messages,
            base_seq=d.base_seq or None,
            draft_id=d.id,
            forward_parts=tuple((a.message, a.part) for a in self.forwarded()),
        )

    def action_send(self) -> None:
        if self._sending:
            return
        req = self._request()
        if isinstance(req, str):
            self._show_problem(req, variables="{{" in req)
            self.query_one(BodyArea).focus()
            return
        self._sending = True
        self._queue(req, self.current())

    @work(thread=True, group="queue-reply", exit_on_error=False)
    def _queue(self, req: ReplyRequest | NewMail, record: DraftRecord) -> None:
        ws = self.ws
        try:
            # Kept until the reply is sent: undo and "edit" bring this text back.
            drafts.save(ws.cache, record, datetime.now(UTC))
            if isinstance(req, NewMail):
                out = queue_new(
                    ws,
                    to=req.to,
                    cc=req.cc,
                    bcc=req.bcc,
                    subject=req.subject,
                    body=req.body,
                    attach=req.attach,
                    status_after=req.status_after,
                    draft_id=req.draft_id,
                )
            else:
                out = queue_reply(ws, req)
        except ReplyError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        except Exception as exc:  # shown, never lost in a worker
            self.app.call_from_thread(self._refused, f"{type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._queued, out)

    def _refused(self, why: str) -> None:
        self._sending = False
        self._show_problem(safe_text(why))

    def _queued(self, out: Outgoing) -> None:
        self.hd.reply_queued(out)
        self.dismiss(out.id)

    def action_leave(self) -> None:
        if not self._dirty and not self._saved_once:
            self.dismiss(None)  # nothing written: nothing to keep
            return

        def chosen(choice: str | None) -> None:
            if choice == "keep":
                self._save(self.current())
                self.dismiss(None)
            elif choice == "discard":
                draft_id = self.draft.id
                ws = self.ws
                self._sending = True  # no autosave after this
                self.app.run_worker(
                    lambda: drafts.discard(ws.cache, draft_id),
                    thread=True,
                    group="draft-save",
                    exit_on_error=False,
                )
                self.dismiss(None)

        self.app.push_screen(LeaveChoice(), chosen)


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
