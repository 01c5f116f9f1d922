"""A workspace: the settings with the cache and the team store they point to, opened once."""

from __future__ import annotations

from dataclasses import dataclass

from helpdesk.core.config import Settings
from helpdesk.storage.cache import Cache
from helpdesk.storage.locations import cache_path, team_store_url
from helpdesk.storage.team_store import TeamStore


@dataclass
class Workspace:
    settings: Settings
    cache: Cache
    team: TeamStore

    @property
    def agent(self) -> str:
        return self.settings.agent.email

    def our_addresses(self) -> list[str]:
        addrs = {a.lower() for a in self.settings.team.addresses}
        addrs.update(a.address.lower() for a in self.settings.accounts.values() if a.address)
        return sorted(addrs)

    def close(self) -> None:
        self.cache.close()
        self.team.close()


def open_workspace(settings: Settings) -> Workspace:
    return Workspace(settings, Cache(cache_path(settings)), TeamStore(team_store_url(settings)))
