"""The small service API through which the app and the CLI ask for sync work.

The app never imports the IMAP code itself: it calls `SyncService.sync_once` from a worker
thread and is told of progress through the callback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from helpdesk.storage.blobs import remove_orphans
from helpdesk.storage.sync_lease import SyncLease
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.auto_mail import queue_auto_mail
from helpdesk.sync.credentials import get_password
from helpdesk.sync.faults import describe_fault
from helpdesk.sync.imap import FolderProgress, ImapFetcher
from helpdesk.sync.ingest import Ingestor, IngestStats
from helpdesk.sync.mail_out import MailOut, SendReport, team_secret
from helpdesk.sync.mirror import MailboxMirror, MirrorReport
from helpdesk.sync.parse_pool import ParsePool


@dataclass(slots=True)
class SyncReport:
    stats: IngestStats = field(default_factory=IngestStats)
    errors: dict[str, str] = field(default_factory=dict)  # account -> last error
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    synced_by: str | None = None  # another process holds this cache's sync lease
    mirror: MirrorReport | None = None  # ticket state put onto the mailbox after the sync

    @property
    def ok(self) -> bool:
        return not self.errors


def make_ingestor(ws: Workspace) -> Ingestor:
    return Ingestor(
        ws.cache, ws.team, our_addresses=ws.our_addresses(), tag_prefix=ws.settings.team.subject_tag
    )


class SyncService:
    def __init__(self, ws: Workspace, *, holder: str = "helpdesk") -> None:
        self.ws = ws
        self.ingestor = make_ingestor(ws)
        self.lease = SyncLease(ws.cache.path, holder)
        self._pool = ParsePool()
        self._swept = False
        self.mail_out = MailOut(ws, self.ingestor)

    def close(self) -> None:
        self._pool.close()
        self.lease.release()

    @property
    def has_accounts(self) -> bool:
        return any(a.imap is not None for a in self.ws.settings.accounts.values())

    def sync_once(
        self,
        progress: Callable[[FolderProgress], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> SyncReport:
        report = SyncReport()
        if not self.lease.try_take():
            # Someone else on this machine keeps this cache current; we only read it.
            report.synced_by = self.lease.current_holder() or "another process"
            return report
        if not self._swept:
            # Blobs of ingest transactions that never committed (a crash between the two):
            # only the lease holder stores mail from the server, so none is in flight here.
            self._swept = True
            remove_orphans(self.ws.cache.blobs, self.ws.cache.engine)
        for account in self.ws.settings.accounts.values():
            if account.imap is None:
                continue
            try:
                password = get_password(account, "imap")
                fetcher = ImapFetcher(
                    account,
                    password,
                    self.ws.cache,
                    self.ingestor,
                    parse_pool=self._pool,
                )
                report.stats.add(fetcher.sync(progress, cancelled))
            except Exception as exc:  # a server fault is shown and retried, never fatal
                # Server text is untrusted too: it reaches the status line.
                report.errors[account.name] = describe_fault(exc)
        if report.ok:
            # Kept in the cache, so that replies can be signed and queued offline later.
            with contextlib.suppress(Exception):
                team_secret(self.ws)
        # After the sync, so that the mirror plans with the newest mail; an account whose
        # sync failed is left for the next run (its server would refuse the mirror too).
        synced = [name for name in self.ws.settings.accounts if name not in report.errors]
        if synced and not cancelled():
            report.mirror = self.mirror(accounts=synced)
            for name, error in (report.mirror.errors if report.mirror else {}).items():
                report.errors[f"{name} (mailbox mirror)"] = error
        report.finished_at = datetime.now(UTC)
        return report

    def mirror(
        self, *, full: bool = False, accounts: list[str] | None = None
    ) -> MirrorReport | None:
        """Put the tickets' state onto the mailboxes (`[accounts.NAME.mirror]`): changes since
        the last run, or everything with ``full``. None when another process holds the sync
        lease (it mirrors); a run with nothing to do asks no server."""
        if not any(
            a.imap is not None and a.mirror.active for a in self.ws.settings.accounts.values()
        ):
            return None
        if not self.lease.try_take():
            return None
        return MailboxMirror(self.ws).run(full=full, accounts=accounts)

    def send_mail(self) -> SendReport | None:
        """Send the replies that are due; None when another process holds the lease (and
        sends them)."""
        if not self.lease.try_take():
            return None
        errors: list[str] = []
        try:
            # Automatic replies the team decided on join this cache's queue first.
            errors = queue_auto_mail(self.ws).errors
        except Exception as exc:  # the team store is away: they wait there for the next run
            errors = [f"automatic replies: {describe_fault(exc)}"]
        report = self.mail_out.process()
        report.errors[:0] = errors
        return report
