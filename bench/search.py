"""Full-text search speed on a big cache: the app's `/` search, first page of 50 hits.

    python bench/search.py [N] [--dir DIR] [--repeat R]

Uses the workspace in DIR if its cache already holds messages (e.g. one left by
`bench/ingest.py N --dir DIR`), else ingests N synthetic messages (default 100,000) into it
(or into a temporary directory) through the real pipeline. Prints, for a few typical queries
(and the keystrokes of one typed query), the median and p99 latency of `Cache.search` over R
runs, how many tickets matched on the first page, and the size of the FTS5 index.

The synthetic mail draws its bodies from about twenty words, so a body word matches most of
the cache: those rows are the worst case, not the typical one. Names, addresses and subject
numbers are rare, like a customer's name or an order number in real mail.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ingest import bench_settings, ingest_all, synthetic
from sqlalchemy import text

from helpdesk.storage.cache import Cache
from helpdesk.storage.cache_models import MESSAGE_FTS
from helpdesk.storage.workspace import open_workspace
from helpdesk.sync.service import make_ingestor

QUERIES = [
    ("rare: a customer's name", "Customer 4242"),
    ("rare: an address", "c1234@customer34.example"),
    ("rare: subject word + number", "reklamace 5021"),
    ("common: one body word", "faktura"),
    ("common: two body words", "doruceni zasilka"),
    ("common: a phrase", '"dobrý den"'),
    ("common: as-you-type prefix", "zás"),
    ("nothing matches", "xylofon"),
]
TYPED = "customer 77"  # timed keystroke by keystroke, as the app would search


def latencies(cache: Cache, query: str, repeat: int) -> tuple[float, float, float, int]:
    """Median and p99 wall-clock ms, median CPU ms (steadier on a shared machine), hits."""
    times = []
    cpu = []
    hits = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        hits = len(cache.search(query, limit=50))
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, round(0.99 * (len(times) - 1)))]
    return statistics.median(times), p99, statistics.median(cpu), hits


def index_size(cache: Cache) -> str:
    with cache.engine.connect() as conn:
        try:
            size = conn.execute(
                text("SELECT sum(pgsize) FROM dbstat WHERE name LIKE :n"),
                {"n": f"{MESSAGE_FTS}%"},
            ).scalar_one()
        except Exception:  # dbstat is a compile-time option of SQLite
            return "n/a (this SQLite has no dbstat)"
        total = conn.execute(
            text("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        ).scalar_one()
    return f"{size / 1e6:.0f} MB of a {total / 1e6:.0f} MB cache file"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="messages to ingest")
    parser.add_argument("--dir", type=Path, help="workspace directory (reused if it has mail)")
    parser.add_argument("--repeat", type=int, default=50, help="runs per query (50)")
    args = parser.parse_args()
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="helpdesk-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(bench_settings(directory))
    messages = ws.cache.counts()["messages"]
    if messages == 0:
        stats, took = ingest_all(synthetic(args.n), make_ingestor(ws))
        messages = stats.new_messages
        print(f"ingested {messages:,} messages in {took:.0f} s ({messages / took:,.0f}/s)")
    print(f"search on {messages:,} messages; FTS index: {index_size(ws.cache)}")
    print(f"first page of 50 hits, {args.repeat} runs each: median / p99 / CPU median in ms")
    for label, query in QUERIES:
        median, p99, cpu, hits = latencies(ws.cache, query, args.repeat)
        print(f"  {label:<29} {query!r:<27} {median:6.1f} {p99:6.1f} {cpu:6.1f}  ({hits} hits)")
    print(f"typing {TYPED!r} one key at a time:")
    for i in range(1, len(TYPED) + 1):
        median, p99, cpu, hits = latencies(ws.cache, TYPED[:i], max(5, args.repeat // 5))
        print(f"  {TYPED[:i]!r:<57} {median:6.1f} {p99:6.1f} {cpu:6.1f}  ({hits} hits)")
    ws.close()


if __name__ == "__main__":
    main()
