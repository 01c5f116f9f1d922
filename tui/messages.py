"""Messages between the sync worker and the widgets: small dataclasses, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


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


@dataclass
class CacheChanged(Message):
    """The cache got new data: lists and counts should be read again."""
