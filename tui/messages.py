"""Messages between the sync worker and the widgets: small dataclasses, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from helpdesk.storage.outbox import Op
from helpdesk.sync.team import ActionResult


@dataclass
class SyncProgress(Message):
    text: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SyncProgress)


@dataclass
class SyncFinished(Message):
    new_messages: int
    new_tickets: int
    errors: dict[str, str]
    synced_by: str | None = None  # another process on this machine syncs this cache


@dataclass
class MailPushed(Message):
    """The server said new mail arrived (IMAP IDLE): sync now."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MailPushed)


@dataclass
class PushState(Message):
    """How an account's IDLE connection is doing, for the status line."""

    account: str
    state: str
    error: str | None


@dataclass
class CacheChanged(Message):
    """The cache got new data: lists and counts should be read again."""


@dataclass
class ActionDone(Message):
    """A team action finished (in the team store, or queued offline)."""

    result: ActionResult
    open_ticket: bool = False


@dataclass
class TeamSynced(Message):
    online: bool
    pulled: int
    pending: int
    error: str
    conflicts: list[Op]

    def can_replace(self, message: Message) -> bool:
        # Never one that brought no events in place of one that did: the counts are read
        # again only for events.
        return (
            isinstance(message, TeamSynced)
            and not self.conflicts
            and (bool(self.pulled) or not message.pulled)
        )
