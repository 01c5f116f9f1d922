"""The ticket screen: the whole conversation oldest first, internal notes in their place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from helpdesk.core.sanitize import safe_text
from helpdesk.core.tickets import ConversationMessage, TicketDetail, TicketSummary
from helpdesk.storage import outgoing
from helpdesk.storage.attachments import list_attachments
from helpdesk.storage.customer_tickets import other_tickets
from helpdesk.storage.outgoing import Outgoing, OutState
from helpdesk.tui.actions import TicketActionKeys, ticket_action_bindings
from helpdesk.tui.merge_flow import ask_split
from helpdesk.tui.screens.attachment_picker import AttachmentPicker
from helpdesk.tui.widgets.message_view import MessageView, fold_older
from helpdesk.tui.widgets.note_view import NoteView
from helpdesk.tui.widgets.outgoing_view import OutgoingView, SentReplyView, reply_authors
from helpdesk.tui.widgets.status_bar import StatusBar
from helpdesk.tui.widgets.ticket_side import TicketSide, TicketSideOverlay

if TYPE_CHECKING:
    from helpdesk.tui.app import HelpdeskApp


WIDE = 120  # columns from which the side panel stands beside the conversation


class Conversation(VerticalScroll):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="ticket.down", tooltip="Scroll down"),
        Binding("k", "scroll_up", "Up", show=False, id="ticket.up", tooltip="Scroll up"),
        Binding("g", "scroll_home", "Top", show=False, id="ticket.top", tooltip="First message"),
        Binding("G", "scroll_end", "End", show=False, id="ticket.end", tooltip="Newest message"),
        Binding("space", "page_down", "Page", show=False, id="ticket.page", tooltip="Next page"),
    ]


def _header(detail: TicketDetail, me: str) -> tuple[Text, Text]:
    s = detail.summary
    title = Text(f"#{s.number} ", style="bold")
    title.append(safe_text(s.subject) or "(no subject)")
    who = f"{s.customer_name} <{s.customer_email}>" if s.customer_name else s.customer_email
    meta = Text(
        f"{who}  ·  {s.status}  ·  {s.assignee or 'unassigned'}  ·  {s.message_count} message{'' if s.message_count == 1 else 's'}"
    )
    if s.merged_into is not None:
        meta.append(f"  ·  merged into #{s.merged_into} (J opens it)", style="bold")
    others = [p for p in detail.presence if p.agent != me]
    if others:
        meta.append(
            "  ·  " + ", ".join(f"{p.agent.split('@')[0]} {p.kind}" for p in others), style="bold"
        )
    return title, meta


class TicketScreen(TicketActionKeys, Screen[None]):
    BINDINGS = [
        *ticket_action_bindings("ticket", "of this ticket"),
        Binding("q", "back", "Back", id="ticket.back", tooltip="Back to the queue"),
        Binding(
            "escape",
            "back",
            "Back",
            show=False,
            id="ticket.back_escape",
            tooltip="Back to the queue",
        ),
        Binding("c", "claim", "Claim", id="ticket.claim", tooltip="Take this ticket"),
        Binding(
            "C",
            "release",
            "Release",
            show=False,
            id="ticket.release",
            tooltip="Give this ticket back to the queue",
        ),
        Binding(
            "N",
            "note",
            "Note",
            id="ticket.note",
            tooltip="Add an internal note (never sent to the customer)",
        ),
        Binding(
            "r", "compose('reply')", "Reply", id="ticket.reply", tooltip="Reply to the customer"
        ),
        Binding(
            "R",
            "compose('reply_all')",
            "Reply all",
            id="ticket.reply_all",
            tooltip="Reply to the customer and everyone else on their last mail",
        ),
        Binding(
            "f",
            "compose('forward')",
            "Forward",
            id="ticket.forward",
            tooltip="Forward the customer's last mail to someone outside the team",
        ),
        Binding(
            "T",
            "toggle_view('-show-quotes')",
            "Quotes",
            show=False,
            id="ticket.quotes",
            tooltip="Show or fold quoted text and signatures in every message",
        ),
        Binding(
            "H",
            "toggle_view('-show-headers')",
            "Headers",
            show=False,
            id="ticket.headers",
            tooltip="Show or hide the headers of every message",
        ),
        Binding(
            "o",
            "attachments",
            "Files",
            id="ticket.attachments",
            tooltip="Open or save the ticket's attachments",
        ),
        Binding(
            "i",
            "side_panel",
            "Info",
            show=False,
            id="ticket.side",
            tooltip="The customer's other tickets and the ticket's history",
        ),
        Binding(
            "S",
            "split",
            "Split",
            show=False,
            id="ticket.split",
            tooltip="Split one message off into a new ticket",
        ),
        Binding(
            "J",
            "survivor",
            "Merged into",
            show=False,
            id="ticket.survivor",
            tooltip="Open the ticket this one was merged into",
        ),
        Binding(
            "m",
            "new_mail",
            "New mail",
            show=False,
            id="ticket.new_mail",
            tooltip="Write to a customer first: a new ticket once sent",
        ),
    ]

    def __init__(self, detail: TicketDetail) -> None:
        super().__init__()
        self.detail = detail
        # Filled when composed; news may come before that (a worker's refresh).
        self.pending: list[Outgoing] = []

    @property
    def hd(self) -> HelpdeskApp:
        return cast("HelpdeskApp", self.app)

    @property
    def number(self) -> int:
        return self.detail.summary.number

    def compose(self) -> ComposeResult:
        title, meta = _header(self.detail, self.hd.ws.agent)
        yield Static(title, id="ticket-title")
        yield Static(meta, id="ticket-meta")
        self.pending = self._pending()
        with Horizontal(id="ticket-body"):
            with Conversation(id="conversation"):
                yield from self._items(self.detail, self.pending)
            yield TicketSide(self.detail, self._others(), self.hd.clock, id="ticket-side")
        yield StatusBar(id="status")
        yield Footer()

    def _pending(self) -> list[Outgoing]:
        """Replies of this ticket not yet in the conversation as sent mail."""
        return [
            o
            for o in outgoing.for_ticket(self.hd.ws.cache, self.number)
            if o.state != OutState.SENT
        ]

    @staticmethod
    def _items(detail: TicketDetail, pending: list[Outgoing] | None = None) -> list[Widget]:
        # Notes stand where they were written, between the mails around them.
        epoch = datetime.min.replace(tzinfo=UTC)
        authors = reply_authors(detail.history)

        def view(m: ConversationMessage) -> MessageView:
            event = authors.get(m.message_id.strip("<>")) if m.outgoing else None
            return SentReplyView(m, event.actor, event.at) if event else MessageView(m)

        timeline: list[tuple[datetime, int, Widget]] = [
            (m.date or epoch, i, view(m)) for i, m in enumerate(detail.messages)
        ]
        timeline += [
            (n.created_at, len(timeline) + i, NoteView(n)) for i, n in enumerate(detail.notes)
        ]
        timeline += [
            (o.created_at, len(timeline) + i, OutgoingView(o)) for i, o in enumerate(pending or [])
        ]
        return [w for _, _, w in sorted(timeline, key=lambda t: (t[0], t[1]))]

    def on_mount(self) -> None:
        conv = self.query_one(Conversation)
        conv.focus()
        self.set_class(self.app.size.width >= WIDE, "-wide")
        views = list(self.query(MessageView))
        fold_older(views, set())
        if views:
            # The newest message is what the agent came for: show it from its first line.
            self.call_after_refresh(conv.scroll_to_widget, views[-1], animate=False, top=True)
        self.query_one(StatusBar).where = f"Ticket #{self.number}"

    def on_unmount(self) -> None:
        self.hd.ticket_closed(self.number)

    def update_detail(self, detail: TicketDetail) -> None:
        """New state from the team or new mail: redraw, keeping the reading position."""

        def shape(d: TicketDetail) -> tuple[int, tuple[bool, ...], int]:
            replied = sum(1 for e in d.history if e.kind == "replied")
            return len(d.messages), tuple(n.pending for n in d.notes), replied

        pending = self._pending()
        changed = shape(detail) != shape(self.detail) or pending != self.pending
        self.detail = detail
        self.pending = pending
        title, meta = _header(detail, self.hd.ws.agent)
        self.query_one("#ticket-title", Static).update(title)
        self.query_one("#ticket-meta", Static).update(meta)
        self.query_one(TicketSide).update(detail, self._others())
        if changed:
            conv = self.query_one(Conversation)
            # Messages the agent has open stay open; a new newest one opens.
            expanded = {v.message.id for v in conv.query(MessageView) if not v.folded}
            conv.remove_children()
            items = self._items(detail, pending)
            fold_older([w for w in items if isinstance(w, MessageView)], expanded)
            conv.mount_all(items)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_targets(self) -> list[int]:
        return [self.number]

    def action_claim(self) -> None:
        self.hd.claim(self.number)

    def action_release(self) -> None:
        self.hd.release(self.number)

    def action_note(self) -> None:
        def done(text: str | None) -> None:
            if text:
                self.hd.add_note(self.number, text)

        from helpdesk.tui.screens.note import NoteEditor  # the editor loads when first used

        self.app.push_screen(NoteEditor(self.number), done)

    def action_compose(self, kind: str) -> None:
        from helpdesk.tui.screens.compose import ComposeScreen

        self.app.push_screen(ComposeScreen(self.number, kind), self._composed)

    def action_split(self) -> None:
        ask_split(self.hd, self.detail)

    def action_survivor(self) -> None:
        survivor = self.detail.summary.merged_into
        if survivor is None:
            self.notify("This ticket is not merged into another")
        else:
            self.hd.open_ticket(survivor)

    def action_new_mail(self) -> None:
        self.hd.new_mail()

    def _composed(self, _out_id: str | None) -> None:
        self.hd.outbox_changed()
        self.query_one(Conversation).focus()

    def on_outgoing_view_decision(self, event: OutgoingView.Decision) -> None:
        from helpdesk.tui.screens.compose import ComposeScreen, discard_reply, take_back

        ws = self.hd.ws
        if event.choice == "send":
            self.hd.send_held(event.out_id)
        elif event.choice == "edit":
            draft = take_back(ws, event.out_id)
            if draft is None:
                self.notify("Too late: the reply is on its way", severity="warning")
            else:
                screen = ComposeScreen(self.number, draft.kind, draft=draft)
                self.app.push_screen(screen, self._composed)
        elif discard_reply(ws, event.out_id):
            self.notify("Reply discarded")
        else:
            self.notify("Too late: the reply is on its way", severity="warning")
        self.hd.outbox_changed()

    # -- reading aids: folding, headers, attachments, side panel ---------------------------

    def _others(self) -> list[TicketSummary]:
        s = self.detail.summary
        return other_tickets(self.hd.ws.cache, s.customer_email, exclude=s.number)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= WIDE, "-wide")

    def action_toggle_view(self, css_class: str) -> None:
        # A class of the screen, read by app.tcss: messages mounted later follow it too.
        self.toggle_class(css_class)

    def action_attachments(self) -> None:
        cache = self.hd.ws.cache
        found = list_attachments(cache, self.number)
        if not found:
            self.notify("This ticket has no attachments")
            return
        picker = AttachmentPicker(cache, self.number, self.detail.messages, attachments=found)
        self.app.push_screen(picker)

    def action_side_panel(self) -> None:
        if self.has_class("-wide"):
            self.toggle_class("-side-hidden")
            return

        def chosen(number: int | None) -> None:
            if number is not None:
                self.hd.open_ticket(number)

        overlay = TicketSideOverlay(self.detail, self._others(), self.hd.clock)
        self.app.push_screen(overlay, chosen)

    def on_ticket_side_open_ticket(self, event: TicketSide.OpenTicket) -> None:
        event.stop()
        self.hd.open_ticket(event.number)
