"""The ticket's side panel: the customer's other tickets and who did what, when.

Shown beside the conversation on wide terminals; on narrow ones the same widget sits in an
overlay that `i` opens (:class:`TicketSideOverlay`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from helpdesk.core.sanitize import safe_text
from helpdesk.core.snooze_time import WOKE_BY_CUSTOMER, format_until
from helpdesk.core.team import EventKind
from helpdesk.core.tickets import EventView, TicketDetail, TicketSummary, age

__all__ = ["TicketSide", "TicketSideOverlay", "describe_event", "history_text", "other_line"]


def _one_line(s: str | None) -> str:
    return " ".join(safe_text(s or "").split())


def describe_event(e: EventView) -> str:
    """What the event says in a sentence after the actor's name; all parts are plain text."""
    match e.kind:
        case EventKind.REPLIED:
            return "replied to the customer"
        case EventKind.SKIPPED:
            return "skipped it"
        case EventKind.MERGED:
            return f"merged #{e.old} into #{e.new}"
        case EventKind.SPLIT:
            return f"split a message of #{e.old} off into #{e.new}"
        case EventKind.SPAM_SENDER if e.new:
            return f"remembered {e.new} as a spam sender"
        case EventKind.SPAM_SENDER:
            return f"forgot {e.old} as a spam sender"
        case EventKind.AUTO_CLOSED:
            return "closed it: the customer did not answer in time"
        case EventKind.FIELD if e.old:
            return f"changed {e.field} from {e.old!r} to {e.new!r}"
        case EventKind.FIELD if not e.new:
            return f"cleared {e.field}"
        case EventKind.SNOOZED:
            return _snoozed(e.new)
        case EventKind.WOKE if e.new == WOKE_BY_CUSTOMER:
            return "woke it: the customer wrote"
        case EventKind.WOKE:
            return "woke it: time is up"
        case EventKind.ESCALATED if e.field == "breached":
            return f"escalated it: breached the SLA (due {_team_time(e.new)})"
        case EventKind.ESCALATED:
            return f"escalated it: due soon ({_team_time(e.new)})"
    return e.describe()


def _team_time(iso: str | None) -> str:
    try:
        return format_until(datetime.fromisoformat(iso or ""))
    except ValueError:
        return _one_line(iso)


def _snoozed(until: str | None) -> str:
    """The time as the event holds it: in the team's zone, whoever reads it."""
    if not until:
        return "took the snooze off"
    return f"snoozed it until {_team_time(until)}"


def _actor(actor: str) -> str:
    return _one_line(actor.split("@")[0] if "@" in actor else actor) or "someone"


def history_text(history: Sequence[EventView], now: datetime, number: int | None = None) -> Text:
    """Newest first: an agent looks for what happened last. Events of tickets merged into
    ticket `number` say which ticket they happened on."""
    out = Text()
    if not history:
        out.append("nothing yet", style="italic")
        return out
    for i, e in enumerate(reversed(history)):
        if i:
            out.append("\n")
        out.append(f"{e.at:%m-%d %H:%M} ", style="dim")
        out.append(f"{age(e.at, now):>4} ", style="dim")
        if number is not None and e.ticket is not None and e.ticket != number:
            out.append(f"#{e.ticket}: ", style="dim")
        out.append(_actor(e.actor), style="bold")
        out.append(" " + _one_line(describe_event(e)))
    return out


def other_line(t: TicketSummary, now: datetime) -> Text:
    line = Text(f"#{t.number} ", style="bold")
    line.append(f"{_one_line(t.status):<8} ")
    line.append(f"{age(t.last_activity, now):>4} ", style="dim")
    line.append(_one_line(t.subject) or "(no subject)")
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


class TicketSide(Vertical):
    """Other tickets of the customer (enter opens one) and the event history."""

    DEFAULT_CSS = """
    TicketSide { height: 1fr; }
    TicketSide .side-title { color: $text; text-style: bold; background: $panel; padding: 0 1; }
    TicketSide #side-others {
        height: auto;
        max-height: 12;
        border: none;
        padding: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    TicketSide #side-others:focus { background: $boost; }
    TicketSide .side-empty { color: $text-muted; padding: 0 1; }
    TicketSide #side-history-scroll { height: 1fr; }
    TicketSide #side-history { padding: 0 1; }
    """

    @dataclass
    class OpenTicket(Message):
        """The agent chose another ticket of the customer."""

        number: int

    def __init__(
        self,
        detail: TicketDetail,
        others: list[TicketSummary],
        now: Callable[[], datetime],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.detail = detail
        self.others = others
        self.now = now

    def compose(self) -> ComposeResult:
        yield Static(self._others_title(), classes="side-title", id="side-others-title")
        yield OptionList(*self._options(), id="side-others")
        yield Static(Text("no other tickets"), classes="side-empty", id="side-none")
        yield Static(Text("History"), classes="side-title")
        with VerticalScroll(id="side-history-scroll"):
            yield Static(
                history_text(self.detail.history, self.now(), self.detail.summary.number),
                id="side-history",
            )

    def on_mount(self) -> None:
        self._show_empty()

    def _others_title(self) -> Text:
        s = self.detail.summary
        return Text(f"Other tickets of {_one_line(s.customer)}", no_wrap=True, overflow="ellipsis")

    def _options(self) -> list[Option]:
        now = self.now()
        return [Option(other_line(t, now), id=str(t.number)) for t in self.others]

    def _show_empty(self) -> None:
        self.query_one("#side-others", OptionList).display = bool(self.others)
        self.query_one("#side-none", Static).display = not self.others

    def update(self, detail: TicketDetail, others: list[TicketSummary]) -> None:
        self.detail = detail
        self.others = others
        self.query_one("#side-others-title", Static).update(self._others_title())
        options = self.query_one("#side-others", OptionList)
        highlighted = options.highlighted
        options.clear_options()
        options.add_options(self._options())
        if highlighted is not None and others:
            options.highlighted = min(highlighted, len(others) - 1)
        self._show_empty()
        self.query_one("#side-history", Static).update(
            history_text(detail.history, self.now(), detail.summary.number)
        )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.OpenTicket(int(event.option.id)))


class TicketSideOverlay(ModalScreen[int | None]):
    """The side panel over the conversation, for terminals too narrow to show both."""

    DEFAULT_CSS = """
    TicketSideOverlay { align: right top; }
    TicketSideOverlay > TicketSide {
        width: 90%;
        max-width: 70;
        height: 100%;
        background: $surface;
        border-left: thick $primary;
    }
    """

    BINDINGS = [
        Binding("i", "close", "Close", id="side.close", tooltip="Back to the conversation"),
        Binding("escape", "close", "Close", show=False, id="side.close_escape", tooltip="Close"),
        Binding("q", "close", "Close", show=False, id="side.close_q", tooltip="Close"),
    ]

    def __init__(
        self, detail: TicketDetail, others: list[TicketSummary], now: Callable[[], datetime]
    ) -> None:
        super().__init__()
        self.side = TicketSide(detail, others, now, id="side-overlay")

    def compose(self) -> ComposeResult:
        yield self.side

    def on_mount(self) -> None:
        self.query_one("#side-others", OptionList).focus()

    def on_ticket_side_open_ticket(self, event: TicketSide.OpenTicket) -> None:
        event.stop()
        self.dismiss(event.number)

    def action_close(self) -> None:
        self.dismiss(None)
