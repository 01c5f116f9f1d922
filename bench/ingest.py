"""Ingest and list speed on a big mailbox: N synthetic messages through the real pipeline.

    python bench/ingest.py [N] [--dir DIR] [--phases] [--profile FILE]

Prints messages/second of the ingest (parse, dedupe, thread, team store, cache), the size of
the cache, and how long the app's queries take on it (first page of a queue, a deep page, the
counts, opening the busiest ticket): those decide whether 100,000 messages feel like 100.

--dir keeps the workspace there (bench/app_start.py then opens it); --phases splits the ingest
time between its stages; --profile writes a cProfile dump of the ingest and prints its top.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import random
import resource
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select

from helpdesk.core import mailparse
from helpdesk.core.config import Settings, parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage.cache import Cache, ticket_t
from helpdesk.storage.team_store import TeamStore
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync import ingest as ingest_module
from helpdesk.sync.ingest import Incoming, Ingestor, IngestStats
from helpdesk.sync.service import make_ingestor

OURS = "support@helpdesk.example"
BATCH = 500
REIMPORT = 5000
WORDS = [
    "objednávka",
    "zásilka",
    "reklamace",
    "faktura",
    "platba",
    "dobrý",
    "den",
    "děkuji",
    "prosím",
    "balík",
    "doručení",
    "zamówienie",
    "przesyłka",
    "order",
    "delivery",
    "invoice",
    "refund",
    "please",
    "thanks",
    "damaged",
    "missing",
]

T = TypeVar("T")


def bench_settings(directory: Path) -> Settings:
    """The settings of a bench workspace in `directory` (shared with bench/app_start.py)."""
    return parse_config(
        f'[team]\nstore = "sqlite:///{directory / "team.sqlite"}"\naddresses = ["{OURS}"]\n'
        f'[cache]\npath = "{directory / "cache.sqlite"}"\n',
        str(directory / "helpdesk.toml"),
        default_agent=("Agent", "agent@helpdesk.example"),
    )


def synthetic(n: int, seed: int = 1) -> Iterator[bytes]:
    """Half new conversations, half replies (ours or the customer's) to the last 2,000."""
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    threads: deque[tuple[str, str, str]] = deque(maxlen=2000)  # (root id, customer, subject)
    for i in range(n):
        when = start + timedelta(minutes=5 * i)
        body = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(30, 300)))
        if threads and rnd.random() < 0.5:
            root, customer, subject = rnd.choice(threads)
            ours = rnd.random() < 0.5
            sender = f"Agent via Support <{OURS}>" if ours else customer
            to = customer if ours else OURS
            head = f"Subject: Re: {subject}\r\nIn-Reply-To: <{root}>\r\nReferences: <{root}>\r\n"
        else:
            customer = f"Customer {i} <c{i % 20000}@customer{i % 300}.example>"
            subject = f"{rnd.choice(WORDS).capitalize()} {i}"
            threads.append((f"m{i}@bench.example", customer, subject))
            sender, to, head = customer, OURS, f"Subject: {subject}\r\n"
        raw = (
            f"From: {sender}\r\nTo: {to}\r\nDate: {format_datetime(when)}\r\n{head}"
            f"Message-ID: <m{i}@bench.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        )
        yield raw.encode()


def ingest_all(raws: Iterator[bytes], ingestor: Ingestor) -> tuple[IngestStats, float]:
    """The stats and the seconds spent in the ingest itself (making the mail is not timed)."""
    # Batches are made as they go so that peak RSS is the pipeline's, not the input's.
    stats = IngestStats()
    seconds = 0.0
    batch: list[Incoming] = []
    for raw in raws:
        batch.append(Incoming(raw=raw))
        if len(batch) == BATCH:
            t0 = time.perf_counter()
            stats.add(ingestor.ingest(batch))
            seconds += time.perf_counter() - t0
            batch = []
    if batch:
        t0 = time.perf_counter()
        stats.add(ingestor.ingest(batch))
        seconds += time.perf_counter() - t0
    return stats, seconds


def timed(label: str, fn: Callable[[], T], repeat: int = 5) -> T:
    best = float("inf")
    result: T | None = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<44} {best * 1000:8.1f} ms")
    assert result is not None
    return result


