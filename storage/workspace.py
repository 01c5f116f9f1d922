"""A workspace: the settings with the cache and the team store they point to, opened once."""

from __future__ import annotations

from helpdesk.core.config import Settings
from helpdesk.storage.cache import Cache
from helpdesk.storage.locations import cache_path, team_store_url
from helpdesk.storage.team_store import TeamStore


class Workspace:
    """The cache is opened at once (everything reads it); the team store only when first
    asked for, so that reading tickets never waits on a team server that is down."""

    def __init__(self, settings: Settings, cache: Cache, team: TeamStore | None = None) -> None:
        self.settings = settings
        self.cache = cache
        self._team = team

    @property
    def team(self) -> TeamStore:
        if self._team is None:
            self._team = TeamStore(
                team_store_url(self.settings),
                self.settings.workflow,
                rules=self.settings.rules,
                automation=self.settings.automation,
                our_addresses=self.our_addresses(),
            )
        return self._team

    @property
    def agent(self) -> str:
        return self.settings.agent.email

    def our_addresses(self) -> list[str]:
        addrs = {a.lower() for a in self.settings.team.addresses}
        addrs.update(a.address.lower() for a in self.settings.accounts.values() if a.address)
        return sorted(addrs)

    def close(self) -> None:
        self.cache.close()
        if self._team is not None:
            self._team.close()


def open_workspace(settings: Settings) -> Workspace:
    cache = Cache(cache_path(settings), raw_blob_limit=settings.attachments.blob_threshold)
    return Workspace(settings, cache)
