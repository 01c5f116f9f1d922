"""The terminal app. It reads the local cache only; mail and team sync run in worker threads."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, get_current_worker

from helpdesk.core.sanitize import safe_text
from helpdesk.core.team import PRESENCE_HEARTBEAT, PresenceKind
from helpdesk.storage import drafts, outgoing
from helpdesk.storage.agent_news import News, last_event_seq, news_for
from helpdesk.storage.locations import themes_dir
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.team import ActionResult, TeamService
from helpdesk.themes.builtin import BUILTIN_THEMES, DEFAULT_THEME
from helpdesk.themes.user_themes import load_user_themes
from helpdesk.tui.actions import TicketActions
from helpdesk.tui.keymap import keymap_from_settings
from helpdesk.tui.messages import (
    ActionDone,
    MailPushed,
    PushState,
    SyncFinished,
    SyncProgress,
    TeamSynced,
)
from helpdesk.tui.screens.help import HelpScreen
from helpdesk.tui.screens.queue import QueueScreen
from helpdesk.tui.screens.replying import ReplyingScreen
from helpdesk.tui.screens.search import SearchScreen
from helpdesk.tui.screens.ticket import TicketScreen
from helpdesk.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:  # imported by the first sync, in its worker, not at start
    from helpdesk.sync.idle import IdleWatcher
    from helpdesk.sync.service import SyncService

SYNC_INTERVAL = 60.0  # seconds between mail polls: other folders, and a safety net for IDLE
TEAM_SYNC_INTERVAL = 10.0  # seconds between pulls when no change was signalled
WATCH_SLICE = 1.0  # the watcher wakes this often to notice that the app is closing
PROGRESS_REFRESH = 2.0  # seconds between redraws of the lists while a sync stores mail
CACHE_WATCH = 2.0  # seconds between looks for mail stored by the process that syncs for us
SEND_CHECK = 3.0  # seconds between looks for replies that are due while some are queued

# The command palette's entries for bindings, by binding id: shown when the screen has the
# binding, with its tooltip as the help text and its current keys.
PALETTE_TITLES = {
    "app.handle_next": "Handle next ticket",
    "app.sync": "Sync now",
    "app.search": "Search tickets",
    "app.help": "Keys of this screen",
    "app.undo": "Undo the last ticket change",
    **{
        f"{scope}.{name}": title
        for scope in ("queue", "ticket")
        for name, title in (
            ("status", "Set status"),
            ("priority", "Set priority"),
            ("category", "Set category"),
            ("tags", "Edit tags"),
            ("assign", "Assign to…"),
            ("close", "Close ticket"),
            ("reopen", "Reopen ticket"),
            ("snooze", "Snooze…"),
            ("spam", "Mark as spam"),
            ("merge", "Merge into another ticket…"),
        )
    },
    "queue.claim": "Claim ticket",
    "queue.release": "Release ticket",
    "ticket.claim": "Claim ticket",
    "ticket.release": "Release ticket",
    "ticket.split": "Split a message off into a new ticket…",
    "ticket.survivor": "Open the ticket this one was merged into",
    "ticket.note": "Add internal note",
    "ticket.reply": "Reply",
    "ticket.reply_all": "Reply to all",
    "ticket.forward": "Forward",
    "queue.new_mail": "New ticket: write to a customer",
    "ticket.new_mail": "New ticket: write to a customer",
}


@dataclass
class MailOutDone(Message):
    """The mail-out worker ran: (sent, held, failed) when it sent here, and its faults."""

    counts: tuple[int, int, int] | None
    errors: list[str]


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
            "u",
            "undo_send",
            "Undo send",
            show=False,
            id="app.undo_send",
            tooltip="Take back the last queued reply while it waits to be sent",
        ),
        Binding(
            "ctrl+z",
            "undo_change",
            "Undo",
            show=False,
            id="app.undo",
            tooltip="Take back the last close, status, assign or field change (a few seconds)",
        ),
        Binding(
            "slash",
            "search",
            "Search",
            id="app.search",
            tooltip="Search all tickets: subjects, senders and mail text",
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
        sync: SyncService | Callable[[], SyncService] | None = None,
        team: TeamService | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sync_interval: float = SYNC_INTERVAL,
        team_interval: float = TEAM_SYNC_INTERVAL,
        user_themes: Path | None = None,
    ) -> None:
        super().__init__()
        self.ws = ws
        # Checked before anything starts: a keymap naming a binding the app lacks is a
        # configuration error (file, line, key), like any other.
        self.keymap_overrides = keymap_from_settings(ws.settings, type(self))
        self.user_themes_dir = user_themes
        self.theme_problems: list[str] = []
        # The sync service, or what makes it: built by the first sync, in its worker, so that
        # the IMAP, SMTP and parsing code is imported after the first screen is up.
        self.sync: SyncService | None = None
        self._make_sync: Callable[[], SyncService] | None = None
        if callable(sync):
            self._make_sync = sync
        else:
            self.sync = sync
        self.has_sync = sync is not None
        self._sync_built = threading.Lock()
        self._push_tried = False
        self.team = team if team is not None else TeamService(ws)
        self.clock = clock
        self.sync_interval = sync_interval
        self.team_interval = team_interval
        self.sync_state = "no mail account configured" if sync is None else "starting sync…"
        self.sync_error = False
        self.team_state = "team: connecting…"
        self._acting = False
        self.idle_watcher: IdleWatcher | None = None  # started once the lease is ours
        self._sync_again = False  # IDLE reported mail while a sync was running
        self.push_state: dict[str, str] = {}  # accounts whose IDLE is in trouble
        self._synced_by: str | None = None  # the process holding the sync lease, if not us
        self._last_message = 0
        self._last_progress_refresh = 0.0
        self._last_queued: str | None = None  # the reply `u` takes back
        self.outbox_state = ""  # "2 queued · 1 held" for the status line
        self.actions = TicketActions(self)  # status, priority, ... keys and their undo
        # Conflicts from earlier sessions were shown then: only new ones are news.
        last = self.team.conflicts()
        self._seen_conflicts = last[-1].pos if last else 0
        # Tickets given to me and escalations of mine, from events after the app started.
        self._news_since = clock()
        self._news_seq = last_event_seq(ws.cache)
        self._agent_names: dict[str, str] = {}
        # Two team workers may finish together (an exclusive worker's thread runs on).
        self._news_lock = threading.Lock()

    def on_mount(self) -> None:
        self._install_themes()
        self.set_keymap(self.keymap_overrides)
        self.push_screen(QueueScreen())
        # After the first screen is up: toasts raised before it would go to no screen.
        self.call_after_refresh(self._report_theme_problems)
        self._show_status()
        if self.has_sync:
            self.run_sync()
            self.set_interval(self.sync_interval, self._poll)
            self.set_interval(CACHE_WATCH, self._watch_cache)
            self.set_interval(SEND_CHECK, self._mail_out_tick)
        self._count_outbox()
        self.run_team_sync()
        self.set_interval(self.team_interval, self.run_team_sync)
        self.watch_team()
        self.set_interval(PRESENCE_HEARTBEAT, self._heartbeat)

    def on_unmount(self) -> None:
        if self.idle_watcher is not None:
            self.idle_watcher.stop()

    def _report_theme_problems(self) -> None:
        for problem in self.theme_problems:
            # Paths and file text are the user's: never markup.
            self.notify(problem, title="Theme", severity="warning", timeout=15, markup=False)

    def _install_themes(self) -> None:
        for theme in BUILTIN_THEMES:
            self.register_theme(theme)
        if self.user_themes_dir is not None:
            taken = [t.name for t in BUILTIN_THEMES]
            loaded = load_user_themes(self.user_themes_dir, taken)
            for theme in loaded.themes:
                self.register_theme(theme)
            self.theme_problems.extend(loaded.problems)
        wanted = self.ws.settings.ui.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            # A theme file may be broken today: work goes on in the default look.
            known = ", ".join(t.name for t in BUILTIN_THEMES)
            self.theme_problems.append(
                f"{self.ws.settings.source}: ui.theme: no theme named {wanted!r} "
                f"(built in: {known}; user themes go in {self.user_themes_dir})"
            )
            wanted = DEFAULT_THEME
        self.theme = wanted

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        seen: dict[str, list[str]] = {}
        found: dict[str, tuple[Binding, object]] = {}
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.id in PALETTE_TITLES and active.enabled:
                seen.setdefault(binding.id, []).append(self.get_key_display(binding))
                found.setdefault(binding.id, (binding, active.node))
        for binding_id, (binding, node) in found.items():
            keys = ", ".join(seen[binding_id])
            yield SystemCommand(
                PALETTE_TITLES[binding_id],
                f"{binding.tooltip} (key: {keys})",
                lambda b=binding, n=node: self.call_later(self.run_action, b.action, n),
            )
        yield SystemCommand("Switch theme", "Choose the colours of helpdesk", self.search_themes)
        for command in super().get_system_commands(screen):
            # Ours replace Textual's theme picker entry and its key panel.
            if command.title not in ("Theme", "Keys"):
                yield command

    def _start_push(self) -> None:
        """IDLE, once this app holds the cache's sync lease (its holder alone talks to IMAP).
        Called from the sync worker's thread too: it touches no widget."""
        if self.idle_watcher is None:
            from helpdesk.sync.idle import IdleWatcher

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

    def new_mail(self) -> None:
        """`m`: write to a customer first; the mail opens a ticket once it is sent."""
        from helpdesk.tui.screens.compose import ComposeScreen

        self.push_screen(ComposeScreen(None, "new"), lambda _out_id: self.outbox_changed())

    def ticket_closed(self, number: int) -> None:
        self.presence(number, here=False)

    def refresh_views(self, *, recount: bool = True) -> None:
        """Read the cache again: lists, counts (unless `recount` is false: nothing that
        counts changed) and an open ticket."""
        for screen in self.screen_stack:
            try:
                if isinstance(screen, QueueScreen):
                    covered = screen is not self.screen
                    if covered:  # read when it shows again, not while a ticket covers it
                        screen.stale = True
                    else:
                        screen.reload(recount=recount)
                elif isinstance(screen, TicketScreen):
                    detail = self.ws.cache.ticket(screen.detail.summary.number)
                    if detail is not None:
                        screen.update_detail(detail)
                elif isinstance(screen, ReplyingScreen) and screen.number is not None:
                    detail = self.ws.cache.ticket(screen.number)
                    if detail is not None:
                        screen.update_presence(detail.presence)
            except NoMatches:
                # A worker's news arrived while the app closes: the screen's widgets are
                # already gone, and there is nothing left to redraw.
                continue

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # On the search screen "/" is text for the box: no "Search" in its footer.
        return not (action == "search" and isinstance(self.screen, SearchScreen))

    def action_toggle_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        else:
            self.push_screen(HelpScreen(self.screen))

    def action_search(self) -> None:
        """Back to the search already open (with its text and results), or a new one."""
        open_search = [s for s in self.screen_stack if isinstance(s, SearchScreen)]
        if not open_search:
            self.push_screen(SearchScreen())
            return
        # Its input has the focus again when it is back on top (SearchScreen.on_screen_resume).
        while self.screen_stack[-1] is not open_search[-1]:
            self.pop_screen()

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

    def action_undo_change(self) -> None:
        self.actions.undo()

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
    def presence(self, number: int, here: bool, kind: PresenceKind = PresenceKind.VIEWING) -> None:
        if here:
            self.team.here(number, kind)
        else:
            self.team.gone(number)

    def _heartbeat(self) -> None:
        if isinstance(self.screen, ReplyingScreen):
            if self.screen.number is not None:
                self.presence(self.screen.number, here=True, kind=PresenceKind.REPLYING)
        elif isinstance(self.screen, TicketScreen):
            self.presence(self.screen.detail.summary.number, here=True)

    # -- sync ------------------------------------------------------------------------------

    def action_sync_now(self) -> None:
        self.run_team_sync()
        if not self.has_sync:
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

    def _service(self) -> SyncService:
        """The sync service, built on first use (in a worker thread); the first use also
        takes the cache's sync lease and, holding it, starts IDLE before the first sync, so
        that nothing arrives unseen between the two."""
        with self._sync_built:
            if self.sync is None:
                assert self._make_sync is not None
                self.sync = self._make_sync()
            if not self._push_tried:
                self._push_tried = True
                if self.sync.lease.try_take():
                    self._start_push()
            return self.sync

    @work(thread=True, exclusive=True, group="imap", exit_on_error=False)
    def run_sync(self) -> None:
        service = self._service()
        worker = get_current_worker()
        self.post_message(SyncProgress("syncing…"))
        report = service.sync_once(
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
        # Also when this pull brought nothing: an action's own pull may have stored news.
        news = self._team_news()
        if news:
            self.call_from_thread(self._show_news, news)

    def _team_news(self) -> list[News]:
        with self._news_lock:
            if not self._agent_names:
                # Colleagues' names, once: "assigned to you by Jana", not by an address.
                with contextlib.suppress(Exception):  # offline again: addresses will do
                    self._agent_names = {a.agent.email: a.agent.name for a in self.team.agents()}
            news, self._news_seq = news_for(
                self.ws.cache,
                self.ws.agent,
                after_seq=self._news_seq,
                since=self._news_since,
                now=self.clock(),
                names=self._agent_names,
            )
            return news

    def _show_news(self, news: list[News]) -> None:
        if not self.screen_stack:
            return  # closing
        for item in news:
            self.notify(item.text, title="Helpdesk", timeout=10, markup=False)
        if self.ws.settings.app.bell:
            self.bell()

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
            # Also brings colleagues' presence, which makes no events; the counts change
            # only with events (every ten seconds, recounting 100,000 tickets would show).
            self.refresh_views(recount=bool(message.pulled or message.conflicts))
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
        if not any(w.group == "mail-out" and not w.is_finished for w in self.workers):
            self.run_mail_out()  # also settles replies a crash left in `sending`
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
        parts = [self.team_state, self.sync_state, *self.push_state.values()]
        if self.outbox_state:
            parts.append(self.outbox_state)
        return "  ·  ".join(parts)

    # -- mail out: replies queued in the cache, sent by the holder of the sync lease ----------

    def reply_queued(self, out: outgoing.Outgoing) -> None:
        """The compose screen queued a reply: `u` can take it back while it waits."""
        self._last_queued = out.id
        delay = (out.send_after - datetime.now(UTC)).total_seconds()
        if delay >= 1:
            self.notify(f"Reply queued: sent in {delay:.0f} s (u to undo)", timeout=min(delay, 10))
        else:
            self.notify("Reply queued")
        self._count_outbox()
        self.refresh_views()
        self._show_status()
        self._mail_out_tick()

    def action_undo_send(self) -> None:
        out = outgoing.get(self.ws.cache, self._last_queued) if self._last_queued else None
        if out is None:
            self.notify("No reply to undo", severity="warning")
            return
        if out.state != outgoing.OutState.QUEUED or out.send_after <= datetime.now(UTC):
            self.notify(f"Too late to undo: the reply is {out.state}", severity="warning")
            return
        if not outgoing.cancel(self.ws.cache, out.id):
            self.notify("Too late to undo: the reply is on its way", severity="warning")
            return
        self._last_queued = None
        # Its draft was kept until sending: `r` on the ticket (`m` for new mail) brings it back.
        if out.ticket is None:
            self.notify("New mail undone: its draft is kept (m reopens it)")
        else:
            self.notify(f"Reply to #{out.ticket} undone: its draft is kept (r reopens it)")
        self._count_outbox()
        self.refresh_views()
        self._show_status()

    def outbox_changed(self) -> None:
        """A reply was undone, discarded or released: counts, views and status again."""
        self._count_outbox()
        self.refresh_views()
        self._show_status()

    @work(thread=True, group="send-anyway", exit_on_error=False)
    def send_held(self, out_id: str) -> None:
        """The agent saw why a reply was held and sends it all the same."""
        try:
            from helpdesk.sync.mail_out import send_anyway

            send_anyway(self.ws, out_id)
        except Exception as exc:  # the reply stays held; the agent sees why
            self.call_from_thread(self.notify, f"not sent: {exc}", severity="error", markup=False)
            return
        self.call_from_thread(self.outbox_changed)
        self.call_from_thread(self._mail_out_tick)

    def _count_outbox(self) -> None:
        counts = outgoing.counts(self.ws.cache)
        parts = [
            f"{counts[state]} {state}"
            for state in (
                outgoing.OutState.QUEUED,
                outgoing.OutState.SENDING,
                outgoing.OutState.HELD,
                outgoing.OutState.FAILED,
            )
            if counts[state]
        ]
        self.outbox_state = " · ".join(parts)

    def _mail_out_tick(self) -> None:
        """Send when a queued reply is due; each look is one small query of the cache."""
        before = self.outbox_state
        self._count_outbox()
        if self.outbox_state != before:
            self._show_status()
        if not self.has_sync or any(
            w.group == "mail-out" and not w.is_finished for w in self.workers
        ):
            return
        due = outgoing.next_due_at(self.ws.cache)
        if due is not None and due <= datetime.now(UTC):
            self.run_mail_out()

    @work(thread=True, group="mail-out", exit_on_error=False)
    def run_mail_out(self) -> None:
        try:
            report = self._service().send_mail()
        except Exception as exc:  # shown, never lost in a worker
            self.post_message(MailOutDone(None, [safe_text(f"{type(exc).__name__}: {exc}")[:300]]))
            return
        if report is None:
            return  # the process holding the sync lease sends them
        for out_id in report.sent:
            out = outgoing.get(self.ws.cache, out_id)
            if out is not None and out.draft_id:
                drafts.discard(self.ws.cache, out.draft_id)
        if report.sent or report.held or report.failed or report.retrying or report.errors:
            self.post_message(
                MailOutDone((len(report.sent), len(report.held), len(report.failed)), report.errors)
            )

    def on_mail_out_done(self, message: MailOutDone) -> None:
        if not self.screen_stack:
            return
        if message.counts is not None:
            sent, held, failed = message.counts
            if held:
                self.notify(
                    f"{held} repl{'y' if held == 1 else 'ies'} held: open the ticket to decide",
                    severity="warning",
                    timeout=10,
                )
            if failed:
                self.notify(
                    f"{failed} repl{'y' if failed == 1 else 'ies'} failed", severity="error"
                )
            elif sent and not held:
                self.notify(f"{sent} repl{'y' if sent == 1 else 'ies'} sent")
        for error in message.errors[:3]:
            # Server text: never markup, never escape sequences.
            self.notify(safe_text(error), severity="error", markup=False, timeout=10)
        self._count_outbox()
        self.refresh_views()
        self._show_status()

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
    user_themes: Path | None = None,
) -> HelpdeskApp:
    """Build the app from an opened workspace: tests call this directly.

    ``user_themes``: the folder of user theme files; by default the one in the config dir.
    """
    if user_themes is None:
        user_themes = themes_dir()
    if clock is None:
        return HelpdeskApp(ws, sync=sync, team=team, user_themes=user_themes)
    return HelpdeskApp(ws, sync=sync, team=team, clock=clock, user_themes=user_themes)
