"""The small service API through which the app and the CLI ask for sync work.

The app never imports the IMAP code itself: it calls `SyncService.sync_once` from a worker
thread and is told of progress through the callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from helpdesk.core.sanitize import safe_text
from helpdesk.storage.workspace import Workspace
from helpdesk.sync.credentials import get_password
from helpdesk.sync.imap import FolderProgress, ImapFetcher
from helpdesk.sync.ingest import Ingestor, IngestStats


@dataclass(slots=True)
class SyncReport:
    stats: IngestStats = field(default_factory=IngestStats)
    errors: dict[str, str] = field(default_factory=dict)  # account -> last error
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def ok(self) -> bool:
        return not self.errors


def make_ingestor(ws: Workspace) -> Ingestor:
    return Ingestor(
        ws.cache, ws.team, our_addresses=ws.our_addresses(), tag_prefix=ws.settings.team.subject_tag
    )


class SyncService:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.ingestor = make_ingestor(ws)

    @property
    def has_accounts(self) -> bool:
        return any(a.imap is not None for a in self.ws.settings.accounts.values())

    def sync_once(
        self,
        progress: Callable[[FolderProgress], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> SyncReport:
        report = SyncReport()
        for account in self.ws.settings.accounts.values():
            if account.imap is None:
                continue
            try:
                password = get_password(account, "imap")
                fetcher = ImapFetcher(account, password, self.ws.cache, self.ingestor)
                report.stats.add(fetcher.sync(progress, cancelled))
            except Exception as exc:  # a server fault is shown and retried, never fatal
                # Server text is untrusted too: it reaches the status line.
                report.errors[account.name] = safe_text(f"{type(exc).__name__}: {exc}")[:300]
        report.finished_at = datetime.now(UTC)
        return report
