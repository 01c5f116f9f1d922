"""`helpdesk doctor`: check every part, and prove that no message of the server is missing."""

from __future__ import annotations

from collections.abc import Callable

from helpdesk.core.config import Settings
from helpdesk.storage.cache import Cache
from helpdesk.storage.locations import cache_path, team_store_url
from helpdesk.storage.team_store import TeamStore
from helpdesk.sync.credentials import get_password
from helpdesk.sync.imap import server_counts


def doctor(settings: Settings, say: Callable[[str], None]) -> list[str]:
    problems: list[str] = []

    def ok(what: str) -> None:
        say(f"  ok       {what}")

    def bad(what: str) -> None:
        problems.append(what)
        say(f"  PROBLEM  {what}")

    say(f"config:  {settings.source or '(none found: built-in defaults)'}")
    say(f"agent:   {settings.agent.name} <{settings.agent.email}>")
    cache: Cache | None = None
    try:
        cache = Cache(cache_path(settings))
        c = cache.counts()
        ok(
            f"cache {cache.path}: {c['tickets']} tickets, {c['messages']} messages, "
            f"{c['malformed']} marked malformed"
        )
        if c["unfetched"]:
            bad(
                f"cache: {c['unfetched']} messages the server refused to deliver are stored as placeholders"
            )
        if c["raw"] != c["messages"]:
            bad(f"cache: {c['messages'] - c['raw']} messages without their raw copy")
    except Exception as exc:
        bad(f"cache: {type(exc).__name__}: {exc}")
    try:
        team = TeamStore(team_store_url(settings))
        tickets, ids = team.counts()
        ok(
            f"team store {team.engine.url.render_as_string(hide_password=True)}: {tickets} tickets, {ids} message ids"
        )
        if cache is not None:
            cached_ids = cache.message_ids()
            known = team.lookup(cached_ids)
            missing = [m for m in cached_ids if m not in known]
            if missing:
                bad(f"team store: {len(missing)} cached messages not registered")
        team.close()
    except Exception as exc:
        bad(f"team store: {type(exc).__name__}: {exc}")

    if not any(a.imap is not None for a in settings.accounts.values()):
        say("  note     no IMAP account configured: no server to compare the cache with")
    for account in settings.accounts.values():
        if account.imap is None:
            continue
        try:
            password = get_password(account, "imap")
        except Exception as exc:
            bad(f"account {account.name}: {exc}")
            continue
        try:
            counts = server_counts(account, password)
        except Exception as exc:
            bad(
                f"account {account.name}: IMAP {account.imap.host}:{account.imap.port}: {type(exc).__name__}: {exc}"
            )
            continue
        ok(f"account {account.name}: IMAP login to {account.imap.host}:{account.imap.port}")
        if cache is None:
            continue
        for folder, on_server in counts.items():
            box = cache.mailbox(account.name, folder)
            cached = cache.location_count(box.id)
            if cached == on_server:
                ok(f"account {account.name} {folder}: all {on_server} messages are in the cache")
            elif cached < on_server:
                bad(
                    f"account {account.name} {folder}: {on_server - cached} of {on_server} messages "
                    "not in the cache yet (run `helpdesk sync --once`)"
                )
            else:
                bad(
                    f"account {account.name} {folder}: the cache has {cached - on_server} messages the server no longer has"
                )
    if cache is not None:
        cache.close()
    say("no problems found" if not problems else f"{len(problems)} problem(s) found")
    return problems
