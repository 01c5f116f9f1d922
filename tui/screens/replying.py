"""What the app needs to know of the compose screen without importing it at start (the
compose screen brings the editor and the mail-out code, which the first screen does not need)."""

from __future__ import annotations

from textual.screen import Screen

from helpdesk.core.tickets import PresenceView


class ReplyingScreen(Screen[str | None]):
    """A screen where the agent writes to a ticket's customer: presence says "replying"."""

    number: int | None = None  # the ticket answered; None for a new ticket

    def update_presence(self, presence: list[PresenceView]) -> None:
        """Colleagues on the same ticket changed."""
