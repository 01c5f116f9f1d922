"""Ingest and list speed on a big mailbox: N synthetic messages through the real pipeline.

    python bench/ingest.py [N]      (default 100000)

Prints messages/second of the ingest (parse, dedupe, thread, team store, cache), the size of
the cache, and how long the app's queries take on it (first page of a queue, the counts,
opening a ticket): those decide whether 100,000 messages feel like 100.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from helpdesk.core.config import parse_config
from helpdesk.core.tickets import Queue
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.mailfiles import import_messages
from helpdesk.sync.service import make_ingestor

OURS = "support@helpdesk.example"
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


def synthetic(n: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    out: list[bytes] = []
    threads: list[tuple[str, str, str]] = []  # (root id, customer, subject)
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
            if len(threads) > 2000:
                threads.pop(0)
            sender, to, head = customer, OURS, f"Subject: {subject}\r\n"
        raw = (
            f"From: {sender}\r\nTo: {to}\r\nDate: {format_datetime(when)}\r\n{head}"
            f"Message-ID: <m{i}@bench.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        )
        out.append(raw.encode())
    return out


def timed(label: str, fn, repeat: int = 5):  # type: ignore[no-untyped-def]
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"  {label:<40} {best * 1000:8.1f} ms")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    tmp = Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    settings = parse_config(
        f'[team]\nstore = "sqlite:///{tmp / "team.sqlite"}"\naddresses = ["{OURS}"]\n'
        f'[cache]\npath = "{tmp / "cache.sqlite"}"\n',
        str(tmp / "helpdesk.toml"),
        default_agent=("Agent", "agent@helpdesk.example"),
    )
    ws = open_workspace(settings)
    t0 = time.perf_counter()
    raws = synthetic(n)
    print(f"generated {n} messages in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    stats = import_messages(raws, make_ingestor(ws), batch_size=500)
    took = time.perf_counter() - t0
    print(
        f"ingest: {stats.new_messages} messages, {stats.new_tickets} tickets in {took:.1f} s "
        f"= {stats.new_messages / took:,.0f} messages/s"
    )
    t0 = time.perf_counter()
    again = import_messages(raws[-5000:], make_ingestor(ws), batch_size=500)
    print(
        f"re-import of 5000 known messages: {again.duplicates} duplicates, "
        f"{again.new_messages} new, {time.perf_counter() - t0:.2f} s"
    )
    size = sum(p.stat().st_size for p in tmp.glob("cache.sqlite*"))
    print(
        f"cache size: {size / 1e6:.0f} MB; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    print("app queries on this cache (best of 5):")
    cache, agent = ws.cache, ws.agent
    timed("first page of Open (500 rows)", lambda: cache.list_tickets(Queue.OPEN, agent, limit=500))
    timed(
        "page 20 of Open (offset 10,000)",
        lambda: cache.list_tickets(Queue.OPEN, agent, limit=500, offset=10_000),
    )
    timed("counts of 5 queues", lambda: [cache.count_tickets(q, agent) for q in Queue])
    busiest = cache.list_tickets(Queue.ALL, agent, limit=1)[0].number
    timed("open a ticket", lambda: cache.ticket(busiest))
    ws.close()


if __name__ == "__main__":
    main()
