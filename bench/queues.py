"""Queue counts, first pages and filters on a big cache: what the queue screen reads.

    python bench/queues.py [N] [--repeat R] [--dir DIR]

Fills a cache with N synthetic tickets (default 100,000; one customer message each, indexed
for search) shaped like a mature mailbox: most tickets closed, a few hundred open, ten agents,
four departments, tags and SLA due times on the open ones. Then prints the median and p99 ms
over R runs of: the counts of every queue the screen shows (one reload), the first page (500
rows) of each queue, and a set of typical filters (count + first page each).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from helpdesk.core.ticket_query import parse_ticket_query
from helpdesk.core.tickets import Queue
from helpdesk.storage.cache import Cache, ticket_t

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
AGENTS = [f"agent{i}@helpdesk.example" for i in range(10)]
DEPARTMENTS = ["Sales", "Billing", "Support", "Returns"]
WORDS = [
    "faktura",
    "objednávka",
    "reklamace",
    "doručení",
    "zásilka",
    "platba",
    "vrácení",
    "účet",
    "heslo",
    "adresa",
]
FILTERS = [
    "status:open",
    "assignee:me",
    "assignee:none",
    "tag:vip",
    "from:@firma3.example",
    "priority:urgent",
    "dept:sales",
    "is:unread",
    "is:breached",
    "faktura",
    "xylofon",
    "customer4242",
    "-faktura is:open",
    "sort:sla",
    "sort:priority",
    "sort:customer",
]


def fill(cache: Cache, n: int) -> None:
    rnd = random.Random(5)
    tickets: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for number in range(1, n + 1):
        roll = rnd.random()
        status = (
            "closed"
            if roll < 0.85
            else "spam"
            if roll < 0.88
            else "waiting on customer"
            if roll < 0.93
            else rnd.choice(["new", "open"])
        )
        is_open = status in ("new", "open")
        at = NOW - timedelta(minutes=(n - number) * 5)
        subject = f"{rnd.choice(WORDS)} {number}"
        email = f"customer{number}@firma{number % 50}.example"
        tickets.append(
            {
                "number": number,
                "subject": subject,
                "customer_name": f"Customer{number}",
                "customer_email": email,
                "status": status,
                "assignee": rnd.choice([*AGENTS, None]) if status != "new" else None,
                "created_at": at,
                "last_activity": at,
                "message_count": 1,
                "waiting_on_us": is_open,
                "priority": rnd.choice([0, 1, 1, 1, 2, 3]),
                "tags": rnd.choice(["", "", "vip", "invoice", "vip,invoice"]),
                "department": rnd.choice([*DEPARTMENTS, None]),
                "sla_due": at + timedelta(hours=rnd.choice([1, 4, 24])) if is_open else None,
            }
        )
        messages.append(
            {
                "id": number,
                "message_id": f"m{number}@firma.example",
                "dedupe_key": "k",
                "ticket": number,
                "subject": subject,
                "from_name": f"Customer{number}",
                "from_email": email,
                "text_body": " ".join(rnd.choices(WORDS, k=30)),
                "received_at": at,
                "outgoing": False,
            }
        )
    with cache.begin_write() as conn:
        for i in range(0, n, 5000):
            conn.execute(insert(ticket_t), tickets[i : i + 5000])
            Cache.insert_messages(conn, messages[i : i + 5000])


def timed(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-queues-"))
    path = base / "cache.sqlite"
    fresh = not path.exists()
    cache = Cache(path)
    if fresh:
        start = time.perf_counter()
        fill(cache, args.n)
        print(f"filled {args.n} tickets in {time.perf_counter() - start:.1f} s")
    agent = AGENTS[0]
    # The screen builds one context per refresh: the statuses present are read once there.
    ctx = cache.filter_context(agent, NOW)
    departments = cache.departments()
    views = [parse_ticket_query(f'dept:"{d}"') for d in departments]

    def reload_counts() -> None:
        for q in (Queue.OPEN, Queue.UNASSIGNED, Queue.MINE, Queue.CLOSED, Queue.ALL):
            cache.count_tickets(q, agent, context=ctx)
        for q in (Queue.WAITING, Queue.SPAM):
            cache.count_tickets(q, agent, context=ctx)
        for v in views:
            cache.count_tickets(Queue.OPEN, agent, query=v, context=ctx)

    rows = [("counts of all queues (one reload)", *timed(reload_counts, args.repeat))]
    for q in Queue:

        def page(q: Queue = q) -> None:
            cache.list_tickets(q, agent, context=ctx)

        rows.append((f"first page of {q.value}", *timed(page, args.repeat)))
    for typed in FILTERS:
        query = parse_ticket_query(typed)

        def run(query: Any = query) -> None:
            cache.count_tickets(Queue.OPEN, agent, query=query, context=ctx)
            cache.list_tickets(Queue.OPEN, agent, query=query, context=ctx)

        rows.append((f"Open + {typed!r}: count + first page", *timed(run, args.repeat)))
    width = max(len(r[0]) for r in rows)
    print(f"{'':{width}}  median ms   p99 ms")
    for label, median, p99 in rows:
        print(f"{label:{width}}  {median:9.1f}  {p99:7.1f}")
    cache.close()


if __name__ == "__main__":
    main()