class Phases:
    """Wall-clock time spent in the ingest's stages, by wrapping the functions it calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._undo: list[Callable[[], None]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = owner.__dict__[name]
        fn = original.__func__ if isinstance(original, staticmethod) else original

        @functools.wraps(fn)
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1

        setattr(
            owner,
            name,
            staticmethod(timed_call) if isinstance(original, staticmethod) else timed_call,
        )
        self._undo.append(lambda: setattr(owner, name, original))

    def install(self) -> None:
        # sync.ingest imported parse_message by name (it computes the dedupe key): wrap it there.
        self.wrap(ingest_module, "parse_message", "parse (core.mailparse)")
        self.wrap(Cache, "existing_messages", "cache: existing_messages")
        self.wrap(Ingestor, "_registration", "ingest: _registration (participants)")
        self.wrap(TeamStore, "register", "team store: register")
        self.wrap(Cache, "ensure_tickets", "cache: ensure_tickets")
        self.wrap(Cache, "insert_messages", "cache: insert_messages")
        self.wrap(Cache, "pack_raw", "cache: pack_raw (zlib or blob)")
        self.wrap(Cache, "insert_raw", "cache: insert_raw")
        self.wrap(Cache, "insert_attachments", "cache: insert_attachments")
        self.wrap(Cache, "add_locations", "cache: add_locations")
        self.wrap(Cache, "refresh_tickets", "cache: refresh_tickets")
        self.wrap(TeamStore, "ticket_states", "team store: ticket_states")
        self.wrap(Cache, "set_ticket_states", "cache: set_ticket_states")
        self.wrap(Ingestor, "ingest", "TOTAL Ingestor.ingest")

    def uninstall(self) -> None:
        for undo in reversed(self._undo):
            undo()

    def report(self) -> None:
        total = self.seconds["TOTAL Ingestor.ingest"]
        named = sum(s for k, s in self.seconds.items() if not k.startswith("TOTAL"))
        print("where the ingest time goes (wall clock):")
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        rows.append(("rest (commit, row building, glue)", total - named))
        for label, secs in rows:
            calls = self.calls.get(label)
            share = 100 * secs / total if total else 0.0
            print(
                f"  {label:<40} {secs:7.2f} s {share:5.1f} %"
                + (f"  {calls:>7} calls" if calls else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="messages to ingest")
    parser.add_argument("--dir", type=Path, help="keep the workspace in this (empty) directory")
    parser.add_argument("--phases", action="store_true", help="split the ingest time by stage")
    parser.add_argument("--profile", type=Path, help="write a cProfile dump of the ingest here")
    args = parser.parse_args()
    n: int = args.n
    tmp: Path = args.dir or Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(bench_settings(tmp))
    # Parse the mail package once outside the timing, as a running sync would have.
    mailparse.parse_message(next(synthetic(1)))

    phases = Phases() if args.phases else None
    if phases:
        phases.install()
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    cpu = time.process_time()
    stats, took = ingest_all(synthetic(n), make_ingestor(ws))
    # The machine is shared: this process's CPU time varies less than wall time (it also
    # counts making the synthetic mail, the same in every run).
    cpu = time.process_time() - cpu
    if profile:
        profile.disable()
    print(
        f"ingest: {stats.new_messages} messages, {stats.new_tickets} tickets in {took:.1f} s "
        f"= {stats.new_messages / took:,.0f} messages/s (CPU {cpu:.1f} s with the mail making)"
    )
    if phases:
        phases.uninstall()
        phases.report()
    if profile:
        profile.dump_stats(args.profile)
        print(f"cProfile dump in {args.profile}; top 25 by cumulative time:")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)

    # The last REIMPORT messages again: every one must be found a duplicate.
    last = deque(synthetic(n), maxlen=REIMPORT)
    again, took = ingest_all(iter(last), make_ingestor(ws))
    print(
        f"re-import of {len(last)} known messages: {again.duplicates} duplicates, "
        f"{again.new_messages} new, {took:.2f} s = {len(last) / took:,.0f} messages/s"
    )
    size = sum(p.stat().st_size for p in tmp.glob("cache.sqlite*"))
    team = sum(p.stat().st_size for p in tmp.glob("team.sqlite*"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"cache size: {size / 1e6:.0f} MB (team store {team / 1e6:.0f} MB); peak RSS {rss:.0f} MB"
    )

    cache, agent = ws.cache, ws.agent
    total_open = cache.count_tickets(Queue.OPEN, agent)
    deep = max(0, min(10_000, total_open - 500))
    print("app queries on this cache (best of 5):")
    timed("first page of Open (500 rows)", lambda: cache.list_tickets(Queue.OPEN, agent, limit=500))
    timed(
        f"deep page of Open (500 rows at offset {deep:,})",
        lambda: cache.list_tickets(Queue.OPEN, agent, limit=500, offset=deep),
    )
    timed("counts of 5 queues", lambda: [cache.count_tickets(q, agent) for q in Queue])
    with cache.engine.connect() as conn:
        busiest, messages = conn.execute(
            select(ticket_t.c.number, ticket_t.c.message_count)
            .order_by(ticket_t.c.message_count.desc())
            .limit(1)
        ).one()
        tickets = conn.execute(select(func.count()).select_from(ticket_t)).scalar_one()
    timed(f"open the busiest ticket ({messages} messages)", lambda: cache.ticket(busiest))
    print(f"  ({tickets:,} tickets in the cache, {total_open:,} open)")
    ws.close()


if __name__ == "__main__":
    main()
