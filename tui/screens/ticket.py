"""The ticket screen: the whole conversation, oldest first."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from helpdesk.core.tickets import TicketDetail
from helpdesk.tui.widgets.message_view import MessageView
from helpdesk.tui.widgets.status_bar import StatusBar


class Conversation(VerticalScroll):
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="ticket.down", tooltip="Scroll down"),
        Binding("k", "scroll_up", "Up", show=False, id="ticket.up", tooltip="Scroll up"),
        Binding("g", "scroll_home", "Top", show=False, id="ticket.top", tooltip="First message"),
        Binding("G", "scroll_end", "End", show=False, id="ticket.end", tooltip="Newest message"),
        Binding("space", "page_down", "Page", show=False, id="ticket.page", tooltip="Next page"),
    ]


class TicketScreen(Screen[None]):
    BINDINGS = [
        Binding("q", "app.pop_screen", "Back", id="ticket.back", tooltip="Back to the queue"),
        Binding(
            "escape",
            "app.pop_screen",
            "Back",
            show=False,
            id="ticket.back_escape",
            tooltip="Back to the queue",
        ),
    ]

    def __init__(self, detail: TicketDetail) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        s = self.detail.summary
        title = Text(f"#{s.number} ", style="bold")
        title.append(s.subject or "(no subject)")
        yield Static(title, id="ticket-title")
        who = f"{s.customer_name} <{s.customer_email}>" if s.customer_name else s.customer_email
        yield Static(
            Text(
                f"{who}  ·  {s.status}  ·  {s.assignee or 'unassigned'}  ·  {s.message_count} messages"
            ),
            id="ticket-meta",
        )
        with Conversation(id="conversation"):
            for m in self.detail.messages:
                yield MessageView(m)
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        conv = self.query_one(Conversation)
        conv.focus()
        views = list(self.query(MessageView))
        if views:
            # The newest message is what the agent came for: show it from its first line.
            self.call_after_refresh(conv.scroll_to_widget, views[-1], animate=False, top=True)
        self.query_one(StatusBar).where = f"Ticket #{self.detail.summary.number}"
