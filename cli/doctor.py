"""`helpdesk doctor`: check every part, and prove that no message of the server is missing.

Per watched folder the server's UID set is compared with the UIDs the cache stored (see
`sync.census`); the cache is compared with the team store's Message-ID registry and searched
for messages stored twice (see `storage.census_queries` for what counts as a duplicate).

Levels: a *problem* (exit status 1) means mail is missing, duplicated, or cannot be checked; a
*warning* is a difference that loses nothing (a message another mail client expunged stays in
its ticket); a *note* is normal life (mail newer than the last sync).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from helpdesk.core.config import AccountSettings, Settings
from helpdesk.core.sanitize import safe_text
from helpdesk.storage.cache import Cache
from helpdesk.storage.census_queries import (
    DuplicateGroup,
    RegistryCheck,
    check_registry,
    find_duplicates,
    stored_folder,
)
from helpdesk.storage.locations import cache_path, team_store_url
from helpdesk.storage.team_store import TeamStore
from helpdesk.sync.census import FolderCheck, ServerCensus, compare_folder, take_census
from helpdesk.sync.credentials import get_password

SAMPLE = 5  # UIDs or ids named in a text line; --json lists them all

PROBLEM, WARNING, NOTE, OK = "problem", "warning", "note", "ok"
_LABEL = {PROBLEM: "PROBLEM", WARNING: "warning", NOTE: "note", OK: "ok"}


@dataclass(frozen=True, slots=True)
class Finding:
    level: str
    area: str  # "cache", "team store", "duplicates", "account NAME", "account NAME FOLDER"
    text: str

    def line(self) -> str:
        return f"  {_LABEL[self.level]:<8} {self.area}: {self.text}"


@dataclass(slots=True)
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)
    cache: dict[str, int] = field(default_factory=dict)
    team: dict[str, int] = field(default_factory=dict)
    folders: list[FolderCheck] = field(default_factory=list)
    registry: RegistryCheck | None = None
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"server": 0.0, "local": 0.0})
    local_steps: dict[str, float] = field(default_factory=dict)  # where the local time went

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def missing(self) -> int:
        return sum(len(f.missing) for f in self.folders)

    def to_json(self, config: str | None) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "config": config,
            "missing": self.missing,
            "duplicated": len(self.duplicates),
            "findings": [asdict(f) for f in self.findings],
            "cache": self.cache,
            "team": self.team,
            "folders": [_folder_json(f) for f in self.folders],
            "registry": asdict(self.registry) if self.registry is not None else None,
            "duplicates": [
                {"kind": d.kind, "tickets": d.tickets, "copies": [asdict(c) for c in d.copies]}
                for d in self.duplicates
            ],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "local_seconds": {k: round(v, 3) for k, v in self.local_steps.items()},
        }


def _folder_json(f: FolderCheck) -> dict[str, Any]:
    out = asdict(f)
    out["missing"], out["extra"] = list(f.missing), list(f.extra)
    out["never_synced"], out["renumbered"] = f.never_synced, f.renumbered
    return out


def _uids(uids: Sequence[int]) -> str:
    """The first few as compact ranges: `4, 7:9, 12 and 30 more`."""
    runs: list[str] = []
    shown = 0
    i = 0
    while i < len(uids) and len(runs) < SAMPLE:
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        runs.append(str(uids[i]) if i == j else f"{uids[i]}:{uids[j]}")
        shown += j - i + 1
        i = j + 1
    rest = len(uids) - shown
    return ", ".join(runs) + (f" and {rest} more" if rest else "")


def _ids(ids: Iterable[str]) -> str:
    listed = list(ids)
    text = ", ".join(f"<{safe_text(m)}>" for m in listed[:SAMPLE])
    return text + (f" and {len(listed) - SAMPLE} more" if len(listed) > SAMPLE else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Doctor:
    def __init__(self, settings: Settings, say: Callable[[str], None]) -> None:
        self.settings = settings
        self.say = say
        self.report = DoctorReport()

    def add(self, level: str, area: str, text: str) -> None:
        # Error texts can quote a server or a file: never let them drive the terminal.
        finding = Finding(level, safe_text(area), safe_text(text))
        self.report.findings.append(finding)
        self.say(finding.line())

    def local(self, began: float, step: str) -> None:
        spent = time.perf_counter() - began
        self.report.seconds["local"] += spent
        self.report.local_steps[step] = self.report.local_steps.get(step, 0.0) + spent

    def run(self) -> DoctorReport:
        began = time.perf_counter()
        s = self.settings
        self.say(f"config:  {s.source or '(none found: built-in defaults)'}")
        self.say(f"agent:   {s.agent.name} <{s.agent.email}>")
        accounts = [a for a in s.accounts.values() if a.imap is not None]
        # The servers are asked while the local stores are read: the wall time is the longer
        # of the two, not their sum.
        with ThreadPoolExecutor(max_workers=max(1, len(accounts))) as pool:
            censuses = [(a, pool.submit(_census, a)) for a in accounts]
            cache = self.open_cache()
            team = self.open_team()
            if cache is not None and team is not None:
                self.check_registry(cache, team)
            if cache is not None:
                self.check_duplicates(cache)
            if not accounts:
                self.say(
                    "  note     no IMAP account configured: no server to compare the cache with"
                )
            for account, census in censuses:
                self.check_account(account, census, cache)
        if cache is not None:
            cache.close()
        if team is not None:
            team.close()
        problems = len(self.report.problems)
        if problems:
            self.say(f"{_plural(problems, 'problem')} found")
        else:
            self.say("no problems found: nothing missing, nothing duplicated")
        t = self.report.seconds
        t["wall"] = time.perf_counter() - began
        self.say(
            f"time:    {t['wall']:.2f} s (server {t['server']:.2f} s, "
            f"local {t['local']:.2f} s, side by side)"
        )
        return self.report

    def open_cache(self) -> Cache | None:
        began = time.perf_counter()
        try:
            cache = Cache(cache_path(self.settings))
            c = self.report.cache = cache.counts()
        except Exception as exc:
            self.add(PROBLEM, "cache", f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.local(began, "cache")
        self.add(
            OK,
            "cache",
            f"{cache.path}: {c['tickets']} tickets, {c['messages']} messages, "
            f"{c['malformed']} marked malformed",
        )
        if c["unfetched"]:
            self.add(
                PROBLEM,
                "cache",
                f"{c['unfetched']} messages the server refused to deliver are stored as placeholders",
            )
        if c["raw"] != c["messages"]:
            self.add(
                PROBLEM, "cache", f"{c['messages'] - c['raw']} messages without their raw copy"
            )
        return cache

    def open_team(self) -> TeamStore | None:
        began = time.perf_counter()
        try:
            team = TeamStore(team_store_url(self.settings))
            tickets, ids = team.counts()
        except Exception as exc:
            self.add(PROBLEM, "team store", f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.local(began, "team store")
        self.report.team = {"tickets": tickets, "message_ids": ids}
        where = team.engine.url.render_as_string(hide_password=True)
        self.add(OK, "team store", f"{where}: {tickets} tickets, {ids} message ids")
        return team

    def check_registry(self, cache: Cache, team: TeamStore) -> None:
        began = time.perf_counter()
        try:
            reg = self.report.registry = check_registry(cache, team)
        except Exception as exc:
            self.add(PROBLEM, "team store", f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.local(began, "registry")
        area = "team store"
        if reg.unregistered:
            self.add(
                PROBLEM,
                area,
                f"{_plural(len(reg.unregistered), 'cached message')} not registered: "
                f"{_ids(reg.unregistered)}",
            )
        else:
            self.add(OK, area, f"all {reg.cached_ids} cached Message-IDs are registered")
        if reg.misfiled:
            first = ", ".join(
                f"<{safe_text(m)}> #{here} here, #{there} there"
                for m, here, there in reg.misfiled[:SAMPLE]
            )
            self.add(
                WARNING,
                area,
                f"{_plural(len(reg.misfiled), 'cached message')} filed under another ticket than "
                f"the registry says ({first}); the next sync takes the registry's answer",
            )
        for rows, what in ((reg.dangling, "Message-ID"), (reg.dangling_refs, "reference")):
            if rows:
                first = ", ".join(f"<{safe_text(m)}> -> #{t}" for m, t in rows[:SAMPLE])
                self.add(
                    PROBLEM,
                    area,
                    f"{_plural(len(rows), what + ' entry')} point at tickets that do not "
                    f"exist: {first}",
                )

    def check_duplicates(self, cache: Cache) -> None:
        began = time.perf_counter()
        try:
            dups = self.report.duplicates = find_duplicates(cache)
        except Exception as exc:
            self.add(PROBLEM, "duplicates", f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.local(began, "duplicates")
        if not dups:
            self.add(OK, "duplicates", "no message is stored twice")
            return
        for d in dups[:SAMPLE]:
            ids = sorted({c.message_id for c in d.copies})
            tickets = ", ".join(f"#{t}" for t in d.tickets)
            self.add(
                PROBLEM,
                "duplicates",
                f"{len(d.copies)} copies ({d.kind}) of {_ids(ids)} in tickets {tickets}",
            )
        if len(dups) > SAMPLE:
            self.add(PROBLEM, "duplicates", f"{len(dups) - SAMPLE} more duplicated messages")

    def check_account(
        self, account: AccountSettings, pending: Future[ServerCensus], cache: Cache | None
    ) -> None:
        assert account.imap is not None
        area = f"account {account.name}"
        try:
            census = pending.result()
        except _NoPassword as exc:
            self.add(PROBLEM, area, str(exc))
            return
        except Exception as exc:
            self.add(
                PROBLEM,
                area,
                f"IMAP {account.imap.host}:{account.imap.port}: {type(exc).__name__}: {exc}",
            )
            return
        self.report.seconds["server"] += census.seconds
        how = "ESEARCH" if census.esearch else "SEARCH"
        self.add(OK, area, f"IMAP login to {account.imap.host}:{account.imap.port} (UIDs by {how})")
        for folder in census.absent:
            if folder != account.imap.sent_folder:  # not every server has this Sent folder
                self.add(PROBLEM, f"{area} {folder}", "the folder does not exist on the server")
        if cache is not None:
            self.compare(census, cache)

    def compare(self, census: ServerCensus, cache: Cache) -> None:
        for name, server in census.folders.items():
            began = time.perf_counter()
            check = compare_folder(
                census.account, server, stored_folder(cache, census.account, name)
            )
            self.local(began, "folders")
            self.report.folders.append(check)
            self.folder_findings(check)

    def folder_findings(self, f: FolderCheck) -> None:
        area = f"account {f.account} {f.folder}"
        sync_hint = "(run `helpdesk sync --once`)"
        if f.renumbered:
            self.add(
                PROBLEM,
                area,
                f"the server renumbered the folder (UIDVALIDITY {f.uidvalidity_cache} -> "
                f"{f.uidvalidity_server}) since the last sync: its messages cannot be checked "
                f"until the next sync re-pairs them {sync_hint}",
            )
            return
        if f.never_synced:
            if f.on_server:
                self.add(
                    PROBLEM,
                    area,
                    f"never synced: {f.pending} of {f.on_server} messages not in the cache yet "
                    f"{sync_hint}",
                )
            else:
                self.add(OK, area, "empty on the server, nothing to sync")
            return
        synced = f.on_server - f.pending
        if f.missing:
            self.add(
                PROBLEM,
                area,
                f"{len(f.missing)} of the {synced} messages the sync has passed are missing "
                f"from the cache: UIDs {_uids(f.missing)}",
            )
        if f.extra:
            self.add(
                WARNING,
                area,
                f"{_plural(len(f.extra), 'message')} of the cache no longer on the server "
                f"(UIDs {_uids(f.extra)}): expunged or moved by another mail client since the "
                "last sync; nothing is lost, each stays in its ticket",
            )
        if f.pending:
            self.add(
                NOTE,
                area,
                f"{f.pending} of {f.on_server} messages not in the cache yet: newer than the "
                f"last sync {sync_hint}",
            )
        if not f.missing:
            self.add(
                OK,
                area,
                f"all {synced} messages are in the cache"
                if not f.pending
                else f"nothing missing: all {synced} messages up to the last sync are in the cache",
            )


class _NoPassword(Exception):
    pass


def _census(account: AccountSettings) -> ServerCensus:
    try:
        password = get_password(account, "imap")
    except Exception as exc:
        raise _NoPassword(str(exc)) from exc
    return take_census(account, password)


def doctor(settings: Settings, say: Callable[[str], None] = lambda _line: None) -> DoctorReport:
    """Check everything, telling `say` each finding as it is made."""
    return _Doctor(settings, say).run()
