"""The terminal app. It reads the local cache only; mail and team sync run in worker threads."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.worker import Worker, get_current_worker

from helpdesk.core.team import PRESENCE_HEARTBEAT
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.idle import IdleWatcher
from helpdesk.sync.service import SyncService
from helpdesk.sync.team import ActionResult, TeamService
from helpdesk.themes.builtin import BUILTIN_THEMES, DEFAULT_THEME
from helpdesk.tui.messages import (
    ActionDone,
    MailPushed,
    PushState,
    SyncFinished,
    SyncProgress,
    TeamSynced,
)
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.status_bar import StatusBar

SYNC_INTERVAL = 60.0  # seconds between mail polls: other folders, and a safety net for IDLE
TEAM_SYNC_INTERVAL = 10.0  # seconds between pulls when no change was signalled
WATCH_SLICE = 1.0  # the watcher wakes this often to notice that the app is closing
PROGRESS_REFRESH = 2.0  # seconds between redraws of the lists while a sync stores mail
CACHE_WATCH = 2.0  # seconds between looks for mail stored by the process that syncs for us


class HelpdeskApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "helpdesk"
    BINDINGS = [
        Binding("?", "toggle_help", "Keys", id="app.help", tooltip="Show the keys of this screen"),
        Binding(
            "n",
            "handle_next",
            "Next",
            id="app.handle_next",
            tooltip="Claim the best waiting ticket and open it",
        ),
        Binding(
            "$", "sync_now", "Sync", id="app.sync", tooltip="Fetch new mail and team changes now"
        ),
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
        team: TeamService | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sync_interval: float = SYNC_INTERVAL,
        team_interval: float = TEAM_SYNC_INTERVAL,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.sync = sync
        self.team = team if team is not None else TeamService(ws)
        self.clock = clock
        self.sync_interval = sync_interval
        self.team_interval = team_interval
        self.sync_state = "no mail account configured" if sync is None else "starting sync…"
        self.sync_error = False
        self.team_state = "team: connecting…"
        self._acting = False
        self.idle_watcher: IdleWatcher | None = None
        self._sync_again = False  # IDLE reported mail while a sync was running
        self.push_state: dict[str, str] = {}  # accounts whose IDLE is in trouble
        self._synced_by: str | None = None  # the process holding the sync lease, if not us
        self._last_message = 0
        self._last_progress_refresh = 0.0
        # Conflicts from earlier sessions were shown then: only new ones are news.
        last = self.team.conflicts()
        self._seen_conflicts = last[-1].pos if last else 0

    def on_mount(self) -> None:
        for theme in BUILTIN_THEMES:
            self.register_theme(theme)
        self.theme = DEFAULT_THEME
        self.push_screen(QueueScreen())
        self._show_status()
        if self.sync is not None:
            if self.sync.lease.try_take():
                self._start_push()  # before the first sync: nothing arrives unseen between
            self.run_sync()
            self.set_interval(self.sync_interval, self._poll)
            self.set_interval(CACHE_WATCH, self._watch_cache)
        self.run_team_sync()
        self.set_interval(self.team_interval, self.run_team_sync)
        self.watch_team()
        self.set_interval(PRESENCE_HEARTBEAT, self._heartbeat)

    def on_unmount(self) -> None:
        if self.idle_watcher is not None:
            self.idle_watcher.stop()

    def _start_push(self) -> None:
        """IDLE, once this app holds the cache's sync lease (its holder alone talks to IMAP)."""
        if self.idle_watcher is None:
            # Messages, not call_from_thread: a watcher thread never waits for the app, so
            # a push that comes while the app is closing cannot hold up its exit.
            self.idle_watcher = IdleWatcher(
                self.ws.settings.accounts.values(),
                on_change=lambda _account: self.post_message(MailPushed()),
                on_state=lambda account, state, error: self.post_message(
                    PushState(account, state, error)
                ),
            )
            self.idle_watcher.start()

    def _watch_cache(self) -> None:
        """Another process syncing this cache (`helpdesk sync` on a shared server) stores
        mail we are not told of: notice it by the newest message's key, a cheap read."""
        if self._synced_by is None:
            return
        last = self.ws.cache.last_message()
        if last != self._last_message:
            self._last_message = last
            self.refresh_views()

    # -- navigation ------------------------------------------------------------------------

    def open_ticket(self, number: int) -> None:
        detail = self.ws.cache.ticket(number)
        if detail is None:
            self.notify(f"Ticket #{number} is not in the cache yet", severity="warning")
            return
        if isinstance(self.screen, TicketScreen):
            self.pop_screen()
        self.push_screen(TicketScreen(detail))
        self.presence(number, here=True)

    def ticket_closed(self, number: int) -> None:
        self.presence(number, here=False)

    def refresh_views(self) -> None:
        """Read the cache again: lists, counts and an open ticket."""
        for screen in self.screen_stack:
            try:
                if isinstance(screen, QueueScreen):
                    screen.reload()
                elif isinstance(screen, TicketScreen):
                    detail = self.ws.cache.ticket(screen.detail.summary.number)
                    if detail is not None:
                        screen.update_detail(detail)
            except NoMatches:
                # A worker's news arrived while the app closes: the screen's widgets are
                # already gone, and there is nothing left to redraw.
                continue

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- team actions: in workers, because the team store may be far away -------------------

    def action_handle_next(self) -> None:
        if self._acting:
            self.notify("Still busy with the last action…", timeout=2)
            return
        self._team_action(lambda: self.team.handle_next(), open_it=True)

    def claim(self, number: int) -> None:
        self._team_action(lambda: self.team.claim(number))

    def release(self, number: int) -> None:
        self._team_action(lambda: self.team.release(number))

    def add_note(self, number: int, body: str) -> None:
        self._team_action(lambda: self.team.add_note(number, body))

    def _team_action(self, act: Callable[[], ActionResult], open_it: bool = False) -> None:
        # One team action at a time: pressing `n` twice must not claim two tickets.
        self._acting = True
        self._run_team_action(act, open_it)

    @work(thread=True, group="team-action", exit_on_error=False)
    def _run_team_action(self, act: Callable[[], ActionResult], open_it: bool) -> None:
        try:
            result = act()
        except Exception as exc:  # shown, never lost silently in a worker
            result = ActionResult(False, message=f"{type(exc).__name__}: {exc}")
        self.post_message(ActionDone(result, open_it))

    def on_action_done(self, message: ActionDone) -> None:
        self._acting = False
        if not self.screen_stack:
            return  # closing
        result = message.result
        # Messages carry colleagues' names and server text: never markup.
        if result.ok and result.queued:
            self.notify(result.message, severity="warning", markup=False)
        elif result.ok and result.message:
            self.notify(result.message, markup=False)
        elif not result.ok:
            self.notify(result.message or "not done", severity="error", markup=False)
        self.refresh_views()
        self._show_status()
        if message.open_ticket and result.ok and result.ticket is not None:
            self.open_ticket(result.ticket)

    @work(thread=True, group="presence", exit_on_error=False)
    def presence(self, number: int, here: bool) -> None:
        if here:
            self.team.here(number)
        else:
            self.team.gone(number)

    def _heartbeat(self) -> None:
        if isinstance(self.screen, TicketScreen):
            self.presence(self.screen.detail.summary.number, here=True)

    # -- sync ------------------------------------------------------------------------------

    def action_sync_now(self) -> None:
        self.run_team_sync()
        if self.sync is None:
            self.notify("No mail account is configured: see helpdesk.toml", severity="warning")
            return
        self.mail_changed()  # at once, or right after the sync under way

    def _poll(self) -> None:
        # A sync still running (a long first one) is left alone: starting another would
        # cancel it and fetch the same batches twice.
        if not any(w.group == "imap" and not w.is_finished for w in self.workers):
            self.run_sync()

    def on_mail_pushed(self, _message: MailPushed) -> None:
        if self.screen_stack:
            self.mail_changed()

    def on_push_state(self, message: PushState) -> None:
        if not self.screen_stack:
            return
        # Only trouble is news: "idle" is the normal state and says nothing to an agent.
        if message.error:
            self.push_state[message.account] = f"push {message.account}: {message.state}"
        else:
            self.push_state.pop(message.account, None)
        self._show_status()

    def mail_changed(self) -> None:
        """The server pushed a change: sync now, or once more after the running sync (a
        burst of pushes makes one extra sync, and never cancels the one under way)."""
        if any(w.group == "imap" and not w.is_finished for w in self.workers):
            self._sync_again = True
        else:
            self.run_sync()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The worker's own end, not SyncFinished: that one can come before the worker counts
        # as finished, and a push seen in between would wait for the next poll.
        if event.worker.group == "imap" and event.worker.is_finished and self._sync_again:
            self._sync_again = False
            if self.screen_stack:
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
            SyncFinished(
                report.stats.new_messages, report.stats.new_tickets, report.errors, report.synced_by
            )
        )

    @work(thread=True, exclusive=True, group="team", exit_on_error=False)
    def run_team_sync(self) -> None:
        report = self.team.sync()
        conflicts = self.team.conflicts(self._seen_conflicts)
        self.post_message(
            TeamSynced(report.online, report.pulled, report.pending, report.error, conflicts)
        )

    @work(thread=True, group="team-watch", exit_on_error=False)
    def watch_team(self) -> None:
        """Pull as soon as a colleague changes something (PostgreSQL pushes; SQLite is
        watched), so a claim elsewhere shows here within a second."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            if self.team.wait_for_change(WATCH_SLICE) and not worker.is_cancelled:
                self.call_from_thread(self.run_team_sync)

    def on_team_synced(self, message: TeamSynced) -> None:
        if not self.screen_stack:
            return  # closing
        if message.online:
            self.team_state = "team: online" + (
                f", {message.pending} to send" if message.pending else ""
            )
        else:
            self.team_state = f"team: OFFLINE, {message.pending} waiting"
        for op in message.conflicts:
            self._seen_conflicts = max(self._seen_conflicts, op.pos)
            self.notify(
                f"{op.kind} #{op.ticket} not done: {op.result}",
                severity="error",
                timeout=10,
                markup=False,
            )
        if message.online or message.conflicts:
            self.refresh_views()  # also brings colleagues' presence, which makes no events
        self._show_status()

    def on_sync_progress(self, message: SyncProgress) -> None:
        if not self.screen_stack:
            return
        self.sync_state, self.sync_error = message.text, False
        # A first sync stores the newest mail first, batch by batch: show it as it comes,
        # so agents can start long before the whole mailbox is in.
        if time.monotonic() - self._last_progress_refresh >= PROGRESS_REFRESH:
            self._last_progress_refresh = time.monotonic()
            self.refresh_views()
        self._show_status()

    def on_sync_finished(self, message: SyncFinished) -> None:
        if not self.screen_stack:
            return
        when = self.clock().astimezone().strftime("%H:%M")
        self._synced_by = message.synced_by
        if message.synced_by is not None:
            self.sync_state, self.sync_error = f"mail synced by {message.synced_by}", False
            self._show_status()
            return
        self._start_push()
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
            self.refresh_views()
        self._show_status()

    def status_text(self) -> str:
        return "  ·  ".join([self.team_state, self.sync_state, *self.push_state.values()])

    def _show_status(self) -> None:
        if not self.screen_stack:
            return
        for bar in self.screen.query(StatusBar):
            bar.show_sync(self.status_text(), error=self.sync_error or "OFFLINE" in self.team_state)


def make_app(
    ws: Workspace,
    *,
    sync: SyncService | None = None,
    team: TeamService | None = None,
    clock: Callable[[], datetime] | None = None,
) -> HelpdeskApp:
    """Build the app from an opened workspace: tests call this directly."""
    if clock is None:
        return HelpdeskApp(ws, sync=sync, team=team)
    return HelpdeskApp(ws, sync=sync, team=team, clock=clock)
