"""The terminal app. It reads the local cache only; mail sync runs in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import get_current_worker

from helpdesk.storage.workspace import Workspace
from helpdesk.sync.service import SyncService
from helpdesk.themes.builtin import BUILTIN_THEMES, DEFAULT_THEME
from helpdesk.tui.messages import SyncFinished, SyncProgress
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.status_bar import StatusBar

SYNC_INTERVAL = 60.0  # seconds between polls until IDLE push arrives


class HelpdeskApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "helpdesk"
    BINDINGS = [
        Binding("?", "toggle_help", "Keys", id="app.help", tooltip="Show the keys of this screen"),
        Binding("$", "sync_now", "Sync", id="app.sync", tooltip="Fetch new mail now"),
        Binding(
            "ctrl+c",
            "quit",
            "Quit",
            show=False,
            priority=True,
            id="app.interrupt",
            tooltip="Quit helpdesk",
        ),
    ]

    def __init__(
        self,
        ws: Workspace,
        *,
        sync: SyncService | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sync_interval: float = SYNC_INTERVAL,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.sync = sync
        self.clock = clock
        self.sync_interval = sync_interval
        self.sync_state = "no mail account configured" if sync is None else "starting sync…"
        self.sync_error = False

    def on_mount(self) -> None:
        for theme in BUILTIN_THEMES:
            self.register_theme(theme)
        self.theme = DEFAULT_THEME
        self.push_screen(QueueScreen())
        self._show_sync()
        if self.sync is not None:
            self.run_sync()
            self.set_interval(self.sync_interval, self.run_sync)

    # -- navigation ------------------------------------------------------------------------

    def open_ticket(self, number: int) -> None:
        detail = self.ws.cache.ticket(number)
        if detail is None:
            self.notify(f"Ticket #{number} is no longer in the cache", severity="warning")
            return
        self.push_screen(TicketScreen(detail))

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- sync ------------------------------------------------------------------------------

    def action_sync_now(self) -> None:
        if self.sync is None:
            self.notify("No mail account is configured: see helpdesk.toml", severity="warning")
            return
        self.run_sync()

    @work(thread=True, exclusive=True, group="imap", exit_on_error=False)
    def run_sync(self) -> None:
        assert self.sync is not None
        worker = get_current_worker()
        self.post_message(SyncProgress("syncing…"))
        report = self.sync.sync_once(
            progress=lambda p: self.post_message(
                SyncProgress(f"syncing {p.folder} {p.done}/{p.total}")
            ),
            cancelled=lambda: worker.is_cancelled,
        )
        self.post_message(
            SyncFinished(report.stats.new_messages, report.stats.new_tickets, report.errors)
        )

    def on_sync_progress(self, message: SyncProgress) -> None:
        self.sync_state, self.sync_error = message.text, False
        self._show_sync()

    def on_sync_finished(self, message: SyncFinished) -> None:
        when = self.clock().astimezone().strftime("%H:%M")
        if message.errors:
            account, error = next(iter(message.errors.items()))
            self.sync_state, self.sync_error = (
                f"sync failed {when} ({account}: {error}); retrying",
                True,
            )
        else:
            self.sync_state, self.sync_error = f"synced {when}", False
            if message.new_messages:
                self.notify(
                    f"{message.new_messages} new messages, {message.new_tickets} new tickets"
                )
        if message.new_messages:
            for screen in self.screen_stack:
                if isinstance(screen, QueueScreen):
                    screen.reload()
        self._show_sync()

    def _show_sync(self) -> None:
        for bar in self.screen.query(StatusBar):
            bar.show_sync(self.sync_state, error=self.sync_error)


def make_app(
    ws: Workspace,
    *,
    sync: SyncService | None = None,
    clock: Callable[[], datetime] | None = None,
) -> HelpdeskApp:
    """Build the app from an opened workspace: tests call this directly."""
    if clock is None:
        return HelpdeskApp(ws, sync=sync)
    return HelpdeskApp(ws, sync=sync, clock=clock)
